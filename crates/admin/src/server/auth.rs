//! Member API tokens (`egt_` + 64 hex characters, 256 random bits, shown once,
//! stored only as their SHA-256), API access tokens (`egc_`, the OAuth
//! grant's, [`super::api::oauth`]), and the bearer-token extractors
//! ([`Caller`], [`OrgAdmin`], [`OrgMember`]), which consult the failure
//! limiter ([`super::limiter`]) only once the token has failed.

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use embedgate_core::AccountType;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::client::ClientAddr;
use super::{AppError, AppState};
use crate::store::api_tokens;
pub use crate::store::members::Member;
use crate::store::tokens::{self, Presented};

/// Prefix of every member API token.
pub const MEMBER_TOKEN_PREFIX: &str = "egt_";

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Prefix of every API access token (the OAuth client-credentials grant's).
pub const API_TOKEN_PREFIX: &str = "egc_";

/// Prefix of every invitation code.
pub const INVITATION_PREFIX: &str = "egi_";

/// How long an invitation code can be redeemed (72 hours).
pub const INVITATION_TTL_S: i64 = 72 * 3600;

/// A fresh bearer value (`prefix` + 64 hex characters) and its stored hash.
fn new_bearer(prefix: &str) -> Result<(Zeroizing<String>, String), AppError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|e| AppError::Internal(format!("random source: {e}")))?;
    let token = Zeroizing::new(format!("{prefix}{}", hex(bytes.as_ref())));
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// A fresh member token and its stored hash.
pub fn new_member_token() -> Result<(Zeroizing<String>, String), AppError> {
    new_bearer(MEMBER_TOKEN_PREFIX)
}

/// A fresh API access token and its stored hash.
pub fn new_api_token() -> Result<(Zeroizing<String>, String), AppError> {
    new_bearer(API_TOKEN_PREFIX)
}

/// A fresh invitation code and its stored hash.
pub fn new_invitation_code() -> Result<(Zeroizing<String>, String), AppError> {
    new_bearer(INVITATION_PREFIX)
}

/// Whether `code` has an invitation code's form (`egi_` + 64 lower-case hex).
pub fn is_invitation_code(code: &str) -> bool {
    code.strip_prefix(INVITATION_PREFIX)
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// A random identifier (128 bits, hex) for rows such as token IDs.
pub fn random_id() -> Result<String, AppError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(format!("random source: {e}")))?;
    Ok(hex(&bytes))
}

/// The stored form of a member token: SHA-256, lower-case hex.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

impl Member {
    /// Checks that the member belongs to `org` (404 otherwise, so another
    /// org's existence is not revealed), whatever their account type.
    pub fn require_member_of(&self, org: &str) -> Result<(), AppError> {
        if self.org == org {
            Ok(())
        } else {
            Err(AppError::NotFound("org"))
        }
    }

    /// Checks that the member belongs to `org` (404 otherwise, so another
    /// org's existence is not revealed) and is an admin (403 otherwise).
    pub fn require_admin_of(&self, org: &str) -> Result<(), AppError> {
        self.require_member_of(org)?;
        if self.account_type != AccountType::Admin {
            return Err(AppError::Forbidden);
        }
        Ok(())
    }
}

/// The `{org}` segment of the request path (`/api/v1/orgs/{org}/…`); a
/// segment that is not UTF-8 is 404 like any unknown org.
async fn path_org(parts: &mut Parts, state: &AppState) -> Result<String, AppError> {
    let params = RawPathParams::from_request_parts(parts, state).await.map_err(|_| AppError::NotFound("org"))?;
    params.iter().find(|(name, _)| *name == "org").map(|(_, org)| org.to_owned()).ok_or(AppError::NotFound("org"))
}

/// An active admin of the org in the path: the preamble of every org
/// endpoint that writes (and of the audit log). A bad, absent or revoked
/// token is 401 (counted by the limiter, exactly as [`Member`]), another
/// org's token 404, a non-admin 403.
#[derive(Debug, Clone)]
pub struct OrgAdmin(pub Caller);

