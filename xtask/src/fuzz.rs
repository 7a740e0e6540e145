//! `cargo xtask fuzz --time N`: runs every cargo-fuzz target of `fuzz/` (its
//! own workspace, nightly) for N seconds each, from the seed corpus written
//! from the test vectors, and prints executions and coverage per target.
//! Fails on any crash, naming the artifact and the command reproducing it.
//!
//! Needs the pinned nightly [`NIGHTLY`] and cargo-fuzz [`CARGO_FUZZ_VERSION`]
//! (`cargo xtask setup` installs both).
//!
//! Layout: `fuzz/seeds/<target>` (regenerated every run by
//! `fuzz/examples/gen_seeds.rs`, git-ignored), `fuzz/corpus/<target>` (what
//! libFuzzer found, kept between runs, git-ignored), `fuzz/artifacts/<target>`
//! (crashes), and each run's libFuzzer output in `target/fuzz-logs/<target>.log`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{self, repo_root, Result};

/// The cargo-fuzz release this repository is tested with.
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// The nightly toolchain cargo-fuzz builds with (pinned: a floating nightly
/// can break the build on any day; `cargo xtask setup` installs this one).
pub const NIGHTLY: &str = "nightly-2026-10-29";

/// Targets whose libFuzzer run needs extra options: `admin_bodies` runs the
/// admin server (tokio, a SQLite pool) whose caches legitimately outlive an
/// input, which LeakSanitizer's per-input check would report as leaks.
fn extra_options(target: &str) -> &'static [&'static str] {
    match target {
        "admin_bodies" => &["-detect_leaks=0"],
        _ => &[],
    }
}

/// libFuzzer's totals for one target.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Inputs executed.
    pub execs: u64,
    /// Coverage counters hit (`cov:`).
    pub cov: u64,
    /// Features (`ft:`).
    pub ft: u64,
    /// Corpus entries (`corp: N/…`).
    pub corpus: u64,
    /// Executions per second as libFuzzer reports it.
    pub exec_per_s: u64,
}

fn field(line: &str, name: &str) -> Option<u64> {
    let rest = &line[line.find(name)? + name.len()..];
    let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Reads a libFuzzer status line (`#1234\tDONE   cov: 56 ft: 78 corp: 9/1Kb … exec/s: 100 …`).
pub fn parse_stats(line: &str) -> Option<Stats> {
    let line = line.trim();
    let count = line.strip_prefix('#')?;
    let execs = count.split_whitespace().next()?.parse().ok()?;
    Some(Stats {
        execs,
        cov: field(line, "cov:")?,
        ft: field(line, "ft:").unwrap_or(0),
        corpus: field(line, "corp:").unwrap_or(0),
        exec_per_s: field(line, "exec/s:").unwrap_or(0),
    })
}

fn fuzz_dir() -> PathBuf {
    repo_root().join("fuzz")
}

fn nightly_cargo(args: &[&str]) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg(format!("+{NIGHTLY}")).args(args).current_dir(fuzz_dir());
    cmd
}

/// Fails with the setup commands when nightly or cargo-fuzz is missing.
fn check_tools() -> Result<()> {
    let Some(nightly) = util::tool_version("rustc", &[&format!("+{NIGHTLY}"), "--version"]) else {
        return Err(format!("the {NIGHTLY} toolchain is missing: run `cargo xtask setup`").into());
    };
    let Some(fuzz) = util::tool_version("cargo", &[&format!("+{NIGHTLY}"), "fuzz", "--version"]) else {
        return Err(format!(
            "cargo-fuzz is missing: run `cargo xtask setup` (or `cargo {}`)",
            crate::setup::CARGO_FUZZ.install_args().join(" ")
        )
        .into());
    };
    if !fuzz.ends_with(CARGO_FUZZ_VERSION) {
        println!("warning: {fuzz} found, this repository is tested with cargo-fuzz {CARGO_FUZZ_VERSION}");
    }
    println!("fuzz: {nightly}, {fuzz}");
    Ok(())
}

/// One target's run: its stats (from the last status line) or its failure.
struct Run {
    target: String,
    stats: Option<Stats>,
    failure: Option<String>,
}

