//! `cargo xtask setup`: installs what the repository needs on a fresh machine
//! and generates the local dev secrets. Idempotent: each step first checks
//! whether its tool is already there at the right version and skips if so.
//!
//! To add a step (npm packages, worker-build, chromium, …), write
//! a `check` and an `install` function and append a [`Step`] to [`STEPS`].
//!
//! Everything is pinned and installed from a lockfile: the Rust toolchain is
//! the one `rust-toolchain.toml` names, every `cargo install` is
//! `--locked` at an exact version ([`CargoTool`]), npm runs `npm ci` from
//! package-lock.json ([`NPM_CI`]) and pip installs requirements.txt's `==` pins.

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
    Step {
        name: "rust toolchain of rust-toolchain.toml (rustfmt, clippy, wasm32-unknown-unknown)",
        check: toolchain_installed,
        install: install_toolchain,
    },
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

// --- the Rust toolchain (rust-toolchain.toml) --------------------------------

/// rustup reads this file in the repository: every `cargo` run here uses
/// the toolchain it names (`cargo +TOOLCHAIN` overrides it, as the fuzz
/// runner does with its nightly).
const RUST_TOOLCHAIN_TOML: &str = include_str!("../../rust-toolchain.toml");

/// The `[toolchain]` table of rust-toolchain.toml.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Toolchain {
    pub channel: String,
    pub components: Vec<String>,
    pub targets: Vec<String>,
    pub profile: String,
}

/// Reads the `key = "value"` and `key = ["a", "b"]` lines of rust-toolchain.toml.
fn parse_toolchain(text: &str) -> Result<Toolchain> {
    let mut toolchain = Toolchain::default();
    let unquote = |word: &str| word.trim().trim_matches('"').to_owned();
    for line in text.lines().map(|line| line.split('#').next().unwrap_or("").trim()) {
        let Some((key, value)) = line.split_once('=') else { continue };
        let list = || -> Vec<String> {
            value
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split(',')
                .map(unquote)
                .filter(|w| !w.is_empty())
                .collect()
        };
        match key.trim() {
            "channel" => toolchain.channel = unquote(value),
            "components" => toolchain.components = list(),
            "targets" => toolchain.targets = list(),
            "profile" => toolchain.profile = unquote(value),
            _ => {}
        }
    }
    if toolchain.channel.is_empty() {
        return Err("rust-toolchain.toml names no `channel`".into());
    }
    Ok(toolchain)
}

/// What rust-toolchain.toml pins.
pub fn toolchain() -> Result<Toolchain> {
    parse_toolchain(RUST_TOOLCHAIN_TOML)
}

/// Whether the pinned toolchain is installed with its components and targets.
fn toolchain_installed() -> Result<bool> {
    let pin = toolchain()?;
    let Some(listed) =
        probe(Command::new("rustup").args(["component", "list", "--installed", "--toolchain", &pin.channel]))
    else {
        return Ok(false); // not installed (or no rustup: the install step says so)
    };
    let installed: Vec<&str> = listed.lines().map(str::trim).collect();
    let has = |name: &str| installed.iter().any(|line| *line == name || line.starts_with(&format!("{name}-")));
    Ok(pin.components.iter().all(|c| has(c))
        && pin.targets.iter().all(|t| installed.contains(&format!("rust-std-{t}").as_str())))
}

/// `rustup toolchain install` with what rust-toolchain.toml names.
fn toolchain_install_args(pin: &Toolchain) -> Vec<String> {
    let mut args: Vec<String> = ["toolchain", "install", &pin.channel, "--no-self-update"].map(str::to_owned).into();
    if !pin.profile.is_empty() {
        args.extend(["--profile".to_owned(), pin.profile.clone()]);
    }
    if !pin.components.is_empty() {
        args.extend(["--component".to_owned(), pin.components.join(",")]);
    }
    if !pin.targets.is_empty() {
        args.extend(["--target".to_owned(), pin.targets.join(",")]);
    }
    args
}

fn install_toolchain() -> Result<()> {
    util::run(Command::new("rustup").args(toolchain_install_args(&toolchain()?)).current_dir(repo_root()))
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

// --- tools built by `cargo install` -------------------------------------------

/// A tool `cargo install` builds: always `--locked` (the dependency versions
/// of a lockfile, never a fresh resolution) at an exact version.
#[derive(Debug)]
pub struct CargoTool {
    pub version: &'static str,
    pub source: CrateSource,
    /// Commands whose output ends with `version` once it is installed.
    pub checks: &'static [(&'static str, &'static [&'static str])],
    /// How long it compiles here, said before it starts.
    pub about: &'static str,
}