/// An active member of the org in the path, of any account type: the
/// preamble of the read-only endpoints (credential list and view, member
/// list). 401 and 404 as [`OrgAdmin`]; never 403.
#[derive(Debug, Clone)]
pub struct OrgMember(pub Caller);

impl std::ops::Deref for OrgAdmin {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl std::ops::Deref for OrgMember {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl FromRequestParts<AppState> for OrgAdmin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require_admin_of(&path_org(parts, state).await?)?;
        Ok(Self(caller))
    }
}

impl FromRequestParts<AppState> for OrgMember {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require_member_of(&path_org(parts, state).await?)?;
        Ok(Self(caller))
    }
}

/// The authenticated caller of a request (`Authorization: Bearer egt_…`):
/// an active member with a live token, which token it is, and the client
/// address (as the trusted-proxy rule resolves it). The audit log records
/// all three.
///
/// An API access token (`Bearer egc_…`) makes a caller too: the credential's
/// owner as they are now (their current account type, so a demoted owner's
/// token loses admin powers at once), in the credential's org only, with
/// [`Caller::credential`] set; it acts (and is audited) as the credential.
///
/// The token is checked first: a valid one is never refused for its
/// address's failures. A request that fails (no token, a malformed or
/// unknown one) counts as a failure of its address; while the address is in
/// back-off such a request is 429 `too_many_attempts` with `retry-after`
/// instead of 401, and one without a well-formed token is refused without
/// a database query.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The member.
    pub member: Member,
    /// The ID of the token they presented (never the token).
    pub token_id: String,
    /// The client address.
    pub addr: IpAddr,
    /// The credential whose API access token this is (`None`: a member token).
    pub credential: Option<embedgate_core::ClientId>,
}

impl Caller {
    /// Who the audit log names: the member, or `credential:<client_id>`.
    pub fn actor(&self) -> String {
        match &self.credential {
            Some(client_id) => format!("credential:{client_id}"),
            None => self.member.email.as_str().to_owned(),
        }
    }

    /// Refuses an API access token (403 `member_token_required`): what only
    /// a member's own token may do (issue member tokens, invitations, rotate
    /// the org key, read every edge), so a short-lived token can never be
    /// turned into a long-lived one.
    pub fn require_member_token(&self) -> Result<(), AppError> {
        if self.credential.is_some() {
            Err(AppError::MemberTokenRequired)
        } else {
            Ok(())
        }
    }
}

impl std::ops::Deref for Caller {
    type Target = Member;
    fn deref(&self) -> &Member {
        &self.member
    }
}

/// The bearer token of a request, if it has a well-formed one.
fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| (t.starts_with(MEMBER_TOKEN_PREFIX) || t.starts_with(API_TOKEN_PREFIX)) && t.len() <= 128)
}

