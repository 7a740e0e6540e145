//! The stack's two servers: an edge (`wrangler dev` of the prebuilt worker
//! on workerd) and the admin (`embedgate serve`), on 127.0.0.1.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::{ensure_free, node_bin, path_with, repo_root, wait_ready, wait_refused, Proc, Result, Signal};

/// How long an edge may take to answer `/healthz` (12–15 s is usual).
const EDGE_READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the admin may take to answer `/healthz`.
const ADMIN_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Debug output that names the variables but hides their values (keys).
fn names(vars: &[(String, String)]) -> Vec<&str> {
    vars.iter().map(|(k, _)| k.as_str()).collect()
}

/// The process a server runs as, its starts counted for the log names.
#[derive(Debug, Default)]
struct Server {
    proc: Option<Proc>,
    starts: u32,
}

impl Server {
    /// Starts `cmd` as `name`, its output in `LOG_DIR/KIND-N.log` for the N-th start.
    fn spawn(
        &mut self,
        name: &str,
        kind: &str,
        cmd: &mut Command,
        signal: Signal,
        stop: Duration,
        log_dir: &Path,
    ) -> Result<()> {
        if self.proc.is_some() {
            return Err(format!("{name} is already running").into());
        }
        std::fs::create_dir_all(log_dir).map_err(|e| format!("cannot create {}: {e}", log_dir.display()))?;
        self.starts += 1;
        let log = log_dir.join(format!("{kind}-{}.log", self.starts));
        self.proc = Some(Proc::spawn(name, cmd, signal, stop, &log)?);
        Ok(())
    }

    fn wait_ready(
        &mut self,
        name: &str,
        port: u16,
        timeout: Duration,
        ready: fn(u16, &str) -> bool,
    ) -> Result<Duration> {
        let proc = self.proc.as_mut().ok_or_else(|| format!("{name} is not running"))?;
        wait_ready(proc, SocketAddr::from(([127, 0, 0, 1], port)), "/healthz", timeout, ready)
    }

    fn exited(&mut self) -> bool {
        self.proc.as_mut().is_none_or(Proc::exited)
    }
}

// ------------------------------------------------------------------ edge

/// What an [`Edge`] runs: `wrangler dev` of the prebuilt worker
/// (`crates/edge/build`, `EMBEDGATE_EDGE_PREBUILT=1`) on fixed ports, with
/// its state under `persist_to` and the worker variables `vars`.
#[derive(Clone)]
pub struct EdgeSpec {
    /// A label for messages (`edge-a`, `wrangler dev (port 8787)`).
    pub name: String,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// The V8 inspector's port.
    pub inspector_port: u16,
    /// `--persist-to`: Durable Objects and KV, kept across restarts.
    pub persist_to: PathBuf,
    /// Its output (`wrangler-N.log` for the N-th start) and wrangler's debug logs.
    pub log_dir: PathBuf,
    /// `--var NAME:VALUE` pairs (secrets too; they win over `.dev.vars`).
    pub vars: Vec<(String, String)>,
    /// How long it may take to answer `/healthz`.
    pub ready_timeout: Duration,
    /// How long it has to exit on SIGINT before its group is killed.
    pub stop_timeout: Duration,
}

impl fmt::Debug for EdgeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeSpec")
            .field("name", &self.name)
            .field("port", &self.port)
            .field("inspector_port", &self.inspector_port)
            .field("persist_to", &self.persist_to)
            .field("log_dir", &self.log_dir)
            .field("vars", &names(&self.vars))
            .finish_non_exhaustive()
    }
}

impl EdgeSpec {
    /// An edge named `name` on `port`, its state in `DIR/NAME-state` and its
    /// logs in `DIR/NAME-logs`, no variables, default timeouts.
    pub fn new(name: &str, port: u16, inspector_port: u16, dir: &Path) -> Self {
        Self {
            name: name.to_owned(),
            port,
            inspector_port,
            persist_to: dir.join(format!("{name}-state")),
            log_dir: dir.join(format!("{name}-logs")),
            vars: Vec::new(),
            ready_timeout: EDGE_READY_TIMEOUT,
            stop_timeout: crate::DEFAULT_STOP_TIMEOUT,
        }
    }

