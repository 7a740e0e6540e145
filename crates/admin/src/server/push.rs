//! The admin → edge push (architecture.md §6).
//!
//! One task per configured edge (`EMBEDGATE_EDGES`) follows the database's
//! state version:
//! - every committed change in this process wakes the tasks at once
//!   ([`crate::store::Store::subscribe`]), and each pushes the full snapshot at the new
//!   version to its edge (typically a few milliseconds after the commit);
//! - a failed push is retried with exponential backoff (100 ms doubling to
//!   5 s), and a change made meanwhile is folded into the next attempt;
//! - every `reconcile` interval (10 s by default) each task *probes* its edge
//!   (a signed message without a snapshot) and pushes if the edge is behind,
//!   so a missed push, an edge restart with lost state, or a change made by
//!   another admin replica on a shared database heals within that interval;
//! - each ack reports the edge's applied version and the credential use it
//!   has seen, which becomes `last_used_at`.
//!
//! The board ([`EdgeBoard`]) is what `GET /api/v1/edges` and `/metrics` show:
//! per edge the applied version, the lag, the last contact and error.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use embedgate_core::sync::{self, SyncAck, SyncOutcome, SyncRequest, SIGNATURE_HEADER, SYNC_PATH};
use embedgate_core::{Snapshot, SyncKey};
use tokio::sync::watch;

use super::metrics::edge_label;
use super::now;
use crate::store::{credentials, export, Store};

/// How often every edge is probed when nothing changes.
pub const DEFAULT_RECONCILE: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The push configuration (`EMBEDGATE_EDGES`, `EMBEDGATE_SYNC_KEY`).
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// The edges' base URLs.
    pub edges: Vec<String>,
    /// The key state pushes are signed with.
    pub sync_key: Option<Arc<SyncKey>>,
    /// How often each edge is probed when nothing changes.
    pub reconcile: Duration,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self { edges: Vec::new(), sync_key: None, reconcile: DEFAULT_RECONCILE }
    }
}

/// What the admin knows about one edge.
#[derive(Debug, Clone, Default)]
pub struct EdgeStatus {
    /// The edge's base URL (userinfo removed).
    pub url: String,
    /// The version the edge last said it had applied (`None`: never reached).
    pub applied_version: Option<u64>,
    /// When the admin issued that version (Unix seconds).
    pub applied_issued_at: Option<i64>,
    /// When the edge last answered an authentic ack (Unix seconds).
    pub last_ack_at: Option<i64>,
    /// When the last push or probe was tried (Unix seconds).
    pub last_attempt_at: Option<i64>,
    /// The last failure, if the last attempt failed (or the edge is ahead).
    pub last_error: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Snapshots pushed, probes sent, attempts failed, since start.
    pub pushes: u64,
    /// See `pushes`.
    pub probes: u64,
    /// See `pushes`.
    pub failures: u64,
    behind_since: Option<Instant>,
    usage_cursor: u64,
}

impl EdgeStatus {
    /// Seconds this edge has been behind a version the admin had (0 when in sync).
    pub fn lag_seconds(&self) -> f64 {
        self.behind_since.map_or(0.0, |t| t.elapsed().as_secs_f64())
    }

    /// `in_sync`, `behind`, `ahead` (the edge has a newer version than this
    /// admin: anti-rollback keeps it), `unreachable`, or `unknown` (not yet tried).
    pub fn state(&self, admin_version: u64) -> &'static str {
        match (self.applied_version, self.consecutive_failures) {
            (_, n) if n > 0 => "unreachable",
            (None, _) => "unknown",
            (Some(v), _) if v == admin_version => "in_sync",
            (Some(v), _) if v > admin_version => "ahead",
            _ => "behind",
        }
    }
}

/// Every edge's status.
#[derive(Debug, Default)]
pub struct EdgeBoard {
    edges: Vec<Mutex<EdgeStatus>>,
}

impl EdgeBoard {
    /// A board for `urls`.
    pub fn new(urls: &[String]) -> Self {
        let edges =
            urls.iter().map(|u| Mutex::new(EdgeStatus { url: edge_label(u), ..EdgeStatus::default() })).collect();
        Self { edges }
    }