/// Whole seconds, rounded up, at least 1 (a `retry-after` value).
fn retry_after(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Counts a failed authentication of `addr`: `refusal` (401), or 429 if the
/// address was in back-off already.
pub(crate) fn failed(state: &AppState, addr: IpAddr, in_backoff: bool, refusal: AppError) -> AppError {
    match count_failure(state, addr, in_backoff) {
        Some(retry_after_s) => AppError::TooManyAttempts { retry_after_s },
        None => refusal,
    }
}

/// Counts a failed authentication of `addr`; the `retry-after` seconds of a
/// 429 when the address was in back-off already (else the caller's own refusal).
pub(crate) fn count_failure(state: &AppState, addr: IpAddr, in_backoff: bool) -> Option<u64> {
    match state.limiter.record_failure(addr) {
        Some(d) if in_backoff => Some(retry_after(d).max(1)),
        _ => None,
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ClientAddr(addr) = ClientAddr::of(parts, &state.trusted_proxies);
        let in_backoff = state.limiter.backoff(addr).is_some();
        let Some(token) = bearer(parts) else {
            return Err(failed(state, addr, in_backoff, AppError::Unauthorized));
        };
        let mut conn = state.store.pool.acquire().await?;
        if token.starts_with(API_TOKEN_PREFIX) {
            return match api_tokens::authenticate(&mut conn, &token_hash(token), super::now()).await? {
                api_tokens::Presented::Valid(member, token_id, client_id) => {
                    Ok(Self { member, token_id, addr, credential: Some(client_id) })
                }
                api_tokens::Presented::Expired => Err(failed(state, addr, false, AppError::TokenExpired)),
                api_tokens::Presented::Refused => Err(failed(state, addr, false, AppError::Unauthorized)),
                _ => Err(failed(state, addr, in_backoff, AppError::Unauthorized)),
            };
        }
        match tokens::authenticate(&mut conn, &token_hash(token), super::now()).await? {
            Presented::Valid(member, token_id) => Ok(Self { member, token_id, addr, credential: None }),
            // One of ours (so not a guess): its own answer even in back-off, but counted.
            Presented::Expired => Err(failed(state, addr, false, AppError::TokenExpired)),
            Presented::Refused => Err(failed(state, addr, false, AppError::Unauthorized)),
            _ => Err(failed(state, addr, in_backoff, AppError::Unauthorized)),
        }
    }
}

/// How long member API tokens live: the lifetime a new token gets unless
/// its issuer asks for another, and the longest one may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPolicy {
    /// Seconds a new token lives by default.
    pub default_ttl_s: i64,
    /// The longest lifetime a token may be given, in seconds.
    pub max_ttl_s: i64,
}

impl Default for TokenPolicy {
    /// 30 days by default, 90 days at most.
    fn default() -> Self {
        Self { default_ttl_s: 30 * 86_400, max_ttl_s: 90 * 86_400 }
    }
}

impl TokenPolicy {
    /// The shortest lifetime a token may be given (and the configuration's lower bound).
    pub const MIN_TTL_S: i64 = 60;
    /// The configuration's upper bound: tokens that never expire are what expiry is for.
    pub const LIMIT_S: i64 = 365 * 86_400;

    /// A policy, checked: both from a minute to a year, the default at most the maximum.
    pub fn new(default_ttl_s: i64, max_ttl_s: i64) -> Result<Self, String> {
        let range = Self::MIN_TTL_S..=Self::LIMIT_S;
        if !range.contains(&default_ttl_s) || !range.contains(&max_ttl_s) {
            return Err("token lifetimes must be from 60 s to 365 days".into());
        }
        if default_ttl_s > max_ttl_s {
            return Err("the default token lifetime must not exceed the maximum".into());
        }
        Ok(Self { default_ttl_s, max_ttl_s })
    }

    /// The lifetime a token-issuing body asks for: `{"expires_in_s": n}`
    /// (60 to the maximum), the default when absent or null; any other key
    /// is 422 `body`.
    pub fn lifetime(&self, body: Option<&serde_json::Map<String, serde_json::Value>>) -> Result<i64, AppError> {
        let Some(body) = body else { return Ok(self.default_ttl_s) };
        if body.keys().any(|k| k != "expires_in_s") {
            return Err(AppError::invalid("body", "body may only have these fields: expires_in_s"));
        }
        match body.get("expires_in_s") {
            None | Some(serde_json::Value::Null) => Ok(self.default_ttl_s),
            Some(v) => v.as_i64().filter(|n| (Self::MIN_TTL_S..=self.max_ttl_s).contains(n)).ok_or_else(|| {
                AppError::invalid(
                    "expires_in_s",
                    format!(
                        "expires_in_s must be an integer of seconds from {} to {} (this server's maximum)",
                        Self::MIN_TTL_S,
                        self.max_ttl_s
                    ),
                )
            }),
        }
    }
}
