//! Load without loss: a bounded run of embed loads at two edges while
//! credentials are created, rotated, retired and revoked at the admin, and
//! not one wrong answer.
//!
//! - **Load**: [`CLIENTS`] tasks (one shared HTTP client, so at most that
//!   many embeds in flight) loop until the deadline: pick a secret from the
//!   shared registry (mostly live ones, some dead ones), sign a fresh token
//!   (fresh `jti`: `replayed` never happens legitimately), load the embed at
//!   one of the edges in turn, and record (secret, edge, sent, received,
//!   status, code). Tokens are signed natively by `embedgate_core::sign`
//!   (the same HS256 the PyJWT tests check): a Python process per token would
//!   cost more CPU than the edge.
//! - **Churn**: one task, every [`CHURN_EVERY`]: create, rotate,
//!   retire-previous or revoke, in turn; after each, the admin's state
//!   version is the change's version.
//! - **Watchers**: every [`POLL_EVERY`], each edge's `/healthz` (the version
//!   it applied) and the admin's `GET /api/v1/edges` (the version each edge
//!   acknowledged to a push). A change is acknowledged by an edge at the
//!   first instant either shows its version (the answer's arrival: the edge
//!   had it by then).
//! - **Judge**, per answer and edge: a token whose secret died (revoked, or
//!   retired) and that was sent after the edge acknowledged the death must be
//!   refused; a token of a live secret whose birth (create or rotate) the edge
//!   had acknowledged before it was sent, and whose death was not even asked
//!   for before the answer arrived, must be accepted (as its `sub` and client
//!   ID). Anything else is in flight: either answer is fine, counted apart.
//!   A transport error, a 5xx, or a refusal code no churn explains is a failure.
//!
//! `EMBEDGATE_LOAD_SECONDS` sets the run (default 20, at most 300); the run
//! stops by itself. Loopback only.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use embedgate_core::{sign, Claims, ClientId, EmbedSecret};
use embedgate_e2e::{http, step, Stack, ADMIN, ORG};
use serde_json::{json, Value};
use tokio::task::JoinSet;

const DEFAULT_SECONDS: u64 = 20;
const MAX_SECONDS: u64 = 300;
/// Concurrent load clients: the most embeds in flight at once.
const CLIENTS: usize = 8;
const CHURN_EVERY: Duration = Duration::from_millis(300);
const POLL_EVERY: Duration = Duration::from_millis(20);
/// Share of loads (per mille) that use a dead secret when one exists.
const DEAD_PER_MILLE: u64 = 250;
/// Credentials created before the run.
const INITIAL_CREDENTIALS: usize = 3;
/// Revoke keeps at least this many credentials alive.
const MIN_ALIVE: usize = 2;
const SUB: &str = "load@customer.test";
/// Refusal codes a churn explains (a dead secret, or one the edge does not know yet).
const EXPLAINED: [&str; 3] = ["unknown_client", "bad_signature", "credential_revoked"];

fn run_seconds() -> u64 {
    std::env::var("EMBEDGATE_LOAD_SECONDS")
        .ok()
        .map_or(DEFAULT_SECONDS, |s| {
            s.trim().parse::<u64>().unwrap_or_else(|_| panic!("EMBEDGATE_LOAD_SECONDS={s:?} is not a number"))
        })
        .clamp(1, MAX_SECONDS)
}

/// A small xorshift generator: the choices need no quality, only variety.
struct Rng(u64);

impl Rng {
    fn new(salt: u64) -> Self {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        Self((u64::from(nanos) ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }
}

// ------------------------------------------------------------------ records

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Create,
    Rotate,
    Retire,
    Revoke,
}

impl Kind {
    const ALL: [Self; 4] = [Self::Create, Self::Rotate, Self::Retire, Self::Revoke];

    fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Rotate => "rotate",
            Self::Retire => "retire-previous",
            Self::Revoke => "revoke",
        }
    }
}

/// When and how a secret stopped being valid.
#[derive(Debug, Clone, Copy)]
struct Death {
    kind: Kind,
    /// When the change was sent to the admin (before: the secret was valid).
    asked: Instant,
    /// The state version of the change (0 until the admin answered).
    version: u64,
}

