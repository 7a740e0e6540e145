//! `embedgate sign`: what a host app's server does, offline: with the embed
//! secret (HS256), or with the host app's private key (ES256, EdDSA).

use clap::{ArgGroup, Args};
use embedgate_core::{random_jti, sign, sign_with_key, ClientId, SigningJwk, MAX_LIFETIME_CAP_S};
use serde_json::{Map, Value};

use super::duration::parse_seconds;
use super::{read_jwk_file, secret_from_env, unix_now, write_line, UsageError};

/// Arguments of `embedgate sign`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("key").required(true).args(["secret_env", "private_key"])))]
pub struct SignArgs {
    /// The credential's client ID (the token's `kid`).
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// Name of the environment variable that holds the embed secret. Or give --private-key.
    #[arg(long, value_name = "VAR")]
    secret_env: Option<String>,
    /// `@PATH`: the file holding the host app's private JWK (`embedgate keygen
    /// es256|eddsa --out PATH`), to sign ES256 or EdDSA. Or give --secret-env.
    #[arg(long, value_name = "@PATH")]
    private_key: Option<String>,
    /// The embed user's email (`sub`).
    #[arg(long, value_name = "EMAIL")]
    sub: String,
    /// Lifetime of the token: 90s, 15m, 1h, 7d (at most 30d).
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    ttl: String,
    /// An extra or overriding claim: `key=value` for a string, `key:=json` for
    /// any JSON value (e.g. `teams:='["sales"]'`). Repeatable.
    #[arg(long = "claim", value_name = "K=V")]
    claims: Vec<String>,
    /// An embed URL: print it with `:jwt=<token>` (and `:embed=true`) appended.
    #[arg(long, value_name = "EMBED_URL")]
    url: Option<String>,
    /// Sign as if it were this Unix time (default: now).
    #[arg(long, value_name = "UNIX_SECONDS", allow_hyphen_values = true)]
    now: Option<i64>,
}

/// Signs and prints the token (or the embed URL).
pub fn run(args: &SignArgs, out: &mut dyn std::io::Write) -> Result<u8, UsageError> {
    let client_id: ClientId = args.client_id.parse().map_err(|e| UsageError::new(format!("--client-id: {e}")))?;
    let ttl = parse_seconds(&args.ttl).map_err(|e| UsageError::new(format!("--ttl: {e}")))?;
    if u64::try_from(ttl).is_ok_and(|t| t > MAX_LIFETIME_CAP_S) {
        return Err(UsageError::new("--ttl: embed tokens live at most 30d"));
    }
    let key = signing_key(args)?;
    let now = args.now.unwrap_or_else(unix_now);

    let mut claims = Map::new();
    claims.insert("sub".into(), args.sub.clone().into());
    claims.insert("jti".into(), random_jti().map_err(|e| UsageError::new(e.to_string()))?.into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), now.saturating_add(ttl).into());
    for claim in &args.claims {
        let (key, value) = parse_claim(claim)?;
        claims.insert(key, value);
    }
    let token = match &key {
        Key::Secret(secret) => sign(&claims, &client_id, secret),
        Key::Private(private) => sign_with_key(&claims, &client_id, private),
    }
    .map_err(|e| UsageError::new(e.to_string()))?;
    let line = match &args.url {
        Some(url) => embed_url(url, &token)?,
        None => token,
    };
    write_line(out, &line)?;
    Ok(0)
}

/// What signs: the embed secret or the host app's private key.
enum Key {
    Secret(embedgate_core::EmbedSecret),
    Private(Box<SigningJwk>),
}

/// The key `--secret-env` or `--private-key` names (clap ensures exactly one).
fn signing_key(args: &SignArgs) -> Result<Key, UsageError> {
    match (&args.secret_env, &args.private_key) {
        (Some(var), None) => Ok(Key::Secret(secret_from_env(var)?)),
        (None, Some(given)) => {
            // Never the key itself on the command line: ps and shell history would show it.
            let path = given.strip_prefix('@').ok_or_else(|| {
                UsageError::new("--private-key: give @PATH, the file holding the private JWK (never the key itself)")
            })?;
            let text = read_jwk_file("--private-key", path)?;
            let key = SigningJwk::parse(&text).map_err(|e| UsageError::new(format!("--private-key @{path}: {e}")))?;
            Ok(Key::Private(Box::new(key)))
        }
        _ => Err(UsageError::new("give the signing key: --secret-env VAR or --private-key @PATH (not both)")),
    }
}

/// `key=value` (a string) or `key:=json` (any JSON value).
fn parse_claim(arg: &str) -> Result<(String, Value), UsageError> {
    let bad = || UsageError::new(format!("--claim `{arg}`: expected key=value or key:=json"));
    let eq = arg.find('=').ok_or_else(bad)?;
    let (key, value) = (&arg[..eq], &arg[eq + 1..]);
    let (key, value) = match key.strip_suffix(':') {
        Some(key) => (
            key,
            serde_json::from_str(value)
                .map_err(|e| UsageError::new(format!("--claim `{key}`: not valid JSON ({e})")))?,
        ),
        None => (key, Value::String(value.to_owned())),
    };
    if key.is_empty() {
        return Err(bad());
    }
    Ok((key.to_owned(), value))
}

/// Appends `:jwt` (and `:embed=true` unless present) to an embed URL.
fn embed_url(url: &str, token: &str) -> Result<String, UsageError> {
    if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with('/')) {
        return Err(UsageError::new("--url: expected an http(s) URL or a path like /acme/workbook/123"));
    }
    if url.contains('#') {
        return Err(UsageError::new("--url: the URL must not contain a #fragment"));
    }
    let query = url.split_once('?').map_or("", |(_, q)| q);
    if query.split('&').any(|p| p == ":jwt" || p.starts_with(":jwt=")) {
        return Err(UsageError::new("--url: the URL already has a :jwt parameter"));
    }
    let mut out = url.to_owned();
    let sep = if url.contains('?') {
        if url.ends_with(['?', '&']) {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    out.push_str(sep);
    out.push_str(":jwt=");
    out.push_str(token);
    if !query.split('&').any(|p| p == ":embed" || p.starts_with(":embed=")) {
        out.push_str("&:embed=true");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_parse_as_strings_or_json() {
        assert_eq!(parse_claim("ver=1.1").unwrap(), ("ver".into(), Value::String("1.1".into())));
        assert_eq!(parse_claim("teams:=[\"a\"]").unwrap(), ("teams".into(), serde_json::json!(["a"])));
        assert_eq!(parse_claim("k=a=b").unwrap(), ("k".into(), Value::String("a=b".into())));
        assert!(parse_claim("novalue").is_err());
        assert!(parse_claim("=x").is_err());
        assert!(parse_claim("n:={").is_err());
    }

    #[test]
    fn embed_urls() {
        assert_eq!(embed_url("/acme/workbook/1", "T").unwrap(), "/acme/workbook/1?:jwt=T&:embed=true");
        assert_eq!(
            embed_url("https://e.x/acme/workbook/1?theme=dark", "T").unwrap(),
            "https://e.x/acme/workbook/1?theme=dark&:jwt=T&:embed=true"
        );
        assert_eq!(embed_url("/a/page/1?:embed=true", "T").unwrap(), "/a/page/1?:embed=true&:jwt=T");
        assert!(embed_url("/a/page/1?:jwt=old", "T").is_err());
        assert!(embed_url("ftp://x", "T").is_err());
    }
}
