//! `embedgate rekey`: moves every org key to a new master key (architecture.md §9).
//!
//! The new key is read from an environment variable named on the command
//! line (never a flag: it would show in the process list and the shell's
//! history). The org keys are re-wrapped a batch at a time; the embed
//! secrets, derived from the org keys, do not change, so no host app and no
//! edge notices. Safe to interrupt and run again. At the end every key it
//! replaced is recorded as retired (`serve` refuses it), and when the old
//! key came from `<data-dir>/master.key` that file is replaced by the new key.

use clap::Args;
use embedgate_core::keys::NamedKey;
use embedgate_core::MasterKey;

use super::server::{replace_private, runtime, StoreArgs};
use super::{write_line, UsageError};
use crate::store as db;

/// Arguments of `embedgate rekey`.
#[derive(Debug, Args)]
pub struct RekeyArgs {
    /// The environment variable holding the new master key (make one with `embedgate keygen master`).
    #[arg(long, value_name = "VAR")]
    new_key_env: String,
    #[command(flatten)]
    store: StoreArgs,
}

/// Re-wraps every org key under the new master key; prints
/// `{"master_key","rewrapped","retired"}`.
pub fn run(args: &RekeyArgs, out: &mut dyn std::io::Write) -> Result<u8, UsageError> {
    let var = &args.new_key_env;
    let text = zeroize::Zeroizing::new(match std::env::var(var) {
        Ok(t) if !t.trim().is_empty() => t,
        Ok(_) | Err(std::env::VarError::NotPresent) => {
            return Err(UsageError::new(format!(
                "environment variable {var} is not set; it must hold the new master key"
            )))
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(UsageError::new(format!("environment variable {var} is not valid UTF-8")))
        }
    });
    let new = MasterKey::from_printable(&text).map_err(|e| UsageError::new(format!("{var}: {e}")))?;
    let old = args.store.load_master_keys()?;
    let new_id = new.id();
    let from_file = args.store.master_key_from_file();
    runtime()?.block_on(async {
        let store = db::open(&args.store.database_url()).await.map_err(|e| UsageError::new(e.to_string()))?;
        let done = db::keys::rekey(&store, &old, &new, |p| {
            eprintln!("embedgate: rekey: {} of {} org keys re-wrapped", p.rewrapped, p.total);
        })
        .await
        .map_err(|e| UsageError::new(e.to_string()))?;
        store.pool.close().await;
        if from_file && old.current_id() != new_id {
            let path = args.store.master_key_file();
            replace_private(&path, &format!("{}\n", new.to_printable().as_str()))?;
            eprintln!("embedgate: rekey: {} now holds the new master key", path.display());
        }
        let retired: Vec<String> = done.retired.iter().map(ToString::to_string).collect();
        if !from_file {
            eprintln!("embedgate: rekey: done; set EMBEDGATE_MASTER_KEY to the new key alone and restart the admin");
        }
        let line = serde_json::json!({
            "master_key": new_id.to_string(),
            "rewrapped": done.rewrapped,
            "retired": retired,
        });
        write_line(out, &line.to_string())?;
        Ok(0)
    })
}