/// One secret generation of one credential: what a host app signs with.
#[derive(Debug)]
struct Key {
    client_id: ClientId,
    secret: EmbedSecret,
    generation: u64,
    /// The version of the create or rotate that made it.
    born: u64,
    death: Option<Death>,
}

/// The secrets the load signs with: every one ever made, live or dead.
#[derive(Debug, Default)]
struct Registry {
    secrets: Vec<Key>,
    live: Vec<usize>,
    dead: Vec<usize>,
}

/// One change at the admin.
#[derive(Debug)]
struct Change {
    kind: Kind,
    asked: Instant,
    version: u64,
}

/// One embed load.
#[derive(Debug)]
struct Load {
    secret: usize,
    edge: usize,
    sent: Instant,
    received: Instant,
    /// (status, `error` code or "", body) or the transport error.
    answer: Result<(u16, String, Value), String>,
}

/// First observations of each new version: (arrival of the answer, version).
type Timeline = Vec<(Instant, u64)>;

/// The first instant `timeline` shows `version` or newer.
fn acked(timeline: &[(Instant, u64)], version: u64) -> Option<Instant> {
    timeline.iter().find(|(_, v)| *v >= version).map(|(t, _)| *t)
}

struct Shared {
    client: reqwest::Client,
    admin_url: String,
    token: String,
    edge_urls: Vec<String>,
    registry: Mutex<Registry>,
    deadline: Instant,
    stop_watchers: AtomicBool,
    /// Per edge: /healthz, and the admin's view of the edge's acknowledgements.
    healthz: Vec<Mutex<Timeline>>,
    admin_view: Vec<Mutex<Timeline>>,
    /// Watcher failures (a /healthz or /api/v1/edges that did not answer 200).
    watch_errors: Mutex<Vec<String>>,
}

impl Shared {
    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.admin_url)).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn state_version(&self) -> u64 {
        let (status, body) = self.admin(reqwest::Method::GET, "/api/v1/edges", None).await;
        assert_eq!(status, 200, "GET /api/v1/edges: {body}");
        body["state_version"].as_u64().unwrap()
    }

    /// A credential change; `client_id` is the new credential's name for a create.
    async fn credential_op(&self, kind: Kind, client_id: &str, status: u16) -> Value {
        let creds = format!("/api/v1/orgs/{ORG}/credentials");
        let (path, body) = match kind {
            Kind::Create => (creds, Some(json!({"name": client_id, "owner": ADMIN, "privileges": ["embedding"]}))),
            Kind::Rotate => (format!("{creds}/{client_id}/rotate"), None),
            Kind::Retire => (format!("{creds}/{client_id}/retire-previous"), None),
            Kind::Revoke => (format!("{creds}/{client_id}/revoke"), None),
        };
        let (got, answer) = self.admin(reqwest::Method::POST, &path, body).await;
        assert_eq!(got, status, "{} {client_id}: {answer}", kind.name());
        answer
    }
}

// ------------------------------------------------------------------ tasks

/// One load client: until the deadline, a fresh token of a picked secret at the next edge.
async fn load_client(shared: Arc<Shared>, id: usize) -> Vec<Load> {
    let mut rng = Rng::new(u64::try_from(id).unwrap() + 1);
    let mut loads = Vec::new();
    let mut edge = id % shared.edge_urls.len();
    while Instant::now() < shared.deadline {
        let (index, client_id, secret) = {
            let reg = shared.registry.lock().unwrap();
            let use_dead = !reg.dead.is_empty() && rng.next() % 1000 < DEAD_PER_MILLE;
            let pool = if use_dead || reg.live.is_empty() { &reg.dead } else { &reg.live };
            let index = pool[rng.below(pool.len())];
            let s = &reg.secrets[index];
            (index, s.client_id.clone(), EmbedSecret::new(s.secret.expose_secret().to_owned()))
        };
        let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap();
        let token = sign(&Claims::new(SUB, now, 300).unwrap(), &client_id, &secret).unwrap();
        let url = format!("{}/{ORG}/workbook/wb-1?:jwt={token}", shared.edge_urls[edge]);
        let sent = Instant::now();
        let answer = match shared.client.get(url).header("accept", "application/json").send().await {
            Err(e) => Err(format!("send: {e}")),
            Ok(resp) => {
                let status = resp.status().as_u16();
                match resp.text().await {
                    Err(e) => Err(format!("body: {e}")),
                    Ok(text) => {
                        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        let code = body["error"].as_str().unwrap_or_default().to_owned();
                        Ok((status, code, body))
                    }
                }
            }
        };
        loads.push(Load { secret: index, edge, sent, received: Instant::now(), answer });
        edge = (edge + 1) % shared.edge_urls.len();
    }
    loads
}

