//! The `embedgate` command line (architecture.md §7).
//!
//! Exit codes: 0 success, 1 the token was refused (`verify`), 2 a usage
//! error (bad flags, missing environment variable). Usage errors go to
//! stderr as one plain sentence; results go to stdout.

mod duration;
pub mod invite;
pub mod keygen;
pub mod rekey;
pub mod server;
pub mod sign;
pub mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use embedgate_core::EmbedSecret;

/// embedgate: embed client credentials for secure embedded analytics.
#[derive(Debug, Parser)]
#[command(name = "embedgate", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign an embed token (or embed URL) with a client ID and embed secret, offline.
    Sign(sign::SignArgs),
    /// Check an embed token exactly as the edge does (minus replay and revocation, unless asked).
    Verify(verify::VerifyArgs),
    /// Generate a key, secret or client ID and print it, or a host app's key pair (es256, eddsa).
    Keygen(keygen::KeygenArgs),
    /// Create an org and its first admin; print that admin's API token once.
    Init(server::InitArgs),
    /// Print a one-time invitation code for a member (recovery when no admin
    /// holds a live token); the member redeems it for a token of their own.
    Invite(invite::InviteArgs),
    /// Run the admin server.
    Serve(server::ServeArgs),
    /// Re-wrap every org key under a new master key (from the environment variable named); resumable.
    Rekey(rekey::RekeyArgs),
    /// Bulk-load orgs and credentials for a benchmark (not for production data).
    #[command(hide = true)]
    BenchLoad(server::BenchLoadArgs),
}

/// A failure of the command itself (not a verification result): exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl UsageError {
    /// An error with this message.
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Exit code for a refused token.
pub const EXIT_REFUSED: u8 = 1;
/// Exit code for a usage error.
pub const EXIT_USAGE: u8 = 2;

/// Parses the process arguments, runs the command, and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap prints help/version with exit 0 and usage errors with exit 2.
        Err(e) => e.exit(),
    };
    let mut out = std::io::stdout().lock();
    let result = match cli.command {
        Command::Sign(args) => sign::run(&args, &mut out),
        Command::Verify(args) => verify::run(&args, &mut out),
        Command::Keygen(args) => keygen::run(&args, &mut out),
        Command::Init(args) => server::run_init(&args, &mut out),
        Command::Invite(args) => invite::run(&args, &mut out),
        Command::BenchLoad(args) => server::run_bench_load(&args, &mut out),
        Command::Rekey(args) => rekey::run(&args, &mut out),
        Command::Serve(args) => {
            drop(out);
            server::run_serve(&args)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("embedgate: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Reads the embed secret from the environment variable `var`, as given.
/// (Secrets come from the environment so they stay out of shell history and `ps`.)
pub(crate) fn secret_from_env(var: &str) -> Result<EmbedSecret, UsageError> {
    match std::env::var(var) {
        Ok(s) if !s.is_empty() => Ok(EmbedSecret::new(s)),
        Ok(_) => Err(UsageError::new(format!("environment variable {var} is empty; it must hold the embed secret"))),
        Err(std::env::VarError::NotPresent) => {
            Err(UsageError::new(format!("environment variable {var} is not set; it must hold the embed secret")))
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(UsageError::new(format!("environment variable {var} is not valid UTF-8")))
        }
    }
}

/// The text of the JWK file at `path` for the flag `flag` (`--public-key`,
/// `--private-key`): at most [`MAX_JWK_BYTES`](embedgate_core::public_key::MAX_JWK_BYTES)
/// and a byte more, so a wrong path cannot fill memory, in memory wiped when
/// dropped (it may hold a private key).
pub(crate) fn read_jwk_file(flag: &str, path: &str) -> Result<zeroize::Zeroizing<String>, UsageError> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| UsageError::new(format!("{flag} @{path}: {e}"));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut text = zeroize::Zeroizing::new(String::new());
    let limit = u64::try_from(embedgate_core::public_key::MAX_JWK_BYTES).unwrap_or(u64::MAX) + 1;
    file.take(limit).read_to_string(&mut text).map_err(cannot)?;
    Ok(text)
}

/// The current Unix time in seconds.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Writes one line to `out`; a closed pipe is not worth a panic.
pub(crate) fn write_line(out: &mut dyn std::io::Write, line: &str) -> Result<(), UsageError> {
    writeln!(out, "{line}").map_err(|e| UsageError::new(format!("cannot write the output: {e}")))
}
