//! The admin → edge sync (architecture.md §6).
//!
//! One task per configured edge (`EMBEDGATE_EDGES`) follows the database's
//! state version:
//! - every committed change in this process wakes the tasks at once
//!   ([`crate::store::Store::subscribe`]); each sends its edge the **delta**
//!   since the version the edge acknowledged: the records the change log
//!   names, in pages of at most [`PAGE_BUDGET_BYTES`];
//! - an edge that is new, wiped, behind the log's floor, or so far behind
//!   that a delta would be larger than [`export::DELTA_MAX_RECORDS`] gets a
//!   **full state** instead, page by page (resumed from the page the edge
//!   asks for after a failure); it serves its old state until the new one
//!   is complete;
//! - a failed attempt is retried with exponential backoff (100 ms doubling
//!   to 5 s); a change made meanwhile is folded into the next attempt;
//! - every `reconcile` interval (10 s by default) each task **probes** its
//!   edge (a signed message with nothing to apply) and catches it up if it
//!   is behind, so a missed push, an edge restart with lost state, or a
//!   change made by another admin replica on a shared database heals within
//!   that interval;
//! - each ack reports every region's applied version and the credential use
//!   the edge has seen, which becomes `last_used_at`.
//!
//! The board ([`EdgeBoard`]) is what `GET /api/v1/edges` and `/metrics` show:
//! per edge the applied version (per region), the lag, bytes and messages
//! pushed by kind, the last contact and error.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use embedgate_core::keys::NamedKey;
use embedgate_core::sync::{
    self, FullProgress, RegionAck, SyncAck, SyncBody, SyncOutcome, SyncRequest, PAGE_BUDGET_BYTES, SIGNATURE_HEADER,
    SYNC_PATH,
};
use embedgate_core::{EdgeKey, KeySet, Region, SyncKey, MAX_VERSION_JUMP};
use tokio::sync::watch;

use super::metrics::edge_label;
use super::now;
use crate::store::export::{self, DeltaCursor, ForEdge, FullCursor};
use crate::store::keys::Keys;
use crate::store::{credentials, embed_users, Store};

/// How often every edge is probed when nothing changes.
pub const DEFAULT_RECONCILE: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The push configuration (`EMBEDGATE_EDGES`, `EMBEDGATE_SYNC_KEY`, `EMBEDGATE_EDGE_KEY`).
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// The edges' base URLs.
    pub edges: Vec<String>,
    /// The sync keys: pushes are sealed with the current one (named by its
    /// id); acks are accepted under either.
    pub sync_keys: Option<Arc<KeySet<SyncKey>>>,
    /// The edge key the live secrets sent to the edges are wrapped under
    /// (`EMBEDGATE_EDGE_KEY`), for every edge without its own.
    pub edge_key: Option<Arc<EdgeKey>>,
    /// Edges with a key of their own (`URL#VAR` in `EMBEDGATE_EDGES`), by
    /// index in `edges`: a leak of one deployment's key and storage then
    /// exposes nothing of another's.
    pub own_keys: Vec<(usize, Arc<EdgeKey>)>,
    /// How often each edge is probed when nothing changes.
    pub reconcile: Duration,
    /// The most bytes of records one sync message carries.
    pub page_bytes: usize,
    /// How long the change log keeps a change.
    pub retention: Duration,
}

/// How long the change log keeps a change by default.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

impl PushConfig {
    /// The edge key of the edge at `index`: its own, or the shared one.
    pub fn key_for(&self, index: usize) -> Option<Arc<EdgeKey>> {
        self.own_keys.iter().find(|(i, _)| *i == index).map(|(_, k)| k.clone()).or_else(|| self.edge_key.clone())
    }
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            edges: Vec::new(),
            sync_keys: None,
            edge_key: None,
            own_keys: Vec::new(),
            reconcile: DEFAULT_RECONCILE,
            page_bytes: PAGE_BUDGET_BYTES,
            retention: DEFAULT_RETENTION,
        }
    }
}