    /// One more `--var NAME:VALUE`.
    #[must_use]
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The `wrangler dev` command, run from the workspace root with
    /// `node_modules/.bin` first on PATH (wrangler needs its Node 22), no
    /// telemetry or outside look-ups, and only warnings logged (`Ready on`
    /// is not printed then: poll `/healthz`).
    pub fn command(&self) -> Command {
        let bin = node_bin();
        let mut cmd = Command::new(bin.join("wrangler"));
        cmd.current_dir(repo_root())
            .args(["dev", "--ip", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--inspector-port", &self.inspector_port.to_string()])
            .arg("--persist-to")
            .arg(&self.persist_to)
            .args(["--log-level", "warn"]);
        for (name, value) in &self.vars {
            cmd.arg("--var").arg(format!("{name}:{value}"));
        }
        cmd.env("PATH", path_with(&bin))
            .env("EMBEDGATE_EDGE_PREBUILT", "1")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("CI", "true")
            .env("WRANGLER_LOG_PATH", &self.log_dir);
        cmd
    }
}

/// An edge: started, stopped and restarted on the same ports and state.
#[derive(Debug)]
pub struct Edge {
    spec: EdgeSpec,
    server: Server,
}

impl Edge {
    /// An edge that is not running yet.
    pub fn new(spec: EdgeSpec) -> Self {
        Self { spec, server: Server::default() }
    }

    /// [`Edge::new`], then [`Edge::start`].
    pub fn start_new(spec: EdgeSpec) -> Result<Self> {
        let mut edge = Self::new(spec);
        edge.start()?;
        Ok(edge)
    }

    /// What it runs.
    pub fn spec(&self) -> &EdgeSpec {
        &self.spec
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.spec.port))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Whether it was started and not stopped since (it may have exited: see [`Edge::exited`]).
    pub fn is_running(&self) -> bool {
        self.server.proc.is_some()
    }

    /// Whether its wrangler has exited (or it is not running).
    pub fn exited(&mut self) -> bool {
        self.server.exited()
    }

    /// Its process, while running.
    pub fn proc(&self) -> Option<&Proc> {
        self.server.proc.as_ref()
    }

    /// The tail of the current (or last) start's output.
    pub fn log_tail(&self) -> String {
        self.proc().map(Proc::log_tail).unwrap_or_default()
    }

    /// Whether a `/healthz` answer means ready: 200, or 503 with
    /// `"stale":true` from a bounded edge that has not been vouched for yet.
    pub fn is_ready_answer(status: u16, body: &str) -> bool {
        status == 200
            || status == 503
                && serde_json::from_str::<serde_json::Value>(body)
                    .is_ok_and(|b| b["stale"] == serde_json::Value::Bool(true))
    }

    /// Starts wrangler without waiting for it; fails if the port is taken.
    pub fn spawn(&mut self) -> Result<()> {
        ensure_free(self.spec.port)?;
        std::fs::create_dir_all(&self.spec.persist_to)
            .map_err(|e| format!("cannot create {}: {e}", self.spec.persist_to.display()))?;
        let mut cmd = self.spec.command();
        self.server.spawn(
            &self.spec.name,
            "wrangler",
            &mut cmd,
            Signal::Int,
            self.spec.stop_timeout,
            &self.spec.log_dir,
        )
    }

    /// Waits until `/healthz` answers ready ([`Edge::is_ready_answer`]); the time it took.
    pub fn wait_ready(&mut self) -> Result<Duration> {
        self.server.wait_ready(&self.spec.name, self.spec.port, self.spec.ready_timeout, Self::is_ready_answer)
    }

    /// Starts it and waits until it is ready.
    pub fn start(&mut self) -> Result<()> {
        self.spawn()?;
        self.wait_ready().map(drop)
    }

    /// Stops wrangler and its workerd (SIGINT, then the group killed) and
    /// waits until the port refuses connections.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut proc) = self.server.proc.take() {
            proc.stop();
        }
        wait_refused(self.addr(), self.spec.stop_timeout)
            .map_err(|e| format!("{} still answers after it was stopped: {e}", self.spec.name).into())
    }

    /// Stops and starts it again (same ports, same state).
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.start()
    }

    /// Deletes its persisted state (it must be stopped): the next start is a
    /// fresh edge at version 0 on the same URL.
    pub fn wipe_state(&mut self) -> Result<()> {
        if self.is_running() {
            return Err(format!("stop {} before wiping its state", self.spec.name).into());
        }
        let dir = &self.spec.persist_to;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()).into())
    }
}

