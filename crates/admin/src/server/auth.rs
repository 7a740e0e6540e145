//! Member API tokens (`egt_` + 64 hex characters, 256 random bits, shown once,
//! stored only as their SHA-256), the bearer-token extractor, and the
//! per-address limit on failed authentications.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use embedgate_core::AccountType;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

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

/// Counts failed authentications per client address in fixed one-minute windows.
#[derive(Debug)]
pub struct FailureLimiter {
    max_per_window: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureLimiter {
    /// A limiter allowing `max_per_minute` failures per address per minute.
    pub fn new(max_per_minute: u32) -> Self {
        Self { max_per_window: max_per_minute, window: Duration::from_secs(60), seen: Mutex::new(HashMap::new()) }
    }

    fn with_map<R>(&self, f: impl FnOnce(&mut HashMap<IpAddr, (Instant, u32)>) -> R) -> R {
        let mut map = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut map)
    }

    /// Whether `ip` has used up its failures for the current window.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        self.with_map(|m| {
            m.get(&ip).is_some_and(|&(start, n)| now.duration_since(start) < self.window && n >= self.max_per_window)
        })
    }

    /// Records one failure of `ip`.
    pub fn record_failure(&self, ip: IpAddr) {
        let now = Instant::now();
        self.with_map(|m| {
            if m.len() > 100_000 {
                m.retain(|_, (start, _)| now.duration_since(*start) < self.window);
            }
            let entry = m.entry(ip).or_insert((now, 0));
            if now.duration_since(entry.0) >= self.window {
                *entry = (now, 0);
            }
            entry.1 = entry.1.saturating_add(1);
        });
    }
}

/// The authenticated member of a request (from `Authorization: Bearer egt_…`):
/// an active member with an unrevoked token.
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
pub struct OrgAdmin(pub Member);

/// An active member of the org in the path, of any account type: the
/// preamble of the read-only endpoints (credential list and view, member
/// list). 401 and 404 as [`OrgAdmin`]; never 403.
#[derive(Debug, Clone)]
pub struct OrgMember(pub Member);

impl std::ops::Deref for OrgAdmin {
    type Target = Member;
    fn deref(&self) -> &Member {
        &self.0
    }
}

impl std::ops::Deref for OrgMember {
    type Target = Member;
    fn deref(&self) -> &Member {
        &self.0
    }
}

impl FromRequestParts<AppState> for OrgAdmin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let member = Member::from_request_parts(parts, state).await?;
        member.require_admin_of(&path_org(parts, state).await?)?;
        Ok(Self(member))
    }
}

impl FromRequestParts<AppState> for OrgMember {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let member = Member::from_request_parts(parts, state).await?;
        member.require_member_of(&path_org(parts, state).await?)?;
        Ok(Self(member))
    }
}

fn client_ip(parts: &Parts) -> IpAddr {
    // Without ConnectInfo (for example a `oneshot` test) every caller shares one bucket.
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

impl FromRequestParts<AppState> for Member {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ip = client_ip(parts);
        if state.limiter.is_blocked(ip) {
            return Err(AppError::TooManyAttempts);
        }
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| t.starts_with(MEMBER_TOKEN_PREFIX) && t.len() <= 128);
        let Some(token) = token else {
            state.limiter.record_failure(ip);
            return Err(AppError::Unauthorized);
        };
        let mut conn = state.store.pool.acquire().await?;
        let Some(member) = tokens::authenticate(&mut conn, &token_hash(token)).await? else {
            state.limiter.record_failure(ip);
            return Err(AppError::Unauthorized);
        };
        Ok(member)
    }
}
