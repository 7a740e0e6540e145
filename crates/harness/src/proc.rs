//! A child process in its own process group, stopped as a group.

use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;

/// How long [`Proc::stop`] waits after the polite signal before it kills
/// the group, unless told otherwise.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// How long [`Proc::stop`] waits for the killed group to be gone (the
/// orphans it leaves are reaped by init, which takes up to a second here).
const GROUP_GONE_TIMEOUT: Duration = Duration::from_secs(5);

/// The signal that asks a process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `SIGINT`: wrangler stops workerd with itself on it.
    Int,
    /// `SIGTERM`: `embedgate serve` shuts down gracefully on it.
    Term,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Self::Int => "INT",
            Self::Term => "TERM",
        }
    }
}

/// How [`Proc::stop`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The leader had exited before (or the process was already stopped).
    Already,
    /// The leader exited on the polite signal within the timeout.
    Politely,
    /// The leader ignored the polite signal: the group was killed.
    Killed,
}

/// A child process in its own process group (`process_group(0)`: its PID
/// is the group's ID), its stdout and stderr in a log file.
///
/// [`Proc::stop`] (also on drop) sends the polite signal to the PID, waits
/// up to the stop timeout, then sends `SIGKILL` to the whole group; it always
/// kills the group at the end, so nothing the process started outlives it
/// (wrangler's workerd, a shell's background jobs).
///
/// A terminal's Ctrl-C does not reach the group (it is not the foreground
/// group). If the owner dies without stopping it (Ctrl-C on `cargo xtask
/// dev`, a killed test binary), a watchdog does the stop instead: a `sh` in
/// the same group, waiting for end-of-file on a pipe whose write end only
/// the owner holds. The watchdog's membership also keeps the group ID, and
/// so the leader's PID, from being reused while anything of it may live.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    /// `Some` until the stop reaps it; its stdin is the pipe it waits on.
    watchdog: Option<Child>,
    signal: Signal,
    stop_timeout: Duration,
    log: PathBuf,
    stopped: bool,
}

