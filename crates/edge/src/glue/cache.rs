//! The in-isolate cache of the applied state: an [`EdgeVerifier`] (state and
//! derived key rings) shared by the isolate's requests.
//!
//! Freshness is bounded: a request that finds the cache older than
//! `STATE_MAX_STALENESS_MS` asks the state store for its version first, and
//! loads the newer snapshot if there is one. A sync request handled by this
//! isolate installs its snapshot at once. So a revocation is visible here as
//! soon as the push lands in this isolate, and in every other isolate within
//! the staleness bound.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use embedgate_core::sync::{open_request, Usage, SIGNATURE_HEADER};
use embedgate_core::{EdgeVerifier, Snapshot};
use worker::{Env, Headers, Method, Request, RequestInit, Response, Result};

use super::config::Config;
use super::store::{Meta, UsagePage};
use super::{now_ms, STATE_BINDING};

/// Credential use is reported to the store at most this often per credential and isolate.
const USAGE_FLUSH_S: i64 = 60;

#[derive(Default)]
struct Cache {
    verifier: Option<Rc<EdgeVerifier>>,
    checked_ms: u64,
    /// The store's `synced_at` when last asked: until when the admin vouched for the state.
    vouched_at: i64,
    usage_flushed: HashMap<String, i64>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Calls the state store.
pub async fn store(env: &Env, method: Method, path: &str, headers: Headers, body: Option<String>) -> Result<Response> {
    let stub = env.durable_object(STATE_BINDING)?.id_from_name("state")?.get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if let Some(body) = body {
        init.with_body(Some(body.into()));
    }
    stub.fetch_with_request(Request::new_with_init(&format!("https://state{path}"), &init)?).await
}

/// The store's bookkeeping of the applied state.
pub async fn meta(env: &Env) -> Result<Meta> {
    store(env, Method::Get, "/meta", Headers::new(), None).await?.json().await
}

/// Usage recorded after `after`.
pub async fn usage_after(env: &Env, after: u64) -> Result<UsagePage> {
    store(env, Method::Get, &format!("/usage?after={after}"), Headers::new(), None).await?.json().await
}

/// The isolate's verifier, no staler than the configured bound.
pub async fn current(env: &Env, config: &Config) -> Result<Rc<EdgeVerifier>> {
    let now = now_ms();
    let cached = CACHE.with(|c| {
        let c = c.borrow();
        c.verifier.clone().map(|v| (v, now.saturating_sub(c.checked_ms) <= config.max_staleness_ms))
    });
    if let Some((verifier, true)) = &cached {
        return Ok(verifier.clone());
    }
    let meta = meta(env).await?;
    CACHE.with(|c| c.borrow_mut().vouched_at = meta.synced_at);
    let have = cached.as_ref().map_or(0, |(v, _)| v.state().version());
    if meta.version > have {
        if let Some(snapshot) = load(env, config).await? {
            install(snapshot, config);
        }
    }
    Ok(CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.checked_ms = now;
        c.verifier
            .get_or_insert_with(|| Rc::new(EdgeVerifier::new(config.master.clone(), config.validation.clone())))
            .clone()
    }))
}

/// Until when the admin vouched for this isolate's state (as of the last
/// store read, at most the staleness bound ago; 0: never).
pub fn vouched_at() -> i64 {
    CACHE.with(|c| c.borrow().vouched_at)
}

/// Notes a vouch this isolate received itself (a sync it handled).
pub fn note_vouched(at: i64) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.vouched_at = c.vouched_at.max(at);
    });
}

/// Reads the stored snapshot and checks its tag again before trusting it.
async fn load(env: &Env, config: &Config) -> Result<Option<Snapshot>> {
    let mut resp = store(env, Method::Get, "/snapshot", Headers::new(), None).await?;
    if resp.status_code() == 404 {
        return Ok(None);
    }
    let signature = resp.headers().get(SIGNATURE_HEADER)?;
    let body = resp.bytes().await?;
    let request = open_request(&body, signature.as_deref(), &config.sync)
        .map_err(|e| worker::Error::RustError(format!("stored state refused: {e}")))?;
    Ok(request.snapshot)
}

/// Applies `snapshot` to this isolate's verifier if it is newer. Nothing is
/// awaited, so no request sees a half-applied state.
pub fn install(snapshot: Snapshot, config: &Config) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let mut verifier = match c.verifier.take() {
            Some(rc) => Rc::try_unwrap(rc).unwrap_or_else(|rc| (*rc).clone()),
            None => EdgeVerifier::new(config.master.clone(), config.validation.clone()),
        };
        if let Err(e) = verifier.apply(snapshot) {
            worker::console_log!("state cache: {e}");
        }
        c.verifier = Some(Rc::new(verifier));
        c.checked_ms = now_ms();
    });
}

/// Notes a use of `client_id`; returns the row to report when this isolate
/// has not reported it for a while.
pub fn note_use(client_id: &str, now: i64) -> Option<Usage> {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let last = c.usage_flushed.get(client_id).copied().unwrap_or(i64::MIN);
        (now.saturating_sub(last) >= USAGE_FLUSH_S).then(|| {
            c.usage_flushed.insert(client_id.to_owned(), now);
            Usage { client_id: client_id.to_owned(), last_used_at: now }
        })
    })
}
