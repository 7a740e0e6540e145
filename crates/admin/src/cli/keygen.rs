//! `embedgate keygen`: fresh keys for configuration files and tests.

use clap::{Args, ValueEnum};
use embedgate_core::{ClientId, EmbedSecret, MasterKey, SyncKey};

use super::{write_line, UsageError};

/// What to generate.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyKind {
    /// A master key (`egm_…`) for EMBEDGATE_MASTER_KEY.
    Master,
    /// A sync key (`egk_…`) for EMBEDGATE_SYNC_KEY.
    Sync,
    /// A random embed secret (`egs_…`), for trying `sign`/`verify` offline.
    Secret,
    /// A random client ID.
    ClientId,
}

/// Arguments of `embedgate keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// What to generate.
    kind: KeyKind,
}

/// Prints one freshly generated value.
pub fn run(args: &KeygenArgs, out: &mut dyn std::io::Write) -> Result<u8, UsageError> {
    let rng = |e: embedgate_core::KeyError| UsageError::new(e.to_string());
    let value = match args.kind {
        KeyKind::Master => MasterKey::generate().map_err(rng)?.to_printable(),
        KeyKind::Sync => SyncKey::generate().map_err(rng)?.to_printable(),
        KeyKind::Secret => zeroize::Zeroizing::new(EmbedSecret::generate().map_err(rng)?.expose_secret().to_owned()),
        KeyKind::ClientId => {
            zeroize::Zeroizing::new(ClientId::generate().map_err(|e| UsageError::new(e.to_string()))?.to_string())
        }
    };
    write_line(out, &value)?;
    Ok(0)
}
