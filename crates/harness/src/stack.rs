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

/// `NAME`, `VALUE` pairs in order (worker variables, environment); their
/// debug output names them but hides the values (keys, secrets).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Vars(pub Vec<(String, String)>);

impl Vars {
    /// Adds one.
    pub fn push(&mut self, name: &str, value: &str) {
        self.0.push((name.to_owned(), value.to_owned()));
    }

    /// The last value set for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(k, _)| format!("{k}=…"))).finish()
    }
}

/// What every server has: a name, a port, where its output goes, its timeouts.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// A label for messages (`edge-a`, `admin`).
    pub name: String,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Its output: `KIND-N.log` for the N-th start (`wrangler-1.log`, `serve-2.log`).
    pub log_dir: PathBuf,
    /// How long it may take to answer `/healthz`.
    pub ready_timeout: Duration,
    /// How long it has to exit on its polite signal before its group is killed.
    pub stop_timeout: Duration,
}

impl ServerSpec {
    fn new(name: &str, port: u16, log_dir: PathBuf, ready_timeout: Duration) -> Self {
        Self { name: name.to_owned(), port, log_dir, ready_timeout, stop_timeout: crate::DEFAULT_STOP_TIMEOUT }
    }
}

/// What a [`Server`] runs: [`EdgeSpec`] or [`AdminSpec`].
pub trait Spec: fmt::Debug {
    /// The log files' prefix: `KIND-N.log` for the N-th start.
    const KIND: &'static str;
    /// The signal that asks it to stop.
    const SIGNAL: Signal;
    /// Name, port, logs and timeouts.
    fn server(&self) -> &ServerSpec;
    /// The command that runs it.
    fn command(&self) -> Command;
    /// Whether a `/healthz` answer means it is ready.
    fn is_ready_answer(status: u16, body: &str) -> bool;
    /// Creates what it needs before a start (directories).
    fn prepare(&self) -> Result<()> {
        create_dir(&self.server().log_dir)
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()).into())
}

/// A server on 127.0.0.1: started, stopped and started again on the same
/// port (and data), each start's output in its own log file.
#[derive(Debug)]
pub struct Server<S> {
    spec: S,
    proc: Option<Proc>,
    starts: u32,
}

impl<S: Spec> Server<S> {
    /// A server that is not running yet.
    pub fn new(spec: S) -> Self {
        Self { spec, proc: None, starts: 0 }
    }

    /// [`Server::new`], then [`Server::start`].
    pub fn start_new(spec: S) -> Result<Self> {
        let mut server = Self::new(spec);
        server.start()?;
        Ok(server)
    }

    /// What it runs.
    pub fn spec(&self) -> &S {
        &self.spec
    }

    /// What it runs, to change before its next start (new keys, say).
    pub fn spec_mut(&mut self) -> &mut S {
        &mut self.spec
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.spec.server().name
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.spec.server().port))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Whether it was started and not stopped since (it may have exited: see [`Server::exited`]).
    pub fn is_running(&self) -> bool {
        self.proc.is_some()
    }

    /// Whether its process has exited (or it is not running).
    pub fn exited(&mut self) -> bool {
        self.proc.as_mut().is_none_or(Proc::exited)
    }

    /// Its process, while running.
    pub fn proc(&self) -> Option<&Proc> {
        self.proc.as_ref()
    }

    /// The tail of the current start's output.
    pub fn log_tail(&self) -> String {
        self.proc().map(Proc::log_tail).unwrap_or_default()
    }

    /// Starts it without waiting for it; fails if it runs or the port is taken.
    pub fn spawn(&mut self) -> Result<()> {
        let server = self.spec.server();
        if self.proc.is_some() {
            return Err(format!("{} is already running", server.name).into());
        }
        ensure_free(server.port)?;
        self.spec.prepare()?;
        self.starts += 1;
        let log = server.log_dir.join(format!("{}-{}.log", S::KIND, self.starts));
        let mut cmd = self.spec.command();
        self.proc = Some(Proc::spawn(&server.name, &mut cmd, S::SIGNAL, server.stop_timeout, &log)?);
        Ok(())
    }

    /// Waits until `/healthz` answers ready; the time it took.
    pub fn wait_ready(&mut self) -> Result<Duration> {
        let addr = self.addr();
        let server = self.spec.server();
        let proc = self.proc.as_mut().ok_or_else(|| format!("{} is not running", server.name))?;
        wait_ready(proc, addr, "/healthz", server.ready_timeout, S::is_ready_answer)
    }

    /// Starts it and waits until it is ready.
    pub fn start(&mut self) -> Result<()> {
        self.spawn()?;
        self.wait_ready().map(drop)
    }

    /// Stops it (the polite signal, then its group killed: see [`Proc::stop`])
    /// and waits until the port refuses connections.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut proc) = self.proc.take() {
            proc.stop();
        }
        let server = self.spec.server();
        wait_refused(self.addr(), server.stop_timeout)
            .map_err(|e| format!("{} still answers after it was stopped: {e}", server.name).into())
    }

    /// Stops and starts it again (same port, same data).
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.start()
    }
}

// ------------------------------------------------------------------ edge

/// What an [`Edge`] runs: `wrangler dev` of the prebuilt worker
/// (`crates/edge/build`, `EMBEDGATE_EDGE_PREBUILT=1`) on fixed ports, with
/// its state under `persist_to` and the worker variables `vars`.
#[derive(Debug, Clone)]
pub struct EdgeSpec {
    /// Name, port (`--port`), logs (and `WRANGLER_LOG_PATH`), timeouts.
    pub server: ServerSpec,
    /// The V8 inspector's port.
    pub inspector_port: u16,
    /// `--persist-to`: Durable Objects and KV, kept across restarts.
    pub persist_to: PathBuf,
    /// `--var NAME:VALUE` pairs (secrets too; they win over `.dev.vars`).
    pub vars: Vars,
}