/// Prunes the change log of changes older than `retention`, at start and
/// then every tenth of it (at most hourly, at least every 10 s), until `shutdown` fires.
pub fn spawn_pruning(db: Store, retention: Duration, mut shutdown: watch::Receiver<bool>) {
    let every = (retention / 10).clamp(Duration::from_secs(10), Duration::from_secs(3600));
    tokio::spawn(async move {
        loop {
            let before = now().saturating_sub(i64::try_from(retention.as_secs()).unwrap_or(i64::MAX));
            match export::prune(&db, before).await {
                Ok(floor) => tracing::debug!(floor, "change log pruned"),
                Err(e) => tracing::warn!(error = %e, "cannot prune the change log"),
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// What a message was, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Changes since the edge's version.
    Delta,
    /// A page of a full state.
    Page,
    /// A probe.
    Probe,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Delta, Self::Page, Self::Probe];

    /// The metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Delta => "delta",
            Self::Page => "page",
            Self::Probe => "probe",
        }
    }
}

/// What the admin knows about one edge.
#[derive(Debug, Clone, Default)]
pub struct EdgeStatus {
    /// The edge's base URL (userinfo removed).
    pub url: String,
    /// The id of the edge key this edge's secrets are wrapped under.
    pub edge_key: Option<String>,
    /// The lineage a region's state must have to be this admin's (its
    /// database and that edge key); a region with another one is not in sync
    /// whatever its version.
    pub lineage: String,
    /// The lowest version its regions last said they had applied (`None`: never reached).
    pub applied_version: Option<u64>,
    /// When the admin sent the message that brought it there (Unix seconds).
    pub applied_issued_at: Option<i64>,
    /// Every region's state, as of the last ack.
    pub regions: Vec<RegionAck>,
    /// A full state in progress (its pages sent so far).
    pub full: Option<FullProgress>,
    /// When the edge last answered an authentic ack (Unix seconds).
    pub last_ack_at: Option<i64>,
    /// When the last message was tried (Unix seconds).
    pub last_attempt_at: Option<i64>,
    /// The last failure: of the attempt, or a region's (the edge could not take a change).
    pub last_error: Option<String>,
    /// Whether the edge could not take the last message (a region said why).
    pub failing: bool,
    /// Failures to reach the edge since the last success.
    pub consecutive_failures: u32,
    /// Messages sent, by kind (delta, page, probe).
    pub messages: [u64; 3],
    /// Bytes sent (sealed bodies), by kind.
    pub bytes: [u64; 3],
    /// The largest message sent (sealed body, bytes), by kind.
    pub largest: [u64; 3],
    /// Attempts that failed since start.
    pub failures: u64,
    behind_since: Option<Instant>,
    usage_cursor: BTreeMap<Region, u64>,
    users_cursor: BTreeMap<Region, u64>,
    /// Embed-user sightings the edge's isolates counted but could not keep
    /// (a flush window full), as the edge last reported its running total.
    pub users_dropped: u64,
}

impl EdgeStatus {
    /// Seconds this edge has been behind a version the admin had (0 when in sync).
    pub fn lag_seconds(&self) -> f64 {
        self.behind_since.map_or(0.0, |t| t.elapsed().as_secs_f64())
    }

    /// `in_sync`, `behind`, `bootstrapping` (a full state is on its way),
    /// `failing` (the edge could not take a change: see the error),
    /// `ahead` (the edge has a newer version than this admin),
    /// `unreachable`, or `unknown` (not yet tried). Never `in_sync` while a
    /// region failed.
    pub fn state(&self, admin_version: u64) -> &'static str {
        match (self.applied_version, self.consecutive_failures) {
            (_, n) if n > 0 => "unreachable",
            _ if self.failing => "failing",
            (None, _) => "unknown",
            (Some(v), _) if v > admin_version => "ahead",
            _ if self.full.is_some() => "bootstrapping",
            // The right version of another lineage (another edge key, another database): a full state is due.
            _ if !self.regions.iter().all(|r| r.lineage == self.lineage) => "bootstrapping",
            (Some(v), _) if v == admin_version => "in_sync",
            _ => "behind",
        }
    }

    /// Notes a step that did not get through: an edge that answered that
    /// it cannot take what it is sent is `failing` (it is reachable); any
    /// other failure counts towards `unreachable`.
    fn failed(&mut self, error: &StepError) {
        self.failures += 1;
        match error {
            StepError::Refused(why) => {
                // It answered: reachable, whatever came before.
                self.consecutive_failures = 0;
                self.failing = true;
                self.last_error = Some(why.clone());
            }
            StepError::Attempt(why) => {
                self.consecutive_failures += 1;
                self.last_error = Some(why.clone());
            }
        }
    }

    fn count(&mut self, kind: Kind, bytes: usize) {
        let i = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.messages[i] += 1;
        self.bytes[i] += bytes;
        self.largest[i] = self.largest[i].max(bytes);
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

/// The lineage an edge's state has when it was sent by the database of
/// `lineage` wrapped under `edge_key`: a new edge key is a new lineage, so
/// every edge gets a full state wrapped under it (and serves its old one,
/// which it can still open, until that is complete).
pub fn edge_lineage(lineage: &str, edge_key: &EdgeKey) -> String {
    format!("{lineage}/{}", edge_key.id())
}

/// What the edge said, fit for a log line and the board: no control
/// characters, at most 200 of them.
fn quoted_text(said: &str) -> String {
    said.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// Starts one push task per edge (for the database of `lineage`); they stop when `shutdown` fires.
pub fn spawn(
    db: Store,
    keys: Arc<Keys>,
    lineage: &str,
    config: &PushConfig,
    board: Arc<EdgeBoard>,
    shutdown: &watch::Receiver<bool>,
) {
    let Some(sync_keys) = config.sync_keys.clone() else { return };
    // No redirects: a push goes to the configured URL or nowhere (a redirect
    // would carry the sealed state, and the edge key's values, to wherever
    // the answer points).
    let client =
        match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).redirect(reqwest::redirect::Policy::none()).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the HTTP client; edges will not be pushed to");
                return;
            }
        };
    let shared = Arc::new(Shared { db, keys, page_bytes: config.page_bytes, sync_keys, client, board });
    for (index, url) in config.edges.iter().enumerate() {
        let Some(edge_key) = config.key_for(index) else {
            tracing::error!(edge = %edge_label(url), "no edge key for this edge; it will not be pushed to");
            continue;
        };
        let lineage = edge_lineage(lineage, &edge_key);
        shared.board.update(index, |s| {
            s.edge_key = Some(edge_key.id().to_string());
            s.lineage.clone_from(&lineage);
        });
        let endpoint = format!("{}{SYNC_PATH}", url.trim_end_matches('/'));
        let task = Task {
            shared: shared.clone(),
            index,
            endpoint,
            lineage,
            edge_key,
            full: None,
            needs_full: false,
            replace: false,
        };
        tokio::spawn(task.run(config.reconcile, shutdown.clone()));
    }
}

