//! `cargo xtask setup`: installs what the repository needs on a fresh machine
//! and generates the local dev secrets. Idempotent: each step first checks
//! whether its tool is already there at the right version and skips if so.
//!
//! To add a step (npm packages, worker-build, chromium, …), write
//! a `check` and an `install` function and append a [`Step`] to [`STEPS`].

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::postgres;
use crate::util::{self, cargo, probe, repo_root, tool_version, Result};

/// One thing setup makes sure of.
#[derive(Debug)]
pub struct Step {
    pub name: &'static str,
    /// `Ok(true)` when the thing is already there, at the right version.
    pub check: fn() -> Result<bool>,
    /// Makes `check` true; prints what it runs.
    pub install: fn() -> Result<()>,
}

/// The steps, in order.
pub const STEPS: &[Step] = &[
    Step { name: "rust target wasm32-unknown-unknown", check: wasm_target_installed, install: install_wasm_target },
    Step { name: "node (runs the wasm32 tests)", check: node_present, install: explain_node },
    Step { name: "wasm-bindgen-cli 0.2.130", check: wasm_bindgen_installed, install: install_wasm_bindgen },
    Step { name: "python venv .venv (xtask/requirements.txt)", check: venv_ready, install: install_venv },
    Step { name: POSTGRES_STEP, check: postgres::server_installed, install: postgres::install_server },
    Step { name: "worker-build 0.8.7", check: worker_build_installed, install: install_worker_build },
    Step {
        name: "npm packages (wrangler 4.164.0, node 22, wasm-opt 132, playwright-core 1.65.1)",
        check: npm_ready,
        install: npm_install,
    },
    Step { name: "chromium (browser tests, Debian)", check: chromium_installed, install: install_chromium },
    Step { name: "wrk (edge load generator, Debian)", check: wrk_installed, install: install_wrk },
    Step { name: "sqlite3 CLI (bench-edge --scale, Debian)", check: sqlite3_installed, install: install_sqlite3 },
    Step { name: "rust nightly-2026-10-29 (fuzzing)", check: nightly_installed, install: install_nightly },
    Step { name: "cargo-fuzz 0.13.2", check: cargo_fuzz_installed, install: install_cargo_fuzz },
    Step { name: "dev secrets .dev.vars", check: dev_vars_ready, install: write_dev_vars },
];

/// The step `cargo xtask test --no-postgres` leaves out.
pub const POSTGRES_STEP: &str = "postgresql server (Debian)";

/// Runs every step; stops at the first that fails.
pub fn run() -> Result<()> {
    run_steps(|_| true)
}

/// Runs the steps `wanted` keeps; stops at the first that fails.
pub fn run_steps(wanted: impl Fn(&Step) -> bool) -> Result<()> {
    for step in STEPS.iter().filter(|step| wanted(step)) {
        if (step.check)()? {
            println!("setup: {}: ok (already there)", step.name);
            continue;
        }
        println!("setup: {}: setting up", step.name);
        let started = Instant::now();
        (step.install)().map_err(|err| format!("setup: {}: {err}", step.name))?;
        if !(step.check)()? {
            return Err(format!(
                "setup: {}: installed, but the check still fails (is ~/.cargo/bin on PATH?)",
                step.name
            )
            .into());
        }
        println!("setup: {}: done in {:.1}s", step.name, started.elapsed().as_secs_f64());
    }
    Ok(())
}

// --- wasm32 target -----------------------------------------------------------

const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn wasm_target_installed() -> Result<bool> {
    let listed = probe(Command::new("rustup").args(["target", "list", "--installed"]))
        .ok_or("`rustup target list --installed` failed; is rustup installed?")?;
    Ok(listed.lines().any(|line| line.trim() == WASM_TARGET))
}