/// Runs `target` for `seconds`, its output into `log`; prints the failure's tail.
fn run_target(target: &str, seconds: u64, log: &Path) -> Result<Run> {
    let fuzz = fuzz_dir();
    let corpus = fuzz.join("corpus").join(target);
    let seeds = fuzz.join("seeds").join(target);
    fs::create_dir_all(&corpus)?;
    fs::create_dir_all(&seeds)?;
    let mut cmd = nightly_cargo(&["fuzz", "run", target]);
    cmd.arg(&corpus).arg(&seeds).arg("--").arg(format!("-max_total_time={seconds}"));
    cmd.args(extra_options(target));
    println!("$ {}", util::describe(&cmd));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start cargo fuzz: {e}"))?;
    let mut out = String::new();
    let mut last_stats = None;
    let mut artifact = None;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let line = line?;
            if let Some(s) = parse_stats(&line) {
                last_stats = Some(s);
            }
            if let Some(path) = line.split("Test unit written to ").nth(1) {
                artifact = Some(path.trim().to_owned());
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    let status = child.wait()?;
    fs::write(log, &out)?;
    let failure = (!status.success()).then(|| {
        let tail: Vec<&str> = out.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
        println!("--- last lines of {} ---\n{}", util::display_path(log), tail.join("\n"));
        match &artifact {
            Some(path) => format!(
                "{target} crashed ({status}); artifact {path}; reproduce with `cd fuzz && cargo +{NIGHTLY} fuzz run {target} {path}`"
            ),
            None => format!("{target} failed ({status}); see {}", util::display_path(log)),
        }
    });
    Ok(Run { target: target.to_owned(), stats: last_stats, failure })
}

/// Runs every fuzz target for `seconds_per_target` seconds; fails on any crash.
pub fn run(seconds_per_target: u64) -> Result<()> {
    check_tools()?;
    // The seeds follow the vectors: rewrite them every run (under a second once built).
    util::run(
        Command::new("cargo")
            .args(["run", "--quiet", "--example", "gen_seeds", "--no-default-features"])
            .current_dir(fuzz_dir()),
    )?;
    util::run(&mut nightly_cargo(&["fuzz", "build"]))?;
    let list = util::read_stdout(&mut nightly_cargo(&["fuzz", "list"]))?;
    let targets: Vec<&str> = list.lines().map(str::trim).filter(|t| !t.is_empty()).collect();
    if targets.is_empty() {
        return Err("cargo fuzz list found no target".into());
    }
    let logs = util::target_dir().join("fuzz-logs");
    fs::create_dir_all(&logs)?;
    let mut runs = Vec::new();
    for target in &targets {
        println!("fuzz: {target} for {seconds_per_target} s");
        runs.push(run_target(target, seconds_per_target, &logs.join(format!("{target}.log")))?);
    }
    println!(
        "\n{:<16} {:>12} {:>8} {:>8} {:>8} {:>8}  result",
        "target", "executions", "exec/s", "cov", "ft", "corpus"
    );
    let mut total = 0;
    for r in &runs {
        let s = r.stats.clone().unwrap_or_default();
        total += s.execs;
        let result = if r.failure.is_some() { "CRASH" } else { "ok" };
        println!(
            "{:<16} {:>12} {:>8} {:>8} {:>8} {:>8}  {result}",
            r.target, s.execs, s.exec_per_s, s.cov, s.ft, s.corpus
        );
    }
    println!("{:<16} {total:>12}", "total");
    let failures: Vec<&str> = runs.iter().filter_map(|r| r.failure.as_deref()).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_status_lines() {
        let done = parse_stats("#9805\tDONE   cov: 11054 ft: 23467 corp: 309/31Kb lim: 230 exec/s: 612 rss: 466Mb");
        assert_eq!(done, Some(Stats { execs: 9805, cov: 11054, ft: 23467, corpus: 309, exec_per_s: 612 }));
        let new = parse_stats("#42\tNEW    cov: 7 ft: 8 corp: 3/1b exec/s: 0 rss: 30Mb L: 1/1 MS: 1 ChangeBit-");
        assert_eq!(new.map(|s| (s.execs, s.cov)), Some((42, 7)));
        assert_eq!(parse_stats("INFO: Seed: 484839088"), None);
        assert_eq!(parse_stats("#2\tINITED exec/s: 0 rss: 30Mb"), None);
    }
}
