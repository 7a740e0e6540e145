//! The local stack's processes, for `dev` and the edge benchmark: building
//! the edge worker, starting `wrangler dev` (workerd) and `embedgate serve`
//! on 127.0.0.1, waiting until they answer, and stopping them by PID.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::setup::npm_bin;
use crate::util::{self, repo_root, Result};

/// The worker-build command that builds `crates/edge/build`, offline (toolchain.md).
pub fn build_edge_command() -> Command {
    let bin = repo_root().join("node_modules/.bin");
    let mut cmd = Command::new("worker-build");
    cmd.arg("--release")
        .current_dir(repo_root().join("crates/edge"))
        .env("PATH", util::path_with(&bin))
        .env("WASM_BINDGEN_BIN", "wasm-bindgen")
        .env("WASM_OPT_BIN", bin.join("wasm-opt"))
        .env("ESBUILD_BIN", bin.join("esbuild"));
    cmd
}

/// Builds `crates/edge/build`.
pub fn build_edge() -> Result<()> {
    util::run(&mut build_edge_command())?;
    let out = repo_root().join("crates/edge/build/index.js");
    if out.is_file() {
        Ok(())
    } else {
        Err(format!("worker-build did not produce {}", util::display_path(&out)).into())
    }
}

/// A child process stopped (SIGINT, then SIGKILL after 10 s) when dropped.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Option<Child>,
}

impl Proc {
    fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Result<Self> {
        let file = std::fs::File::create(log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .map_err(|e| format!("could not start {name}: {e}"))?;
        Ok(Self { name: name.to_owned(), child: Some(child) })
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        self.child.as_mut().is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    /// Stops it: SIGINT (wrangler stops workerd with itself), SIGKILL after 10 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("{} did not stop on SIGINT; killing it", self.name);
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One HTTP/1.1 request on loopback (`Connection: close`); the status and body.
pub fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        use std::fmt::Write as _;
        let _ = write!(req, "{k}: {v}\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or("not an HTTP answer")?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Polls `GET path` until it answers 200, the process exits, or `timeout`.
pub fn wait_ready(proc: &mut Proc, addr: SocketAddr, path: &str, timeout: Duration, log: &Path) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok((200, _)) = http(addr, "GET", path, &[], "") {
            return Ok(());
        }
        if proc.exited() {
            return Err(format!("{} exited before it was ready; see {}", proc.name, log.display()).into());
        }
        if Instant::now() > deadline {
            return Err(format!("{} was not ready within {timeout:?}; see {}", proc.name, log.display()).into());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// An edge under `wrangler dev` (workerd) on 127.0.0.1.
#[derive(Debug)]
pub struct Edge {
    /// Its process.
    pub proc: Proc,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Edge {
    /// Starts the prebuilt worker (see [`build_edge`]); `vars` are `--var`s
    /// (they override `.dev.vars`). Waits until `/healthz` answers.
    pub fn start(port: u16, inspector_port: u16, persist: &Path, vars: &[(&str, &str)], log: &Path) -> Result<Self> {
        ensure_free(port)?;
        let mut cmd = Command::new(npm_bin("wrangler"));
        cmd.args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &inspector_port.to_string(), "--log-level", "warn"])
            .arg("--persist-to")
            .arg(persist);
        for (k, v) in vars {
            cmd.arg("--var").arg(format!("{k}:{v}"));
        }
        cmd.current_dir(repo_root())
            .env("PATH", util::path_with(&repo_root().join("node_modules/.bin")))
            .env("EMBEDGATE_EDGE_PREBUILT", "1")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("CI", "true")
            .env("WRANGLER_LOG_PATH", log.with_extension("wrangler-logs"));
        let mut proc = Proc::spawn(&format!("wrangler dev (port {port})"), &mut cmd, log)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_ready(&mut proc, addr, "/healthz", Duration::from_secs(90), log)?;
        Ok(Self { proc, addr })
    }
}

/// `embedgate serve` on 127.0.0.1.
#[derive(Debug)]
pub struct Admin {
    /// Its process.
    pub proc: Proc,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Admin {
    /// Starts `binary serve` with `env` and waits until `/healthz` answers.
    pub fn start(binary: &Path, port: u16, data_dir: &Path, env: &[(&str, &str)], log: &Path) -> Result<Self> {
        ensure_free(port)?;
        let mut cmd = Command::new(binary);
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")]).arg("--data-dir").arg(data_dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut proc = Proc::spawn(&format!("embedgate serve (port {port})"), &mut cmd, log)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_ready(&mut proc, addr, "/healthz", Duration::from_secs(30), log)?;
        Ok(Self { proc, addr })
    }
}

/// Fails when something already listens on `port` (it would answer our
/// readiness checks in place of the server we start).
fn ensure_free(port: u16) -> Result<()> {
    std::net::TcpListener::bind(("127.0.0.1", port))
        .map(drop)
        .map_err(|e| format!("127.0.0.1:{port} is already in use ({e}); stop what listens there first").into())
}

/// The `.dev.vars` secrets `setup` generated (master and sync key).
pub fn dev_vars() -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(repo_root().join(".dev.vars"))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

/// A free port on 127.0.0.1 (the OS's choice; racy but fine for local runs).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A fresh directory for a run's logs and state.
pub fn run_dir(name: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("embedgate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