/// The churn's own view of a credential.
struct Cred {
    client_id: String,
    /// Registry indices of its live secrets (the current one last).
    live: Vec<usize>,
    revoked: bool,
}

/// Makes one change of `kind` (the caller checked it applies to `cred`).
async fn change(shared: &Shared, creds: &mut Vec<Cred>, kind: Kind, cred: usize) -> Change {
    let asked = Instant::now();
    if matches!(kind, Kind::Retire | Kind::Revoke) {
        // Dead from now on as far as the judge is concerned: its death is asked for.
        let dying: Vec<usize> = if kind == Kind::Revoke { creds[cred].live.clone() } else { vec![creds[cred].live[0]] };
        let mut reg = shared.registry.lock().unwrap();
        for &i in &dying {
            reg.secrets[i].death = Some(Death { kind, asked, version: 0 });
            reg.live.retain(|&j| j != i);
            reg.dead.push(i);
        }
    }
    let client_id = if kind == Kind::Create { format!("load-{}", creds.len()) } else { creds[cred].client_id.clone() };
    let answer = shared.credential_op(kind, &client_id, if kind == Kind::Create { 201 } else { 200 }).await;
    let version = shared.state_version().await;
    let mut reg = shared.registry.lock().unwrap();
    match kind {
        Kind::Create | Kind::Rotate => {
            let client_id = answer["client_id"].as_str().unwrap().to_owned();
            let index = reg.secrets.len();
            reg.secrets.push(Key {
                client_id: client_id.parse().unwrap(),
                secret: EmbedSecret::new(answer["secret"].as_str().unwrap().to_owned()),
                generation: answer["generation"].as_u64().unwrap(),
                born: version,
                death: None,
            });
            reg.live.push(index);
            if kind == Kind::Create {
                creds.push(Cred { client_id, live: vec![index], revoked: false });
            } else {
                creds[cred].live.push(index);
            }
            Change { kind, asked, version }
        }
        Kind::Retire | Kind::Revoke => {
            let dying: Vec<usize> = if kind == Kind::Revoke {
                std::mem::take(&mut creds[cred].live)
            } else {
                vec![creds[cred].live.remove(0)]
            };
            for i in dying {
                reg.secrets[i].death.as_mut().unwrap().version = version;
            }
            creds[cred].revoked |= kind == Kind::Revoke;
            Change { kind, asked, version }
        }
    }
}

/// The credentials `kind` can apply to now (`Some(vec![])`: create needs none; `None`: none fit).
fn candidates(creds: &[Cred], kind: Kind) -> Option<Vec<usize>> {
    let alive = || creds.iter().enumerate().filter(|(_, c)| !c.revoked);
    let fit: Vec<usize> = match kind {
        Kind::Create => return Some(Vec::new()),
        Kind::Rotate => alive().filter(|(_, c)| c.live.len() == 1).map(|(i, _)| i).collect(),
        Kind::Retire => alive().filter(|(_, c)| c.live.len() == 2).map(|(i, _)| i).collect(),
        Kind::Revoke if alive().count() <= MIN_ALIVE => Vec::new(),
        Kind::Revoke => alive().map(|(i, _)| i).collect(),
    };
    (!fit.is_empty()).then_some(fit)
}

