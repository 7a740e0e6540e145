//! `embedgate verify`: checks a token exactly as the edge does.
//!
//! The credential is described by flags (owner defaults to an admin); replay
//! and revocation are only checked when `--seen-jti` / `--revoked` /
//! `--not-before-cutoff` simulate the edge's state, so every architecture.md §4 code
//! can be produced offline.
//!
//! The credential's key is its embed secret (`--secret-env VAR`) or, for a
//! credential that signs with a key pair, its public JWK (`--public-key`).

use std::io::Read as _;

use clap::{ArgGroup, Args};
use embedgate_core::{query_param, KeyRing, OfflineCheck, OptionsError, PublicJwk};

use super::{read_jwk_file, secret_from_env, unix_now, write_line, UsageError, EXIT_REFUSED};

/// Arguments of `embedgate verify`.
#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)]
#[command(group(ArgGroup::new("key").required(true).args(["secret_env", "public_key"])))]
pub struct VerifyArgs {
    /// The credential's client ID.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// Name of the environment variable that holds the embed secret (used as
    /// given). Or give --public-key.
    #[arg(long, value_name = "VAR")]
    secret_env: Option<String>,
    /// The public key of a credential that signs with a key pair (ES256 or
    /// EdDSA): the JWK's JSON, or `@PATH` to read it from a file. Or give --secret-env.
    #[arg(long, value_name = "JWK|@PATH")]
    public_key: Option<String>,
    /// The credential's org. Checked against the org of `--url` (org_mismatch).
    #[arg(long, value_name = "ORG")]
    org: Option<String>,
    /// The credential owner's email (required unless the owner is an admin).
    #[arg(long, value_name = "EMAIL")]
    owner: Option<String>,
    /// The credential owner's account type.
    #[arg(long, value_name = "TYPE", default_value = "admin", value_parser = ["admin", "creator", "explorer", "viewer"])]
    owner_account_type: String,
    /// The audience `ver: "1.1"` tokens must name.
    #[arg(long, value_name = "AUD", default_value = "embedgate")]
    audience: String,
    /// Verify as if it were this Unix time (default: now).
    #[arg(long, value_name = "UNIX_SECONDS", allow_hyphen_values = true)]
    now: Option<i64>,
    /// Clock-skew leeway in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    leeway: u64,
    /// The embed URL being loaded: its org is checked, and its `:jwt` is the token when TOKEN is not given.
    #[arg(long, value_name = "EMBED_URL")]
    url: Option<String>,
    /// The credential's privileges, comma-separated.
    #[arg(long, value_name = "LIST", default_value = "embedding", value_delimiter = ',')]
    privileges: Vec<String>,
    /// An origin allowed to frame the embed, `'self'`, or `*` alone (repeatable;
    /// none: no page may frame, and the origin check passes any top-level load).
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// The origin of the page framing the embed.
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
    /// The credential's own token-lifetime limit, in seconds.
    #[arg(long, value_name = "SECONDS")]
    max_token_lifetime: Option<u64>,
    /// Refuse tokens issued before this Unix time (credential_revoked).
    #[arg(long, value_name = "UNIX_SECONDS", allow_hyphen_values = true)]
    not_before_cutoff: Option<i64>,
    /// Treat the credential as revoked.
    #[arg(long)]
    revoked: bool,
    /// A jti the edge has already seen (repeatable): that token is replayed.
    #[arg(long = "seen-jti", value_name = "JTI")]
    seen_jtis: Vec<String>,
    /// The token, or `-` to read it from stdin.
    #[arg(value_name = "TOKEN")]
    token: Option<String>,
}

/// Verifies and prints one JSON line; exit 0 if accepted, 1 if refused.
pub fn run(args: &VerifyArgs, out: &mut dyn std::io::Write) -> Result<u8, UsageError> {
    // The description is validated before the token or the secret is read, so a
    // usage error never waits on stdin.
    let check = OfflineCheck {
        client_id: Some(args.client_id.clone()),
        org: args.org.clone(),
        url: args.url.clone(),
        owner: args.owner.clone(),
        owner_account_type: args.owner_account_type.clone(),
        privileges: args.privileges.clone(),
        allowed_origins: args.allowed_origins.clone(),
        origin: args.origin.clone(),
        max_token_lifetime: args.max_token_lifetime,
        not_before_cutoff: args.not_before_cutoff,
        revoked: args.revoked,
        seen_jtis: args.seen_jtis.clone(),
        audience: args.audience.clone(),
        leeway: args.leeway,
        now: args.now,
    };
    check.validate().map_err(|e| UsageError::new(flag_error(&e)))?;
    let keys = key_ring(args)?;
    let token = read_token(args)?;
    let result = check.verify(&token, &keys, unix_now()).map_err(|e| UsageError::new(flag_error(&e)))?;
    write_line(out, &check.answer(&result).to_string())?;
    Ok(if result.is_ok() { 0 } else { EXIT_REFUSED })
}

/// The credential's key: the secret in `--secret-env`'s variable, or the
/// public JWK of `--public-key` (clap ensures exactly one is given).
fn key_ring(args: &VerifyArgs) -> Result<KeyRing, UsageError> {
    match (&args.secret_env, &args.public_key) {
        (Some(var), None) => Ok(KeyRing::from_secret(&secret_from_env(var)?, 1)),
        (None, Some(given)) => {
            let text = match given.strip_prefix('@') {
                Some(path) => read_jwk_file("--public-key", path)?,
                None => zeroize::Zeroizing::new(given.clone()),
            };
            let key = PublicJwk::parse(&text).map_err(|e| UsageError::new(format!("--public-key: {e}")))?;
            Ok(KeyRing::from_public_key(&key, 1))
        }
        _ => Err(UsageError::new("give the credential's key: --secret-env VAR or --public-key JWK|@PATH (not both)")),
    }
}

/// An [`OptionsError`] in the words of the command line (`--flag: why`).
fn flag_error(e: &OptionsError) -> String {
    match e {
        OptionsError::Invalid("owner", why) => format!("--owner EMAIL: {why}"),
        OptionsError::Invalid(field, why) => format!("--{}: {why}", field.replace('_', "-")),
        other => other.to_string(),
    }
}

/// TOKEN, `-` (stdin), or the `:jwt` of `--url`.
fn read_token(args: &VerifyArgs) -> Result<String, UsageError> {
    match (args.token.as_deref(), args.url.as_deref()) {
        (Some("-"), _) => {
            let mut s = String::new();
            std::io::stdin()
                .take(64 * 1024)
                .read_to_string(&mut s)
                .map_err(|e| UsageError::new(format!("cannot read the token from stdin: {e}")))?;
            Ok(s.trim().to_owned())
        }
        (Some(token), _) => Ok(token.to_owned()),
        (None, Some(url)) => query_param(url, ":jwt")
            .map(std::borrow::Cow::into_owned)
            .ok_or_else(|| UsageError::new("no TOKEN given and --url has no single :jwt parameter")),
        (None, None) => Err(UsageError::new("give the TOKEN, `-` to read it from stdin, or an --url with :jwt")),
    }
}