fn install_wasm_target() -> Result<()> {
    util::run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

// --- node ----------------------------------------------------------------------

#[allow(clippy::unnecessary_wraps, reason = "the signature is fixed by `Step::check`")]
fn node_present() -> Result<bool> {
    Ok(tool_version("node", &["--version"]).is_some())
}

fn explain_node() -> Result<()> {
    Err("`node` is not on PATH; wasm-bindgen-test-runner needs Node.js (>= 20) \
         to run the wasm32 tests. Install it (e.g. `apt-get install nodejs`) and rerun."
        .into())
}

// --- wasm-bindgen-cli ----------------------------------------------------------

/// Must match the `wasm-bindgen` pinned in Cargo.lock exactly.
const WASM_BINDGEN_VERSION: &str = "0.2.130";

#[allow(clippy::unnecessary_wraps, reason = "the signature is fixed by `Step::check`")]
fn wasm_bindgen_installed() -> Result<bool> {
    let expect = |tool: &str| {
        tool_version(tool, &["--version"]).as_deref() == Some(format!("{tool} {WASM_BINDGEN_VERSION}").as_str())
    };
    Ok(expect("wasm-bindgen") && expect("wasm-bindgen-test-runner"))
}

fn install_wasm_bindgen() -> Result<()> {
    println!("setup: this compiles wasm-bindgen-cli from source (about 5 minutes)");
    // No `--locked`: the CLI's lockfile names a yanked crate and cargo refuses it.
    util::run(&mut cargo(["install", "wasm-bindgen-cli", "--version", WASM_BINDGEN_VERSION]))
}

// --- the edge worker's tools ------------------------------------------------------

const WORKER_BUILD_VERSION: &str = "0.8.7";

#[allow(clippy::unnecessary_wraps, reason = "the signature is fixed by `Step::check`")]
fn worker_build_installed() -> Result<bool> {
    Ok(tool_version("worker-build", &["--version"]).is_some_and(|v| v.ends_with(WORKER_BUILD_VERSION)))
}

fn install_worker_build() -> Result<()> {
    println!("setup: this compiles worker-build from source (about 8 minutes)");
    util::run(&mut cargo(["install", "worker-build", "--version", WORKER_BUILD_VERSION, "--locked"]))
}

/// The tools package.json pins, as `(binary, version argument, expected output)`.
const NPM_TOOLS: [(&str, &str, &str); 3] =
    [("wrangler", "--version", "4.164.0"), ("node", "--version", "v22.23.3"), ("wasm-opt", "--version", "version 132")];

/// `node_modules/.bin/NAME`.
pub fn npm_bin(name: &str) -> PathBuf {
    repo_root().join("node_modules/.bin").join(name)
}

#[allow(clippy::unnecessary_wraps, reason = "the signature is fixed by `Step::check`")]
fn npm_ready() -> Result<bool> {
    // wrangler runs on the Node 22 from node_modules (it refuses Node 20).
    let path = util::path_with(&repo_root().join("node_modules/.bin"));
    let tools = NPM_TOOLS.iter().all(|(bin, arg, expect)| {
        util::probe(Command::new(npm_bin(bin)).arg(arg).env("PATH", &path))
            .is_some_and(|out| out.lines().any(|l| l.contains(expect)))
    });
    let playwright = fs::read_to_string(repo_root().join("node_modules/playwright-core/package.json"))
        .is_ok_and(|text| text.contains(&format!("\"version\": \"{PLAYWRIGHT_VERSION}\"")));
    Ok(tools && playwright)
}

/// The playwright-core package.json pins (it drives Debian's Chromium; no browser download).
const PLAYWRIGHT_VERSION: &str = "1.65.1";

/// Debian's Chromium, which the browser tests drive (`EMBEDGATE_CHROMIUM` overrides).
pub fn chromium() -> PathBuf {
    std::env::var_os("EMBEDGATE_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

#[allow(clippy::unnecessary_wraps, reason = "the signature is fixed by `Step::check`")]
fn chromium_installed() -> Result<bool> {
    Ok(util::probe(Command::new(chromium()).arg("--version")).is_some_and(|v| v.contains("Chromium")))
}

fn install_chromium() -> Result<()> {
    // Debian's build (about 75 s); `npx playwright install` downloads from outside the registries.
    postgres::apt_install(&["chromium"])
}

fn npm_install() -> Result<()> {
    // `npm install`, not `npm ci`: the lockfile lacks workerd's other-OS
    // packages, which the registry mirror does not serve (toolchain.md).
    util::run(Command::new("npm").args(["install", "--no-audit", "--no-fund"]).current_dir(repo_root()))
}

#[allow(clippy::unnecessary_wraps, reason = "the signature is fixed by `Step::check`")]
fn wrk_installed() -> Result<bool> {
    Ok(util::probe(Command::new("sh").args(["-c", "command -v wrk"])).is_some())
}

fn install_wrk() -> Result<()> {
    postgres::apt_install(&["wrk"])
}

#[allow(clippy::unnecessary_wraps, reason = "the signature is fixed by `Step::check`")]
fn sqlite3_installed() -> Result<bool> {
    Ok(util::probe(Command::new("sh").args(["-c", "command -v sqlite3"])).is_some())
}

fn install_sqlite3() -> Result<()> {
    postgres::apt_install(&["sqlite3"])
}

// --- fuzzing ------------------------------------------------------------------

#[allow(clippy::unnecessary_wraps, reason = "the signature is fixed by `Step::check`")]
fn nightly_installed() -> Result<bool> {
    Ok(tool_version("rustc", &[&format!("+{}", crate::fuzz::NIGHTLY), "--version"]).is_some())
}

fn install_nightly() -> Result<()> {
    util::run(Command::new("rustup").args(["toolchain", "install", crate::fuzz::NIGHTLY, "--profile", "minimal"]))
}

#[allow(clippy::unnecessary_wraps, reason = "the signature is fixed by `Step::check`")]
fn cargo_fuzz_installed() -> Result<bool> {
    Ok(tool_version("cargo", &["fuzz", "--version"]).is_some_and(|v| v.ends_with(crate::fuzz::CARGO_FUZZ_VERSION)))
}

fn install_cargo_fuzz() -> Result<()> {
    util::run(&mut cargo(["install", "cargo-fuzz", "--version", crate::fuzz::CARGO_FUZZ_VERSION, "--locked"]))
}

// --- python venv -------------------------------------------------------------

const REQUIREMENTS: &str = include_str!("../requirements.txt");

fn requirements_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("requirements.txt")
}

/// Every `name==version` pin of requirements.txt.
fn pins() -> Result<Vec<(&'static str, &'static str)>> {
    let pins: Vec<_> = REQUIREMENTS
        .lines()
        .filter_map(|line| line.split('#').next())
        .filter_map(|line| line.trim().split_once("=="))
        .map(|(name, version)| (name.trim(), version.trim()))
        .collect();
    if pins.is_empty() {
        return Err("xtask/requirements.txt pins no package (`name==VERSION` lines)".into());
    }
    Ok(pins)
}

pub fn venv_python() -> PathBuf {
    repo_root().join(".venv/bin/python")
}

/// Whether the venv has every pinned package at its pinned version.
fn venv_ready() -> Result<bool> {
    const VERSION_OF: &str = "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))";
    Ok(pins()?
        .iter()
        .all(|(name, version)| tool_version(venv_python(), &["-c", VERSION_OF, name]).as_deref() == Some(*version)))
}

fn install_venv() -> Result<()> {
    let venv = repo_root().join(".venv");
    if tool_version(venv_python(), &["--version"]).is_none() {
        // `--clear` replaces a half-made or broken venv.
        util::run(Command::new("python3").args(["-m", "venv", "--clear"]).arg(&venv).current_dir(repo_root()))?;
    }
    util::run(
        Command::new(venv_python())
            .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet", "-r"])
            .arg(requirements_path())
            .current_dir(repo_root()),
    )
}

// --- .dev.vars -----------------------------------------------------------------

/// An edge holds no master key; a `.dev.vars` from before the key
/// hierarchy had one, which setup moves to the admin's `data/master.key`.
const MASTER_KEY_VAR: &str = "EMBEDGATE_MASTER_KEY";
const SYNC_KEY_VAR: &str = "EMBEDGATE_SYNC_KEY";
const EDGE_KEY_VAR: &str = "EMBEDGATE_EDGE_KEY";

fn dev_vars_path() -> PathBuf {
    repo_root().join(".dev.vars")
}

/// Whether `contents` sets `var` to a non-empty value.
fn sets_var(contents: &str, var: &str) -> bool {
    contents.lines().any(|line| {
        line.trim()
            .strip_prefix(var)
            .and_then(|rest| rest.strip_prefix('='))
            .is_some_and(|value| !value.trim().is_empty())
    })
}

#[cfg(unix)]
#[allow(clippy::verbose_bit_mask, reason = "a permission mask reads best as one")]
fn private_mode(path: &Path) -> Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)?.permissions().mode();
    Ok(mode & 0o077 == 0) // no group or other bits
}