/// The churn: one change every [`CHURN_EVERY`] until the deadline, the kinds in turn.
async fn churn(shared: Arc<Shared>, mut creds: Vec<Cred>) -> Vec<Change> {
    let mut rng = Rng::new(0x00C0_FFEE);
    let mut changes = Vec::new();
    let mut tick = tokio::time::interval(CHURN_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut turn = 0;
    loop {
        tick.tick().await;
        if Instant::now() >= shared.deadline {
            return changes;
        }
        let (kind, fit) = (0..Kind::ALL.len())
            .map(|k| Kind::ALL[(turn + k) % Kind::ALL.len()])
            .find_map(|kind| candidates(&creds, kind).map(|fit| (kind, fit)))
            .unwrap();
        turn += 1;
        let cred = if fit.is_empty() { 0 } else { fit[rng.below(fit.len())] };
        changes.push(change(&shared, &mut creds, kind, cred).await);
    }
}

/// Polls `/healthz` of one edge until told to stop; records each new version.
async fn watch_edge(shared: Arc<Shared>, edge: usize) {
    let url = format!("{}/healthz", shared.edge_urls[edge]);
    let mut tick = tokio::time::interval(POLL_EVERY);
    while !shared.stop_watchers.load(Ordering::Relaxed) {
        tick.tick().await;
        let version = match shared.client.get(&url).send().await {
            Ok(resp) if resp.status() == 200 => resp.json::<Value>().await.ok().and_then(|b| b["version"].as_u64()),
            Ok(resp) => {
                shared.watch_errors.lock().unwrap().push(format!("{url}: {}", resp.status()));
                None
            }
            Err(e) => {
                shared.watch_errors.lock().unwrap().push(format!("{url}: {e}"));
                None
            }
        };
        let at = Instant::now();
        if let Some(version) = version {
            let mut timeline = shared.healthz[edge].lock().unwrap();
            if timeline.last().is_none_or(|(_, v)| *v < version) {
                timeline.push((at, version));
            }
        }
    }
}

/// Polls the admin's `GET /api/v1/edges` until told to stop; records each
/// edge's newly acknowledged versions.
async fn watch_admin(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(POLL_EVERY);
    while !shared.stop_watchers.load(Ordering::Relaxed) {
        tick.tick().await;
        let (status, body) = shared.admin(reqwest::Method::GET, "/api/v1/edges", None).await;
        let at = Instant::now();
        if status != 200 {
            shared.watch_errors.lock().unwrap().push(format!("GET /api/v1/edges: {status} {body}"));
            continue;
        }
        for (edge, listed) in body["edges"].as_array().unwrap().iter().enumerate() {
            if let Some(version) = listed["applied_version"].as_u64() {
                let mut timeline = shared.admin_view[edge].lock().unwrap();
                if timeline.last().is_none_or(|(_, v)| *v < version) {
                    timeline.push((at, version));
                }
            }
        }
    }
}

// ------------------------------------------------------------------ judging

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Accept,
    Refuse,
    InFlight,
}

#[derive(Debug, Default)]
struct Tally {
    accepted: usize,
    refused: BTreeMap<String, usize>,
    in_flight_ok: usize,
    in_flight_refused: BTreeMap<String, usize>,
    wrong: Vec<String>,
    errors: Vec<String>,
    unexplained: Vec<String>,
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() * p).div_ceil(100)).saturating_sub(1).min(sorted.len() - 1)]
}

fn ms(t: Instant, t0: Instant) -> String {
    format!("{:.1}ms", t.saturating_duration_since(t0).as_secs_f64() * 1000.0)
}

fn opt_ms(t: Option<Instant>, t0: Instant) -> String {
    t.map_or_else(|| "never".to_owned(), |t| ms(t, t0))
}

struct Judge<'a> {
    t0: Instant,
    secrets: &'a [Key],
    /// Per edge: (/healthz, admin's view).
    timelines: Vec<(Timeline, Timeline)>,
}

