//! `embedgate keygen`: fresh keys for configuration files and tests.

use clap::{Args, ValueEnum};
use embedgate_core::keys::NamedKey;
use embedgate_core::{ClientId, EdgeKey, EmbedSecret, MasterKey, SyncKey};

use super::{write_line, UsageError};

/// What to generate.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyKind {
    /// A master key (`egm_…`) for EMBEDGATE_MASTER_KEY.
    Master,
    /// A sync key (`egk_…`) for EMBEDGATE_SYNC_KEY (the admin's and the edges').
    Sync,
    /// An edge key (`ege_…`) for EMBEDGATE_EDGE_KEY (the admin's and the edges').
    Edge,
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
    /// Print `{"key": …, "id": …}`: the key with its id, the public fingerprint
    /// `/healthz`, `GET /api/v1/edges` and error messages name it by (keys only).
    #[arg(long)]
    json: bool,
}

/// Prints one freshly generated value (with `--json`, a key and its id).
pub fn run(args: &KeygenArgs, out: &mut dyn std::io::Write) -> Result<u8, UsageError> {
    let rng = |e: embedgate_core::KeyError| UsageError::new(e.to_string());
    let mut id = None;
    let mut named = |printable, key_id: embedgate_core::KeyId| {
        id = Some(key_id);
        printable
    };
    let value = match args.kind {
        KeyKind::Master => {
            let k = MasterKey::generate().map_err(rng)?;
            named(k.to_printable(), k.id())
        }
        KeyKind::Sync => {
            let k = SyncKey::generate().map_err(rng)?;
            named(k.to_printable(), k.id())
        }
        KeyKind::Edge => {
            let k = EdgeKey::generate().map_err(rng)?;
            named(k.to_printable(), k.id())
        }
        KeyKind::Secret => zeroize::Zeroizing::new(EmbedSecret::generate().map_err(rng)?.expose_secret().to_owned()),
        KeyKind::ClientId => {
            zeroize::Zeroizing::new(ClientId::generate().map_err(|e| UsageError::new(e.to_string()))?.to_string())
        }
    };
    match (args.json, id) {
        (false, _) => write_line(out, &value)?,
        (true, Some(id)) => {
            let line =
                zeroize::Zeroizing::new(serde_json::json!({ "key": value.as_str(), "id": id.to_string() }).to_string());
            write_line(out, &line)?;
        }
        (true, None) => return Err(UsageError::new("--json is for keys (master, sync, edge), which have an id")),
    }
    Ok(0)
}