/// The watchdog: on end-of-file (the owner died), the polite signal, a wait,
/// then `SIGKILL` to the group, itself included.
const WATCHDOG: &str = r#"trap '' INT TERM HUP
read -r _ 2>/dev/null
pid=$1 sig=$2 tenths=$3 i=0
kill -s "$sig" "$pid" 2>/dev/null
while [ "$i" -lt "$tenths" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -s KILL -- "-$pid" 2>/dev/null"#;

impl Proc {
    /// Starts `cmd` (stdin closed, stdout and stderr to `log`, which is
    /// created or truncated) in a process group of its own, with its
    /// watchdog; `signal` asks it to stop, `stop_timeout` later the group is killed.
    pub fn spawn(name: &str, cmd: &mut Command, signal: Signal, stop_timeout: Duration, log: &Path) -> Result<Self> {
        let out = File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
        let child = cmd.spawn().map_err(|e| format!("cannot start {name} ({:?}): {e}", cmd.get_program()))?;
        let mut proc = Self {
            name: name.to_owned(),
            child,
            watchdog: None,
            signal,
            stop_timeout,
            log: log.to_path_buf(),
            stopped: false,
        };
        // Not reaped yet, so the group exists (a zombie leader is still in it).
        match proc.spawn_watchdog() {
            Ok(watchdog) => {
                proc.watchdog = Some(watchdog);
                Ok(proc)
            }
            Err(e) => {
                proc.stop();
                Err(format!("cannot start the watchdog of {name} (sh): {e}").into())
            }
        }
    }

    fn spawn_watchdog(&self) -> std::io::Result<Child> {
        let pid = self.pid();
        let tenths = self.stop_timeout.as_millis() / 100;
        Command::new("sh")
            .args(["-c", WATCHDOG, "sh", &pid.to_string(), self.signal.name(), &tenths.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(i32::try_from(pid).map_err(std::io::Error::other)?)
            .spawn()
    }

    /// Its name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process ID, also its process group's ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the leader has exited (what it started may still run until [`Proc::stop`]).
    pub fn exited(&mut self) -> bool {
        self.stopped || !matches!(self.child.try_wait(), Ok(None))
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The last 4000 bytes or so of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut text = Vec::new();
        if let Ok(mut file) = File::open(&self.log) {
            let _ = file.read_to_end(&mut text);
        }
        let text = String::from_utf8_lossy(&text);
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
        text[start..].to_owned()
    }

    /// Stops it: the polite signal to its PID, up to the stop timeout for the
    /// leader to exit, then `SIGKILL` to the whole group, always; waits until
    /// the group is gone. Idempotent.
    pub fn stop(&mut self) -> Stopped {
        if self.stopped {
            return Stopped::Already;
        }
        self.stopped = true;
        let pid = self.pid();
        let mut how = Stopped::Already;
        if matches!(self.child.try_wait(), Ok(None)) {
            signal(self.signal.name(), &pid.to_string());
            let deadline = Instant::now() + self.stop_timeout;
            how = Stopped::Politely;
            while matches!(self.child.try_wait(), Ok(None)) {
                if Instant::now() >= deadline {
                    eprintln!("{} (pid {pid}) ignored SIG{}: killing its group", self.name, self.signal.name());
                    how = Stopped::Killed;
                    break;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        // The watchdog is in the group, so the group (and the ID) lived until
        // here: this reaches only what this Proc started.
        signal("KILL", &format!("-{pid}"));
        let _ = self.child.wait();
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.wait();
        }
        let deadline = Instant::now() + GROUP_GONE_TIMEOUT;
        while group_alive(pid) {
            if Instant::now() >= deadline {
                eprintln!(
                    "{} (pid {pid}): its killed group has not been reaped after {GROUP_GONE_TIMEOUT:?}",
                    self.name
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        how
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `kill -SIG -- TARGET` (a negative target is a process group), quietly.
fn signal(sig: &str, target: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{sig}"), "--", target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether any process (a zombie too) is in process group `pgid`.
pub(crate) fn group_alive(pgid: u32) -> bool {
    signal("0", &format!("-{pgid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PIDs in process group `pgid` that are not zombies (from `ps`).
    fn live_members(pgid: u32) -> Vec<u32> {
        let out = Command::new("ps").args(["-eo", "pid=,pgid=,stat="]).output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 3 && f[1] == pgid.to_string() && !f[2].starts_with('Z')).then(|| f[0].parse().unwrap())
            })
            .collect()
    }

    /// Waits until the group has at least `n` live members; returns them.
    fn wait_members(pgid: u32, n: usize) -> Vec<u32> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let members = live_members(pgid);
            if members.len() >= n {
                return members;
            }
            assert!(Instant::now() < deadline, "group {pgid} has {members:?}, expected {n} members");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `sh -c SCRIPT` with a one-second stop timeout.
    fn spawn(name: &str, script: &str, signal: Signal, log: &Path) -> Result<Proc> {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        Proc::spawn(name, &mut cmd, signal, Duration::from_secs(1), log)
    }

    fn log(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("out.log")
    }

    #[test]
    fn stop_kills_what_the_leader_started() {
        let dir = tempfile::tempdir().unwrap();
        let mut proc = spawn("sleeper", "sleep 300 & sleep 300", Signal::Term, &log(&dir)).unwrap();
        let pgid = proc.pid();
        // The shell, its two sleeps and the watchdog.
        let members = wait_members(pgid, 4);
        assert!(members.contains(&pgid), "{members:?}");
        assert!(!proc.exited());
        // The shell dies on SIGTERM; its background sleep would live on without the group kill.
        assert_eq!(proc.stop(), Stopped::Politely);
        assert!(!group_alive(pgid), "group {pgid} still has {:?}", live_members(pgid));
        assert!(proc.exited());
        assert_eq!(proc.stop(), Stopped::Already);
    }

    #[test]
    fn stop_kills_a_leader_that_ignores_the_polite_signal() {
        let dir = tempfile::tempdir().unwrap();
        let script = "trap '' INT TERM; sleep 300 & sleep 300; sleep 300";
        let mut proc = spawn("stubborn", script, Signal::Int, &log(&dir)).unwrap();
        let pgid = proc.pid();
        wait_members(pgid, 4);
        let t0 = Instant::now();
        assert_eq!(proc.stop(), Stopped::Killed);
        assert!(t0.elapsed() >= Duration::from_secs(1), "it did not wait for the polite signal: {:?}", t0.elapsed());
        assert!(!group_alive(pgid), "group {pgid} still has {:?}", live_members(pgid));
    }

    #[test]
    fn drop_stops_the_group_and_the_log_keeps_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let script = "echo hello from the child; echo to stderr >&2; sleep 300 & sleep 300";
        let proc = spawn("talker", script, Signal::Term, &log(&dir)).unwrap();
        let pgid = proc.pid();
        wait_members(pgid, 4);
        let tail = proc.log_tail();
        assert!(tail.contains("hello from the child") && tail.contains("to stderr"), "{tail:?}");
        drop(proc);
        assert!(!group_alive(pgid), "group {pgid} still has {:?}", live_members(pgid));
    }

    #[test]
    fn a_leader_that_exited_on_its_own_leaves_nothing_either() {
        let dir = tempfile::tempdir().unwrap();
        let mut proc = spawn("short", "sleep 300 & exit 3", Signal::Term, &log(&dir)).unwrap();
        let pgid = proc.pid();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !proc.exited() {
            assert!(Instant::now() < deadline, "sh did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The orphaned sleep and the watchdog are still in the group.
        assert!(group_alive(pgid));
        assert!(live_members(pgid).len() >= 2, "{:?}", live_members(pgid));
        assert_eq!(proc.stop(), Stopped::Already);
        assert!(!group_alive(pgid), "group {pgid} still has {:?}", live_members(pgid));
    }

    #[test]
    fn spawn_reports_a_missing_program() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("/nonexistent/ghost");
        let err = Proc::spawn("ghost", &mut cmd, Signal::Term, DEFAULT_STOP_TIMEOUT, &log(&dir)).unwrap_err();
        assert!(err.to_string().contains("cannot start ghost"), "{err}");
    }

    const OWNER_ENV: &str = "EMBEDGATE_HARNESS_WATCHDOG_OWNER";

    /// Run by `the_watchdog_stops_the_group_when_its_owner_dies` in a child
    /// test process (the owner it kills); ignored in a normal run.
    #[test]
    #[ignore = "a helper process of the_watchdog_stops_the_group_when_its_owner_dies"]
    fn watchdog_owner() {
        let dir = PathBuf::from(
            std::env::var_os(OWNER_ENV).expect("run by the_watchdog_stops_the_group_when_its_owner_dies"),
        );
        let proc = spawn("owned", "sleep 300 & sleep 300", Signal::Int, &dir.join("owned.log")).unwrap();
        wait_members(proc.pid(), 4);
        std::fs::write(dir.join("pgid.tmp"), proc.pid().to_string()).unwrap();
        std::fs::rename(dir.join("pgid.tmp"), dir.join("pgid")).unwrap();
        std::thread::sleep(Duration::from_secs(300));
        unreachable!("the test kills this process");
    }

    #[test]
    fn the_watchdog_stops_the_group_when_its_owner_dies() {
        let dir = tempfile::tempdir().unwrap();
        let mut owner = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "proc::tests::watchdog_owner", "--ignored", "--test-threads=1"])
            .env(OWNER_ENV, dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let pgid: u32 = loop {
            if let Ok(text) = std::fs::read_to_string(dir.path().join("pgid")) {
                break text.parse().unwrap();
            }
            if let Some(status) = owner.try_wait().unwrap() {
                panic!("the owner process exited ({status}) before it started its child");
            }
            assert!(Instant::now() < deadline, "the owner process started no child");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(live_members(pgid).len() >= 4, "{:?}", live_members(pgid));
        // SIGKILL: no destructor runs in the owner; only the watchdog can act.
        owner.kill().unwrap();
        owner.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while group_alive(pgid) {
            assert!(Instant::now() < deadline, "group {pgid} outlived its owner: {:?}", live_members(pgid));
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