impl Judge<'_> {
    /// When `edge` acknowledged `version`: the earlier of the two watchers.
    fn ack(&self, edge: usize, version: u64) -> Option<Instant> {
        let (healthz, admin) = &self.timelines[edge];
        match (acked(healthz, version), acked(admin, version)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn expect(&self, load: &Load) -> Expect {
        let s = &self.secrets[load.secret];
        let death_acked = s.death.and_then(|d| self.ack(load.edge, d.version));
        let birth_acked = self.ack(load.edge, s.born);
        if death_acked.is_some_and(|t| load.sent > t) {
            Expect::Refuse
        } else if birth_acked.is_some_and(|t| load.sent > t) && s.death.is_none_or(|d| d.asked > load.received) {
            Expect::Accept
        } else {
            Expect::InFlight
        }
    }

    /// The exact sequence behind a verdict, for a failure message.
    fn explain(&self, load: &Load, edge_name: &str) -> String {
        let s = &self.secrets[load.secret];
        let t0 = self.t0;
        let (healthz, admin) = &self.timelines[load.edge];
        let mut out = format!(
            "{edge_name}: secret {} gen {} (born at v{}: acked by {edge_name} /healthz {}, admin view {}); ",
            s.client_id.as_str(),
            s.generation,
            s.born,
            opt_ms(acked(healthz, s.born), t0),
            opt_ms(acked(admin, s.born), t0),
        );
        if let Some(d) = s.death {
            let _ = write!(
                out,
                "{} asked at {} = v{} (acked by {edge_name} /healthz {}, admin view {}); ",
                d.kind.name(),
                ms(d.asked, t0),
                d.version,
                opt_ms(acked(healthz, d.version), t0),
                opt_ms(acked(admin, d.version), t0),
            );
        }
        let answer = match &load.answer {
            Ok((status, code, body)) => format!("{status} {code} {body}"),
            Err(e) => e.clone(),
        };
        let _ = write!(out, "sent {} received {}: {answer}", ms(load.sent, t0), ms(load.received, t0));
        out
    }

    fn tally(&self, loads: &[Load], edge_names: &[String]) -> Tally {
        let mut t = Tally::default();
        for load in loads {
            let why = || self.explain(load, &edge_names[load.edge]);
            let (status, code, body) = match &load.answer {
                Err(_) => {
                    t.errors.push(why());
                    continue;
                }
                Ok((status, ..)) if *status >= 500 => {
                    t.errors.push(why());
                    continue;
                }
                Ok(answer) => answer,
            };
            let s = &self.secrets[load.secret];
            let accepted = *status == 200
                && body["ok"] == true
                && body["sub"] == SUB
                && body["client_id"] == s.client_id.as_str()
                && body["org"] == ORG;
            if !accepted && (*status == 200 || !EXPLAINED.contains(&code.as_str())) {
                // A 200 that is not this identity, or a refusal no churn explains.
                t.unexplained.push(why());
                continue;
            }
            match (self.expect(load), accepted) {
                (Expect::Accept, true) => t.accepted += 1,
                (Expect::Refuse, false) => *t.refused.entry(code.clone()).or_default() += 1,
                (Expect::InFlight, true) => t.in_flight_ok += 1,
                (Expect::InFlight, false) => *t.in_flight_refused.entry(code.clone()).or_default() += 1,
                (Expect::Accept, false) => t.wrong.push(format!("VALID TOKEN REFUSED: {}", why())),
                (Expect::Refuse, true) => t.wrong.push(format!("DEAD TOKEN ACCEPTED: {}", why())),
            }
        }
        t
    }
}

// ------------------------------------------------------------------ the test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)]
async fn embeds_under_credential_churn_get_no_wrong_answer() {
    let seconds = run_seconds();
    let stack = Stack::start(2).await;
    let edge_names: Vec<String> = stack.edges.iter().map(|e| e.name.clone()).collect();
    let mut shared = Shared {
        client: http(),
        admin_url: stack.admin.url.clone(),
        token: stack.token.clone(),
        edge_urls: stack.edges.iter().map(|e| e.url.clone()).collect(),
        registry: Mutex::new(Registry::default()),
        deadline: Instant::now(),
        stop_watchers: AtomicBool::new(false),
        healthz: stack.edges.iter().map(|_| Mutex::default()).collect(),
        admin_view: stack.edges.iter().map(|_| Mutex::default()).collect(),
        watch_errors: Mutex::default(),
    };

    let mut creds = Vec::new();
    let mut changes = Vec::new();
    for _ in 0..INITIAL_CREDENTIALS {
        changes.push(change(&shared, &mut creds, Kind::Create, 0).await);
    }
    stack.wait_in_sync(Duration::from_secs(10)).await;

    step(&format!("{seconds}s of load: {CLIENTS} clients at 2 edges, a credential change every {CHURN_EVERY:?}"));
    let t0 = Instant::now();
    shared.deadline = t0 + Duration::from_secs(seconds);
    let shared = Arc::new(shared);
    let mut watchers = JoinSet::new();
    for edge in 0..shared.edge_urls.len() {
        watchers.spawn(watch_edge(shared.clone(), edge));
    }
    watchers.spawn(watch_admin(shared.clone()));
    // The watchers see the starting version before the first load.
    let start_version = stack.state_version().await;
    let t_watch = Instant::now();
    while (0..shared.edge_urls.len()).any(|e| acked(&shared.healthz[e].lock().unwrap(), start_version).is_none()) {
        assert!(t_watch.elapsed() < Duration::from_secs(5), "the watchers saw no version");
        tokio::time::sleep(POLL_EVERY).await;
    }

    let churn_task = tokio::spawn(churn(shared.clone(), creds));
    let mut clients = JoinSet::new();
    for id in 0..CLIENTS {
        clients.spawn(load_client(shared.clone(), id));
    }
    let mut loads = Vec::new();
    while let Some(done) = clients.join_next().await {
        loads.extend(done.unwrap());
    }
    let load_end = Instant::now();
    changes.extend(churn_task.await.unwrap());

    step("load over: waiting until both edges acknowledge the last change");
    let last = stack.wait_in_sync(Duration::from_secs(10)).await;
    let t_watch = Instant::now();
    while (0..shared.edge_urls.len()).any(|e| acked(&shared.healthz[e].lock().unwrap(), last).is_none()) {
        assert!(t_watch.elapsed() < Duration::from_secs(5), "the watchers did not see v{last}");
        tokio::time::sleep(POLL_EVERY).await;
    }
    shared.stop_watchers.store(true, Ordering::Relaxed);
    while let Some(done) = watchers.join_next().await {
        done.unwrap();
    }

    // ---------------------------------------------------------------- judge
    let shared = Arc::into_inner(shared).unwrap();
    let registry = shared.registry.into_inner().unwrap();
    let judge = Judge {
        t0,
        secrets: &registry.secrets,
        timelines: shared
            .healthz
            .into_iter()
            .zip(shared.admin_view)
            .map(|(h, a)| (h.into_inner().unwrap(), a.into_inner().unwrap()))
            .collect(),
    };
    let tally = judge.tally(&loads, &edge_names);
    let watch_errors = shared.watch_errors.into_inner().unwrap();

    // Acknowledgement latency: from asking the admin for the change to both edges showing it.
    let during: Vec<&Change> = changes.iter().filter(|c| c.asked >= t0).collect();
    let latency = |source: usize| {
        let mut l: Vec<Duration> = during
            .iter()
            .filter_map(|c| {
                let both = (0..edge_names.len()).map(|e| {
                    let (healthz, admin) = &judge.timelines[e];
                    acked(if source == 0 { healthz } else { admin }, c.version)
                });
                both.collect::<Option<Vec<Instant>>>()?.into_iter().max().map(|t| t.saturating_duration_since(c.asked))
            })
            .collect();
        l.sort();
        l
    };
    let (by_healthz, by_admin) = (latency(0), latency(1));
    let mut kinds: BTreeMap<Kind, usize> = BTreeMap::new();
    for c in &during {
        *kinds.entry(c.kind).or_default() += 1;
    }
    let elapsed = load_end.duration_since(t0).as_secs_f64();
    let per_edge: Vec<usize> = (0..edge_names.len()).map(|e| loads.iter().filter(|l| l.edge == e).count()).collect();
    let expected_refusals: usize = tally.refused.values().sum();
    let in_flight_refused: usize = tally.in_flight_refused.values().sum();
    let dead_secrets = registry.secrets.iter().filter(|s| s.death.is_some()).count();
    let fmt_ms = |d: Duration| format!("{:.0}ms", d.as_secs_f64() * 1000.0);

    step(&format!(
        "{} embed loads in {elapsed:.1}s = {:.0}/s (per edge {per_edge:?}); {} secrets made, {dead_secrets} killed",
        loads.len(),
        f64::from(u32::try_from(loads.len()).unwrap()) / elapsed,
        registry.secrets.len(),
    ));
    step(&format!(
        "accepted as expected {}; refused as expected {expected_refusals} {:?}; in flight {} (accepted {}, refused {in_flight_refused} {:?})",
        tally.accepted,
        tally.refused,
        tally.in_flight_ok + in_flight_refused,
        tally.in_flight_ok,
        tally.in_flight_refused,
    ));
    step(&format!(
        "WRONG ANSWERS {}; errors {} (transport/5xx), unexplained answers {}, watcher errors {}",
        tally.wrong.len(),
        tally.errors.len(),
        tally.unexplained.len(),
        watch_errors.len()
    ));
    step(&format!(
        "churn: {} changes {:?}",
        during.len(),
        kinds.iter().map(|(k, n)| format!("{} {n}", k.name())).collect::<Vec<_>>()
    ));
    step(&format!(
        "acknowledged by both edges, from the change asked: /healthz p50 {} p99 {} max {} ({} changes); \
         admin's view p50 {} p99 {} max {} (polled every {POLL_EVERY:?})",
        fmt_ms(percentile(&by_healthz, 50)),
        fmt_ms(percentile(&by_healthz, 99)),
        fmt_ms(by_healthz.last().copied().unwrap_or_default()),
        by_healthz.len(),
        fmt_ms(percentile(&by_admin, 50)),
        fmt_ms(percentile(&by_admin, 99)),
        fmt_ms(by_admin.last().copied().unwrap_or_default()),
    ));

    let show = |list: &[String]| list.iter().take(20).cloned().collect::<Vec<_>>().join("\n  ");
    assert!(tally.wrong.is_empty(), "{} wrong answers:\n  {}", tally.wrong.len(), show(&tally.wrong));
    assert!(tally.errors.is_empty(), "{} errors:\n  {}", tally.errors.len(), show(&tally.errors));
    assert!(
        tally.unexplained.is_empty(),
        "{} unexplained answers:\n  {}",
        tally.unexplained.len(),
        show(&tally.unexplained)
    );
    assert!(watch_errors.is_empty(), "{} watcher errors:\n  {}", watch_errors.len(), show(&watch_errors));

    // The run really did something.
    let min_loads = usize::try_from(50 * seconds).unwrap();
    let min_each = usize::try_from((seconds / 2).min(10)).unwrap();
    assert!(loads.len() >= min_loads, "only {} embed loads in {seconds}s (want >= {min_loads})", loads.len());
    for kind in Kind::ALL {
        let n = kinds.get(&kind).copied().unwrap_or(0);
        assert!(n >= min_each, "only {n} {} changes in {seconds}s (want >= {min_each})", kind.name());
    }
    assert!(tally.accepted > 0 && expected_refusals > 0, "nothing was judged: {tally:?}");
    assert_eq!(by_healthz.len(), during.len(), "a change was never seen on both edges");

    // The judge itself: the two wrong answers, made up, are caught.
    let dead = registry.secrets.iter().position(|s| s.death.is_some()).unwrap();
    let alive = registry.secrets.iter().position(|s| s.death.is_none()).unwrap();
    let after = |version: u64| judge.ack(0, version).unwrap() + Duration::from_millis(1);
    let made_up = |secret: usize, sent: Instant, answer: (u16, &str, Value)| Load {
        secret,
        edge: 0,
        sent,
        received: sent,
        answer: Ok((answer.0, answer.1.to_owned(), answer.2)),
    };
    let identity = json!({"ok": true, "sub": SUB, "client_id": registry.secrets[dead].client_id.as_str(), "org": ORG});
    let fakes = [
        made_up(dead, after(registry.secrets[dead].death.unwrap().version), (200, "", identity)),
        made_up(alive, after(registry.secrets[alive].born), (401, "bad_signature", json!({"error": "bad_signature"}))),
    ];
    assert_eq!(judge.tally(&fakes, &edge_names).wrong.len(), 2, "the judge misses a wrong answer");
}
