//! Verification of embed tokens: the rules of design §3 in the order of §4.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::credential::{CredentialRecord, KeyRing};
use crate::error::VerifyError;
use crate::types::{AccountType, Privilege};
use crate::unverified::{parse_json_str, UnverifiedToken};

/// The longest token lifetime ever accepted: 30 days.
pub const MAX_LIFETIME_CAP_S: u64 = 30 * 24 * 3600;
/// Tokens longer than this are refused before parsing.
pub const MAX_TOKEN_BYTES: usize = 8192;
/// Longest `sub`, in characters.
pub const MAX_SUB_CHARS: usize = 254;
/// Longest `jti`, in characters.
pub const MAX_JTI_CHARS: usize = 128;

/// How tokens are verified. [`Validation::default`] is the secure
/// configuration of design §3: leeway 60 s, audience `embedgate`, lifetime
/// cap 30 days, 8 KiB size limit. Fields can be tightened; the lifetime cap
/// and the size limit cannot be raised above the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Validation {
    /// Clock skew tolerated on `iat`, `nbf` and `exp`, in seconds.
    pub leeway_s: u64,
    /// The audience `ver: "1.1"` tokens must name.
    pub audience: String,
    /// The longest `exp - iat` accepted (clamped to 30 days).
    pub max_lifetime_s: u64,
    /// The longest token accepted, in bytes (clamped to 8 KiB).
    pub max_token_bytes: usize,
}

impl Default for Validation {
    fn default() -> Self {
        Self {
            leeway_s: 60,
            audience: "embedgate".to_owned(),
            max_lifetime_s: MAX_LIFETIME_CAP_S,
            max_token_bytes: MAX_TOKEN_BYTES,
        }
    }
}

/// Where an embed is being loaded: the edge's own checks after the token's.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbedContext<'a> {
    /// The org slug in the embed URL (`None`: not checked).
    pub org: Option<&'a str>,
    /// The origin of the page framing the embed, when known (`None`: not checked here;
    /// the `frame-ancestors` policy still applies in the browser).
    pub origin: Option<&'a str>,
}

/// A token's `ver` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenVersion {
    /// `"1.0"`, the default: no audience check.
    #[serde(rename = "1.0")]
    V1_0,
    /// `"1.1"`: `aud` must name the configured audience.
    #[serde(rename = "1.1")]
    V1_1,
}

/// The identity a verified token proves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedToken {
    /// The credential that signed it.
    pub client_id: String,
    /// The credential's org.
    pub org: String,
    /// The embed user's email.
    pub sub: String,
    /// The token's unique ID (single use at the edge).
    pub jti: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Not before (Unix seconds), if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// The token format version.
    pub ver: TokenVersion,
    /// The embed user's account type, if the token names one.
    pub account_type: Option<AccountType>,
    /// The embed user's teams.
    pub teams: Vec<String>,
    /// The embed user's attributes.
    pub user_attributes: BTreeMap<String, String>,
    /// Optional display names and connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// See `first_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// An evaluation connection to use, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_connection_id: Option<String>,
}

fn typed<T: DeserializeOwned>(raw: &str, claim: &'static str, why: &'static str) -> Result<T, VerifyError> {
    serde_json::from_str(raw).map_err(|_| VerifyError::InvalidClaim(claim, why))
}

fn string_claim(
    token: &UnverifiedToken<'_>,
    span: Option<&core::ops::Range<usize>>,
    claim: &'static str,
) -> Result<Option<String>, VerifyError> {
    span.map(|s| {
        parse_json_str(token.claim_raw(s))
            .map(std::borrow::Cow::into_owned)
            .ok_or(VerifyError::InvalidClaim(claim, "must be a string"))
    })
    .transpose()
}

impl Validation {
    fn effective_max_bytes(&self) -> usize {
        self.max_token_bytes.min(MAX_TOKEN_BYTES)
    }