    /// A copy of every edge's status.
    pub fn statuses(&self) -> Vec<EdgeStatus> {
        self.edges.iter().map(|e| lock(e).clone()).collect()
    }

    fn update<R>(&self, index: usize, f: impl FnOnce(&mut EdgeStatus) -> R) -> R {
        f(&mut lock(&self.edges[index]))
    }
}

fn lock(m: &Mutex<EdgeStatus>) -> std::sync::MutexGuard<'_, EdgeStatus> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts one push task per edge; they stop when `shutdown` fires.
pub fn spawn(db: Store, config: &PushConfig, board: Arc<EdgeBoard>, shutdown: &watch::Receiver<bool>) {
    let Some(key) = config.sync_key.clone() else { return };
    let client = match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client; edges will not be pushed to");
            return;
        }
    };
    let shared = Arc::new(Shared { db, key, client, board, cache: tokio::sync::Mutex::new(None) });
    for (index, url) in config.edges.iter().enumerate() {
        let endpoint = format!("{}{SYNC_PATH}", url.trim_end_matches('/'));
        tokio::spawn(run_edge(shared.clone(), index, endpoint, config.reconcile, shutdown.clone()));
    }
}

struct Shared {
    db: Store,
    key: Arc<SyncKey>,
    client: reqwest::Client,
    board: Arc<EdgeBoard>,
    /// The last snapshot built, shared by the edges' tasks.
    cache: tokio::sync::Mutex<Option<Arc<Snapshot>>>,
}

impl Shared {
    async fn snapshot(&self) -> Result<Arc<Snapshot>, String> {
        let mut cache = self.cache.lock().await;
        let version = self.db.state_version().await.map_err(|e| format!("database: {e}"))?;
        if let Some(s) = cache.as_ref().filter(|s| i64::try_from(s.version).ok() == Some(version)) {
            return Ok(s.clone());
        }
        let built = Arc::new(export::snapshot(&self.db).await.map_err(|e| format!("database: {e}"))?);
        *cache = Some(built.clone());
        Ok(built)
    }
}

async fn run_edge(
    shared: Arc<Shared>,
    index: usize,
    endpoint: String,
    reconcile: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut changes = shared.db.subscribe();
    let mut backoff = FIRST_BACKOFF;
    let mut next_probe = tokio::time::Instant::now();
    let label = edge_label(&endpoint);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let attempt = step(&shared, index, &endpoint, next_probe).await;
        let wait = match attempt {
            Ok(Step::Again) => continue,
            Ok(Step::Done) => {
                backoff = FIRST_BACKOFF;
                next_probe = tokio::time::Instant::now() + reconcile;
                None
            }
            Ok(Step::Idle) => None,
            Err(e) => {
                let failures = shared.board.update(index, |s| {
                    s.failures += 1;
                    s.consecutive_failures += 1;
                    s.last_error = Some(e.clone());
                    s.consecutive_failures
                });
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(edge = %label, failures, error = %e, "push to edge failed; retrying");
                }
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                Some(wait)
            }
        };
        let sleep = match wait {
            Some(d) => tokio::time::sleep(d),
            None => tokio::time::sleep_until(next_probe),
        };
        tokio::select! {
            () = sleep => {}
            r = changes.changed(), if wait.is_none() => {
                if r.is_err() { return; }
            }
            _ = shutdown.changed() => return,
        }
    }
}

enum Step {
    /// Something was learned that calls for another step at once.
    Again,
    /// In sync and checked: wait for a change or the next probe.
    Done,
    /// Nothing to do yet.
    Idle,
}

