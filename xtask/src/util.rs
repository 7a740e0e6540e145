//! Small helpers shared by the commands: the repository root, running
//! commands with an echo, probing tool versions. Starting and stopping the
//! stack's servers is `embedgate-harness`'s.

use std::env;
use std::error::Error;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub type Result<T, E = Box<dyn Error + Send + Sync>> = std::result::Result<T, E>;

pub use embedgate_harness::{path_with, repo_root};

/// Cargo's target directory: `CARGO_TARGET_DIR` if set, else `<repo>/target`.
pub fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                env::current_dir().unwrap_or_else(|_| repo_root()).join(dir)
            }
        }
        _ => repo_root().join("target"),
    }
}

/// `path` relative to the repository root when it lies inside it.
pub fn display_path(path: &Path) -> String {
    path.strip_prefix(repo_root()).unwrap_or(path).display().to_string()
}

/// `cargo` (the rustup proxy on PATH), run from the repository root.
pub fn cargo<const N: usize>(args: [&str; N]) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.args(args).current_dir(repo_root());
    cmd
}

/// Puts cargo's bin directory (`$CARGO_HOME/bin`, default `~/.cargo/bin`)
/// first on PATH for this process and its children if it is missing, so
/// tools installed by `setup` (wasm-bindgen, its test runner) are found.
pub fn ensure_cargo_bin_on_path() {
    let cargo_home = env::var_os("CARGO_HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let Some(bin) = cargo_home.map(|home| home.join("bin")) else {
        return;
    };
    let path = env::var_os("PATH").unwrap_or_default();
    if env::split_paths(&path).any(|dir| dir == bin) {
        return;
    }
    let mut dirs = vec![bin];
    dirs.extend(env::split_paths(&path));
    if let Ok(joined) = env::join_paths(dirs) {
        env::set_var("PATH", joined);
    }
}

/// The command as a shell-like line, with the environment it sets.
pub fn describe(cmd: &Command) -> String {
    let mut words: Vec<String> = cmd
        .get_envs()
        .filter_map(|(key, value)| {
            let key = key.to_string_lossy();
            // Keys, secrets and tokens passed by environment are never echoed.
            let secret = ["KEY", "SECRET", "TOKEN", "PASSWORD"].iter().any(|w| key.to_ascii_uppercase().contains(w));
            value.map(|value| format!("{key}={}", if secret { "<redacted>".into() } else { quote(value) }))
        })
        .collect();
    words.push(quote(cmd.get_program()));
    words.extend(cmd.get_args().map(quote));
    words.join(" ")
}

fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy().into_owned();
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:@+,%".contains(c));
    if plain {
        word
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn spawn_error(cmd: &Command, err: &std::io::Error) -> String {
    format!("could not start `{}`: {err}", cmd.get_program().to_string_lossy())
}

/// Echoes the command, runs it with inherited stdout/stderr (stdin closed:
/// nothing here is interactive, and CI has no stdin) and fails unless it
/// exits with success.
pub fn run(cmd: &mut Command) -> Result<()> {
    println!("$ {}", describe(cmd));
    let status = cmd.stdin(Stdio::null()).status().map_err(|err| spawn_error(cmd, &err))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(cmd)).into())
    }
}

/// Echoes the command, runs it and returns its stdout, which is not printed
/// (it may hold a secret); stderr goes to the terminal.
pub fn read_stdout(cmd: &mut Command) -> Result<String> {
    println!("$ {}", describe(cmd));
    let output = cmd.stdin(Stdio::null()).stderr(Stdio::inherit()).output().map_err(|err| spawn_error(cmd, &err))?;
    if !output.status.success() {
        return Err(format!("`{}` failed ({})", describe(cmd), output.status).into());
    }
    String::from_utf8(output.stdout).map_err(|_| format!("`{}` printed non-UTF-8 output", describe(cmd)).into())
}

/// Runs the command quietly; its stdout if it started and succeeded.
pub fn probe(cmd: &mut Command) -> Option<String> {
    let output = cmd.stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    if output.status.success() {
        String::from_utf8(output.stdout).ok()
    } else {
        None
    }
}

/// The trimmed output of `program args…` (e.g. `wasm-bindgen --version`),
/// or `None` when the tool is missing or fails.
pub fn tool_version(program: impl AsRef<OsStr>, args: &[&str]) -> Option<String> {
    probe(Command::new(program).args(args)).map(|out| out.trim().to_owned())
}

/// A fresh directory for a run's logs and state.
pub fn run_dir(name: &str) -> Result<PathBuf> {
    let dir = env::temp_dir().join(format!("embedgate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