    /// Verifies `token` completely: structure, header, `kid` (through
    /// `lookup`), MAC, claims, owner rule, then the embed checks of `ctx`
    /// (org, privilege, revocation and cutoff, origin). Replay (`jti` single
    /// use) is the caller's last step, as it needs storage.
    ///
    /// `now` is Unix seconds; the clock is always passed in.
    pub fn verify<'k, F>(
        &self,
        token: &str,
        now: i64,
        ctx: &EmbedContext<'_>,
        lookup: F,
    ) -> Result<VerifiedToken, VerifyError>
    where
        F: FnOnce(&str) -> Option<(&'k CredentialRecord, &'k KeyRing)>,
    {
        let parsed = UnverifiedToken::parse(token, self.effective_max_bytes())?;
        self.verify_parsed(&parsed, now, ctx, lookup)
    }

    /// [`Validation::verify`] for a token already parsed.
    pub fn verify_parsed<'k, F>(
        &self,
        token: &UnverifiedToken<'_>,
        now: i64,
        ctx: &EmbedContext<'_>,
        lookup: F,
    ) -> Result<VerifiedToken, VerifyError>
    where
        F: FnOnce(&str) -> Option<(&'k CredentialRecord, &'k KeyRing)>,
    {
        check_header(token)?;
        let kid = token.kid().ok_or(VerifyError::UnknownClient)?;
        let (record, keys) = lookup(&kid).ok_or(VerifyError::UnknownClient)?;
        if record.client_id.as_str() != kid {
            // A lookup that ignores its argument must not verify a token under another credential.
            return Err(VerifyError::UnknownClient);
        }
        if !keys.verify(token.signing_input().as_bytes(), token.signature()) {
            return Err(VerifyError::BadSignature);
        }
        // From here on the claims are authentic; now check what they say.
        let verified = self.check_claims(token, record, now)?;
        check_embed(record, ctx, &verified)?;
        Ok(verified)
    }

    fn check_claims(
        &self,
        token: &UnverifiedToken<'_>,
        record: &CredentialRecord,
        now: i64,
    ) -> Result<VerifiedToken, VerifyError> {
        let c = &token.claims;
        // 1. Required claims present.
        let (Some(sub), Some(jti), Some(iat), Some(exp)) = (&c.sub, &c.jti, &c.iat, &c.exp) else {
            let missing = [("sub", &c.sub), ("jti", &c.jti), ("iat", &c.iat), ("exp", &c.exp)]
                .into_iter()
                .find_map(|(n, s)| s.is_none().then_some(n))
                .unwrap_or("sub");
            return Err(VerifyError::MissingClaim(missing));
        };

        // 2. Types and values.
        let sub = string_claim(token, Some(sub), "sub")?.unwrap_or_default();
        if sub.is_empty() || sub.chars().count() > MAX_SUB_CHARS || sub.chars().any(char::is_whitespace) {
            return Err(VerifyError::InvalidClaim("sub", "must be 1 to 254 characters without whitespace"));
        }
        let jti = string_claim(token, Some(jti), "jti")?.unwrap_or_default();
        if jti.is_empty() || jti.chars().count() > MAX_JTI_CHARS {
            return Err(VerifyError::InvalidClaim("jti", "must be 1 to 128 characters"));
        }
        let int = |span: &core::ops::Range<usize>, name| {
            typed::<i64>(token.claim_raw(span), name, "must be an integer number of seconds")
        };
        let iat = int(iat, "iat")?;
        let exp = int(exp, "exp")?;
        let nbf = c.nbf.as_ref().map(|s| int(s, "nbf")).transpose()?;
        if exp <= iat {
            return Err(VerifyError::InvalidClaim("exp", "must be later than iat"));
        }
        if let Some(iss) = string_claim(token, c.iss.as_ref(), "iss")? {
            if iss != record.client_id.as_str() {
                return Err(VerifyError::InvalidClaim("iss", "must equal the client ID"));
            }
        }
        let ver = match &c.ver {
            None => TokenVersion::V1_0,
            Some(s) => typed(token.claim_raw(s), "ver", "must be \"1.0\" or \"1.1\"")?,
        };
        let aud: Option<Audience> = c
            .aud
            .as_ref()
            .map(|s| typed(token.claim_raw(s), "aud", "must be a string or an array of strings"))
            .transpose()?;
        let account_type: Option<AccountType> = c
            .account_type
            .as_ref()
            .map(|s| typed(token.claim_raw(s), "account_type", "must be one of admin, creator, explorer, viewer"))
            .transpose()?;
        let teams: Vec<String> = c
            .teams
            .as_ref()
            .map(|s| typed(token.claim_raw(s), "teams", "must be an array of strings"))
            .transpose()?
            .unwrap_or_default();
        let user_attributes: BTreeMap<String, String> = c
            .user_attributes
            .as_ref()
            .map(|s| typed(token.claim_raw(s), "user_attributes", "must be an object of string values"))
            .transpose()?
            .unwrap_or_default();
        let first_name = string_claim(token, c.first_name.as_ref(), "first_name")?;
        let last_name = string_claim(token, c.last_name.as_ref(), "last_name")?;
        let eval_connection_id = string_claim(token, c.eval_connection_id.as_ref(), "eval_connection_id")?;

        // 3. Time. Wide arithmetic: no overflow whatever the claims say.
        let (now, leeway) = (i128::from(now), i128::from(self.leeway_s));
        if i128::from(iat) > now + leeway || nbf.is_some_and(|nbf| now < i128::from(nbf) - leeway) {
            return Err(VerifyError::NotYetValid);
        }
        if now > i128::from(exp) + leeway {
            return Err(VerifyError::Expired);
        }
        let cap =
            self.max_lifetime_s.min(MAX_LIFETIME_CAP_S).min(record.policy.max_token_lifetime_s.unwrap_or(u64::MAX));
        if i128::from(exp) - i128::from(iat) > i128::from(cap) {
            return Err(VerifyError::LifetimeExceedsLimit);
        }

        // 4. Audience.
        if ver == TokenVersion::V1_1 && !aud.is_some_and(|a| a.contains(&self.audience)) {
            return Err(VerifyError::AudienceMismatch);
        }

        // 5. Owner rule: a non-admin owner signs only as itself, at or below its type.
        let owner = &record.owner;
        if owner.account_type != AccountType::Admin
            && (!emails_equal(&sub, &owner.email) || account_type.is_some_and(|t| t > owner.account_type))
        {
            return Err(VerifyError::ImpersonationNotAllowed);
        }

        Ok(VerifiedToken {
            client_id: record.client_id.as_str().to_owned(),
            org: record.org.as_str().to_owned(),
            sub,
            jti,
            iat,
            exp,
            nbf,
            ver,
            account_type,
            teams,
            user_attributes,
            first_name,
            last_name,
            eval_connection_id,
        })
    }
}