#[derive(Debug)]
pub enum CrateSource {
    /// This crate of the registry, built with the Cargo.lock published in it.
    Registry(&'static str),
    /// A package of this repository (directory from the root) with its own
    /// committed Cargo.lock.
    Path(&'static str),
}

impl CargoTool {
    /// The arguments of `cargo` that install it.
    pub fn install_args(&self) -> Vec<String> {
        let mut args = vec!["install".to_owned(), "--locked".to_owned()];
        match self.source {
            CrateSource::Registry(krate) => args.extend([krate, "--version", self.version].map(str::to_owned)),
            CrateSource::Path(dir) => {
                let build_dir = util::target_dir().join("tools").join(dir.rsplit('/').next().unwrap_or(dir));
                args.extend([
                    // Replaces binaries of the same names installed from the
                    // registry crate before (cargo refuses otherwise).
                    "--force".to_owned(),
                    "--path".to_owned(),
                    repo_root().join(dir).display().to_string(),
                    "--target-dir".to_owned(),
                    build_dir.display().to_string(),
                ]);
            }
        }
        args
    }

    fn installed(&self) -> bool {
        self.checks.iter().all(|(program, args)| {
            tool_version(program, args).is_some_and(|out| out.split_whitespace().last() == Some(self.version))
        })
    }

    fn install(&self) -> Result<()> {
        println!("setup: {}", self.about);
        util::run(Command::new("cargo").args(self.install_args()).current_dir(repo_root()))
    }
}

/// Must match the `wasm-bindgen` pinned in Cargo.lock exactly.
const WASM_BINDGEN_VERSION: &str = "0.2.130";

/// `cargo install wasm-bindgen-cli --locked` cannot work: its published
/// lockfile names webpki-roots 1.0.11, which the registry does not serve. The
/// same binaries build from xtask/tools/wasm-bindgen and its committed lockfile.
pub const WASM_BINDGEN: CargoTool = CargoTool {
    version: WASM_BINDGEN_VERSION,
    source: CrateSource::Path("xtask/tools/wasm-bindgen"),
    checks: &[("wasm-bindgen", &["--version"]), ("wasm-bindgen-test-runner", &["--version"])],
    about: "this compiles wasm-bindgen-cli from source (about 5 minutes)",
};

pub const WORKER_BUILD: CargoTool = CargoTool {
    version: "0.8.7",
    source: CrateSource::Registry("worker-build"),
    checks: &[("worker-build", &["--version"])],
    about: "this compiles worker-build from source (about 8 minutes)",
};

pub const CARGO_FUZZ: CargoTool = CargoTool {
    version: crate::fuzz::CARGO_FUZZ_VERSION,
    source: CrateSource::Registry("cargo-fuzz"),
    checks: &[("cargo", &["fuzz", "--version"])],
    about: "this compiles cargo-fuzz from source (a few minutes)",
};

/// Every tool setup builds with `cargo install` (the tests check each one's
/// command, and that no other `cargo install` is written here).
#[cfg(test)]
const CARGO_TOOLS: [&CargoTool; 3] = [&WASM_BINDGEN, &WORKER_BUILD, &CARGO_FUZZ];

#[allow(clippy::unnecessary_wraps, reason = "the signature is fixed by `Step::check`")]
fn wasm_bindgen_installed() -> Result<bool> {
    Ok(WASM_BINDGEN.installed())
}

fn install_wasm_bindgen() -> Result<()> {
    WASM_BINDGEN.install()
}

#[allow(clippy::unnecessary_wraps, reason = "the signature is fixed by `Step::check`")]
fn worker_build_installed() -> Result<bool> {
    Ok(WORKER_BUILD.installed())
}

fn install_worker_build() -> Result<()> {
    WORKER_BUILD.install()
}

// --- npm -------------------------------------------------------------------------

/// `npm ci`: exactly what package-lock.json says, or a failure when it does
/// not match package.json (`npm install` would quietly re-resolve).
pub const NPM_CI: [&str; 3] = ["ci", "--no-audit", "--no-fund"];

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
    util::run(Command::new("npm").args(NPM_CI).current_dir(repo_root()))
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
    Ok(CARGO_FUZZ.installed())
}

fn install_cargo_fuzz() -> Result<()> {
    CARGO_FUZZ.install()
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
        for tool in CARGO_TOOLS {
            let name = match tool.source {
                CrateSource::Registry(krate) => krate,
                CrateSource::Path(_) => "wasm-bindgen-cli",
            };
            let step = format!("{name} {}", tool.version);
            assert!(STEPS.iter().any(|s| s.name == step), "no step named `{step}`");
        }
    }