// ------------------------------------------------------------------ admin

/// What an [`Admin`] runs: `BINARY serve --listen 127.0.0.1:PORT --data-dir DIR`
/// with `env` (and no inherited `EMBEDGATE_DATABASE_URL` unless `env` sets it).
#[derive(Clone)]
pub struct AdminSpec {
    /// A label for messages.
    pub name: String,
    /// The `embedgate` binary.
    pub binary: PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// Its output: `serve-N.log` for the N-th start.
    pub log_dir: PathBuf,
    /// Environment, in order (a later entry wins).
    pub env: Vec<(String, String)>,
    /// How long it may take to answer `/healthz`.
    pub ready_timeout: Duration,
    /// How long it has to exit on SIGTERM before its group is killed.
    pub stop_timeout: Duration,
}

impl fmt::Debug for AdminSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminSpec")
            .field("name", &self.name)
            .field("binary", &self.binary)
            .field("port", &self.port)
            .field("data_dir", &self.data_dir)
            .field("log_dir", &self.log_dir)
            .field("env", &names(&self.env))
            .finish_non_exhaustive()
    }
}

impl AdminSpec {
    /// `binary serve` on `port` over `data_dir`, its logs there too, no
    /// environment of its own, default timeouts.
    pub fn new(binary: &Path, port: u16, data_dir: &Path) -> Self {
        Self {
            name: "admin".to_owned(),
            binary: binary.to_path_buf(),
            port,
            data_dir: data_dir.to_path_buf(),
            log_dir: data_dir.to_path_buf(),
            env: Vec::new(),
            ready_timeout: ADMIN_READY_TIMEOUT,
            stop_timeout: crate::DEFAULT_STOP_TIMEOUT,
        }
    }

    /// One more environment variable.
    #[must_use]
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The `embedgate serve` command.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env_remove("EMBEDGATE_DATABASE_URL")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

/// The admin server: started and stopped on the same port and data.
#[derive(Debug)]
pub struct Admin {
    spec: AdminSpec,
    server: Server,
}

impl Admin {
    /// An admin that is not running yet.
    pub fn new(spec: AdminSpec) -> Self {
        Self { spec, server: Server::default() }
    }

    /// [`Admin::new`], then [`Admin::start`].
    pub fn start_new(spec: AdminSpec) -> Result<Self> {
        let mut admin = Self::new(spec);
        admin.start()?;
        Ok(admin)
    }

    /// What it runs.
    pub fn spec(&self) -> &AdminSpec {
        &self.spec
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.spec.port))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Whether it was started and not stopped since.
    pub fn is_running(&self) -> bool {
        self.server.proc.is_some()
    }

    /// Whether it has exited (or is not running).
    pub fn exited(&mut self) -> bool {
        self.server.exited()
    }

    /// Its process, while running.
    pub fn proc(&self) -> Option<&Proc> {
        self.server.proc.as_ref()
    }

    /// The tail of the current (or last) start's output.
    pub fn log_tail(&self) -> String {
        self.proc().map(Proc::log_tail).unwrap_or_default()
    }

    /// Starts it and waits until `/healthz` answers 200; fails if the port is taken.
    pub fn start(&mut self) -> Result<()> {
        ensure_free(self.spec.port)?;
        let mut cmd = self.spec.command();
        self.server.spawn(
            &self.spec.name,
            "serve",
            &mut cmd,
            Signal::Term,
            self.spec.stop_timeout,
            &self.spec.log_dir,
        )?;
        let ready = |status, _: &str| status == 200;
        self.server.wait_ready(&self.spec.name, self.spec.port, self.spec.ready_timeout, ready).map(drop)
    }