struct Shared {
    db: Store,
    keys: Arc<Keys>,
    page_bytes: usize,
    sync_keys: Arc<KeySet<SyncKey>>,
    client: reqwest::Client,
    board: Arc<EdgeBoard>,
}

/// A full state on its way to one edge: the cursor where each page starts,
/// so a page the edge asks for again is read again.
#[derive(Debug, Clone)]
struct FullRun {
    id: String,
    to: u64,
    replace: bool,
    starts: Vec<FullCursor>,
    next_seq: u32,
}

struct Task {
    shared: Arc<Shared>,
    index: usize,
    endpoint: String,
    /// The key this edge's secrets are wrapped under.
    edge_key: Arc<EdgeKey>,
    /// The lineage of what this edge is sent (database and edge key).
    lineage: String,
    full: Option<FullRun>,
    /// A region holds no state of this database's lineage (new, wiped, or
    /// another database's): only a full state brings it in.
    needs_full: bool,
    /// The edge followed another database: its next full state replaces every record.
    replace: bool,
}

enum Step {
    /// Something was learned that calls for another step at once.
    Again,
    /// In sync and checked: wait for a change or the next probe.
    Done,
    /// Nothing to do yet.
    Idle,
}

fn db_err(e: impl std::fmt::Display) -> String {
    format!("database: {e}")
}

