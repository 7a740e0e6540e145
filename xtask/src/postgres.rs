//! PostgreSQL for the test run: the setup step that installs Debian's server
//! package, and [`Cluster`], a throw-away cluster on loopback that lives as
//! long as its guard.
//!
//! PostgreSQL refuses to run as root, so when xtask runs as root the server
//! commands run as the `postgres` system user (created by the package) via
//! `runuser`; otherwise they run as the current user.

use std::env;
use std::fs;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Instant;

use crate::util::{self, describe, probe, Result};

/// The variable the admin tests read for the PostgreSQL database.
pub const URL_VAR: &str = "EMBEDGATE_TEST_POSTGRES_URL";

/// Where Debian installs the server binaries: `/usr/lib/postgresql/<major>/bin`.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// The system user the server runs as when xtask runs as root.
const PG_USER: &str = "postgres";

// --- finding the server binaries -------------------------------------------------

fn has_server_binaries(bin: &Path) -> bool {
    bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()
}

/// The highest major version among directory names like `15` or `16`.
fn highest_major<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    names.into_iter().filter_map(|name| Some((name.parse::<u32>().ok()?, name))).max().map(|(_, name)| name)
}

/// The bin directory of the highest installed PostgreSQL server: Debian's
/// layout first, then `pg_config --bindir` (other systems).
pub fn server_bin_dir() -> Option<PathBuf> {
    let names: Vec<String> = fs::read_dir(DEBIAN_ROOT)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter(|name| has_server_binaries(&Path::new(DEBIAN_ROOT).join(name).join("bin")))
                .collect()
        })
        .unwrap_or_default();
    if let Some(major) = highest_major(names.iter().map(String::as_str)) {
        return Some(Path::new(DEBIAN_ROOT).join(major).join("bin"));
    }
    let bindir = probe(Command::new("pg_config").arg("--bindir"))?;
    let bin = PathBuf::from(bindir.trim());
    has_server_binaries(&bin).then_some(bin)
}

// --- the setup step ----------------------------------------------------------------

#[allow(clippy::unnecessary_wraps, reason = "the signature is fixed by `Step::check`")]
pub fn server_installed() -> Result<bool> {
    Ok(server_bin_dir().is_some())
}

fn is_root() -> bool {
    probe(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0")
}

/// `program` run as root: directly when we are root, else through `sudo -n`.
fn as_root(program: &str) -> Result<Command> {
    if is_root() {
        return Ok(Command::new(program));
    }
    if probe(Command::new("sudo").args(["-n", "true"])).is_some() {
        let mut cmd = Command::new("sudo");
        cmd.args(["-n", program]);
        return Ok(cmd);
    }
    Err("installing PostgreSQL needs root, and this is not root and `sudo -n` is not available. \
         Run `cargo xtask setup` as root, install the `postgresql` package yourself, \
         or run `cargo xtask test --no-postgres` (the admin tests then use SQLite only)"
        .into())
}

/// Whether `apt-cache policy PACKAGE` names an installable version
/// (before the first `apt-get update` it prints nothing, or `(none)`).
fn apt_has_candidate(package: &str) -> bool {
    probe(Command::new("apt-cache").args(["policy", package])).is_some_and(|out| policy_has_candidate(&out))
}

fn policy_has_candidate(policy: &str) -> bool {
    policy
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Candidate:"))
        .any(|candidate| !candidate.trim().is_empty() && candidate.trim() != "(none)")
}

/// Installs Debian packages (`apt-get update` first when the index lacks them).
pub fn apt_install(packages: &[&str]) -> Result<()> {
    if probe(Command::new("apt-get").arg("--version")).is_none() {
        return Err(format!("`apt-get` not found: install {} yourself", packages.join(", ")).into());
    }
    if !packages.iter().all(|p| apt_has_candidate(p)) {
        util::run(as_root("apt-get")?.args(["update", "-q"]))?;
    }
    util::run(
        as_root("apt-get")?
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(packages),
    )
}

pub fn install_server() -> Result<()> {
    if probe(Command::new("apt-get").arg("--version")).is_none() {
        return Err("`apt-get` not found: this step installs Debian's `postgresql` package. \
                    Install a PostgreSQL server (initdb and pg_ctl, found through `pg_config --bindir`) \
                    yourself, or run `cargo xtask test --no-postgres`"
            .into());
    }
    apt_install(&["postgresql"])
}

// --- the throw-away cluster ----------------------------------------------------------

/// A PostgreSQL cluster in a fresh temporary directory, listening on
/// 127.0.0.1 only, with trust authentication for the `postgres` superuser.
/// Dropping it stops the server and deletes the directory. A watchdog
/// process does the same if xtask dies first (Ctrl-C, a kill).
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// Run the server commands as the `postgres` user (we are root).
    as_pg_user: bool,
    /// Waits on a pipe from us; when it closes (we died), cleans up.
    watchdog: Option<Child>,
    stopped: bool,
}

