//! `embedgate keygen`: fresh keys for configuration files and tests, and key
//! pairs for host apps whose credentials sign with their own private key.

use std::io::Write as _;
use std::path::Path;

use clap::{Args, ValueEnum};
use embedgate_core::keys::NamedKey;
use embedgate_core::{Algorithm, ClientId, EdgeKey, EmbedSecret, MasterKey, SigningJwk, SyncKey};

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
    /// An ES256 (P-256) key pair for a host app (see below).
    Es256,
    /// An EdDSA (Ed25519) key pair for a host app (see below).
    Eddsa,
}

/// Arguments of `embedgate keygen`.
#[derive(Debug, Args)]
#[command(after_help = "Key pairs (es256, eddsa) are for a host app that signs its embed tokens with its own \
private key; embedgate holds only the public key (give it as `public_key` when creating the credential). \
The private JWK goes to --out PATH (created with mode 0600; an existing file is never overwritten) or, \
without --out, to stdout. stdout gets exactly one line: the private JWK, or with --out the public JWK. \
stderr always shows the public JWK and its RFC 7638 thumbprint (what the API lists for the credential).")]
pub struct KeygenArgs {
    /// What to generate.
    kind: KeyKind,
    /// Print `{"key": …, "id": …}`: the key with its id, the public fingerprint
    /// `/healthz`, `GET /api/v1/edges` and error messages name it by (keys only).
    #[arg(long)]
    json: bool,
    /// Key pairs only: write the private JWK to this new file (mode 0600)
    /// instead of stdout, and print the public JWK on stdout.
    #[arg(long, value_name = "PATH")]
    out: Option<std::path::PathBuf>,
}

/// Prints one freshly generated value (with `--json`, a key and its id), or
/// makes a key pair (`es256`, `eddsa`).
pub fn run(args: &KeygenArgs, out: &mut dyn std::io::Write) -> Result<u8, UsageError> {
    let algorithm = match args.kind {
        KeyKind::Es256 => Some(Algorithm::Es256),
        KeyKind::Eddsa => Some(Algorithm::EdDsa),
        _ => None,
    };
    match algorithm {
        Some(alg) if args.json => {
            Err(UsageError::new(format!("--json is for keys (master, sync, edge); {alg} prints JWKs as they are")))
        }
        Some(alg) => key_pair(alg, args.out.as_deref(), out, &mut std::io::stderr().lock()),
        None if args.out.is_some() => Err(UsageError::new("--out is for key pairs (es256, eddsa)")),
        None => single(args, out),
    }
}

/// Makes a key pair: the private JWK to `path` (new, 0600) or `out`, the
/// public JWK to `out` when the private one went to the file, and the public
/// JWK with its thumbprint to `notes`.
fn key_pair(
    alg: Algorithm,
    path: Option<&Path>,
    out: &mut dyn std::io::Write,
    notes: &mut dyn std::io::Write,
) -> Result<u8, UsageError> {
    let key = SigningJwk::generate(alg).map_err(|e| UsageError::new(e.to_string()))?;
    let public = key.public();
    match path {
        Some(path) => {
            write_private_file(path, &key)?;
            write_line(out, &public.canonical_json())?;
        }
        None => write_line(out, &key.to_json())?,
    }
    write_line(notes, &format!("public key ({alg}): {}", public.canonical_json()))?;
    write_line(notes, &format!("thumbprint (RFC 7638): {}", public.thumbprint()))?;
    Ok(0)
}

/// Writes the private JWK to a new file only its owner can read; an
/// existing file (or a link where it would go) is refused, never overwritten.
fn write_private_file(path: &Path, key: &SigningJwk) -> Result<(), UsageError> {
    let shown = path.display();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => UsageError::new(format!(
            "--out {shown}: the file exists; a private key is never overwritten (choose another path)"
        )),
        _ => UsageError::new(format!("--out {shown}: {e}")),
    })?;
    let json = key.to_json();
    let written = file.write_all(json.as_bytes()).and_then(|()| file.write_all(b"\n")).and_then(|()| file.sync_all());
    if let Err(e) = written {
        drop(file);
        // A half-written key is of no use to anyone.
        let _ = std::fs::remove_file(path);
        return Err(UsageError::new(format!("--out {shown}: {e}")));
    }
    Ok(())
}

/// One value (with `--json`, a key and its id).
fn single(args: &KeygenArgs, out: &mut dyn std::io::Write) -> Result<u8, UsageError> {
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
        KeyKind::Es256 | KeyKind::Eddsa => return Err(UsageError::new("a key pair is not a single value")),
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
