//! The isolate's side of the state: its credential cache (core's
//! [`CredentialCache`], bounded in bytes), how a credential is found (the
//! cache, else one round trip to the org's store in this request's region,
//! the client directory only for a token used on another org's URL), the
//! credential use it batches for the region head, and the round-trip
//! counters `/healthz` reports.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use embedgate_core::cache::{Cached, CredentialCache, Found, Lookup, OrgAnswer};
use embedgate_core::replica::ReplicaMeta;
use embedgate_core::usage::{UsageBatch, UsageBuffer};
use embedgate_core::{KeyRing, OrgSlug, Region};
use serde::Serialize;
use worker::{Env, Result};

use super::config::Config;
use super::directory::{self, Found as DirFound, Get};
use super::org::LookupRequest;
use super::{call, now_ms, Purpose, DIRECTORY_BINDING, HEAD_BINDING, ORG_BINDING};

/// Credential use is flushed to the region head at most this often per isolate.
const USAGE_FLUSH_MS: u64 = 10_000;
/// A region head's vouching is re-read at most this often per isolate (only
/// with `EMBEDGATE_MAX_STATE_AGE`).
const VOUCH_REFRESH_MS: u64 = 1_000;

/// Round trips to Durable Objects by this isolate, by purpose, and embed loads.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RoundTrips {
    /// Embed loads handled (first loads and session continuations).
    pub embed_loads: u64,
    /// State lookups (org stores, the client directory) on embed loads.
    pub state: u64,
    /// `jti` checks.
    pub replay: u64,
    /// Region heads (vouching, usage flushes, `/healthz`).
    pub head: u64,
    /// Applying sync messages.
    pub sync: u64,
}

struct Isolate {
    cache: Option<CredentialCache>,
    trips: RoundTrips,
    usage: UsageBuffer,
    usage_flushed_ms: u64,
    vouched: HashMap<Region, (u64, i64)>,
}

thread_local! {
    static ISOLATE: RefCell<Isolate> = RefCell::new(Isolate {
        cache: None,
        trips: RoundTrips::default(),
        usage: UsageBuffer::default(),
        usage_flushed_ms: 0,
        vouched: HashMap::new(),
    });
}

fn with_cache<R>(config: &Config, f: impl FnOnce(&mut CredentialCache) -> R) -> R {
    ISOLATE.with(|i| {
        let mut i = i.borrow_mut();
        let cache = i.cache.get_or_insert_with(|| CredentialCache::new(config.cache_bytes, config.max_staleness_ms));
        f(cache)
    })
}

/// Counts one round trip.
pub fn count_round_trip(purpose: Purpose) {
    ISOLATE.with(|i| {
        let trips = &mut i.borrow_mut().trips;
        match purpose {
            Purpose::State => trips.state += 1,
            Purpose::Replay => trips.replay += 1,
            Purpose::Head => trips.head += 1,
            Purpose::Sync => trips.sync += 1,
        }
    });
}

/// Counts one embed load.
pub fn count_load() {
    ISOLATE.with(|i| i.borrow_mut().trips.embed_loads += 1);
}

/// The counters and the cache's figures.
pub fn stats(config: &Config) -> (RoundTrips, embedgate_core::cache::CacheStats) {
    let cache = with_cache(config, |c| c.stats());
    (ISOLATE.with(|i| i.borrow().trips), cache)
}

/// The object name of `org`'s store in `region`.
pub fn org_object(region: Region, org: &str) -> String {
    format!("org:{region}:{org}")
}

/// Asks `org`'s store in `region` about `client_id` (and the news since the
/// isolate's cursor), and takes the answer into the cache.
async fn ask_org(env: &Env, config: &Config, region: Region, org: &OrgSlug, client_id: &str) -> Result<Option<Found>> {
    let (cursor, fence) = with_cache(config, |c| (c.cursor(org.as_str()), c.fence()));
    let request = LookupRequest { client_id: Some(client_id.to_owned()), cursor };
    let name = org_object(region, org.as_str());
    let body = serde_json::to_string(&request)?;
    let answer: OrgAnswer = call(env, ORG_BINDING, &name, Some(region.as_str()), "/lookup", Some(body), Purpose::State)
        .await?
        .json()
        .await?;
    let keys = &config.edge_keys;
    let ring = |org: &OrgSlug, c: &embedgate_core::EdgeCredential| {
        let (ring, failure) = KeyRing::unwrap(keys, org, &c.client_id, &c.secrets);
        if let Some(e) = failure {
            // Its tokens are refused (bad_signature) until a record wrapped under a held key arrives.
            worker::console_error!("credential {} of {org}: a live secret does not open: {e}", c.client_id);
        }
        ring
    };
    Ok(with_cache(config, |c| c.absorb(org, Some(client_id), answer, now_ms(), fence, ring)))
}

