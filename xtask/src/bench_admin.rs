//! `cargo xtask bench-admin [--postgres]`: issue 3's admin server benchmarks.
//! Builds the release binary and the `loadgen` example, starts a real
//! `embedgate serve` on 127.0.0.1 over a fresh data directory (SQLite, or a
//! database in a throw-away PostgreSQL cluster), creates credentials from 16
//! concurrent clients, fills the org to 10,000 credentials, times reading the
//! whole list, prints a summary, and stops everything it started.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use embedgate_harness::{free_port, Admin, AdminSpec};
use serde_json::Value;

use crate::postgres::{self, Cluster};
use crate::util::{self, cargo, Result};

const ORG: &str = "bench";
const ADMIN: &str = "admin@bench.test";
const CLIENTS: usize = 16;
const CREATES: usize = 10_000;
const LIST_TOTAL: usize = 10_000;
const LIST_ITERATIONS: usize = 20;

#[derive(Debug, Default)]
pub struct Options {
    pub postgres: bool,
}

/// The run's data directory, removed on drop (after the server: declare it first).
struct RunDir(PathBuf);

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub fn run(options: &Options) -> Result<()> {
    util::run(&mut cargo([
        "build",
        "--release",
        "-p",
        "embedgate-admin",
        "--bin",
        "embedgate",
        "--example",
        "loadgen",
    ]))?;
    let release = util::target_dir().join("release");
    let embedgate = release.join("embedgate");
    let loadgen = release.join("examples/loadgen");

    // The cluster (if any) is dropped after the server: declared first.
    let cluster = if options.postgres { Some(Cluster::start()?) } else { None };
    let database_url = match &cluster {
        Some(c) => Some(create_database(c)?),
        None => None,
    };
    let dir = std::env::temp_dir().join(format!("embedgate-bench-admin-{}", std::process::id()));
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir(&dir)?;
    let run_dir = RunDir(dir.clone());

    let store = |cmd: &mut Command| {
        cmd.arg("--data-dir").arg(&dir);
        if let Some(url) = &database_url {
            cmd.arg("--database-url").arg(url);
        }
    };
    let mut init = Command::new(&embedgate);
    init.args(["init", "--org", ORG, "--admin-email", ADMIN]);
    store(&mut init);
    let out = util::read_stdout(&mut init)?;
    let token = serde_json::from_str::<Value>(out.trim())?["token"]
        .as_str()
        .ok_or("`embedgate init` printed no token")?
        .to_owned();

    let port = free_port()?;
    let mut spec = AdminSpec::new(&embedgate, port, &dir).env("RUST_LOG", "warn");
    if let Some(url) = &database_url {
        spec = spec.env("EMBEDGATE_DATABASE_URL", url);
    }
    // Stopped (SIGTERM, then its group killed) when dropped, before the directory goes.
    let server = Admin::start_new(spec)?;
    let backend = if options.postgres { "PostgreSQL" } else { "SQLite" };
    println!("bench-admin: {backend} server on 127.0.0.1:{port}, data in {}", dir.display());

    let url = format!("http://127.0.0.1:{port}");
    let common = |mode: &str| {
        let mut cmd = Command::new(&loadgen);
        cmd.args([mode, "--url", &url, "--org", ORG, "--max-seconds", "300"]).env("EMBEDGATE_TOKEN", &token);
        cmd
    };
    let mut create = common("create");
    create.args(["--owner", ADMIN, "--clients", &CLIENTS.to_string(), "--count", &CREATES.to_string()]);
    create.args(["--prefix", "bench"]);
    let created = loadgen_result(&mut create)?;
    let done = usize::try_from(created["requests"].as_u64().unwrap_or(0))? - failures(&created);
    if done < LIST_TOTAL {
        let mut fill = common("create");
        let rest = (LIST_TOTAL - done).to_string();
        fill.args(["--owner", ADMIN, "--clients", &CLIENTS.to_string(), "--count", &rest, "--prefix", "fill"]);
        loadgen_result(&mut fill)?;
    }
    let mut list = common("list");
    list.args(["--iterations", &LIST_ITERATIONS.to_string(), "--limit", "1000"]);
    let listed = loadgen_result(&mut list)?;
    let mut list_page = common("list");
    list_page.args(["--iterations", &LIST_ITERATIONS.to_string(), "--limit", "100"]);
    let paged = loadgen_result(&mut list_page)?;
    drop(server);
    drop(run_dir);
    drop(cluster);

    print_summary(backend, &created, &listed, &paged);
    if failures(&created) > 0 {
        return Err(format!("{} creates failed", failures(&created)).into());
    }
    Ok(())
}

fn print_summary(backend: &str, created: &Value, listed: &Value, paged: &Value) {
    let ms = |v: &Value, key: &str| v[key].as_f64().map_or_else(|| "?".into(), |x| format!("{x:.2}"));
    let lat = &created["latency"];
    println!();
    println!("admin server benchmark, {backend}, {CLIENTS} clients (loopback, 2-core machine)");
    println!("| measurement | value |");
    println!("|---|---|");
    println!(
        "| creates ({} done, {} failed) | {:.0} creates/s |",
        created["requests"],
        failures(created),
        created["per_second"].as_f64().unwrap_or(0.0)
    );
    println!(
        "| create latency p50 / p90 / p99 / max | {} / {} / {} / {} ms |",
        ms(lat, "p50_ms"),
        ms(lat, "p90_ms"),
        ms(lat, "p99_ms"),
        ms(lat, "max_ms")
    );
    for (result, label) in [(listed, "1000"), (paged, "100")] {
        println!(
            "| whole list of {} in pages of {label}: p50 / p99 | {} / {} ms |",
            result["credentials"],
            ms(&result["whole"], "p50_ms"),
            ms(&result["whole"], "p99_ms")
        );
        println!(
            "| one page of {label}: p50 / p99 | {} / {} ms |",
            ms(&result["page"], "p50_ms"),
            ms(&result["page"], "p99_ms")
        );
    }
}

fn failures(result: &Value) -> usize {
    result["failures"].as_u64().and_then(|n| usize::try_from(n).ok()).unwrap_or(0)
}

/// A fresh database in the cluster; its URL.
fn create_database(cluster: &Cluster) -> Result<String> {
    let bin = postgres::server_bin_dir().ok_or("no PostgreSQL binaries")?;
    let psql = bin.join("psql");
    let mut cmd = Command::new(if psql.is_file() { psql } else { PathBuf::from("psql") });
    cmd.args([cluster.url().as_str(), "-X", "-q", "-c", "CREATE DATABASE embedgate_bench"]);
    util::read_stdout(&mut cmd)?;
    let url = cluster.url();
    let base = url.strip_suffix("/postgres").ok_or("unexpected cluster URL")?;
    Ok(format!("{base}/embedgate_bench"))
}

/// Runs loadgen (its output shown) and parses its `RESULT {json}` line.
fn loadgen_result(cmd: &mut Command) -> Result<Value> {
    let out = cmd.stderr(Stdio::inherit()).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines().filter(|l| !l.starts_with("RESULT ")) {
        println!("  {line}");
    }
    if !out.status.success() {
        return Err(format!("loadgen failed ({})", out.status).into());
    }
    let line = text.lines().find_map(|l| l.strip_prefix("RESULT ")).ok_or("loadgen printed no RESULT")?;
    Ok(serde_json::from_str(line)?)
}
