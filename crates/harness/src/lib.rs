//! One process harness for the local stack, shared by `xtask` (`dev`,
//! `bench-edge`, `bench-admin`, `test`) and the end-to-end tests.
//!
//! - [`Proc`]: a child in its own process group, its output in a log file,
//!   stopped with a polite signal and then `SIGKILL` to the whole group, so
//!   nothing it started survives it; a watchdog does the same if the owner
//!   dies without stopping it (Ctrl-C, a kill, a panic that aborts).
//! - [`http`], [`wait_ready`], [`free_port`], [`ensure_free`]: a minimal
//!   blocking HTTP/1.1 client on loopback and the waits built on it.
//! - [`Edge`] (`wrangler dev` of the prebuilt worker on workerd) and
//!   [`Admin`] (`embedgate serve`): a [`Server`] of an [`EdgeSpec`] / [`AdminSpec`].
//! - [`build_edge`], [`repo_root`], [`dev_vars`].
//!
//! Everything blocks (no async runtime); the asynchronous tests call it from
//! their runtime's worker threads.

mod net;
mod proc;
mod stack;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use net::{ensure_free, free_port, http, wait_ready, wait_refused};
pub use proc::{Proc, Signal, Stopped, DEFAULT_STOP_TIMEOUT};
pub use stack::{Admin, AdminSpec, Edge, EdgeSpec, Server, ServerSpec, Spec, Vars};

/// What went wrong, as a message for a person (with a log tail where one helps).
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Self(message.to_owned())
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Self(err.to_string())
    }
}

/// The harness's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The workspace root (this crate is `crates/harness`).
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.ancestors().nth(2).unwrap_or(manifest_dir).to_path_buf()
}

/// `node_modules/.bin` of the workspace (wrangler, Node 22, esbuild, wasm-opt).
pub fn node_bin() -> PathBuf {
    repo_root().join("node_modules/.bin")
}

/// PATH with `dir` first (e.g. `node_modules/.bin`, whose Node 22 wrangler needs).
pub fn path_with(dir: &Path) -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    std::env::join_paths(dirs).unwrap_or(path)
}

/// The worker-build command that builds `crates/edge/build`, offline: the
/// cargo-installed wasm-bindgen, and wasm-opt and esbuild from npm
/// (toolchain.md: worker-build would download them otherwise).
pub fn build_edge_command() -> Command {
    let bin = node_bin();
    let mut cmd = Command::new("worker-build");
    cmd.arg("--release")
        .current_dir(repo_root().join("crates/edge"))
        .env("PATH", path_with(&bin))
        .env("WASM_BINDGEN_BIN", "wasm-bindgen")
        .env("WASM_OPT_BIN", bin.join("wasm-opt"))
        .env("ESBUILD_BIN", bin.join("esbuild"));
    cmd
}

/// Builds `crates/edge/build` (its output on the terminal).
pub fn build_edge() -> Result<()> {
    let mut cmd = build_edge_command();
    let status = cmd.stdin(Stdio::null()).status().map_err(|e| format!("could not start worker-build: {e}"))?;
    if !status.success() {
        return Err(format!("worker-build failed ({status})").into());
    }
    let out = edge_build_index();
    if out.is_file() {
        Ok(())
    } else {
        Err(format!("worker-build did not produce {}", out.display()).into())
    }
}

/// The built worker's entry point, `crates/edge/build/index.js`.
pub fn edge_build_index() -> PathBuf {
    repo_root().join("crates/edge/build/index.js")
}

/// The `.dev.vars` secrets `cargo xtask setup` generated (the edge and sync keys).
pub fn dev_vars() -> Result<Vec<(String, String)>> {
    let path = repo_root().join(".dev.vars");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(parse_vars(&text))
}

/// One variable of [`dev_vars`].
pub fn dev_var(name: &str) -> Result<String> {
    dev_vars()?
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
        .ok_or_else(|| format!("{name} is missing from .dev.vars (run `cargo xtask setup`)").into())
}

fn parse_vars(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_root_is_the_workspace() {
        let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"), "{}", repo_root().display());
    }

    #[test]
    fn dev_vars_are_name_value_lines() {
        let vars = parse_vars("# generated\nEMBEDGATE_MASTER_KEY = egm_x\n\nEMBEDGATE_SYNC_KEY=egk_y=z\n");
        assert_eq!(
            vars,
            [("EMBEDGATE_MASTER_KEY".to_owned(), "egm_x".to_owned()), ("EMBEDGATE_SYNC_KEY".into(), "egk_y=z".into())]
        );
    }

    #[test]
    fn path_with_puts_the_directory_first() {
        let path = path_with(Path::new("/nowhere/bin"));
        assert_eq!(std::env::split_paths(&path).next().unwrap(), Path::new("/nowhere/bin"));
    }
}
