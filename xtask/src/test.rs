//! `cargo xtask test`: setup, then every check and test suite in order,
//! stopping at the first failure, with a timing summary at the end.

use std::process::Command;
use std::time::Instant;

use crate::postgres::{self, Cluster};
use crate::setup;
use crate::util::{self, cargo, Result};

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Skip the wasm32 clippy pass and the fuzz and bench smoke runs.
    pub quick: bool,
    /// Do not run `setup` first.
    pub skip_setup: bool,
    /// No throw-away PostgreSQL cluster: the admin tests run on SQLite only.
    pub no_postgres: bool,
}

struct Step {
    name: &'static str,
    /// Part of a `--quick` run.
    quick: bool,
    /// Runs against the throw-away PostgreSQL cluster (started before the
    /// first such step, stopped after the last step).
    postgres: bool,
    command: fn() -> Command,
}

/// The summary's name for starting the cluster.
const POSTGRES: &str = "postgres";

const STEPS: &[Step] = &[
    Step { name: "fmt", quick: true, postgres: false, command: || cargo(["fmt", "--all", "--", "--check"]) },
    Step {
        name: "clippy",
        quick: true,
        postgres: false,
        command: || cargo(["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]),
    },
    Step {
        name: "clippy-wasm",
        quick: false,
        postgres: false,
        command: || {
            cargo([
                "clippy",
                "-p",
                "embedgate-core",
                "-p",
                "embedgate-edge",
                "-p",
                "embedgate-wasm",
                "--target",
                "wasm32-unknown-unknown",
                // Libraries and tests: the benches compare against native-only crates.
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
        // The end-to-end tests start edges from this build (workerd via wrangler).
        name: "edge-build",
        quick: true,
        postgres: false,
        command: embedgate_harness::build_edge_command,
    },
    Step {
        // The browser tests load the pages' WASM module from www/pkg.
        name: "www",
        quick: true,
        postgres: false,
        command: || cargo(["run", "--quiet", "--package", "xtask", "--", "www"]),
    },
    Step {
        name: "test",
        quick: true,
        postgres: true,
        command: || {
            let mut cmd = cargo(["test", "--workspace", "--locked"]);
            cmd.env("EMBEDGATE_PYTHON", setup::venv_python());
            cmd
        },
    },
    Step {
        name: "test-wasm",
        quick: true,
        postgres: false,
        command: || {
            cargo([
                "test",
                "-p",
                "embedgate-core",
                "-p",
                "embedgate-wasm",
                "--target",
                "wasm32-unknown-unknown",
                "--locked",
            ])
        },
    },
    Step {
        // The built module from node, through its JS API.
        name: "wasm-node",
        quick: true,
        postgres: false,
        command: || {
            let mut cmd = Command::new(setup::npm_bin("node"));
            cmd.args(["--test", "crates/wasm/tests/node_smoke.mjs"]).current_dir(util::repo_root());
            cmd
        },
    },
    Step {
        // Every cargo-fuzz target for 30 s from the vectors' seeds; any crash fails.
        name: "fuzz-smoke",
        quick: false,
        postgres: false,
        command: || cargo(["run", "--quiet", "--package", "xtask", "--", "fuzz", "--time", "30"]),
    },
    Step {
        name: "bench-smoke",
        quick: false,
        postgres: false,
        command: || cargo(["bench", "-p", "embedgate-core", "--bench", "verify", "--", "--test"]),
    },
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Ok(f64),
    Failed(f64),
    Skipped(&'static str),
    NotRun,
}

/// Runs the steps; `Err` once a step failed (after printing the summary).
pub fn run(options: Options) -> Result<()> {
    let runs = |step: &&Step| step.quick || !options.quick;
    let wants_postgres = STEPS.iter().filter(runs).any(|step| step.postgres);
    let total = STEPS.iter().filter(runs).count()
        + usize::from(!options.skip_setup)
        + usize::from(wants_postgres && !options.no_postgres);
    let mut results: Vec<(&str, Outcome)> = Vec::with_capacity(total + 1);
    let mut failed: Option<&str> = None;
    let mut index = 0;
    // Dropped at the end of this function, or on any early return: that
    // stops the server and removes its directory.
    let mut cluster: Option<Cluster> = None;
    let mut postgres_done = false;

    if !options.skip_setup {
        index += 1;
        header(index, total, "setup");
        let started = Instant::now();
        let outcome = match setup::run_steps(|step| !(options.no_postgres && step.name == setup::POSTGRES_STEP)) {
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
            if step.postgres && !postgres_done && !options.no_postgres {
                postgres_done = true;
                results.push((POSTGRES, Outcome::NotRun));
            }
            results.push((step.name, Outcome::NotRun));
            continue;
        }
        if !runs(&step) {
            println!("--- {}: skipped (--quick)", step.name);
            results.push((step.name, Outcome::Skipped("skipped (--quick)")));
            continue;
        }
        if step.postgres && !postgres_done {
            postgres_done = true;
            if options.no_postgres {
                println!("--- {POSTGRES}: skipped (--no-postgres): the admin tests run on SQLite only");
                results.push((POSTGRES, Outcome::Skipped("skipped (--no-postgres)")));
            } else {
                index += 1;
                header(index, total, POSTGRES);
                let started = Instant::now();
                let outcome = match Cluster::start() {
                    Ok(started_cluster) => {
                        cluster = Some(started_cluster);
                        Outcome::Ok(started.elapsed().as_secs_f64())
                    }
                    Err(err) => {
                        eprintln!("error: could not start the throw-away PostgreSQL cluster: {err}");
                        failed = Some(POSTGRES);
                        Outcome::Failed(started.elapsed().as_secs_f64())
                    }
                };
                footer(POSTGRES, outcome);
                results.push((POSTGRES, outcome));
                if failed.is_some() {
                    results.push((step.name, Outcome::NotRun));
                    continue;
                }
            }
        }
        index += 1;
        let mut command = (step.command)();
        if step.postgres {
            match &cluster {
                Some(cluster) => command.env(postgres::URL_VAR, cluster.url()),
                None => command.env_remove(postgres::URL_VAR),
            };
        }
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

    if let Some(mut cluster) = cluster.take() {
        println!();
        cluster.stop();
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
        Outcome::Skipped(_) | Outcome::NotRun => {}
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
            Outcome::Skipped(why) => (None, why),
            Outcome::NotRun => (None, "not run"),
        };
        total += secs.unwrap_or(0.0);
        let secs = secs.map_or_else(|| "-".to_owned(), |secs| format!("{secs:.1}"));
        println!("{name:<14} {secs:>9}  {result}");
    }
    println!("{:<14} {:>9.1}", "total", total);
}