    /// `X.Y.Z`, digits only: `cargo install --version` takes it as exactly
    /// that release (`^`, `~`, `*`, `>=`, a missing part would let it pick).
    fn is_exact_version(version: &str) -> bool {
        let parts: Vec<&str> = version.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    }

    /// The `version` of `name` in a Cargo.lock (the first, if several).
    fn locked_version<'a>(lock: &'a str, name: &str) -> Option<&'a str> {
        let mut lines = lock.lines();
        lines.find(|line| *line == format!("name = \"{name}\""))?;
        lines.next()?.strip_prefix("version = \"")?.strip_suffix('"')
    }

    fn read(path: &str) -> String {
        fs::read_to_string(repo_root().join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
    }

    /// Issue 14, item 7: every `cargo install` setup runs is `--locked` at
    /// an exact version: a registry crate with `--version X.Y.Z`, or a package
    /// of this repository whose own Cargo.lock is committed and pins it.
    #[test]
    fn every_cargo_install_is_locked_at_an_exact_version() {
        for tool in CARGO_TOOLS {
            let args = tool.install_args();
            assert_eq!(args.first().map(String::as_str), Some("install"), "{args:?}");
            assert!(args.iter().any(|a| a == "--locked"), "`cargo {}` is not --locked", args.join(" "));
            assert!(is_exact_version(tool.version), "{tool:?}");
            match tool.source {
                CrateSource::Registry(krate) => {
                    let version = args.iter().position(|a| a == "--version").and_then(|i| args.get(i + 1));
                    assert_eq!(version.map(String::as_str), Some(tool.version), "`cargo {}`", args.join(" "));
                    assert!(args.contains(&krate.to_owned()), "{args:?}");
                }
                CrateSource::Path(dir) => {
                    let path = args.iter().position(|a| a == "--path").and_then(|i| args.get(i + 1));
                    assert_eq!(path, Some(&repo_root().join(dir).display().to_string()), "{args:?}");
                    let manifest = read(&format!("{dir}/Cargo.toml"));
                    assert!(
                        manifest.contains(&format!("version = \"={}\"", tool.version)),
                        "{dir}/Cargo.toml must depend on the CLI at exactly {}",
                        tool.version
                    );
                    let lock = read(&format!("{dir}/Cargo.lock"));
                    assert_eq!(locked_version(&lock, "wasm-bindgen-cli"), Some(tool.version), "{dir}/Cargo.lock");
                    assert_eq!(
                        locked_version(&lock, "wasm-bindgen-cli-support"),
                        Some(tool.version),
                        "{dir}/Cargo.lock"
                    );
                }
            }
        }
        // The CLI must equal the wasm-bindgen the workspace builds with.
        assert_eq!(locked_version(&read("Cargo.lock"), "wasm-bindgen"), Some(WASM_BINDGEN.version));
        // Nothing installs around the table: every tool is a `CargoTool` listed above.
        let source = read("xtask/src/setup.rs");
        assert_eq!(source.matches(concat!(": CargoTool = ", "CargoTool {")).count(), CARGO_TOOLS.len());
        for file in fs::read_dir(repo_root().join("xtask/src")).expect("xtask/src") {
            let text = fs::read_to_string(file.expect("entry").path()).expect("source");
            assert!(!text.contains(concat!("cargo([\"", "install")), "a `cargo install` outside CARGO_TOOLS");
        }
    }

    /// Issue 14, item 7: npm installs with `npm ci` (package-lock.json as it
    /// is), and the lockfile is complete, so `npm ci` accepts it: every
    /// dependency, optional ones of other platforms included, has an entry
    /// (npm ci refused the lockfile that named only workerd's Linux packages).
    #[test]
    fn npm_installs_with_ci_from_a_complete_lockfile() {
        assert_eq!(NPM_CI[0], "ci");
        assert!(!NPM_CI.contains(&"install"));
        let package: serde_json::Value = serde_json::from_str(&read("package.json")).expect("package.json");
        let lock: serde_json::Value = serde_json::from_str(&read("package-lock.json")).expect("package-lock.json");
        let packages = lock["packages"].as_object().expect("lockfileVersion 3 `packages`");
        let pinned = package["devDependencies"].as_object().expect("package.json devDependencies");
        assert!(!pinned.is_empty());
        for (name, version) in pinned {
            let version = version.as_str().unwrap_or_default();
            assert!(is_exact_version(version), "package.json: {name} {version} is not an exact version");
            let locked = &packages[&format!("node_modules/{name}")]["version"];
            assert_eq!(locked.as_str(), Some(version), "package-lock.json: {name}");
        }
        assert_eq!(&packages[""]["devDependencies"], &package["devDependencies"], "package-lock.json is stale");
        // Node's lookup: the package's own node_modules, then each parent's.
        let resolves = |from: &str, name: &str| {
            let mut dir = from.to_owned();
            loop {
                let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
                if packages.contains_key(&format!("{prefix}node_modules/{name}")) {
                    return true;
                }
                match dir.rfind("/node_modules/") {
                    Some(i) => dir.truncate(i),
                    None if !dir.is_empty() => dir.clear(),
                    None => return false,
                }
            }
        };
        let mut missing = Vec::new();
        for (path, entry) in packages {
            for kind in ["dependencies", "optionalDependencies", "devDependencies"] {
                for name in entry[kind].as_object().into_iter().flat_map(|deps| deps.keys()) {
                    if !resolves(path, name) {
                        missing.push(format!("{name} ({kind} of `{path}`)"));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "package-lock.json lacks {missing:?}: npm ci refuses it");
    }

    /// Issue 14, item 7: rust-toolchain.toml pins an exact release with what
    /// the tests use (rustfmt, clippy, the wasm32 target), and setup installs
    /// exactly that.
    #[test]
    fn rust_toolchain_toml_pins_an_exact_release() {
        let file = read("rust-toolchain.toml");
        assert_eq!(file, RUST_TOOLCHAIN_TOML, "xtask was built from another rust-toolchain.toml");
        let pin = toolchain().expect("rust-toolchain.toml");
        assert!(is_exact_version(&pin.channel), "channel `{}` is not an exact release", pin.channel);
        for component in ["rustfmt", "clippy"] {
            assert!(pin.components.iter().any(|c| c == component), "{pin:?} lacks {component}");
        }
        assert!(pin.targets.iter().any(|t| t == "wasm32-unknown-unknown"), "{pin:?}");
        // Not older than the workspace's rust-version.
        let msrv = read("Cargo.toml")
            .lines()
            .find_map(|l| l.strip_prefix("rust-version = \"")?.strip_suffix('"').map(str::to_owned))
            .expect("rust-version in Cargo.toml");
        let numbers = |v: &str| v.split('.').map(|n| n.parse::<u32>().unwrap_or(0)).collect::<Vec<_>>();
        assert!(numbers(&pin.channel) >= numbers(&msrv), "{} is older than rust-version {msrv}", pin.channel);
        let args = toolchain_install_args(&pin);
        assert_eq!(&args[..3], ["toolchain", "install", pin.channel.as_str()]);
        assert!(args.windows(2).any(|w| w == ["--component", "rustfmt,clippy"]), "{args:?}");
        assert!(args.windows(2).any(|w| w == ["--target", "wasm32-unknown-unknown"]), "{args:?}");
    }

    #[test]
    fn toolchain_file_lines_are_read() {
        let pin = parse_toolchain(
            "# c\n[toolchain]\nchannel = \"1.2.3\" # x\ncomponents = [ \"a\", \"b\" ]\ntargets = []\nprofile = \"minimal\"\n",
        )
        .expect("parses");
        assert_eq!(
            pin,
            Toolchain {
                channel: "1.2.3".into(),
                components: vec!["a".into(), "b".into()],
                targets: vec![],
                profile: "minimal".into()
            }
        );
        assert!(parse_toolchain("[toolchain]\n").is_err());
    }

    #[test]
    fn sets_var_needs_a_value() {
        assert!(sets_var("A=1\nEMBEDGATE_SYNC_KEY=x\n", SYNC_KEY_VAR));
        assert!(!sets_var("EMBEDGATE_SYNC_KEY=\n", SYNC_KEY_VAR));
        assert!(!sets_var("EMBEDGATE_SYNC_KEYS=x\n", SYNC_KEY_VAR));
        assert!(!sets_var("", MASTER_KEY_VAR));
    }
}