/// The header rules: `alg` exactly `HS256`, no forbidden parameter, `typ` if present exactly `JWT`.
fn check_header(token: &UnverifiedToken<'_>) -> Result<(), VerifyError> {
    let h = &token.header;
    let alg = h.alg.as_ref().ok_or(VerifyError::UnsupportedAlgorithm("alg is missing"))?;
    if parse_json_str(token.header_raw(alg)).as_deref() != Some("HS256") {
        return Err(VerifyError::UnsupportedAlgorithm("alg must be HS256"));
    }
    if let Some(name) = h.forbidden {
        return Err(VerifyError::UnsupportedAlgorithm(match name {
            "jku" => "the jku header is not accepted",
            "jwk" => "the jwk header is not accepted",
            "x5u" => "the x5u header is not accepted",
            "x5c" => "the x5c header is not accepted",
            _ => "the crit header is not accepted",
        }));
    }
    if let Some(typ) = &h.typ {
        if parse_json_str(token.header_raw(typ)).as_deref() != Some("JWT") {
            return Err(VerifyError::UnsupportedAlgorithm("typ must be JWT"));
        }
    }
    Ok(())
}

/// The edge's checks after the token's own: org, privilege, revocation and cutoff, origin.
fn check_embed(record: &CredentialRecord, ctx: &EmbedContext<'_>, token: &VerifiedToken) -> Result<(), VerifyError> {
    if ctx.org.is_some_and(|org| org != record.org.as_str()) {
        return Err(VerifyError::OrgMismatch);
    }
    if !record.privileges.contains(&Privilege::Embedding) {
        return Err(VerifyError::PrivilegeMissing);
    }
    if record.is_revoked() || record.policy.not_before_cutoff.is_some_and(|cutoff| token.iat < cutoff) {
        return Err(VerifyError::CredentialRevoked);
    }
    if ctx.origin.is_some_and(|o| !record.origin_allowed(o)) {
        return Err(VerifyError::OriginNotAllowed);
    }
    Ok(())
}

/// Emails compare case-insensitively (design §4).
fn emails_equal(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || (!a.is_ascii() || !b.is_ascii()) && a.to_lowercase() == b.to_lowercase()
}

/// `aud`: a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(a) => a == audience,
            Self::Many(all) => all.iter().any(|a| a == audience),
        }
    }
}