/// The credential `client_id`, asked for on `url_org`'s URL, as this
/// request's region knows it: from the cache when fresh, else one round
/// trip to the org's store; when that org does not have it, the directory
/// says whose it is (then that org's store is asked), so a token used on
/// another org's URL is refused as `org_mismatch`. `None`: unknown.
pub async fn credential(
    env: &Env,
    config: &Config,
    region: Region,
    url_org: &str,
    client_id: &str,
) -> Result<Option<Rc<Cached>>> {
    let Ok(org) = url_org.parse::<OrgSlug>() else { return Ok(None) };
    let found = match with_cache(config, |c| c.lookup(url_org, client_id, now_ms())) {
        Lookup::Found(found) => found,
        Lookup::Fetch(_) => match ask_org(env, config, region, &org, client_id).await? {
            Some(Found::Absent) => elsewhere(env, config, region, &org, client_id).await?,
            other => other.unwrap_or(Found::Absent),
        },
    };
    Ok(match found {
        Found::Credential(c) => Some(c),
        Found::Absent => None,
    })
}

/// The credential when `org` does not have it: the directory, then its org.
async fn elsewhere(env: &Env, config: &Config, region: Region, org: &OrgSlug, client_id: &str) -> Result<Found> {
    if !embedgate_core::ClientId::is_valid(client_id) {
        return Ok(Found::Absent);
    }
    let name = format!("dir:{region}:{}", directory::shard(client_id));
    let body = serde_json::to_string(&Get { client_id: client_id.to_owned() })?;
    let found: DirFound =
        call(env, DIRECTORY_BINDING, &name, Some(region.as_str()), "/get", Some(body), Purpose::State)
            .await?
            .json()
            .await?;
    let Some(owner_org) = found.org.and_then(|o| o.parse::<OrgSlug>().ok()).filter(|o| o != org) else {
        return Ok(Found::Absent);
    };
    Ok(ask_org(env, config, region, &owner_org, client_id).await?.unwrap_or(Found::Absent))
}

/// Drops what this isolate holds that a sync message it applied touched.
pub fn forget(config: &Config, changes: &embedgate_core::OrgChanges) {
    with_cache(config, |c| c.forget(changes));
}

/// Where `org`'s replay guards live: its home region as its store last said, else the first region.
pub fn home_region(config: &Config, org: &str) -> Region {
    config.home_of(with_cache(config, |c| c.home_region(org)))
}

/// Notes a successful embed load by `session`'s identity at `now` (Unix
/// seconds; `counted`: a load, not a session check); returns the batch
/// (bounded by core's [`UsageBuffer`]) to flush to the region head when it is time.
pub fn note_use(session: &embedgate_core::Session, now: i64, counted: bool) -> Option<UsageBatch> {
    ISOLATE.with(|i| {
        let mut i = i.borrow_mut();
        i.usage.note(&session.client_id, &session.sub, session.account_type, &session.teams, now, counted);
        let now_ms = now_ms();
        (now_ms.saturating_sub(i.usage_flushed_ms) >= USAGE_FLUSH_MS).then(|| {
            i.usage_flushed_ms = now_ms;
            i.usage.drain()
        })
    })
}

/// Until when the admin vouched for `region`'s state, as its head said at
/// most a second ago (0: never).
pub async fn vouched_at(env: &Env, region: Region) -> Result<i64> {
    let now = now_ms();
    let known = ISOLATE.with(|i| i.borrow().vouched.get(&region).copied());
    if let Some((at, synced)) = known.filter(|(at, _)| now.saturating_sub(*at) < VOUCH_REFRESH_MS) {
        let _ = at;
        return Ok(synced);
    }
    let meta = head_meta(env, region).await?;
    ISOLATE.with(|i| i.borrow_mut().vouched.insert(region, (now, meta.synced_at)));
    Ok(meta.synced_at)
}

/// Notes a vouch this isolate received itself (a sync it handled).
pub fn note_vouched(region: Region, synced_at: i64) {
    ISOLATE.with(|i| {
        let mut i = i.borrow_mut();
        let entry = i.vouched.entry(region).or_insert((0, 0));
        *entry = (now_ms(), entry.1.max(synced_at));
    });
}

/// The object name of `region`'s head.
pub fn head_object(region: Region) -> String {
    format!("head:{region}")
}

/// `region`'s head: its applied state.
pub async fn head_meta(env: &Env, region: Region) -> Result<ReplicaMeta> {
    call(env, HEAD_BINDING, &head_object(region), Some(region.as_str()), "/meta", None, Purpose::Head)
        .await?
        .json()
        .await
}