/// Why a step did not get through.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StepError {
    /// The attempt failed: the edge was not reached, its answer was not an
    /// authentic ack, or the database failed.
    Attempt(String),
    /// The edge answered, authentically, that it cannot take what it is
    /// sent (a region refused it), or it is beyond what the admin may move
    /// it from (it must be wiped).
    Refused(String),
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Attempt(why) | Self::Refused(why) => f.write_str(why),
        }
    }
}

impl From<String> for StepError {
    fn from(why: String) -> Self {
        Self::Attempt(why)
    }
}

impl From<&str> for StepError {
    fn from(why: &str) -> Self {
        Self::Attempt(why.to_owned())
    }
}

impl Task {
    fn sealer(&self) -> ForEdge<'_> {
        ForEdge { keys: &self.shared.keys, edge: &self.edge_key }
    }

    async fn run(mut self, reconcile: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut changes = self.shared.db.subscribe();
        let mut backoff = FIRST_BACKOFF;
        let mut failed_in_a_row: u32 = 0;
        let mut next_probe = tokio::time::Instant::now();
        let label = edge_label(&self.endpoint);
        loop {
            if *shutdown.borrow() {
                return;
            }
            let wait = match self.step(next_probe).await {
                Ok(Step::Again) => continue,
                Ok(Step::Done) => {
                    backoff = FIRST_BACKOFF;
                    failed_in_a_row = 0;
                    next_probe = tokio::time::Instant::now() + reconcile;
                    None
                }
                Ok(Step::Idle) => None,
                Err(e) => {
                    self.shared.board.update(self.index, |s| s.failed(&e));
                    failed_in_a_row = failed_in_a_row.saturating_add(1);
                    if failed_in_a_row == 1 || failed_in_a_row.is_power_of_two() {
                        let failures = failed_in_a_row;
                        tracing::warn!(edge = %label, failures, error = %e, "sync with the edge failed; retrying");
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

    async fn step(&mut self, next_probe: tokio::time::Instant) -> Result<Step, StepError> {
        let db = self.shared.db.clone();
        let version = u64::try_from(db.state_version().await.map_err(db_err)?).unwrap_or(0);
        let (applied, cursor) = self.shared.board.update(self.index, |s| {
            // Until an edge acknowledges this version it is behind (never reached counts too).
            if s.applied_version.is_none_or(|a| a < version) && s.behind_since.is_none() {
                s.behind_since = Some(Instant::now());
            }
            (s.applied_version, (s.usage_cursor.clone(), s.users_cursor.clone()))
        });
        let (cursor, users_after) = cursor;
        let reach = version.saturating_add(MAX_VERSION_JUMP);
        let diverged = applied.is_some_and(|a| a > reach) && !self.replace;
        let (kind, body) = match applied {
            // Beyond what this admin may move it from: only ask where it is now
            // (the operator may have wiped it since), at every retry.
            Some(_) if diverged => (Kind::Probe, SyncBody::Probe),
            Some(a) if a > version && !self.replace => return self.ahead(a, version).await,
            Some(a) if a < version || self.replace || self.needs_full => self.forward(a, version).await?,
            None => (Kind::Probe, SyncBody::Probe),
            Some(_) if tokio::time::Instant::now() >= next_probe => (Kind::Probe, SyncBody::Probe),
            Some(_) => return Ok(Step::Idle),
        };
        // A diverged edge's state is not this admin's to vouch for: it is
        // asked unstamped (`sent_at` 0 vouches for nothing), so one bounded by
        // EMBEDGATE_MAX_STATE_AGE still goes stale and fails closed.
        let sent_at = if diverged { 0 } else { now() };
        let mut request = SyncRequest::new(&self.lineage, version, body, cursor, sent_at).map_err(|e| e.to_string())?;
        request.users_after = users_after;
        let ack = self.send(kind, &request).await?;
        // What the ack reports is recorded before its cursors are taken: one
        // that cannot be recorded now is asked for again with the next ack.
        let usage_recorded = credentials::record_usage(&db.pool, &ack.usage).await;
        if let Err(e) = &usage_recorded {
            tracing::warn!(error = %e, "cannot record credential use; asking again");
        }
        let edge = self.shared.board.update(self.index, |s| s.url.clone());
        let users_recorded = embed_users::record(&db, &edge, &ack.users).await;
        if let Err(e) = &users_recorded {
            tracing::warn!(error = %e, "cannot record embed users; asking again");
        }
        self.absorb(&ack, version, Recorded { usage: usage_recorded.is_ok(), users: users_recorded.is_ok() });
        if ack.applied_version > reach && !self.replace {
            return Err(self.diverged(ack.applied_version, version));
        }
        Ok(match ack.outcome {
            // More pages to send, or the edge told where it really is.
            SyncOutcome::Taken | SyncOutcome::Gap => Step::Again,
            SyncOutcome::Failed => {
                return Err(StepError::Refused(ack.error().unwrap_or_else(|| "the edge could not take it".into())))
            }
            _ if ack.applied_version < version => Step::Again,
            _ => Step::Done,
        })
    }

    /// What brings an edge at `applied` to `version`: the next page of a
    /// full state in progress, else a delta page if the log covers it and it
    /// is small, else the first page of a new full state.
    async fn forward(&mut self, applied: u64, version: u64) -> Result<(Kind, SyncBody), StepError> {
        let db = &self.shared.db.clone();
        if self.full.is_none() {
            let floor = export::floor(db).await.map_err(db_err)?;
            let size = if applied >= floor {
                export::delta_size(db, applied, version, export::DELTA_MAX_RECORDS + 1).await.map_err(db_err)?
            } else {
                i64::MAX
            };
            if size <= export::DELTA_MAX_RECORDS && !self.replace && !self.needs_full {
                return self.delta(applied, version).await;
            }
            let id = embedgate_core::random_jti().map_err(|e| e.to_string())?;
            tracing::info!(edge = %edge_label(&self.endpoint), applied, version, floor, "sending the edge a full state");
            let replace = std::mem::take(&mut self.replace);
            self.full = Some(FullRun { id, to: version, replace, starts: vec![FullCursor::default()], next_seq: 0 });
        }
        let run = self.full.as_mut().ok_or("no full state")?;
        let seq = usize::try_from(run.next_seq).unwrap_or(usize::MAX);
        let start = run.starts.get(seq).cloned().ok_or("a page the admin never started was asked for")?;
        let (orgs, next) = export::full_page(
            db,
            &ForEdge { keys: &self.shared.keys, edge: &self.edge_key },
            &start,
            self.shared.page_bytes,
        )
        .await
        .map_err(db_err)?;
        if let Some(next) = &next {
            run.starts.truncate(seq + 1);
            run.starts.push(next.clone());
        }
        let body = SyncBody::Full {
            id: run.id.clone(),
            to: run.to,
            seq: run.next_seq,
            last: next.is_none(),
            replace: run.replace,
            orgs,
        };
        Ok((Kind::Page, body))
    }

    /// The first page of the delta after `applied` (a delta larger than a
    /// page goes as several; each page is sent in turn by the next steps).
    async fn delta(&mut self, applied: u64, version: u64) -> Result<(Kind, SyncBody), StepError> {
        let db = &self.shared.db;
        // Deltas are idempotent: a later page re-read from the start of the range costs little.
        let mut cursor: Option<DeltaCursor> = None;
        let mut pages = Vec::new();
        loop {
            let (orgs, next) =
                export::delta_page(db, &self.sealer(), applied, version, cursor.as_ref(), self.shared.page_bytes)
                    .await
                    .map_err(db_err)?;
            let last = next.is_none();
            pages.push(SyncBody::Delta { from: applied, to: version, last, orgs });
            if last {
                break;
            }
            cursor = next;
        }
        // All but the last page are sent here; the last goes back to the caller (it moves the version).
        let last = pages.pop().ok_or("an empty delta")?;
        for body in pages {
            let cursor = self.shared.board.update(self.index, |s| s.usage_cursor.clone());
            let request = SyncRequest::new(&self.lineage, version, body, cursor, now()).map_err(|e| e.to_string())?;
            let ack = self.send(Kind::Delta, &request).await?;
            if ack.outcome == SyncOutcome::Failed {
                let why = ack.error().unwrap_or_else(|| "the edge could not take a delta page".into());
                return Err(StepError::Refused(why));
            }
        }
        Ok((Kind::Delta, last))
    }

    /// The edge has a newer version than this database (it served another
    /// database, or this one was restored from a backup). The admin is the
    /// authority: it moves its own version past the edge's, so its next
    /// delta or full state replaces the edge's, but never by more than an
    /// edge would accept in one step ([`MAX_VERSION_JUMP`]): beyond that
    /// the edge is [`Task::diverged`] (the caller never gets here then).
    async fn ahead(&mut self, edge: u64, version: u64) -> Result<Step, StepError> {
        let label = edge_label(&self.endpoint);
        self.shared.db.advance_version_past(edge).await.map_err(db_err)?;
        tracing::warn!(edge = %label, edge_version = edge, admin_version = version, "the edge had a newer state version than this database; advancing ours past it");
        // Its records came from elsewhere: a full state replaces them, even with older ones.
        self.full = None;
        self.replace = true;
        Ok(Step::Again)
    }

    /// The edge holds this database's state at `edge`, more than an edge
    /// would accept in one step beyond this admin's `version`: it is not
    /// following this database and must be wiped (it then gets a full
    /// state). The admin keeps asking it where it is at each retry, so it
    /// sees the wipe.
    fn diverged(&self, edge: u64, version: u64) -> StepError {
        let why = format!(
            "the edge reports version {edge}, far beyond this admin's {version}: it is not following this \
             database; wipe its state (it then gets a full state)"
        );
        tracing::error!(edge = %edge_label(&self.endpoint), edge_version = edge, admin_version = version, "edge diverged");
        StepError::Refused(why)
    }

    /// Sends one message and opens the ack. An edge that answers a refusal
    /// (4xx: a key it does not hold, a body it cannot take) is reachable and
    /// says why: [`StepError::Refused`] with its code and message, so the
    /// board shows it `failing`. (The answer is not sealed: a network
    /// attacker could forge one, as it could drop the message; either way the
    /// push is retried.) Anything else is a failed attempt.
    async fn send(&self, kind: Kind, request: &SyncRequest) -> Result<SyncAck, StepError> {
        let sealed = sync::seal_request(request, self.shared.sync_keys.current());
        let bytes = sealed.body.len();
        self.shared.board.update(self.index, |s| {
            s.last_attempt_at = Some(now());
            s.count(kind, bytes);
        });
        let response = self
            .shared
            .client
            .post(&self.endpoint)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, &sealed.signature)
            .body(sealed.body)
            .send()
            .await
            .map_err(|e| StepError::Attempt(format!("cannot reach the edge: {}", without_url(&e))))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok());
            return Err(StepError::Refused(format!(
                "the edge answered HTTP {} to {:?}: pushes do not follow redirects; configure the final URL",
                status.as_u16(),
                edge_label(&quoted_text(location.unwrap_or_default()))
            )));
        }
        let signature = response.headers().get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response
            .bytes()
            .await
            .map_err(|e| StepError::Attempt(format!("reading the edge's answer: {}", without_url(&e))))?;
        if !(status.is_success() || status == reqwest::StatusCode::CONFLICT) {
            let answer = serde_json::from_slice::<serde_json::Value>(&body).ok();
            let text = |field: &str| quoted_text(answer.as_ref().and_then(|v| v[field].as_str()).unwrap_or_default());
            let (code, message) = (text("error"), text("message"));
            let why = if message.is_empty() {
                format!("the edge answered HTTP {} {code}", status.as_u16())
            } else {
                format!("the edge answered HTTP {} {code}: {message}", status.as_u16())
            };
            return Err(if status.is_client_error() { StepError::Refused(why) } else { StepError::Attempt(why) });
        }
        sync::open_ack(&body, signature.as_deref(), &*self.shared.sync_keys, &request.nonce)
            .map_err(|e| StepError::Attempt(format!("edge ack refused: {e}")))
    }

    /// Takes in what the edge said: its versions, where a full state
    /// stands, whether a region failed.
    fn absorb(&mut self, ack: &SyncAck, version: u64, recorded: Recorded) {
        // A region without this database's state takes only a full state; one
        // holding another database's state, only a full state that replaces it.
        self.needs_full = !ack.follows(&self.lineage);
        let foreign = ack.regions.iter().any(|r| !r.lineage.is_empty() && r.lineage != self.lineage);
        if foreign && !self.full.as_ref().is_some_and(|r| r.replace) {
            tracing::warn!(edge = %edge_label(&self.endpoint), "the edge holds another database's state; replacing it");
            self.full = None;
            self.replace = true;
        }
        let progress = ack.full_progress();
        if let Some(run) = &mut self.full {
            match &progress {
                Some(p) if p.id == run.id => run.next_seq = p.next_seq,
                _ if ack.applied_version >= run.to => self.full = None,
                // The edge dropped the full state (restarted it, or wiped): start over.
                _ if ack.outcome == SyncOutcome::Gap => run.next_seq = 0,
                _ => {}
            }
        }
        let behind = ack.applied_version < version;
        let error = ack.error();
        let full = self.full.as_ref().map(|r| FullProgress { id: r.id.clone(), to: r.to, next_seq: r.next_seq });
        self.shared.board.update(self.index, |s| {
            s.applied_version = Some(ack.applied_version);
            s.applied_issued_at = Some(ack.applied_issued_at);
            s.regions.clone_from(&ack.regions);
            s.full = full;
            s.last_ack_at = Some(now());
            s.consecutive_failures = 0;
            if recorded.usage {
                s.usage_cursor.clone_from(&ack.usage_cursor);
            }
            if recorded.users {
                s.users_cursor.clone_from(&ack.users_cursor);
            }
            if ack.users_dropped > s.users_dropped {
                tracing::warn!(edge = %s.url, dropped = ack.users_dropped, "edge isolates dropped embed users (windows full)");
            }
            s.users_dropped = ack.users_dropped;
            s.failing = error.is_some();
            s.last_error = error;
            if behind {
                s.behind_since.get_or_insert_with(Instant::now);
            } else {
                s.behind_since = None;
            }
        });
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut e = e.to_string();
    if let Some(i) = e.find(" for url (") {
        e.truncate(i);
    }
    e
}

/// Which of an ack's reports were recorded (their cursors move only then).
#[derive(Debug, Clone, Copy)]
struct Recorded {
    /// Credential use (`last_used_at`).
    usage: bool,
    /// Embed users.
    users: bool,
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
        // At the admin's version, but of another lineage (another edge key): not in sync.
        s.lineage = "db/new-key".into();
        s.regions =
            vec![RegionAck { region: Region::Wnam, lineage: "db/old-key".into(), version: 3, full: None, error: None }];
        assert_eq!(s.state(3), "bootstrapping");
        s.regions[0].lineage = "db/new-key".into();
        assert_eq!(s.state(3), "in_sync");
        s.full = Some(FullProgress { id: "f".into(), to: 4, next_seq: 2 });
        assert_eq!(s.state(4), "bootstrapping");
        s.failing = true;
        assert_eq!(s.state(3), "failing", "a region that failed is never shown in sync");
        s.consecutive_failures = 1;
        assert_eq!(s.state(3), "unreachable");
    }

    #[test]
    fn an_edge_that_answers_it_cannot_take_a_message_is_failing_not_unreachable() {
        let mut s = EdgeStatus { applied_version: Some(3), ..EdgeStatus::default() };
        s.failed(&StepError::Refused("wnam: version 9 is too far ahead".into()));
        assert_eq!((s.state(3), s.consecutive_failures, s.failures), ("failing", 0, 1));
        assert_eq!(s.last_error.as_deref(), Some("wnam: version 9 is too far ahead"));
        s.failed(&StepError::Attempt("cannot reach the edge".into()));
        assert_eq!((s.state(3), s.consecutive_failures, s.failures), ("unreachable", 1, 2));
        // An edge that answers again, refusing (a key it does not hold), is reachable: failing.
        s.failed(&StepError::Refused("the edge answered HTTP 422 unknown_edge_key: …".into()));
        assert_eq!((s.state(3), s.consecutive_failures, s.failures), ("failing", 0, 3));
    }
}
