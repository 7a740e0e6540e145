//! `embedgate verify`: checks a token exactly as the edge does.
//!
//! The credential is described by flags (owner defaults to an admin); replay
//! and revocation are only checked when `--seen-jti` / `--revoked` /
//! `--not-before-cutoff` simulate the edge's state, so every design §4 code
//! can be produced offline.

use std::collections::BTreeSet;
use std::io::Read as _;

use clap::Args;
use embedgate_core::{
    query_param, AccountType, ClientId, CredentialRecord, EmbedContext, EmbedTarget, Kdf, KeyRing, OrgSlug, Owner,
    Policy, Privilege, SecretGeneration, Validation, VerifyError,
};
use serde_json::json;

use super::{secret_from_env, unix_now, write_line, UsageError, EXIT_REFUSED};

/// Arguments of `embedgate verify`.
#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)]
pub struct VerifyArgs {
    /// The credential's client ID.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// Name of the environment variable that holds the embed secret (used as given).
    #[arg(long, value_name = "VAR")]
    secret_env: String,
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
    /// An origin allowed to frame the embed (repeatable; none: any origin).
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
    let client_id: ClientId = args.client_id.parse().map_err(|e| UsageError::new(format!("--client-id: {e}")))?;
    let owner_type: AccountType = args.owner_account_type.parse().map_err(|e| UsageError::new(format!("{e}")))?;
    let owner_email = match (&args.owner, owner_type) {
        (Some(email), _) => email.trim().to_lowercase(),
        (None, AccountType::Admin) => String::new(),
        (None, _) => return Err(UsageError::new("--owner EMAIL is required when the owner is not an admin")),
    };
    let org: Option<OrgSlug> =
        args.org.as_deref().map(str::parse).transpose().map_err(|e| UsageError::new(format!("--org: {e}")))?;
    let target = args
        .url
        .as_deref()
        .map(|u| {
            EmbedTarget::parse(u).ok_or_else(|| UsageError::new("--url: not an embed URL like /acme/workbook/123"))
        })
        .transpose()?;
    let token = read_token(args)?;
    let privileges = args
        .privileges
        .iter()
        .map(|p| p.trim().parse::<Privilege>())
        .collect::<Result<BTreeSet<_>, _>>()
        .map_err(|e| UsageError::new(format!("--privileges: {e}")))?;
    let secret = secret_from_env(&args.secret_env)?;

    // The credential's org: --org, else the URL's (so only a disagreement is a mismatch).
    let record_org = match (&org, &target) {
        (Some(org), _) => org.clone(),
        (None, Some(t)) => t.org.parse().map_err(|e| UsageError::new(format!("--url: {e}")))?,
        (None, None) => "-".parse().map_err(|e| UsageError::new(format!("{e}")))?,
    };
    let record = CredentialRecord {
        client_id,
        org: record_org,
        owner: Owner { email: owner_email, account_type: owner_type },
        privileges,
        secrets: vec![SecretGeneration { generation: 1, kdf: Kdf::V1 }],
        policy: Policy {
            allowed_origins: args.allowed_origins.clone(),
            max_token_lifetime_s: args.max_token_lifetime,
            not_before_cutoff: args.not_before_cutoff,
        },
        revoked_at: args.revoked.then_some(0),
    };
    let keys = KeyRing::from_secret(&secret);
    let mut validation = Validation::default();
    validation.leeway_s = args.leeway;
    validation.audience.clone_from(&args.audience);
    let ctx = EmbedContext { org: target.map(|t| t.org), origin: args.origin.as_deref() };
    let now = args.now.unwrap_or_else(unix_now);

    let result = validation.verify(&token, now, &ctx, |_| Some((&record, &keys))).and_then(|v| {
        if args.seen_jtis.iter().any(|j| *j == v.jti()) {
            Err(VerifyError::Replayed)
        } else {
            Ok(v)
        }
    });
    match result {
        Ok(verified) => {
            let mut body = serde_json::to_value(verified.identity()).map_err(|e| UsageError::new(e.to_string()))?;
            body["ok"] = json!(true);
            if org.is_none() && target.is_none() {
                body["org"] = serde_json::Value::Null;
            }
            write_line(out, &body.to_string())?;
            Ok(0)
        }
        Err(e) => {
            write_line(out, &json!({"error": e.code(), "message": e.to_string()}).to_string())?;
            Ok(EXIT_REFUSED)
        }
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
