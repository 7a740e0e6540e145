//! Verification of embed tokens: the rules of architecture.md §3 in the order of §4.

use core::ops::Range;
use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::credential::{CredentialRecord, KeyRing};
use crate::error::VerifyError;
use crate::public_key::Algorithm;
use crate::rules::TokenLifetime;
use crate::types::{AccountType, Privilege};
use crate::unverified::{
    is_simple_strings, parse_json_str, simple_str_array, simple_str_map, ClaimSpans, UnverifiedToken,
};

/// The longest token lifetime ever accepted: 30 days.
pub const MAX_LIFETIME_CAP_S: u64 = 30 * 24 * 3600;
/// Tokens longer than this are refused before parsing.
pub const MAX_TOKEN_BYTES: usize = 8192;
/// Longest `sub`, in characters.
pub const MAX_SUB_CHARS: usize = 254;
/// Longest `jti`, in characters.
pub const MAX_JTI_CHARS: usize = 128;

/// How tokens are verified. [`Validation::default`] is the secure
/// configuration of architecture.md §3: leeway 60 s, audience `embedgate`, lifetime
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

/// The identity a verified token proves, owned and serializable (the JSON
/// answers of the edge and `embedgate verify`). See [`VerifiedToken::identity`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
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
    ) -> Result<VerifiedToken<'k>, VerifyError>
    where
        F: FnOnce(&str) -> Option<(&'k CredentialRecord, &'k KeyRing)>,
    {
        let parsed = UnverifiedToken::parse(token, self.effective_max_bytes())?;
        self.verify_parsed(parsed, now, ctx, lookup)
    }

    /// [`Validation::verify`] for a token already parsed.
    pub fn verify_parsed<'k, F>(
        &self,
        token: UnverifiedToken<'_>,
        now: i64,
        ctx: &EmbedContext<'_>,
        lookup: F,
    ) -> Result<VerifiedToken<'k>, VerifyError>
    where
        F: FnOnce(&str) -> Option<(&'k CredentialRecord, &'k KeyRing)>,
    {
        let alg = header_algorithm(&token)?;
        let kid = token.kid().ok_or(VerifyError::UnknownClient)?;
        let (record, keys) = lookup(&kid).ok_or(VerifyError::UnknownClient)?;
        if record.client_id.as_str() != kid {
            // A lookup that ignores its argument must not verify a token under another credential.
            return Err(VerifyError::UnknownClient);
        }
        if !keys.accepts(alg) && !keys.is_empty() {
            // An HS256 token for a public-key credential (the public key used
            // as an HMAC secret) or the reverse: refused before any signature check.
            return Err(VerifyError::UnsupportedAlgorithm("alg is not the algorithm of this credential's key"));
        }
        let Some(generation) = keys.verify(alg, token.signing_input().as_bytes(), token.signature()) else {
            return Err(VerifyError::BadSignature);
        };
        // From here on the claims are authentic; now check what they say.
        drop(kid);
        let verified = self.check_claims(token, record, generation, now)?;
        check_embed(record, ctx, verified.iat)?;
        Ok(verified)
    }

    fn check_claims<'k>(
        &self,
        token: UnverifiedToken<'_>,
        record: &'k CredentialRecord,
        generation: u32,
        now: i64,
    ) -> Result<VerifiedToken<'k>, VerifyError> {
        let (payload, c) = token.into_payload();
        let raw = |span: &Range<usize>| &payload[span.clone()];
        // 1. Required claims present.
        let (Some(sub), Some(jti), Some(iat), Some(exp)) = (&c.sub, &c.jti, &c.iat, &c.exp) else {
            let missing = [("sub", &c.sub), ("jti", &c.jti), ("iat", &c.iat), ("exp", &c.exp)]
                .into_iter()
                .find_map(|(n, s)| s.is_none().then_some(n))
                .unwrap_or("sub");
            return Err(VerifyError::MissingClaim(missing));
        };

        // 2. Types and values, checked without building anything.
        let sub = str_claim(raw(sub), "sub")?;
        if sub.is_empty() || sub.chars().count() > MAX_SUB_CHARS || sub.chars().any(char::is_whitespace) {
            return Err(VerifyError::InvalidClaim("sub", "must be 1 to 254 characters without whitespace"));
        }
        let jti = str_claim(raw(jti), "jti")?;
        if jti.is_empty() || jti.chars().count() > MAX_JTI_CHARS {
            return Err(VerifyError::InvalidClaim("jti", "must be 1 to 128 characters"));
        }
        // serde_json validated each raw value as JSON, so a JSON integer is exactly
        // what `str::parse::<i64>` accepts (no `+`, no fraction, no exponent).
        let int = |span: &Range<usize>, name| {
            raw(span)
                .parse::<i64>()
                .map_err(|_| VerifyError::InvalidClaim(name, "must be an integer number of seconds"))
        };
        let iat = int(iat, "iat")?;
        let exp = int(exp, "exp")?;
        let nbf = c.nbf.as_ref().map(|s| int(s, "nbf")).transpose()?;
        if exp <= iat {
            return Err(VerifyError::InvalidClaim("exp", "must be later than iat"));
        }
        if let Some(iss) = &c.iss {
            if str_claim(raw(iss), "iss")? != record.client_id.as_str() {
                return Err(VerifyError::InvalidClaim("iss", "must equal the client ID"));
            }
        }
        let ver = match c.ver.as_ref().map(|s| parse_json_str(raw(s))) {
            None => TokenVersion::V1_0,
            Some(Some(v)) if v == "1.0" => TokenVersion::V1_0,
            Some(Some(v)) if v == "1.1" => TokenVersion::V1_1,
            Some(_) => return Err(VerifyError::InvalidClaim("ver", "must be \"1.0\" or \"1.1\"")),
        };
        let aud_matches = match &c.aud {
            None => false,
            Some(s) => audience_contains(raw(s), &self.audience)?,
        };
        let account_type = c
            .account_type
            .as_ref()
            .map(|s| {
                parse_json_str(raw(s))
                    .and_then(|t| t.parse::<AccountType>().ok())
                    .ok_or(VerifyError::InvalidClaim("account_type", "must be one of admin, creator, explorer, viewer"))
            })
            .transpose()?;
        if let Some(s) = &c.teams {
            if !is_simple_strings(raw(s), false) {
                typed::<Vec<String>>(raw(s), "teams", "must be an array of strings")?;
            }
        }
        if let Some(s) = &c.user_attributes {
            if !is_simple_strings(raw(s), true) {
                typed::<BTreeMap<String, String>>(raw(s), "user_attributes", "must be an object of string values")?;
            }
        }
        for (span, name) in
            [(&c.first_name, "first_name"), (&c.last_name, "last_name"), (&c.eval_connection_id, "eval_connection_id")]
        {
            if let Some(span) = span {
                str_claim(raw(span), name)?;
            }
        }

        // 3. Time. Wide arithmetic: no overflow whatever the claims say.
        let (now, leeway) = (i128::from(now), i128::from(self.leeway_s));
        if i128::from(iat) > now + leeway || nbf.is_some_and(|nbf| now < i128::from(nbf) - leeway) {
            return Err(VerifyError::NotYetValid);
        }
        if now > i128::from(exp) + leeway {
            return Err(VerifyError::Expired);
        }
        let cap = self
            .max_lifetime_s
            .min(MAX_LIFETIME_CAP_S)
            .min(record.policy.max_token_lifetime_s.map_or(u64::MAX, TokenLifetime::seconds));
        if i128::from(exp) - i128::from(iat) > i128::from(cap) {
            return Err(VerifyError::LifetimeExceedsLimit);
        }

        // 4. Audience.
        if ver == TokenVersion::V1_1 && !aud_matches {
            return Err(VerifyError::AudienceMismatch);
        }

        // 5. Owner rule: a non-admin owner's tokens carry its identity and nothing that grants more.
        let grants = c.teams.as_ref().is_some_and(|s| !is_empty_json(raw(s)))
            || c.user_attributes.as_ref().is_some_and(|s| !is_empty_json(raw(s)))
            || c.eval_connection_id.is_some();
        check_owner(record, &sub, account_type, grants)?;
        drop((sub, jti));
        Ok(VerifiedToken { record, generation, payload, claims: c, iat, exp, nbf, ver, account_type })
    }
}

