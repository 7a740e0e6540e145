//! `cargo xtask test`: setup, then every check and test suite in order,
//! stopping at the first failure, with a timing summary at the end.

use std::process::Command;
use std::time::Instant;

use crate::setup;
use crate::util::{self, cargo, Result};

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Skip the wasm32 clippy pass and the bench smoke test.
    pub quick: bool,
    /// Do not run `setup` first.
    pub skip_setup: bool,
}

struct Step {
    name: &'static str,
    /// Part of a `--quick` run.
    quick: bool,
    command: fn() -> Command,
}

const STEPS: &[Step] = &[
    Step { name: "fmt", quick: true, command: || cargo(["fmt", "--all", "--", "--check"]) },
    Step {
        name: "clippy",
        quick: true,
        command: || cargo(["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]),
    },
    Step {
        name: "clippy-wasm",
        quick: false,
        command: || {
            cargo([
                "clippy",
                "-p",
                "embedgate-core",
                "--target",
                "wasm32-unknown-unknown",
                // Library and tests: the benches compare against native-only crates.
                "--lib",
                "--tests",
                "--locked",
                "--",
                "-D",
                "warnings",
            ])
        },
    },
    Step {
        name: "test",
        quick: true,
        command: || {
            let mut cmd = cargo(["test", "--workspace", "--locked"]);
            cmd.env("EMBEDGATE_PYTHON", setup::venv_python());
            cmd
        },
    },
    Step {
        name: "test-wasm",
        quick: true,
        command: || cargo(["test", "-p", "embedgate-core", "--target", "wasm32-unknown-unknown", "--locked"]),
    },
    Step {
        name: "bench-smoke",
        quick: false,
        command: || cargo(["bench", "-p", "embedgate-core", "--bench", "verify", "--", "--test"]),
    },
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Ok(f64),
    Failed(f64),
    Skipped,
    NotRun,
}

/// Runs the steps; `Err` once a step failed (after printing the summary).
pub fn run(options: Options) -> Result<()> {
    let runs = |step: &&Step| step.quick || !options.quick;
    let total = STEPS.iter().filter(runs).count() + usize::from(!options.skip_setup);
    let mut results: Vec<(&str, Outcome)> = Vec::with_capacity(total);
    let mut failed: Option<&str> = None;
    let mut index = 0;

    if !options.skip_setup {
        index += 1;
        header(index, total, "setup");
        let started = Instant::now();
        let outcome = match setup::run() {
            Ok(()) => Outcome::Ok(started.elapsed().as_secs_f64()),
            Err(err) => {
                eprintln!("error: {err}");
                failed = Some("setup");
                Outcome::Failed(started.elapsed().as_secs_f64())
            }
        };
        footer("setup", outcome);
        results.push(("setup", outcome));
    }

    for step in STEPS {
        if failed.is_some() {
            results.push((step.name, Outcome::NotRun));
            continue;
        }
        if !runs(&step) {
            println!("--- {}: skipped (--quick)", step.name);
            results.push((step.name, Outcome::Skipped));
            continue;
        }
        index += 1;
        let mut command = (step.command)();
        header(index, total, step.name);
        let started = Instant::now();
        let outcome = match util::run(&mut command) {
            Ok(()) => Outcome::Ok(started.elapsed().as_secs_f64()),
            Err(err) => {
                eprintln!("error: {err}");
                failed = Some(step.name);
                Outcome::Failed(started.elapsed().as_secs_f64())
            }
        };
        footer(step.name, outcome);
        results.push((step.name, outcome));
    }

    summary(&results);
    match failed {
        Some(name) => Err(format!("step `{name}` failed").into()),
        None => Ok(()),
    }
}

fn header(index: usize, total: usize, name: &str) {
    println!();
    println!("=== [{index}/{total}] {name}");
}

fn footer(name: &str, outcome: Outcome) {
    match outcome {
        Outcome::Ok(secs) => println!("=== {name}: ok in {secs:.1}s"),
        Outcome::Failed(secs) => println!("=== {name}: FAILED after {secs:.1}s"),
        Outcome::Skipped | Outcome::NotRun => {}
    }
}

fn summary(results: &[(&str, Outcome)]) {
    println!();
    println!("{:<14} {:>9}  result", "step", "seconds");
    let mut total = 0.0;
    for (name, outcome) in results {
        let (secs, result) = match *outcome {
            Outcome::Ok(secs) => (Some(secs), "ok"),
            Outcome::Failed(secs) => (Some(secs), "FAILED"),
            Outcome::Skipped => (None, "skipped (--quick)"),
            Outcome::NotRun => (None, "not run"),
        };
        total += secs.unwrap_or(0.0);
        let secs = secs.map_or_else(|| "-".to_owned(), |secs| format!("{secs:.1}"));
        println!("{name:<14} {secs:>9}  {result}");
    }
    println!("{:<14} {:>9.1}", "total", total);
}
