//! The admin server (architecture.md §7): `app(state)` is the whole HTTP API,
//! over the [`crate::store::Store`] and the master key every embed secret is
//! derived from. Handlers are thin: authenticate ([`auth`]), parse the typed
//! body ([`extract`]), run the store's queries or one [`crate::store::Change`],
//! answer a typed body ([`api`]).
//!
//! Decisions where the design is silent:
//! - Member tokens are `egt_` + 64 lower-case hex characters (256 random
//!   bits), shown once, stored as SHA-256 hex. They expire ([`TokenPolicy`]:
//!   30 days by default, 90 at most; 401 `token_expired`) and are issued only
//!   to their own member (403 `own_tokens_only`, admins included); a member
//!   without a live token gets in through an admin's one-time invitation
//!   (`egi_…`, 72 h) that they redeem for a token of their own. Tokens from
//!   before the expiry migration got 90 days from the upgrade.
//! - A credential with the `api` privilege gets an API access token (`egc_…`,
//!   `EMBEDGATE_API_TOKEN_TTL`, 1 h by default, stored as SHA-256) from the
//!   OAuth client-credentials grant (`POST /api/v1/oauth/token`, [`api::oauth`]),
//!   authenticated by its client ID and a live embed secret. The token acts as
//!   the credential's owner with the owner's current account type, in its org
//!   only, audited as `credential:<client_id>`; it dies with the credential's
//!   revocation, its secret generation's retirement, the loss of `api` or the
//!   owner's deactivation (one join per request), and may not issue member
//!   tokens or invitations, rotate the org key or read every edge (403
//!   `member_token_required`).
//! - `GET /api/v1/edges` (every edge's detail) is for platform operators only,
//!   the active admins of an org in `EMBEDGATE_OPERATOR_ORGS` (403
//!   `operator_only`); any member reads `GET …/orgs/{org}/edges` (whether each
//!   edge has the org's latest change, no URL, key or error).
//! - Every `/api/v1/orgs/{org}/…` endpoint needs an active member of that
//!   org ([`OrgMember`]). The three reads the Developer Access console shows
//!   every member (`GET …/credentials`, `GET …/credentials/{client_id}`,
//!   `GET …/members`; never a secret) are open to any account type; every
//!   write and `GET …/audit` need an admin ([`OrgAdmin`]), and a non-admin of
//!   the org gets 403 `forbidden`. A token of another org gets 404
//!   `not_found` (as an unknown org would), so orgs cannot be enumerated.
//! - Revoking a revoked credential is 409 `already_revoked`; rotating a
//!   revoked one 409 `credential_revoked`; rotating with two live secrets 409
//!   `retire_first`; retiring when there is no previous secret 409 `no_previous`.
//! - Names stay taken after revocation (UNIQUE(org, name) covers revoked credentials).
//! - Revoking a member token is idempotent (200 again); deactivating a member
//!   ends all their tokens; the org's last active admin cannot be deactivated
//!   (409 `last_admin`). A deactivated member cannot own new credentials (422).
//! - `PATCH …/members/{email}` changes only `account_type` (any other key is
//!   422 with `field: "body"`); demoting the last active admin is 409
//!   `last_admin`; the same type again is a 200 no-op without audit entry or
//!   version bump. A deactivated member's type may be changed too. The
//!   version is bumped *before* the member is read, so on PostgreSQL
//!   concurrent demotions queue on the state-version row and cannot both pass
//!   the last-admin check.
//! - `PATCH …/credentials/{client_id}` takes any of `name`, `description`,
//!   `privileges`, `allowed_origins`, `max_token_lifetime_s`,
//!   `not_before_cutoff`, validated by the same per-field parsers as create
//!   (same 422 messages); null clears the optional ones (`allowed_origins`:
//!   back to `[]`: no page may frame); `name` and `privileges` cannot be null. An
//!   empty object or any other key (`owner` included: ownership does not
//!   move) is 422 with `field: "body"`. A revoked credential is 409
//!   `credential_revoked` (checked before a duplicate name, 409
//!   `name_taken`). Fields given with their current value are not changes: a
//!   body that changes nothing is a 200 without audit entry or version bump;
//!   otherwise `credential.update` records the changed field names only.
//! - `not_before_cutoff` (create and update) is Unix seconds from 0 to at most
//!   one day after the server's clock: room for an admin's clock running
//!   ahead, while a typo cannot silently disable a credential for longer
//!   (every token issued before the cutoff is refused). Setting it to now
//!   cuts off every token issued so far.
//! - Malformed JSON or a missing/wrong `Content-Type` is 400 `malformed_json`;
//!   a body over 2 MiB 413 `payload_too_large`; a path segment that is not
//!   UTF-8, or a malformed client ID / email / token ID in the path, 404.
//! - Failed authentications (absent, malformed, unknown or revoked token) are
//!   counted per client address ([`limiter`]; IPv6 per /64): after 20, the
//!   address is in exponential back-off (1 s doubling to 5 min, forgotten
//!   after 15 quiet minutes) and a request from it *without a valid token* is
//!   429 `too_many_attempts` with `retry-after`. The token is checked first:
//!   a valid token is never refused for its address's failures (behind a
//!   shared proxy, one attacker must not lock every admin out). The client
//!   address is the TCP peer, or `X-Forwarded-For`'s right-most untrusted
//!   entry when the peer is in `EMBEDGATE_TRUSTED_PROXIES` ([`client`]).
//!   Without `ConnectInfo` all callers share one bucket.
//! - The database records a one-way check value of the master key; `init` and
//!   `serve` refuse to run with another key.
//! - `/metrics`, `/healthz` and `/api/v1/openapi.json` need no token (they
//!   carry no secret and no per-org data: credential counts are over all
//!   orgs). `/metrics`' per-edge series name the edge URLs (operator data):
//!   it belongs on the operator's network, not behind the public proxy. Request metrics are labelled by the matched route *template*
//!   (`/api/v1/orgs/{org}/credentials`), never the raw path, and `unmatched`
//!   for the fallback, so label cardinality stays bounded; methods outside the
//!   standard set are `other`.
//! - The browser pages (`/`, `/demo`, `/inspect`, `/assets/…`, `/pkg/…`) are
//!   static files of `www/` ([`web`]); the host-app demo's signing endpoints
//!   (`/demo/api/…`, [`demo`]) exist only with `--demo`, on loopback.
//! - The OpenAPI document is generated from the handlers' own `utoipa`
//!   annotations and the types they read and write ([`api`]).