async fn step(shared: &Shared, index: usize, endpoint: &str, next_probe: tokio::time::Instant) -> Result<Step, String> {
    let version = u64::try_from(shared.db.state_version().await.map_err(|e| format!("database: {e}"))?).unwrap_or(0);
    let (applied, cursor) = shared.board.update(index, |s| {
        // Until an edge acknowledges this version it is behind (never reached counts too).
        if s.applied_version.is_none_or(|a| a < version) && s.behind_since.is_none() {
            s.behind_since = Some(Instant::now());
        }
        (s.applied_version, s.usage_cursor)
    });
    let request = match applied {
        Some(a) if a < version => SyncRequest::push((*shared.snapshot().await?).clone(), cursor),
        None => SyncRequest::probe(version, cursor),
        Some(_) if tokio::time::Instant::now() >= next_probe => SyncRequest::probe(version, cursor),
        Some(_) => return Ok(Step::Idle),
    }
    .map_err(|e| e.to_string())?
    // The edge counts its state's age from this stamp (EMBEDGATE_MAX_STATE_AGE).
    .sent_at(now());
    let pushing = request.snapshot.is_some();
    let ack = send(shared, endpoint, &request).await;
    shared.board.update(index, |s| {
        s.last_attempt_at = Some(now());
        if pushing {
            s.pushes += 1;
        } else {
            s.probes += 1;
        }
    });
    let ack = ack?;
    record_usage(&shared.db, &ack).await;
    if ack.applied_version > version {
        // The edge holds a newer version than this database (e.g. it served
        // another database before, or this one was restored from a backup).
        // The admin is the authority: move its own version past the edge's
        // so that its state is newer and the next push replaces the edge's.
        shared.db.advance_version_past(ack.applied_version).await.map_err(|e| format!("database: {e}"))?;
        tracing::warn!(
            edge = %edge_label(endpoint),
            edge_version = ack.applied_version,
            admin_version = version,
            "the edge had a newer state version than this database; advancing ours past it"
        );
        return Ok(Step::Again);
    }
    let behind = ack.applied_version < version;
    shared.board.update(index, |s| {
        s.applied_version = Some(ack.applied_version);
        s.applied_issued_at = Some(ack.applied_issued_at);
        s.last_ack_at = Some(now());
        s.consecutive_failures = 0;
        s.usage_cursor = ack.usage_cursor;
        s.last_error = (ack.applied_version > version).then(|| {
            format!(
                "the edge has version {} but this admin's database is at {version}; the edge keeps the newer state \
                 (anti-rollback) until the admin's version passes it",
                ack.applied_version
            )
        });
        if behind {
            s.behind_since.get_or_insert_with(Instant::now);
        } else {
            s.behind_since = None;
        }
    });
    if ack.outcome == SyncOutcome::Applied {
        tracing::debug!(edge = %edge_label(endpoint), version = ack.applied_version, "edge applied state");
    }
    // A probe that found the edge behind (or a push overtaken by a newer change) goes again at once.
    Ok(if behind && ack.outcome != SyncOutcome::Stale { Step::Again } else { Step::Done })
}

async fn send(shared: &Shared, endpoint: &str, request: &SyncRequest) -> Result<SyncAck, String> {
    let sealed = sync::seal_request(request, &shared.key);
    let response = shared
        .client
        .post(endpoint)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, &sealed.signature)
        .body(sealed.body)
        .send()
        .await
        .map_err(|e| format!("cannot reach the edge: {}", without_url(&e)))?;
    let status = response.status();
    let signature = response.headers().get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = response.bytes().await.map_err(|e| format!("reading the edge's answer: {}", without_url(&e)))?;
    if !(status.is_success() || status == reqwest::StatusCode::CONFLICT) {
        let code = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(format!("the edge answered HTTP {} {code}", status.as_u16()));
    }
    sync::open_ack(&body, signature.as_deref(), &shared.key, &request.nonce)
        .map_err(|e| format!("edge ack refused: {e}"))
}

fn without_url(e: &reqwest::Error) -> String {
    let mut e = e.to_string();
    if let Some(i) = e.find(" for url (") {
        e.truncate(i);
    }
    e
}

async fn record_usage(db: &Store, ack: &SyncAck) {
    if let Err(e) = credentials::record_usage(&db.pool, &ack.usage).await {
        tracing::warn!(error = %e, "cannot record credential use");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        let mut s = EdgeStatus::default();
        assert_eq!(s.state(3), "unknown");
        s.applied_version = Some(3);
        assert_eq!(s.state(3), "in_sync");
        assert_eq!(s.state(4), "behind");
        assert_eq!(s.state(2), "ahead");
        s.consecutive_failures = 1;
        assert_eq!(s.state(3), "unreachable");
    }
}