    /// Stops it: SIGTERM (a graceful shutdown), then the group killed.
    pub fn stop(&mut self) {
        if let Some(mut proc) = self.server.proc.take() {
            proc.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    /// What `cmd` sets `name` to: its value, `<removed>` or `<inherited>`.
    fn env(cmd: &Command, name: &str) -> String {
        match cmd.get_envs().find(|(k, _)| *k == name) {
            Some((_, Some(v))) => v.to_string_lossy().into_owned(),
            Some((_, None)) => "<removed>".to_owned(),
            None => "<inherited>".to_owned(),
        }
    }

    #[test]
    fn the_edge_command_passes_every_var_and_keeps_wrangler_offline() {
        let spec = EdgeSpec::new("edge-x", 8123, 9123, Path::new("/tmp/run"))
            .var("SOME_SECRET", "s3:cr=t")
            .var("ANOTHER", "v");
        let cmd = spec.command();
        assert!(cmd.get_program().to_string_lossy().ends_with("node_modules/.bin/wrangler"));
        let args = args(&cmd);
        let joined = args.join(" ");
        assert!(joined
            .starts_with("dev --ip 127.0.0.1 --port 8123 --inspector-port 9123 --persist-to /tmp/run/edge-x-state"));
        assert!(joined.contains("--log-level warn"), "{joined}");
        let vars: Vec<&str> = args.windows(2).filter(|w| w[0] == "--var").map(|w| w[1].as_str()).collect();
        assert_eq!(vars, ["SOME_SECRET:s3:cr=t", "ANOTHER:v"]);
        for (name, value) in [
            ("EMBEDGATE_EDGE_PREBUILT", "1"),
            ("WRANGLER_SEND_METRICS", "false"),
            ("CLOUDFLARE_CF_FETCH_ENABLED", "false"),
            ("CI", "true"),
            ("WRANGLER_LOG_PATH", "/tmp/run/edge-x-logs"),
        ] {
            assert_eq!(env(&cmd, name), value, "{name}");
        }
        let path = env(&cmd, "PATH");
        assert!(path.split(':').next().unwrap().ends_with("node_modules/.bin"), "{path}");
        // Secrets stay out of debug output.
        let debug = format!("{spec:?}");
        assert!(debug.contains("SOME_SECRET") && !debug.contains("s3:cr=t"), "{debug}");
    }

    #[test]
    fn the_admin_command_drops_an_inherited_database_url() {
        let spec = AdminSpec::new(Path::new("/bin/embedgate"), 8124, Path::new("/tmp/data"))
            .env("EMBEDGATE_MASTER_KEY", "egm_secret");
        let cmd = spec.command();
        assert_eq!(args(&cmd), ["serve", "--listen", "127.0.0.1:8124", "--data-dir", "/tmp/data"]);
        assert_eq!(env(&cmd, "EMBEDGATE_DATABASE_URL"), "<removed>");
        assert_eq!(env(&cmd, "EMBEDGATE_MASTER_KEY"), "egm_secret");
        let cmd = spec.clone().env("EMBEDGATE_DATABASE_URL", "postgres://x").command();
        assert_eq!(env(&cmd, "EMBEDGATE_DATABASE_URL"), "postgres://x");
        assert!(!format!("{spec:?}").contains("egm_secret"));
    }

    #[test]
    fn a_bounded_edge_that_is_stale_counts_as_ready() {
        assert!(Edge::is_ready_answer(200, "{\"version\":3}"));
        assert!(Edge::is_ready_answer(503, "{\"stale\": true, \"version\":0}"));
        assert!(!Edge::is_ready_answer(503, "{\"stale\":false}"));
        assert!(!Edge::is_ready_answer(503, "stale: true"));
        assert!(!Edge::is_ready_answer(500, ""));
    }

    #[test]
    fn an_admin_that_exits_while_starting_fails_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::free_port().unwrap();
        // `false` ignores its arguments and exits 1 at once.
        let mut admin = Admin::new(AdminSpec::new(Path::new("false"), port, dir.path()));
        let err = admin.start().unwrap_err();
        assert!(err.to_string().contains("admin exited while starting"), "{err}");
        assert!(dir.path().join("serve-1.log").exists());
        admin.stop();
        assert!(!admin.is_running());
    }
}