pub mod api;
pub mod auth;
pub mod client;
pub mod demo;
mod error;
pub mod extract;
pub mod limiter;
pub mod metrics;
pub mod push;
pub mod web;

use std::sync::Arc;

use embedgate_core::rules::Email;
use embedgate_core::OrgSlug;

pub use api::app;
pub use auth::{Caller, Member, OrgAdmin, OrgMember, TokenPolicy};
pub use client::{ClientAddr, TrustedProxies};
pub use error::{AppError, ErrorBody};
pub use limiter::{FailureLimiter, LimiterConfig};
pub use push::PushConfig;

use crate::store::keys::Keys;
use crate::store::{Event, Store, StoreError};

/// Failed authentications an address may make before its back-off starts, by default.
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 20;

/// What every request handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database (every query goes through [`crate::store`]).
    pub store: Store,
    /// The master keys and the org keys they open (secrets are derived for
    /// the one-time create/rotate answer and wrapped for the edges).
    pub keys: Arc<Keys>,
    /// The failed-authentication limiter.
    pub limiter: Arc<FailureLimiter>,
    /// Whose `X-Forwarded-For` names the client (none by default).
    pub trusted_proxies: Arc<TrustedProxies>,
    /// How long member tokens live.
    pub tokens: TokenPolicy,
    /// How long the OAuth grant's API access tokens live, in seconds (1 h by default).
    pub api_token_ttl_s: i64,
    /// The orgs whose active admins are platform operators (every edge's detail).
    pub operator_orgs: Arc<std::collections::BTreeSet<String>>,
    /// Where and how to push state to the edges (architecture.md §6).
    pub push: PushConfig,
    /// What the admin knows of every edge (`GET /api/v1/edges`, `/metrics`).
    pub edges: Arc<push::EdgeBoard>,
    /// The request counters and latency histograms `/metrics` exposes.
    pub metrics: Arc<metrics::Metrics>,
    /// The browser pages (`www/`).
    pub web: Arc<web::WebConfig>,
    /// The host-app demo's server side, when enabled (`--demo`).
    pub demo: Option<Arc<demo::DemoHost>>,
}

