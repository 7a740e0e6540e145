//! The workers-rs glue: the fetch handler, the Durable Objects, and the
//! in-isolate credential cache. Everything it decides, it asks core.
//!
//! Objects (wrangler.toml), per configured region `R` (`EMBEDGATE_REGIONS`),
//! each created with `R`'s location hint:
//! - `head:R` ([`head::RegionHead`]): the region's applied version, the
//!   admin's vouching, a full state's progress, the credential use seen;
//! - `org:R:ORG` ([`org::OrgStore`]): one org's credentials and owners, and
//!   a change log the isolates ask for news;
//! - `dir:R:N` ([`directory::ClientDirectory`], 16 shards by client ID):
//!   which org a client ID belongs to (only for a token used on another
//!   org's URL);
//!
//! and per org, placed in the org's home region, `jti:ORG:N`
//! ([`replay::ReplayGuard`], 16 shards): the used `jti`s.

mod cache;
mod config;
mod directory;
mod head;
mod org;
mod replay;
mod routes;
mod sync;

use worker::{Env, Method, Request, RequestInit, Response, Result};

/// The Durable Object binding of the regional heads (wrangler.toml).
pub const HEAD_BINDING: &str = "EMBEDGATE_HEAD";
/// The Durable Object binding of the per-org stores.
pub const ORG_BINDING: &str = "EMBEDGATE_ORG";
/// The Durable Object binding of the client directory.
pub const DIRECTORY_BINDING: &str = "EMBEDGATE_DIRECTORY";
/// The Durable Object binding of the replay guards.
pub const REPLAY_BINDING: &str = "EMBEDGATE_REPLAY";

/// Now, from the runtime's clock, in milliseconds.
pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// Now, in Unix seconds.
pub fn now_s() -> i64 {
    i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX)
}

/// What an object call is for, for the round-trip counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Credential state on an embed load (org stores, the directory).
    State,
    /// The `jti` check on a first load.
    Replay,
    /// A region head (vouching, usage, `/healthz`).
    Head,
    /// The sync endpoint applying a message.
    Sync,
}

/// Calls the object `name` of `binding` (created with `hint` as its location
/// hint), with a JSON `body`, and counts the round trip.
pub async fn call(
    env: &Env,
    binding: &str,
    name: &str,
    hint: Option<&str>,
    path: &str,
    body: Option<String>,
    purpose: Purpose,
) -> Result<Response> {
    let namespace = env.durable_object(binding)?;
    let stub = match hint {
        Some(hint) => namespace.get_by_name_with_location_hint(name, hint)?,
        None => namespace.get_by_name(name)?,
    };
    let mut init = RequestInit::new();
    init.with_method(if body.is_some() { Method::Post } else { Method::Get });
    if let Some(body) = body {
        init.with_body(Some(body.into()));
    }
    cache::count_round_trip(purpose);
    let response = stub.fetch_with_request(Request::new_with_init(&format!("https://do{path}"), &init)?).await?;
    if response.status_code() >= 400 {
        let status = response.status_code();
        let mut response = response;
        let why = response.text().await.unwrap_or_default();
        return Err(worker::Error::RustError(format!("{binding} {name}{path}: HTTP {status}: {why}")));
    }
    Ok(response)
}
