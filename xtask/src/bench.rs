//! `cargo xtask bench`: runs the verify benchmark and reports the ratios the
//! project targets. Benchmarks report; they do not gate.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::util::{self, cargo, Result};

/// `jsonwebtoken / embedgate` must be at least this.
const SPEEDUP_TARGET: f64 = 2.5;
/// `embedgate / hmac_floor` must be at most this.
const OVERHEAD_TARGET: f64 = 3.0;

const GROUP: &str = "verify";
const BENCHES: [&str; 5] = ["embedgate", "jsonwebtoken", "hmac_floor", "embedgate_es256", "embedgate_eddsa"];

pub fn run() -> Result<()> {
    // Estimates older than this run are left over from an earlier one (a
    // renamed bench, say): they must not be reported as this run's numbers.
    let started = SystemTime::now() - Duration::from_secs(2);
    util::run(&mut cargo(["bench", "-p", "embedgate-core", "--bench", "verify"]))?;
    report(started)
}

/// Criterion's output directory: `CRITERION_HOME`, else `<target>/criterion`.
fn criterion_dir() -> PathBuf {
    env::var_os("CRITERION_HOME")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| util::target_dir().join("criterion"), PathBuf::from)
}

/// The median of one benchmark, in nanoseconds.
fn median_ns(name: &str, not_before: SystemTime) -> Result<f64> {
    let path = criterion_dir().join(GROUP).join(name).join("new/estimates.json");
    let shown = util::display_path(&path);
    let modified = fs::metadata(&path).and_then(|meta| meta.modified()).map_err(|err| format!("{shown}: {err}"))?;
    if modified < not_before {
        return Err(format!("{shown}: stale (not written by this run)").into());
    }
    let text = fs::read_to_string(&path).map_err(|err| format!("{shown}: {err}"))?;
    let estimates: serde_json::Value = serde_json::from_str(&text).map_err(|err| format!("{shown}: {err}"))?;
    estimates["median"]["point_estimate"].as_f64().ok_or_else(|| format!("{shown}: no median.point_estimate").into())
}

fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "MISS"
    }
}

fn report(not_before: SystemTime) -> Result<()> {
    let mut medians = [0.0; BENCHES.len()];
    let mut missing = Vec::new();
    for (median, name) in medians.iter_mut().zip(BENCHES) {
        match median_ns(name, not_before) {
            Ok(ns) => *median = ns,
            Err(err) => missing.push(err.to_string()),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "criterion estimates missing or unreadable (did the `{GROUP}` group \
             run benches named {}?):\n  {}",
            BENCHES.join(", "),
            missing.join("\n  ")
        )
        .into());
    }
    let [embedgate, jsonwebtoken, hmac_floor, es256, eddsa] = medians;

    println!();
    println!("verify medians (criterion):");
    for (name, ns) in BENCHES.iter().zip(medians) {
        println!("  {name:<14} {:>8.3} µs", ns / 1000.0);
    }
    let speedup = jsonwebtoken / embedgate;
    let overhead = embedgate / hmac_floor;
    println!();
    println!(
        "  jsonwebtoken / embedgate = {speedup:>5.2}  (target >= {SPEEDUP_TARGET:.1})  {}",
        verdict(speedup >= SPEEDUP_TARGET)
    );
    println!(
        "  embedgate / hmac_floor   = {overhead:>5.2}  (target <= {OVERHEAD_TARGET:.1})  {}",
        verdict(overhead <= OVERHEAD_TARGET)
    );
    // Public-key credentials: what the signature check costs over HMAC (reported, no target).
    println!(
        "  embedgate_es256 / embedgate = {:>6.1}  (an ES256 credential's token vs an HS256 one)",
        es256 / embedgate
    );
    println!(
        "  embedgate_eddsa / embedgate = {:>6.1}  (an EdDSA credential's token vs an HS256 one)",
        eddsa / embedgate
    );
    Ok(())
}
