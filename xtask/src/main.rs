//! `cargo xtask`: the repository's developer commands (setup, dev, test, bench).
#![allow(clippy::print_stdout)] // A CLI: printing is its job.

mod bench;
mod bench_admin;
mod bench_edge;
mod bench_scale;
mod dev;
mod fuzz;
mod postgres;
mod setup;
mod test;
mod util;
mod www;

use std::env;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  setup    install what the repository needs (the rust-toolchain.toml toolchain,
           wasm-bindgen-cli and the other tools with `cargo install --locked`,
           npm ci, python venv with PyJWT, Debian's PostgreSQL server) and
           generate .dev.vars; idempotent
  dev      setup, build, and run the whole stack on 127.0.0.1: the admin on
           :8080 (SQLite under ./data), the edge on workerd on :8787, a demo
           org with its admin token and a signed embed URL; Ctrl-C stops it
  www      build the browser module (crates/wasm) into www/pkg: wasm32
           +simd128, size-optimised, wasm-bindgen --target web, wasm-opt -Oz
  test     setup, then fmt, clippy (native + wasm32), the browser module,
           tests (native, wasm32, node, end-to-end on workerd, Chromium), a
           30 s fuzz smoke run per target and a bench smoke run; stops at the
           first failure. The native tests get a throw-away PostgreSQL cluster on 127.0.0.1
           (EMBEDGATE_TEST_POSTGRES_URL), stopped and deleted after the run
             --quick        skip the wasm32 clippy, the fuzz and the bench smoke runs
             --skip-setup   do not run setup first
             --no-postgres  no PostgreSQL cluster: the admin tests use SQLite only
  bench    run the verify benchmark and report the ratios against the targets
  bench-admin  benchmark a real `embedgate serve` (release) on 127.0.0.1:
           16 clients creating 10,000 credentials, then the list at 10,000;
           SQLite in a temp data dir, removed after
             --postgres     a database in a throw-away PostgreSQL cluster instead
  bench-edge   the edge on workerd (two edges, an admin pushing to them):
           revoke -> refused and new credential -> usable latencies, wrk
           throughput of verified embeds vs a pass-through route, WASM size
             --revocations N  credentials created and revoked (default 50)
             --seconds S      per wrk run (default 10)
             --scale N,N,...  instead: the state plane at scale (issue 12) for each
                              number of credentials (bulk-loaded), two edges of two
                              regions each: bytes per change, revoke -> refused in
                              every region, a wiped edge's full state, the isolate
                              cache's memory, round trips per load, the admin's RSS;
                              a table, and target/bench-edge-scale.json
               --orgs K         orgs the credentials are spread over (default 1000)
               --changes K      single changes measured (default 50)
               --revokes M      revocations timed per region (default 30)
               --distinct D     distinct credentials loaded at one edge (default 20000)
               --cache-bytes B  the edges' EMBEDGATE_CACHE_BYTES (default 4 MiB)
               --timeout S      the longest a full state may take (default 5400)
  fuzz     run every cargo-fuzz target of fuzz/ (nightly) from the vector seeds
             --time N       seconds per target (default 60)
  help     show this message";

enum Command {
    Help,
    Setup,
    Dev,
    Www,
    Test(test::Options),
    Bench,
    BenchAdmin(bench_admin::Options),
    BenchEdge(bench_edge::Options),
    Fuzz(u64),
}

fn parse(args: &[String]) -> Result<Command, String> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    let no_options = |command: Command| match rest.first() {
        None => Ok(command),
        Some(arg) => Err(format!("unexpected argument `{arg}`")),
    };
    match command.as_str() {
        "help" | "-h" | "--help" => no_options(Command::Help),
        "setup" => no_options(Command::Setup),
        "dev" => no_options(Command::Dev),
        "www" => no_options(Command::Www),
        "bench" => no_options(Command::Bench),
        "bench-admin" => {
            let mut options = bench_admin::Options::default();
            for arg in rest {
                match arg.as_str() {
                    "--postgres" => options.postgres = true,
                    _ => return Err(format!("unknown option `{arg}` for `bench-admin`")),
                }
            }
            Ok(Command::BenchAdmin(options))
        }
        "bench-edge" => {
            let mut options = bench_edge::Options::default();
            let mut scale = bench_scale::Scale::default();
            let mut scaled = false;
            let mut it = rest.iter();
            while let Some(arg) = it.next() {
                let value = it.next();
                let number = || -> Result<u64, String> {
                    value
                        .and_then(|v| v.parse().ok())
                        .filter(|&n| n > 0)
                        .ok_or(format!("{arg} needs a positive number"))
                };
                let count = || number().map(|n| usize::try_from(n).unwrap_or(usize::MAX));
                match arg.as_str() {
                    "--revocations" => options.revocations = count()?,
                    "--seconds" => {
                        options.seconds = number()?.min(120);
                        scale.seconds = options.seconds;
                    }
                    "--scale" => {
                        scaled = true;
                        scale.credentials = value
                            .map(|v| v.split(',').map(|n| n.trim().parse::<usize>().ok().filter(|&n| n > 0)).collect())
                            .and_then(|ns: Option<Vec<usize>>| ns.filter(|ns| !ns.is_empty()))
                            .ok_or("--scale needs a list of positive numbers: 10000,100000")?;
                    }
                    "--orgs" => scale.orgs = count()?,
                    "--changes" => scale.changes = count()?,
                    "--revokes" => scale.revocations = count()?,
                    "--distinct" => scale.distinct = count()?,
                    "--cache-bytes" => scale.cache_bytes = count()?,
                    "--timeout" => scale.timeout_s = number()?,
                    _ => return Err(format!("unknown option `{arg}` for `bench-edge`")),
                }
            }
            if scaled {
                if let Some(n) = scale.credentials.iter().find(|&&n| n < scale.orgs) {
                    return Err(format!("--scale: {n} credentials cannot spread over {} orgs", scale.orgs));
                }
                options.scale = Some(scale);
            } else if scale != bench_scale::Scale::default() {
                return Err(
                    "--orgs, --changes, --revokes, --distinct, --cache-bytes and --timeout go with --scale".into()
                );
            }
            Ok(Command::BenchEdge(options))
        }
        "fuzz" => match rest {
            [] => Ok(Command::Fuzz(60)),
            [flag, n] if flag == "--time" => n
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .map(Command::Fuzz)
                .ok_or(format!("--time needs a positive number, not `{n}`")),
            _ => Err("usage: cargo xtask fuzz [--time N]".to_owned()),
        },
        "test" => {
            let mut options = test::Options::default();
            for arg in rest {
                match arg.as_str() {
                    "--quick" => options.quick = true,
                    "--skip-setup" => options.skip_setup = true,
                    "--no-postgres" => options.no_postgres = true,
                    _ => return Err(format!("unknown option `{arg}` for `test`")),
                }
            }
            Ok(Command::Test(options))
        }
        _ => Err(format!("unknown command `{command}`")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let command = match parse(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    util::ensure_cargo_bin_on_path();
    let result = match command {
        Command::Help => {
            println!("{USAGE}");
            Ok(())
        }
        Command::Setup => setup::run(),
        Command::Dev => dev::run(),
        Command::Www => www::build().map(drop),
        Command::Test(options) => test::run(options),
        Command::Bench => bench::run(),
        Command::BenchAdmin(options) => bench_admin::run(&options),
        Command::BenchEdge(options) => bench_edge::run(&options),
        Command::Fuzz(seconds) => fuzz::run(seconds),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|&arg| arg.to_owned()).collect()
    }

    #[test]
    fn parses_commands_and_rejects_unknown_input() {
        assert!(matches!(parse(&args(&[])), Ok(Command::Help)));
        assert!(matches!(
            parse(&args(&["test", "--quick", "--skip-setup"])),
            Ok(Command::Test(test::Options { quick: true, skip_setup: true, no_postgres: false }))
        ));
        assert!(matches!(
            parse(&args(&["test", "--no-postgres"])),
            Ok(Command::Test(test::Options { quick: false, skip_setup: false, no_postgres: true }))
        ));
        assert!(parse(&args(&["test", "--fast"])).is_err());
        let Ok(Command::BenchEdge(options)) = parse(&args(&["bench-edge", "--scale", "10000,100000", "--orgs", "100"]))
        else {
            panic!("bench-edge --scale does not parse");
        };
        let scale = options.scale.expect("scale mode");
        assert_eq!((scale.credentials, scale.orgs), (vec![10_000, 100_000], 100));
        assert!(matches!(parse(&args(&["bench-edge"])), Ok(Command::BenchEdge(o)) if o.scale.is_none()));
        assert!(parse(&args(&["bench-edge", "--scale", "10,x"])).is_err());
        assert!(parse(&args(&["bench-edge", "--scale", "500", "--orgs", "1000"])).is_err());
        assert!(parse(&args(&["bench-edge", "--orgs", "10"])).is_err());
        assert!(parse(&args(&["setup", "extra"])).is_err());
        assert!(parse(&args(&["deploy"])).is_err());
    }
}