impl Cluster {
    /// Creates, starts and checks a cluster; prints one line when it is up.
    pub fn start() -> Result<Self> {
        let bin = server_bin_dir().ok_or(
            "no PostgreSQL server found (initdb, pg_ctl under /usr/lib/postgresql/*/bin); \
             run `cargo xtask setup`, or pass --no-postgres",
        )?;
        let as_pg_user = is_root();
        let dir = env::temp_dir().join(format!("embedgate-pg-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir(&dir)?;
        let mut cluster = Cluster { bin, dir, port: 0, as_pg_user, watchdog: None, stopped: false };
        // From here on, `Drop` removes the directory whatever happens.
        cluster.init_and_start()?;
        Ok(cluster)
    }

    fn init_and_start(&mut self) -> Result<()> {
        let started = Instant::now();
        if self.as_pg_user {
            util::run(Command::new("chown").arg(format!("{PG_USER}:{PG_USER}")).arg(&self.dir))?;
        }
        let data = self.dir.join("data");
        quiet_run(self.server_command("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]))?;

        self.port = free_port()?;
        self.watchdog = Some(self.spawn_watchdog()?);
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.display()
        );
        let mut start = self.server_command("pg_ctl");
        start.arg("-D").arg(&data).arg("-l").arg(self.log_path()).args(["-w", "-t", "60", "-o", &options, "start"]);
        // Its own process group: a Ctrl-C in the terminal reaches xtask and the
        // tests, not the server; the watchdog then shuts the server down.
        start.process_group(0);
        if let Err(err) = quiet_run(&mut start) {
            return Err(format!("{err}\n{}", self.log_tail()).into());
        }

        let version = self.check_ready().map_err(|err| format!("{err}\n{}", self.log_tail()))?;
        println!(
            "postgres: started on 127.0.0.1:{} in {:.1}s, directory {} ({version})",
            self.port,
            started.elapsed().as_secs_f64(),
            self.dir.display()
        );
        Ok(())
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// A server binary, as the `postgres` user when we are root, run from the
    /// cluster directory (the `postgres` user may not be able to read ours).
    fn server_command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_pg_user {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", PG_USER, "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        };
        cmd.current_dir(&self.dir);
        cmd
    }

    fn stop_command(&self) -> Command {
        let mut cmd = self.server_command("pg_ctl");
        cmd.arg("-D").arg(self.dir.join("data")).args(["-m", "fast", "-w", "-t", "60", "stop"]);
        cmd
    }

    /// `pg_isready`, then `select version()` through the URL the tests get.
    fn check_ready(&self) -> Result<String> {
        let port = self.port.to_string();
        let isready = self.bin.join("pg_isready");
        let mut ready = Command::new(&isready);
        ready.args(["-h", "127.0.0.1", "-p", &port, "-t", "30"]);
        quiet_run(&mut ready)?;
        let psql = self.bin.join("psql");
        let mut query = Command::new(if psql.is_file() { psql } else { PathBuf::from("psql") });
        query.args([self.url().as_str(), "-X", "-A", "-t", "-c", "select version()"]);
        let output = quiet_run(&mut query)?;
        let version = String::from_utf8_lossy(&output.stdout);
        Ok(version.split(" on ").next().unwrap_or_default().trim().to_owned())
    }

    /// The last lines of the server log, for an error message.
    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("--- last lines of {}:\n{tail}", self.log_path().display())
    }

    /// `sh` waiting for EOF on a pipe whose write end only we hold (Rust opens
    /// pipes close-on-exec, so no other child inherits it). If we die without
    /// dropping the guard, the pipe closes and the watchdog stops the server
    /// and removes the directory. Its own process group, so Ctrl-C spares it.
    fn spawn_watchdog(&self) -> Result<Child> {
        const SCRIPT: &str = r#"read -r _ 2>/dev/null
dir=$1; shift
[ -d "$dir/data" ] && "$@" >/dev/null 2>&1
rm -rf "$dir""#;
        let stop = self.stop_command();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", SCRIPT, "sh"]).arg(&self.dir).arg(stop.get_program()).args(stop.get_args());
        cmd.current_dir(&self.dir).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
        cmd.spawn().map_err(|err| format!("could not start the cleanup watchdog (`sh`): {err}").into())
    }

    /// Stops the server and removes the directory; prints one line.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let started = Instant::now();
        let mut problems = Vec::new();
        if self.dir.join("data/postmaster.pid").exists() {
            let mut stop = self.stop_command();
            match stop.stdin(Stdio::null()).output() {
                Ok(out) if out.status.success() => {}
                Ok(out) => problems.push(format!(
                    "`{}` failed ({}): {}",
                    describe(&stop),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(err) => problems.push(format!("could not run `{}`: {err}", describe(&stop))),
            }
        }
        if let Err(err) = fs::remove_dir_all(&self.dir) {
            problems.push(format!("could not remove {}: {err}", self.dir.display()));
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            // Tell it we are done: a line on its pipe; it then finds no data
            // directory and exits (the kill covers a watchdog that hangs).
            if let Some(mut pipe) = watchdog.stdin.take() {
                let _ = pipe.write_all(b"done\n");
            }
            if watchdog.try_wait().ok().flatten().is_none() {
                std::thread::sleep(std::time::Duration::from_millis(50));
                if watchdog.try_wait().ok().flatten().is_none() {
                    let _ = watchdog.kill();
                }
            }
            let _ = watchdog.wait();
        }
        if problems.is_empty() {
            println!(
                "postgres: stopped 127.0.0.1:{} in {:.1}s, removed {}",
                self.port,
                started.elapsed().as_secs_f64(),
                self.dir.display()
            );
        } else {
            eprintln!("postgres: cleanup incomplete: {}", problems.join("; "));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (outside the
/// kernel's ephemeral range: see [`embedgate_harness::free_port`]).
fn free_port() -> Result<u16> {
    Ok(embedgate_harness::free_port()?)
}

/// Runs the command with its output captured: `Ok(output)` if it succeeded,
/// else an error that shows the output.
fn quiet_run(cmd: &mut Command) -> Result<Output> {
    let output =
        cmd.stdin(Stdio::null()).output().map_err(|err| format!("could not run `{}`: {err}", describe(cmd)))?;
    if output.status.success() {
        return Ok(output);
    }
    Err(format!(
        "`{}` failed ({})\n{}{}",
        describe(cmd),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_highest_numeric_major() {
        assert_eq!(highest_major(["9", "15", "16", "common", "13"]), Some("16"));
        assert_eq!(highest_major(["common"]), None);
        assert_eq!(highest_major([]), None);
    }

    #[test]
    fn reads_the_apt_candidate() {
        let known = "postgresql:\n  Installed: (none)\n  Candidate: 15+248+deb12u1\n  Version table:\n";
        assert!(policy_has_candidate(known));
        assert!(!policy_has_candidate("postgresql:\n  Installed: (none)\n  Candidate: (none)\n"));
        assert!(!policy_has_candidate(""));
    }

    #[test]
    fn free_port_is_nonzero() {
        assert_ne!(free_port().expect("a port"), 0);
    }

    /// Starts a real cluster, queries it and checks that dropping the guard
    /// stops it and removes its directory. Needs the server installed:
    /// `cargo test -p xtask -- --ignored`.
    #[test]
    #[ignore = "starts a real PostgreSQL server"]
    fn cluster_lifecycle() {
        let cluster = Cluster::start().expect("cluster starts");
        let dir = cluster.dir.clone();
        let pid_file = dir.join("data/postmaster.pid");
        assert!(pid_file.is_file());
        let out = Command::new("psql")
            .args([cluster.url().as_str(), "-X", "-A", "-t", "-c", "select 40 + 2"])
            .output()
            .expect("psql runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
        drop(cluster);
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
}