#[cfg(not(unix))]
fn private_mode(_path: &Path) -> Result<bool> {
    Ok(true)
}

fn dev_vars_ready() -> Result<bool> {
    let path = dev_vars_path();
    if !path.exists() {
        return Ok(false);
    }
    let contents = fs::read_to_string(&path)?;
    Ok(!sets_var(&contents, MASTER_KEY_VAR)
        && sets_var(&contents, EDGE_KEY_VAR)
        && sets_var(&contents, SYNC_KEY_VAR)
        && private_mode(&path)?)
}

/// A fresh key from `embedgate keygen KIND`; its value is never printed.
fn keygen(kind: &str) -> Result<String> {
    let out = util::read_stdout(&mut cargo([
        "run",
        "--quiet",
        "-p",
        "embedgate-admin",
        "--bin",
        "embedgate",
        "--",
        "keygen",
        kind,
    ]))
    .map_err(|err| {
        format!(
            "could not generate the {kind} key: {err}. `embedgate keygen {kind}` \
             (crates/admin) must build and print one key on stdout"
        )
    })?;
    let key = out.trim();
    let prefix = match kind {
        "edge" => "ege_",
        "sync" => "egk_",
        _ => "",
    };
    let well_formed = !key.is_empty() && !key.contains(char::is_whitespace) && key.starts_with(prefix);
    if !well_formed {
        return Err(
            format!("`embedgate keygen {kind}` did not print one {prefix}… key on stdout (value not shown)").into()
        );
    }
    Ok(key.to_owned())
}