impl AppState {
    /// A state with the default failed-authentication limit.
    pub fn new(store: Store, keys: Arc<Keys>) -> Self {
        Self::with_auth_limit(store, keys, DEFAULT_AUTH_FAILURES_PER_MINUTE)
    }

    /// A state whose limiter gives each address `free_failures` failed
    /// authentications before its back-off starts.
    pub fn with_auth_limit(store: Store, keys: Arc<Keys>, free_failures: u32) -> Self {
        Self {
            store,
            keys,
            limiter: Arc::new(FailureLimiter::new(LimiterConfig::with_free(free_failures))),
            trusted_proxies: Arc::new(TrustedProxies::default()),
            tokens: TokenPolicy::default(),
            api_token_ttl_s: api::oauth::DEFAULT_API_TOKEN_TTL_S,
            operator_orgs: Arc::new(std::collections::BTreeSet::new()),
            push: PushConfig::default(),
            edges: Arc::new(push::EdgeBoard::default()),
            metrics: Arc::new(metrics::Metrics::default()),
            web: Arc::new(web::WebConfig::default()),
            demo: None,
        }
    }
}

/// The current Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Creates `org` with its first admin and returns that admin's token (shown
/// once, living the default token lifetime), or `None` when the org already exists.
pub async fn init_org(
    store: &Store,
    keys: &Keys,
    org: &str,
    admin_email: &str,
) -> Result<Option<zeroize::Zeroizing<String>>, AppError> {
    Ok(init_org_with_ttl(store, keys, org, admin_email, TokenPolicy::default().default_ttl_s).await?.map(|(t, _)| t))
}

/// Creates `org` with its first admin and returns that admin's token (shown
/// once, living `token_ttl_s`) and its expiry, or `None` when the org
/// already exists. `embedgate init` runs it.
pub async fn init_org_with_ttl(
    store: &Store,
    keys: &Keys,
    org: &str,
    admin_email: &str,
    token_ttl_s: i64,
) -> Result<Option<(zeroize::Zeroizing<String>, i64)>, AppError> {
    let org: OrgSlug =
        org.parse().map_err(|_| AppError::invalid("org", "an org slug is 1 to 63 characters of a-z, 0-9 and '-'"))?;
    let admin = Email::parse(admin_email)
        .map_err(|rule| AppError::from(embedgate_core::rules::FieldError::new("admin_email", rule)))?;
    let (token, hash) = auth::new_member_token()?;
    let token_id = auth::random_id()?;
    let mut change = store.change(org.as_str(), "embedgate-init").await?;
    let at = now();
    let stored = crate::store::tokens::NewToken { id: &token_id, hash: &hash, expires_at: at + token_ttl_s };
    match change.create_org(keys, &admin, &stored, at).await {
        Err(StoreError::OrgExists) => return Ok(None),
        other => other?,
    }
    change.commit(Event::OrgCreated { admin }).await?;
    Ok(Some((token, at + token_ttl_s)))
}