/// A token that passed every check: a view over its decoded payload, so
/// verifying allocates nothing beyond decoding. Read claims through the
/// accessors, or take an owned [`Identity`].
#[derive(Debug, Clone)]
pub struct VerifiedToken<'k> {
    record: &'k CredentialRecord,
    generation: u32,
    payload: String,
    claims: ClaimSpans,
    iat: i64,
    exp: i64,
    nbf: Option<i64>,
    ver: TokenVersion,
    account_type: Option<AccountType>,
}

impl<'k> VerifiedToken<'k> {
    fn raw(&self, span: &Range<usize>) -> &str {
        &self.payload[span.clone()]
    }

    fn opt_str(&self, span: Option<&Range<usize>>) -> Option<Cow<'_, str>> {
        span.and_then(|s| parse_json_str(self.raw(s)))
    }

    /// The credential that signed the token.
    pub fn credential(&self) -> &'k CredentialRecord {
        self.record
    }

    /// The generation of the secret that signed it.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// The embed user's email in its canonical form ([`canonical_email`]):
    /// the owner's own email when the owner is not an admin. This, not the
    /// `sub` as typed, is what the edge forwards and sessions carry.
    pub fn sub(&self) -> Cow<'_, str> {
        if self.record.owner.account_type != AccountType::Admin {
            return Cow::Borrowed(self.record.owner.email.as_str());
        }
        match self.opt_str(self.claims.sub.as_ref()).unwrap_or_default() {
            Cow::Borrowed(s) => canonical_email(s),
            Cow::Owned(s) => Cow::Owned(canonical_email(&s).into_owned()),
        }
    }

    /// The token's unique ID (`jti`): single use at the edge.
    pub fn jti(&self) -> Cow<'_, str> {
        self.opt_str(self.claims.jti.as_ref()).unwrap_or_default()
    }

    /// Issued at (Unix seconds).
    pub fn iat(&self) -> i64 {
        self.iat
    }

    /// Expires at (Unix seconds).
    pub fn exp(&self) -> i64 {
        self.exp
    }

    /// Not before (Unix seconds), if given.
    pub fn nbf(&self) -> Option<i64> {
        self.nbf
    }

    /// The token format version.
    pub fn ver(&self) -> TokenVersion {
        self.ver
    }

    /// The embed user's account type: the one the token names, if any;
    /// when the owner is not an admin, the lower of that and the owner's own
    /// (the owner's when the token names none).
    pub fn account_type(&self) -> Option<AccountType> {
        let owner = self.record.owner.account_type;
        if owner == AccountType::Admin {
            return self.account_type;
        }
        Some(self.account_type.map_or(owner, |t| t.min(owner)))
    }

    /// The embed user's teams.
    pub fn teams(&self) -> Vec<String> {
        let Some(span) = &self.claims.teams else { return Vec::new() };
        let raw = self.raw(span);
        simple_str_array(raw)
            .map_or_else(|| serde_json::from_str(raw).unwrap_or_default(), |items| items.map(str::to_owned).collect())
    }

    /// The embed user's attributes.
    pub fn user_attributes(&self) -> BTreeMap<String, String> {
        let Some(span) = &self.claims.user_attributes else { return BTreeMap::new() };
        let raw = self.raw(span);
        simple_str_map(raw).map_or_else(
            || serde_json::from_str(raw).unwrap_or_default(),
            |entries| entries.map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        )
    }

    /// The owned, serializable identity.
    pub fn identity(&self) -> Identity {
        let owned = |span: Option<&Range<usize>>| self.opt_str(span).map(Cow::into_owned);
        Identity {
            client_id: self.record.client_id.as_str().to_owned(),
            org: self.record.org.as_str().to_owned(),
            sub: self.sub().into_owned(),
            jti: self.jti().into_owned(),
            iat: self.iat,
            exp: self.exp,
            nbf: self.nbf,
            ver: self.ver,
            account_type: self.account_type(),
            teams: self.teams(),
            user_attributes: self.user_attributes(),
            first_name: owned(self.claims.first_name.as_ref()),
            last_name: owned(self.claims.last_name.as_ref()),
            eval_connection_id: owned(self.claims.eval_connection_id.as_ref()),
        }
    }
}