/// Moves a master key out of an old `.dev.vars` (the edge refuses to start
/// with one) into the admin's `data/master.key`, where `embedgate init` and
/// `serve` read it, unless that file exists already.
fn move_master_key_out(path: &Path, text: &str) -> Result<String> {
    let mut kept = String::new();
    for line in text.lines() {
        let value = line.trim().strip_prefix(MASTER_KEY_VAR).and_then(|rest| rest.strip_prefix('='));
        if let Some(value) = value {
            let key_file = repo_root().join("data/master.key");
            if !key_file.exists() {
                fs::create_dir_all(repo_root().join("data"))?;
                let mut file = private_options().create_new(true).open(&key_file)?;
                writeln!(file, "{}", value.trim())?;
                println!("setup: moved {MASTER_KEY_VAR} from .dev.vars to data/master.key (the admin's only)");
            }
        } else {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    fs::write(path, &kept)?;
    Ok(kept)
}

/// Writes `.dev.vars` (mode 0600) if missing; otherwise adds the keys it
/// lacks and makes it private. Existing keys are never replaced; a master
/// key is moved out ([`move_master_key_out`]).
fn write_dev_vars() -> Result<()> {
    let path = dev_vars_path();
    let mut existing = if path.exists() { Some(fs::read_to_string(&path)?) } else { None };
    if let Some(text) = existing.as_deref().filter(|text| sets_var(text, MASTER_KEY_VAR)) {
        existing = Some(move_master_key_out(&path, text)?);
    }
    let mut lines = String::new();
    for (var, kind) in [(EDGE_KEY_VAR, "edge"), (SYNC_KEY_VAR, "sync")] {
        if !existing.as_deref().is_some_and(|text| sets_var(text, var)) {
            writeln!(lines, "{var}={}", keygen(kind)?)?;
            println!("setup: generated {var} (value not shown)");
        }
    }
    match existing {
        None => {
            let mut file = private_options().create_new(true).open(&path)?;
            file.write_all(lines.as_bytes())?;
            println!("setup: wrote {} (mode 0600)", util::display_path(&path));
        }
        Some(text) => {
            make_private(&path)?;
            if !lines.is_empty() {
                let mut file = fs::OpenOptions::new().append(true).open(&path)?;
                if !text.is_empty() && !text.ends_with('\n') {
                    file.write_all(b"\n")?;
                }
                file.write_all(lines.as_bytes())?;
                println!("setup: added the missing keys to {}", util::display_path(&path));
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
fn private_options() -> fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = fs::OpenOptions::new();
    options.write(true).mode(0o600);
    options
}

#[cfg(not(unix))]
fn private_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    options.write(true);
    options
}

#[cfg(unix)]
fn make_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !private_mode(path)? {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
        println!("setup: set {} to mode 0600", util::display_path(path));
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_read_from_requirements() {
        let pins = pins().expect("pins");
        assert!(pins.iter().any(|(name, v)| *name == "pyjwt" && v.starts_with("2.")), "{pins:?}");
        assert!(pins.iter().any(|(name, _)| *name == "schemathesis"), "{pins:?}");
    }

    #[test]
    fn step_names_state_the_pinned_versions() {
        assert!(STEPS.iter().any(|step| step.name == format!("wasm-bindgen-cli {WASM_BINDGEN_VERSION}")));
    }

    #[test]
    fn sets_var_needs_a_value() {
        assert!(sets_var("A=1\nEMBEDGATE_SYNC_KEY=x\n", SYNC_KEY_VAR));
        assert!(!sets_var("EMBEDGATE_SYNC_KEY=\n", SYNC_KEY_VAR));
        assert!(!sets_var("EMBEDGATE_SYNC_KEYS=x\n", SYNC_KEY_VAR));
        assert!(!sets_var("", MASTER_KEY_VAR));
    }
}