impl EdgeSpec {
    /// An edge named `name` on `port`, its state in `DIR/NAME-state` and its
    /// logs in `DIR/NAME-logs`, no variables, default timeouts.
    pub fn new(name: &str, port: u16, inspector_port: u16, dir: &Path) -> Self {
        Self {
            server: ServerSpec::new(name, port, dir.join(format!("{name}-logs")), EDGE_READY_TIMEOUT),
            inspector_port,
            persist_to: dir.join(format!("{name}-state")),
            vars: Vars::default(),
        }
    }

    /// One more `--var NAME:VALUE`.
    #[must_use]
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push(name, value);
        self
    }
}

impl Spec for EdgeSpec {
    const KIND: &'static str = "wrangler";
    const SIGNAL: Signal = Signal::Int;

    fn server(&self) -> &ServerSpec {
        &self.server
    }

    /// The `wrangler dev` command, run from the workspace root with
    /// `node_modules/.bin` first on PATH (wrangler needs its Node 22), no
    /// telemetry or outside look-ups, and only warnings logged (`Ready on`
    /// is not printed then: poll `/healthz`).
    fn command(&self) -> Command {
        let bin = node_bin();
        let mut cmd = Command::new(bin.join("wrangler"));
        cmd.current_dir(repo_root())
            .args(["dev", "--ip", "127.0.0.1", "--port", &self.server.port.to_string()])
            .args(["--inspector-port", &self.inspector_port.to_string()])
            .arg("--persist-to")
            .arg(&self.persist_to)
            .args(["--log-level", "warn"]);
        for (name, value) in self.vars.iter() {
            cmd.arg("--var").arg(format!("{name}:{value}"));
        }
        cmd.env("PATH", path_with(&bin))
            .env("EMBEDGATE_EDGE_PREBUILT", "1")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("CI", "true")
            .env("WRANGLER_LOG_PATH", &self.server.log_dir);
        cmd
    }

    /// 200, or 503 with `"stale":true` from a bounded edge that has not been
    /// vouched for yet (it runs; it refuses embeds until the admin probes it).
    fn is_ready_answer(status: u16, body: &str) -> bool {
        status == 200
            || status == 503
                && serde_json::from_str::<serde_json::Value>(body)
                    .is_ok_and(|b| b["stale"] == serde_json::Value::Bool(true))
    }

    fn prepare(&self) -> Result<()> {
        create_dir(&self.server.log_dir)?;
        create_dir(&self.persist_to)
    }
}

/// An edge: `wrangler dev` (SIGINT stops it and its workerd), restarted on
/// the same ports and state.
pub type Edge = Server<EdgeSpec>;

impl Edge {
    /// Deletes its persisted state (it must be stopped): the next start is a
    /// fresh edge at version 0 on the same URL.
    pub fn wipe_state(&mut self) -> Result<()> {
        if self.is_running() {
            return Err(format!("stop {} before wiping its state", self.name()).into());
        }
        let dir = &self.spec.persist_to;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
        }
        create_dir(dir)
    }
}

// ------------------------------------------------------------------ admin

/// What an [`Admin`] runs: `BINARY serve --listen 127.0.0.1:PORT --data-dir DIR`
/// with `env` (and no inherited `EMBEDGATE_DATABASE_URL` unless `env` sets it).
#[derive(Debug, Clone)]
pub struct AdminSpec {
    /// Name, port (`--listen`), logs, timeouts.
    pub server: ServerSpec,
    /// The `embedgate` binary.
    pub binary: PathBuf,
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// Environment, in order (a later entry wins).
    pub env: Vars,
}

impl AdminSpec {
    /// `binary serve` on `port` over `data_dir`, its logs there too, no
    /// environment of its own, default timeouts.
    pub fn new(binary: &Path, port: u16, data_dir: &Path) -> Self {
        Self {
            server: ServerSpec::new("admin", port, data_dir.to_path_buf(), ADMIN_READY_TIMEOUT),
            binary: binary.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            env: Vars::default(),
        }
    }

    /// One more environment variable.
    #[must_use]
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push(name, value);
        self
    }
}

impl Spec for AdminSpec {
    const KIND: &'static str = "serve";
    const SIGNAL: Signal = Signal::Term;

    fn server(&self) -> &ServerSpec {
        &self.server
    }

    /// The `embedgate serve` command.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{}", self.server.port)])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env_remove("EMBEDGATE_DATABASE_URL")
            .envs(self.env.iter());
        cmd
    }

    fn is_ready_answer(status: u16, _: &str) -> bool {
        status == 200
    }
}

/// The admin server, `embedgate serve` (SIGTERM: a graceful shutdown).
pub type Admin = Server<AdminSpec>;

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
        assert!(EdgeSpec::is_ready_answer(200, "{\"version\":3}"));
        assert!(EdgeSpec::is_ready_answer(503, "{\"stale\": true, \"version\":0}"));
        assert!(!EdgeSpec::is_ready_answer(503, "{\"stale\":false}"));
        assert!(!EdgeSpec::is_ready_answer(503, "stale: true"));
        assert!(!EdgeSpec::is_ready_answer(500, ""));
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
        admin.stop().unwrap();
        assert!(!admin.is_running());
    }
}