/// A string claim, borrowed when it has no escapes.
fn str_claim<'a>(raw: &'a str, claim: &'static str) -> Result<Cow<'a, str>, VerifyError> {
    parse_json_str(raw).ok_or(VerifyError::InvalidClaim(claim, "must be a string"))
}

/// Whether `aud` (a string or an array of strings, RFC 7519 §4.1.3) names `audience`.
fn audience_contains(raw: &str, audience: &str) -> Result<bool, VerifyError> {
    const WHY: &str = "must be a string or an array of strings";
    if let Some(one) = parse_json_str(raw) {
        return Ok(one == audience);
    }
    if let Some(mut items) = simple_str_array(raw) {
        return Ok(items.any(|a| a == audience));
    }
    Ok(typed::<Vec<String>>(raw, "aud", WHY)?.iter().any(|a| a == audience))
}

impl UnverifiedToken<'_> {
    /// The header rules alone (the §4 checks before `kid`): a caller that
    /// must fetch the credential before verifying can refuse a bad header
    /// first, without a lookup.
    pub fn check_header(&self) -> Result<(), VerifyError> {
        check_header(self)
    }
}

/// The header rules: `alg` exactly `HS256`, `ES256` or `EdDSA`, no forbidden
/// parameter, `typ` if present exactly `JWT`.
pub(crate) fn check_header(token: &UnverifiedToken<'_>) -> Result<(), VerifyError> {
    header_algorithm(token).map(drop)
}

