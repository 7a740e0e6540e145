//! Member API tokens (`egt_` + 64 hex characters, 256 random bits, shown once,
//! stored only as their SHA-256) and the bearer-token extractors ([`Caller`],
//! [`OrgAdmin`], [`OrgMember`]), which consult the failure limiter
//! ([`super::limiter`]) only once the token has failed.

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use embedgate_core::AccountType;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::client::ClientAddr;
use super::{AppError, AppState};
pub use crate::store::members::Member;
use crate::store::tokens;

/// Prefix of every member API token.
pub const MEMBER_TOKEN_PREFIX: &str = "egt_";

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A fresh member token and its stored hash.
pub fn new_member_token() -> Result<(Zeroizing<String>, String), AppError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|e| AppError::Internal(format!("random source: {e}")))?;
    let token = Zeroizing::new(format!("{MEMBER_TOKEN_PREFIX}{}", hex(bytes.as_ref())));
    let hash = token_hash(&token);
    Ok((token, hash))
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
        .filter(|t| t.starts_with(MEMBER_TOKEN_PREFIX) && t.len() <= 128)
}

/// Whole seconds, rounded up, at least 1 (a `retry-after` value).
fn retry_after(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Counts a failed authentication of `addr`: `refusal` (401), or 429 if the
/// address was in back-off already.
fn failed(state: &AppState, addr: IpAddr, in_backoff: bool, refusal: AppError) -> AppError {
    let now_in = state.limiter.record_failure(addr);
    match now_in {
        Some(d) if in_backoff => AppError::TooManyAttempts { retry_after_s: retry_after(d).max(1) },
        _ => refusal,
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
        match tokens::authenticate(&mut conn, &token_hash(token)).await? {
            Some((member, token_id)) => Ok(Self { member, token_id, addr }),
            None => Err(failed(state, addr, in_backoff, AppError::Unauthorized)),
        }
    }
}