/// [`check_header`], answering the algorithm the header names (which the
/// credential's keys must then use).
pub(crate) fn header_algorithm(token: &UnverifiedToken<'_>) -> Result<Algorithm, VerifyError> {
    let h = &token.header;
    let alg = h.alg.as_ref().ok_or(VerifyError::UnsupportedAlgorithm("alg is missing"))?;
    let alg = parse_json_str(token.header_raw(alg))
        .and_then(|a| Algorithm::from_jws(&a))
        .ok_or(VerifyError::UnsupportedAlgorithm("alg must be HS256, ES256 or EdDSA"))?;
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
    Ok(alg)
}

/// The edge's checks after the token's own: org, privilege, revocation and
/// cutoff (against the token's `iat`), origin. Edge sessions re-run them on
/// every request, so a revocation ends a session too.
pub(crate) fn check_embed(record: &CredentialRecord, ctx: &EmbedContext<'_>, iat: i64) -> Result<(), VerifyError> {
    if ctx.org.is_some_and(|org| org != record.org.as_str()) {
        return Err(VerifyError::OrgMismatch);
    }
    if !record.privileges.contains(&Privilege::Embedding) {
        return Err(VerifyError::PrivilegeMissing);
    }
    if record.is_revoked() || record.policy.not_before_cutoff.is_some_and(|cutoff| iat < cutoff) {
        return Err(VerifyError::CredentialRevoked);
    }
    if ctx.origin.is_some_and(|o| !record.policy.allowed_origins.allows(o)) {
        return Err(VerifyError::OriginNotAllowed);
    }
    Ok(())
}

/// The owner rule (architecture.md §4): a non-admin owner signs only as
/// itself (emails compared in their canonical form), at or below its own
/// account type, and claims nothing that grants more than the admin knows of
/// it (`grants`: non-empty `teams` or `user_attributes`, or an
/// `eval_connection_id`). Edge sessions re-check it, as the owner may change.
pub(crate) fn check_owner(
    record: &CredentialRecord,
    sub: &str,
    account_type: Option<AccountType>,
    grants: bool,
) -> Result<(), VerifyError> {
    let owner = &record.owner;
    if owner.account_type != AccountType::Admin
        && (grants
            || canonical_email(sub) != canonical_email(&owner.email)
            || account_type.is_some_and(|t| t > owner.account_type))
    {
        return Err(VerifyError::ImpersonationNotAllowed);
    }
    Ok(())
}

/// The one form in which emails are compared, forwarded and stored:
/// lower-cased (Unicode's full lower-casing, as the admin stores members).
/// `Kim@x` and `\u{212A}im@x` (a Kelvin sign) are both `kim@x`. Borrowed
/// when already canonical.
pub fn canonical_email(email: &str) -> Cow<'_, str> {
    if email.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(email)
    } else {
        Cow::Owned(email.to_lowercase())
    }
}

/// Whether a validated JSON array or object is empty (`[]`, `{ }`).
fn is_empty_json(raw: &str) -> bool {
    let inner = raw.trim();
    inner.len() >= 2 && inner[1..inner.len() - 1].trim().is_empty()
}
