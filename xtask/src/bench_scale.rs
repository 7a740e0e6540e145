//! `cargo xtask bench-edge --scale N,N,…`: the edge state plane at scale
//! (issue 12), all on 127.0.0.1, bounded in count and time, stopping
//! everything it starts.
//!
//! For each N: `embedgate bench-load` writes N credentials over `--orgs`
//! orgs (`bench-00000`…) straight into a fresh SQLite database (and makes
//! the data dir's master key), and `embedgate init` adds the org
//! `bench-ctl`, whose admin token drives the API. Then two edges (`wrangler dev`, workerd, `EMBEDGATE_REGIONS=wnam,weur`,
//! the region header trusted) and one `embedgate serve` pushing to both:
//!
//! 1. **Bootstrap**: both edges take the full state from nothing at once:
//!    pages, bytes, the largest message, the time until `in_sync`, the
//!    admin's peak RSS.
//! 2. **Bytes per change**: K single changes (revoke, rotate, patch, in
//!    turn) through the API, each waited for until both edges acknowledge
//!    it; the growth of `embedgate_push_bytes_total` less probes, over K.
//! 3. **Revoke → `credential_revoked`** at each edge in each region (fresh
//!    tokens, one poller per edge and region, every 10 ms).
//! 4. **Round trips per embed load** from `/healthz` `round_trips`: fresh
//!    tokens of one warm credential, then session continuations (wrk).
//! 5. **Isolate memory**: D distinct bulk credentials loaded at one edge
//!    (their IDs and wrapped org keys read from the database with
//!    `sqlite3`, the org keys opened with the data dir's master key, the
//!    secrets derived from them as the admin does, `Kdf::V2`): the cache's entries, bytes and evictions
//!    against its bound, and workerd's RSS around it.
//! 6. **A wiped edge**: one edge stopped, its state deleted, started again:
//!    the full state it takes alone (pages, bytes, time), the admin's RSS
//!    meanwhile, and that it answers for bulk and revoked credentials after.
//!
//! Counts come first; timings are from one run on a shared machine.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use embedgate_core::{ClientId, EmbedSecret, KeySet, MasterKey, OrgSlug, Wrapped};
use embedgate_harness::{dev_var, free_port, http, Admin, AdminSpec, Edge, EdgeSpec};
use serde_json::{json, Value};

use crate::bench_edge::{self, Api};
use crate::util::{self, Result};

const CTL_ORG: &str = "bench-ctl";
const CTL_ADMIN: &str = "admin@bench-ctl.test";
const REGIONS: [&str; 2] = ["wnam", "weur"];
/// How often the admin's edge list is read while a full state goes on.
const BOOT_POLL: Duration = Duration::from_millis(100);
/// How often the admin's edge list is read while waiting for one change.
const CHANGE_POLL: Duration = Duration::from_millis(5);
/// How often each poller asks its edge and region after a revoke.
const REVOKE_POLL: Duration = Duration::from_millis(10);
/// Loads in flight while filling the cache.
const LOAD_THREADS: usize = 4;

/// `--scale` and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scale {
    /// The numbers of credentials, one run each, in order.
    pub credentials: Vec<usize>,
    /// Orgs they are spread over.
    pub orgs: usize,
    /// Single changes measured for bytes per change.
    pub changes: usize,
    /// Revocations timed in every region.
    pub revocations: usize,
    /// Distinct credentials loaded at one edge (at most N).
    pub distinct: usize,
    /// The edges' `EMBEDGATE_CACHE_BYTES`.
    pub cache_bytes: usize,
    /// Seconds per wrk run.
    pub seconds: u64,
    /// The longest a full state may take, in seconds.
    pub timeout_s: u64,
}

impl Default for Scale {
    fn default() -> Self {
        Self {
            credentials: vec![10_000, 100_000, 1_000_000],
            orgs: 1000,
            changes: 50,
            revocations: 30,
            distinct: 20_000,
            cache_bytes: 4 << 20,
            seconds: 5,
            timeout_s: 5400,
        }
    }
}

/// Runs every N in turn (stopping at the first that fails), writes
/// `target/bench-edge-scale.json` after each, and prints the table.
pub fn measure(binary: &Path, dir: &Path, scale: &Scale) -> Result<()> {
    let out = util::target_dir().join("bench-edge-scale.json");
    let mut runs = Vec::new();
    let mut failure = None;
    for &n in &scale.credentials {
        println!("\n=== bench-edge --scale: N = {n} credentials over {} orgs ===", scale.orgs);
        let run_dir = dir.join(format!("n{n}"));
        let started = Instant::now();
        let result = Run::start(binary, &run_dir, n, scale).and_then(|mut run| run.measure());
        let mut figures = match result {
            Ok(figures) => figures,
            Err(e) => {
                eprintln!("bench-edge --scale: N = {n} failed: {e}");
                failure = Some(format!("N = {n}: {e}"));
                json!({ "credentials": n, "error": e.to_string() })
            }
        };
        figures["wall_seconds"] = json!(started.elapsed().as_secs_f64());
        runs.push(figures);
        let report = json!({
            "command": format!("cargo xtask bench-edge --scale {}", join(&scale.credentials)),
            "options": {
                "orgs": scale.orgs, "changes": scale.changes, "revocations": scale.revocations,
                "distinct": scale.distinct, "cache_bytes": scale.cache_bytes, "wrk_seconds": scale.seconds,
                "regions": REGIONS, "edges": 2,
            },
            "machine": machine(),
            "runs": runs,
        });
        std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
        let _ = std::fs::remove_dir_all(&run_dir);
        if failure.is_some() {
            break;
        }
    }
    println!("{}", table(&runs, scale));
    println!("figures written to {}", util::display_path(&out));
    failure.map_or(Ok(()), |f| Err(f.into()))
}

fn join(ns: &[usize]) -> String {
    ns.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// One N: the data, two edges, the admin, and what they measured.
struct Run {
    scale: Scale,
    dir: PathBuf,
    token: String,
    /// Bulk credentials picked at random, with their secrets, for the cache.
    sample: Vec<Bulk>,
    edges: Vec<Edge>,
    admin: Admin,
    fig: Value,
}

impl Run {
    /// Loads the data, starts both edges (the admin is started by [`Run::bootstrap`]).
    fn start(binary: &Path, dir: &Path, n: usize, scale: &Scale) -> Result<Self> {
        // The admin's master key is its data dir's (made by bench-load); edge and sync keys are the edges' (.dev.vars).
        let (edge_key, sync) = (dev_var("EMBEDGATE_EDGE_KEY")?, dev_var("EMBEDGATE_SYNC_KEY")?);
        let data = dir.join("admin");
        std::fs::create_dir_all(&data)?;
        let load = util::read_stdout(
            Command::new(binary)
                .args(["bench-load", "--orgs", &scale.orgs.to_string(), "--credentials", &n.to_string()])
                .arg("--data-dir")
                .arg(&data)
                .env_remove("EMBEDGATE_MASTER_KEY"),
        )?;
        let load: Value = serde_json::from_str(&load)?;
        println!("bench-load: {load}");
        let init = util::read_stdout(
            Command::new(binary)
                .args(["init", "--org", CTL_ORG, "--admin-email", CTL_ADMIN, "--data-dir"])
                .arg(&data)
                .env_remove("EMBEDGATE_MASTER_KEY"),
        )?;
        let token = serde_json::from_str::<Value>(&init)?["token"].as_str().ok_or("init printed no token")?.to_owned();
        let db = data.join("embedgate.db");
        let master = std::fs::read_to_string(data.join("master.key"))?;
        let master = MasterKey::from_printable(&master).map_err(|e| format!("master.key: {e}"))?;
        let sample = sample(&db, &KeySet::single(master), scale.distinct.min(n))?;
        let db_bytes = du(&data);

        let mut edges = Vec::new();
        for name in ["edge-a", "edge-b"] {
            let spec = EdgeSpec::new(name, free_port()?, free_port()?, dir)
                .var("EMBEDGATE_REGIONS", &REGIONS.join(","))
                .var("EMBEDGATE_TRUST_REGION_HEADER", "true")
                .var("EMBEDGATE_CACHE_BYTES", &scale.cache_bytes.to_string())
                .var("EMBEDGATE_BENCH_ROUTES", "true")
                .var("SESSION_COOKIE_SECURE", "false");
            let mut edge = Edge::new(spec);
            edge.spawn()?;
            edges.push(edge);
        }
        for edge in &mut edges {
            edge.wait_ready()?;
            println!("{} ready on {}", edge.name(), edge.url());
        }
        let urls: Vec<String> = edges.iter().map(Edge::url).collect();
        let admin = Admin::new(
            AdminSpec::new(binary, free_port()?, &data)
                .env("EMBEDGATE_EDGE_KEY", &edge_key)
                .env("EMBEDGATE_SYNC_KEY", &sync)
                .env("EMBEDGATE_EDGES", &urls.join(","))
                .env("EMBEDGATE_OPERATOR_ORGS", CTL_ORG),
        );
        let fig = json!({
            "credentials": n,
            "orgs": scale.orgs,
            "load": load,
            "admin_db_bytes": db_bytes,
        });
        Ok(Self { scale: scale.clone(), dir: dir.to_path_buf(), token, sample, edges, admin, fig })
    }

    fn measure(&mut self) -> Result<Value> {
        self.bootstrap()?;
        let creds = self.control_credentials()?;
        let (changed, rest) = creds.split_at(self.scale.changes);
        let (revoked, warm) = rest.split_at(self.scale.revocations);
        self.bytes_per_change(changed)?;
        self.revocations(revoked)?;
        self.round_trips(&warm[0])?;
        self.cache()?;
        self.wiped_edge(&warm[0], &revoked[0])?;
        Ok(self.fig.clone())
    }

    fn api(&self) -> Api<'_> {
        Api::new(&self.admin, &self.token, CTL_ORG, CTL_ADMIN)
    }

    fn admin_pid(&self) -> u32 {
        self.admin.proc().map_or(0, embedgate_harness::Proc::pid)
    }

    fn edge_addrs(&self) -> Vec<SocketAddr> {
        self.edges.iter().map(Edge::addr).collect()
    }

    fn metrics(&self) -> Result<Metrics> {
        let (status, text) = http(self.admin.addr(), "GET", "/metrics", &[], "")?;
        if status != 200 {
            return Err(format!("GET /metrics: HTTP {status}").into());
        }
        Ok(Metrics::parse(&text))
    }

    fn edge_list(&self) -> Result<Value> {
        self.api().call("GET", "/api/v1/edges", "")
    }

    /// Waits until every edge is `in_sync` (polled every `every`); the time it took.
    fn wait_in_sync(&self, every: Duration, timeout: Duration) -> Result<f64> {
        let t0 = Instant::now();
        loop {
            let list = self.edge_list()?;
            let edges = list["edges"].as_array().cloned().unwrap_or_default();
            if !edges.is_empty() && edges.iter().all(|e| e["state"] == "in_sync") {
                return Ok(t0.elapsed().as_secs_f64());
            }
            if t0.elapsed() > timeout {
                return Err(format!("edges not in sync after {timeout:?}: {list}").into());
            }
            std::thread::sleep(every);
        }
    }

    /// Per edge: the push counters the admin exposes for it.
    fn push_counts(&self, m: &Metrics) -> Vec<Value> {
        self.edges
            .iter()
            .map(|edge| {
                let url = edge.url();
                let l = |kind: &'static str| [("edge", url.clone()), ("kind", kind.to_owned())];
                json!({
                    "bytes": m.get("embedgate_push_bytes_total", &[("edge", url.clone())]),
                    "deltas": m.get("embedgate_pushes_total", &l("delta")),
                    "pages": m.get("embedgate_pushes_total", &l("page")),
                    "probes": m.get("embedgate_pushes_total", &l("probe")),
                    "largest_delta": m.get("embedgate_push_message_bytes_max", &l("delta")),
                    "largest_page": m.get("embedgate_push_message_bytes_max", &l("page")),
                    "largest_probe": m.get("embedgate_push_message_bytes_max", &l("probe")),
                    "failures": m.get("embedgate_push_failures_total", &[("edge", url.clone())]),
                })
            })
            .collect()
    }

    // ------------------------------------------------------------ 1. bootstrap

    /// Starts the admin and waits until both edges hold the full state.
    fn bootstrap(&mut self) -> Result<()> {
        self.fig["load_before"] = loadavg();
        let t0 = Instant::now();
        self.admin.start()?;
        let pid = self.admin_pid();
        let timeout = Duration::from_secs(self.scale.timeout_s);
        let mut synced: Vec<Option<f64>> = vec![None; self.edges.len()];
        let mut clocks: Vec<PageClock> = self.edges.iter().map(|_| PageClock::default()).collect();
        let mut rss_max = 0;
        let mut last_report = Instant::now();
        loop {
            rss_max = rss_max.max(mem_kib(pid).0);
            let list = self.edge_list()?;
            let edges = list["edges"].as_array().cloned().unwrap_or_default();
            for (i, e) in edges.iter().enumerate() {
                if synced.get(i).is_some_and(Option::is_none) {
                    clocks[i].observe(e);
                }
                if e["state"] == "in_sync" && synced.get(i).is_some_and(Option::is_none) {
                    clocks[i].done();
                    synced[i] = Some(t0.elapsed().as_secs_f64());
                    println!("{} in sync after {:.1} s", self.edges[i].name(), t0.elapsed().as_secs_f64());
                }
            }
            if synced.iter().all(Option::is_some) {
                break;
            }
            if last_report.elapsed() > Duration::from_secs(15) {
                last_report = Instant::now();
                let states: Vec<String> = edges
                    .iter()
                    .map(|e| format!("{} page {} {:.1} MB", e["state"], e["full"]["next_page"], mb(&e["bytes_pushed"])))
                    .collect();
                println!("  {:.0} s: {}", t0.elapsed().as_secs_f64(), states.join("; "));
            }
            if t0.elapsed() > timeout {
                return Err(format!("the edges did not take the full state within {timeout:?}: {list}").into());
            }
            std::thread::sleep(BOOT_POLL);
        }
        let (_, hwm) = mem_kib(pid);
        let m = self.metrics()?;
        let pushes = self.push_counts(&m);
        let mut edges = Vec::new();
        for (i, edge) in self.edges.iter().enumerate() {
            let health = healthz(edge.addr())?;
            clocks[i].times.sort_by(f64::total_cmp);
            edges.push(json!({
                "seconds": synced[i],
                "message_s": summary(&clocks[i].times),
                "push": pushes[i],
                "version": health["version"],
                "sync_round_trips": health["round_trips"]["sync"],
                "state_bytes": du(&edge.spec().persist_to),
                "workerd_kib": workerd_mem(edge),
            }));
        }
        self.fig["bootstrap"] = json!({
            "edges": edges,
            "admin_rss_max_kib": rss_max,
            "admin_hwm_kib": hwm,
            "load_after": loadavg(),
            "state_version": m.get::<&str, &str>("embedgate_state_version", &[]),
        });
        Ok(())
    }

    /// Credentials of `bench-ctl` for the changes, the revocations and one
    /// warm credential, made through the API; waits until the edges have them.
    fn control_credentials(&self) -> Result<Vec<(String, String)>> {
        let count = self.scale.changes + self.scale.revocations + 1;
        let api = self.api();
        let creds = (0..count).map(|i| api.create(&format!("ctl-{i}"))).collect::<Result<Vec<_>>>()?;
        self.wait_in_sync(Duration::from_millis(20), Duration::from_mins(1))?;
        Ok(creds)
    }

    // ------------------------------------------------------------ 2. bytes per change

    fn bytes_per_change(&mut self, creds: &[(String, String)]) -> Result<()> {
        let api = self.api();
        let before = self.push_counts(&self.metrics()?);
        let mut acked = Vec::with_capacity(creds.len());
        let mut kinds = BTreeMap::new();
        for (i, (id, _)) in creds.iter().enumerate() {
            let path = format!("/api/v1/orgs/{CTL_ORG}/credentials/{id}");
            let t0 = Instant::now();
            let kind = match i % 3 {
                0 => api.post(&format!("{path}/revoke")).map(|_| "revoke"),
                1 => api.post(&format!("{path}/rotate")).map(|_| "rotate"),
                _ => {
                    let body = json!({ "max_token_lifetime_s": 3600 + i }).to_string();
                    api.call("PATCH", &path, &body).map(|_| "patch")
                }
            }?;
            *kinds.entry(kind).or_insert(0) += 1;
            self.wait_in_sync(CHANGE_POLL, Duration::from_secs(30))?;
            acked.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        let after = self.push_counts(&self.metrics()?);
        let k = f(creds.len());
        let edges: Vec<Value> = before
            .iter()
            .zip(&after)
            .map(|(b, a)| {
                let d = |key: &str| a[key].as_f64().unwrap_or(0.0) - b[key].as_f64().unwrap_or(0.0);
                // Probes sent meanwhile (none unless a reconcile fell in the window) are taken out at their size.
                let probe_bytes = d("probes") * a["largest_probe"].as_f64().unwrap_or(0.0);
                let delta_bytes = d("bytes") - probe_bytes;
                json!({
                    "bytes": d("bytes"),
                    "probes": d("probes"),
                    "probe_bytes": probe_bytes,
                    "deltas": d("deltas"),
                    "pages": d("pages"),
                    "failures": d("failures"),
                    "bytes_per_change": delta_bytes / k,
                    "deltas_per_change": d("deltas") / k,
                    "largest_delta": a["largest_delta"],
                })
            })
            .collect();
        acked.sort_by(f64::total_cmp);
        self.fig["changes"] = json!({
            "count": creds.len(),
            "kinds": kinds,
            "load_after": loadavg(),
            "edges": edges,
            "acked_ms": summary(&acked),
        });
        Ok(())
    }

    // ------------------------------------------------------------ 3. revocations

    fn revocations(&mut self, creds: &[(String, String)]) -> Result<()> {
        let api = self.api();
        let targets: Vec<(usize, SocketAddr, &str)> = self
            .edge_addrs()
            .into_iter()
            .enumerate()
            .flat_map(|(i, addr)| REGIONS.iter().map(move |r| (i, addr, *r)))
            .collect();
        let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for (id, secret) in creds {
            for &(_, addr, region) in &targets {
                bench_edge::poll_at(addr, CTL_ORG, Some(region), id, secret, Instant::now(), "ok", CHANGE_POLL)?;
            }
            let sent = Instant::now();
            api.post(&format!("/api/v1/orgs/{CTL_ORG}/credentials/{id}/revoke"))?;
            let results: Vec<Result<f64>> = std::thread::scope(|s| {
                let handles: Vec<_> = targets
                    .iter()
                    .map(|&(_, addr, region)| {
                        s.spawn(move || {
                            bench_edge::poll_at(
                                addr,
                                CTL_ORG,
                                Some(region),
                                id,
                                secret,
                                sent,
                                "credential_revoked",
                                REVOKE_POLL,
                            )
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a poller panicked".into()))).collect()
            });
            for (&(i, _, region), ms) in targets.iter().zip(results) {
                samples.entry(format!("{}/{region}", self.edges[i].name())).or_default().push(ms?);
            }
        }
        let mut all: Vec<f64> = samples.values().flatten().copied().collect();
        all.sort_by(f64::total_cmp);
        let mut by_target = serde_json::Map::new();
        for (target, mut ms) in samples {
            ms.sort_by(f64::total_cmp);
            by_target.insert(target, summary(&ms));
        }
        self.fig["revocations"] = json!({
            "count": creds.len(),
            "poll_ms": REVOKE_POLL.as_millis(),
            "all_ms": summary(&all),
            "by_edge_region": by_target,
            "load_after": loadavg(),
        });
        Ok(())
    }

    // ------------------------------------------------------------ 4. round trips

    fn round_trips(&mut self, warm: &(String, String)) -> Result<()> {
        let edge = &self.edges[0];
        let addr = edge.addr();
        let (id, secret) = warm;
        bench_edge::poll_at(addr, CTL_ORG, None, id, secret, Instant::now(), "ok", CHANGE_POLL)?;
        let count = usize::try_from(self.scale.seconds).unwrap_or(5) * 1500;
        let mut lines = String::with_capacity(count * 600);
        for _ in 0..count {
            let _ = writeln!(lines, "/{CTL_ORG}/workbook/q3?:jwt={}", bench_edge::token_for(id, secret)?);
        }
        let paths = self.dir.join("paths.txt");
        std::fs::write(&paths, lines)?;
        let target = edge.url();
        let h0 = healthz(addr)?;
        let fresh = bench_edge::wrk(&target, "/", Some(&paths), None, self.scale.seconds, &self.dir)?;
        let h1 = healthz(addr)?;
        let cookie = bench_edge::session_cookie_at(addr, CTL_ORG, id, secret)?;
        let h2 = healthz(addr)?;
        let path = format!("/{CTL_ORG}/workbook/q3");
        let session = bench_edge::wrk(&target, &path, None, Some(&cookie), self.scale.seconds, &self.dir)?;
        let h3 = healthz(addr)?;
        let per_load = |a: &Value, b: &Value, r: &bench_edge::WrkResult| {
            let d = |key: &str| {
                b["round_trips"][key].as_f64().unwrap_or(0.0) - a["round_trips"][key].as_f64().unwrap_or(0.0)
            };
            let loads = d("embed_loads").max(1.0);
            // The later /healthz asks every region's head once itself.
            let head = d("head") - f(REGIONS.len());
            json!({
                "loads": d("embed_loads"),
                "state": d("state"), "replay": d("replay"), "head": head,
                "state_per_load": d("state") / loads,
                "replay_per_load": d("replay") / loads,
                "head_per_load": head / loads,
                "rps": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "non_2xx": r.non_2xx,
            })
        };
        self.fig["round_trips"] = json!({
            "fresh_token": per_load(&h0, &h1, &fresh),
            "session": per_load(&h2, &h3, &session),
            "wrk": format!("wrk -t1 -c8 -d{}s", self.scale.seconds),
            "load_after": loadavg(),
        });
        Ok(())
    }

    // ------------------------------------------------------------ 5. cache

    fn cache(&mut self) -> Result<()> {
        let edge = &self.edges[0];
        let addr = edge.addr();
        let h0 = healthz(addr)?;
        let mem0 = workerd_mem(edge);
        let next = AtomicUsize::new(0);
        let answers: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());
        let t0 = Instant::now();
        let sample = &self.sample;
        std::thread::scope(|s| {
            for _ in 0..LOAD_THREADS {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(bulk) = sample.get(i) else { break };
                    let answer = bench_edge::sign_token(&bulk.client_id, &bulk.secret)
                        .and_then(|token| bench_edge::load(addr, bulk.org.as_str(), None, &token))
                        .unwrap_or_else(|e| format!("error: {e}"));
                    *answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(answer).or_insert(0) += 1;
                });
            }
        });
        let seconds = t0.elapsed().as_secs_f64();
        let h1 = healthz(addr)?;
        let mem1 = workerd_mem(edge);
        let answers = answers.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        let d = |key: &str| h1["cache"][key].as_f64().unwrap_or(0.0) - h0["cache"][key].as_f64().unwrap_or(0.0);
        self.fig["cache"] = json!({
            "distinct": sample.len(),
            "answers": answers,
            "seconds": seconds,
            "loads_per_s": f(sample.len()) / seconds,
            "entries": h1["cache"]["entries"],
            "bytes": h1["cache"]["bytes"],
            "max_bytes": h1["cache"]["max_bytes"],
            "evictions": d("evictions"),
            "fetches": d("fetches"),
            "hits": d("hits"),
            "bytes_within_bound": h1["cache"]["bytes"].as_u64() <= h1["cache"]["max_bytes"].as_u64(),
            "load_after": loadavg(),
            "workerd_before_kib": mem0,
            "workerd_after_kib": mem1,
        });
        Ok(())
    }

    // ------------------------------------------------------------ 6. a wiped edge

    fn wiped_edge(&mut self, warm: &(String, String), revoked: &(String, String)) -> Result<()> {
        let pid = self.admin_pid();
        let before = self.push_counts(&self.metrics()?);
        let (_, hwm_before) = mem_kib(pid);
        let edge = &mut self.edges[1];
        edge.stop()?;
        std::fs::remove_dir_all(&edge.spec().persist_to)?;
        let t_start = Instant::now();
        edge.start()?;
        let ready_s = t_start.elapsed().as_secs_f64();
        let label = edge.url();
        let t0 = Instant::now();
        // A change wakes the push at once (else the next probe finds the edge wiped).
        let body = json!({ "max_token_lifetime_s": 7200 }).to_string();
        self.api().call("PATCH", &format!("/api/v1/orgs/{CTL_ORG}/credentials/{}", warm.0), &body)?;
        let timeout = Duration::from_secs(self.scale.timeout_s);
        let (mut first_page, mut rss_max, mut last_report) = (None, 0, Instant::now());
        let mut clock = PageClock::default();
        let done = loop {
            rss_max = rss_max.max(mem_kib(pid).0);
            let list = self.edge_list()?;
            let edges = list["edges"].as_array().cloned().unwrap_or_default();
            let Some(e) = edges.iter().find(|e| e["url"] == label.as_str()) else {
                return Err(format!("the admin does not list {label}: {list}").into());
            };
            clock.observe(e);
            if first_page.is_none() && !e["full"].is_null() {
                first_page = Some(t0.elapsed().as_secs_f64());
            }
            if e["state"] == "in_sync" && edges.iter().all(|e| e["state"] == "in_sync") {
                clock.done();
                break t0.elapsed().as_secs_f64();
            }
            if last_report.elapsed() > Duration::from_secs(15) {
                last_report = Instant::now();
                println!(
                    "  {:.0} s: {} page {} {:.1} MB",
                    t0.elapsed().as_secs_f64(),
                    e["state"],
                    e["full"]["next_page"],
                    mb(&e["bytes_pushed"])
                );
            }
            if t0.elapsed() > timeout {
                return Err(format!("the wiped edge did not take the full state within {timeout:?}: {list}").into());
            }
            std::thread::sleep(BOOT_POLL);
        };
        println!("{} (wiped) in sync after {done:.1} s", self.edges[1].name());
        let (_, hwm_after) = mem_kib(pid);
        let m = self.metrics()?;
        let after = self.push_counts(&m);
        let d = |key: &str| after[1][key].as_f64().unwrap_or(0.0) - before[1][key].as_f64().unwrap_or(0.0);
        let edge = &self.edges[1];
        let health = healthz(edge.addr())?;
        // What it answers now: a bulk credential and a revoked one, in each region.
        let mut answers = serde_json::Map::new();
        if let Some(bulk) = self.sample.first() {
            for region in REGIONS {
                let token = bench_edge::sign_token(&bulk.client_id, &bulk.secret)?;
                let got = bench_edge::load(edge.addr(), bulk.org.as_str(), Some(region), &token)?;
                answers.insert(format!("bulk/{region}"), json!(got));
            }
        }
        for region in REGIONS {
            let got =
                bench_edge::load(edge.addr(), CTL_ORG, Some(region), &bench_edge::token_for(&revoked.0, &revoked.1)?)?;
            answers.insert(format!("revoked/{region}"), json!(got));
        }
        self.fig["wiped"] = json!({
            "edge_ready_s": ready_s,
            "first_page_s": first_page,
            "message_s": summary(&{
                clock.times.sort_by(f64::total_cmp);
                clock.times
            }),
            "in_sync_s": done,
            "pages": d("pages"),
            "deltas": d("deltas"),
            "bytes": d("bytes"),
            "failures": d("failures"),
            "largest_page": after[1]["largest_page"],
            "largest_message_any_edge": after.iter().flat_map(|e| [e["largest_page"].as_f64(), e["largest_delta"].as_f64()]).flatten().fold(0.0, f64::max),
            "sync_round_trips": health["round_trips"]["sync"],
            "regions": health["regions"],
            "state_bytes": du(&edge.spec().persist_to),
            "workerd_kib": workerd_mem(edge),
            "admin_rss_max_kib": rss_max,
            "admin_hwm_before_kib": hwm_before,
            "admin_hwm_after_kib": hwm_after,
            "answers_after": answers,
            "load_after": loadavg(),
        });
        Ok(())
    }
}

// ------------------------------------------------------------ helpers

/// The time between the messages the admin sends one edge (a change of
/// its `bytes_pushed`, seen every [`BOOT_POLL`]), the last until in sync:
/// how long each page takes to send, apply in every region and acknowledge.
#[derive(Debug, Default)]
struct PageClock {
    bytes: Option<f64>,
    sent_at: Option<Instant>,
    times: Vec<f64>,
}

impl PageClock {
    fn observe(&mut self, edge: &Value) {
        let bytes = edge["bytes_pushed"].as_f64().unwrap_or(0.0);
        if self.bytes != Some(bytes) {
            if let (Some(_), Some(at)) = (self.bytes, self.sent_at) {
                self.times.push(at.elapsed().as_secs_f64());
            }
            self.bytes = Some(bytes);
            self.sent_at = Some(Instant::now());
        }
    }

    fn done(&mut self) {
        if let Some(at) = self.sent_at.take() {
            self.times.push(at.elapsed().as_secs_f64());
        }
    }
}

/// A bulk credential and its current secret.
struct Bulk {
    org: OrgSlug,
    client_id: ClientId,
    secret: EmbedSecret,
}

/// `count` bulk credentials at random with their secrets: IDs and wrapped
/// org keys read with `sqlite3`, each org key opened with `masters`, the
/// secret derived from it as the admin derives it (`Kdf::V2`; bench-load
/// makes generation 1 of every credential).
fn sample(db: &Path, masters: &KeySet<MasterKey>, count: usize) -> Result<Vec<Bulk>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT c.org, c.client_id, o.key_epoch, o.key_wrapped, c.kdf, c.current_generation \
         FROM credentials c JOIN orgs o ON o.slug = c.org \
         WHERE c.org <> '{CTL_ORG}' ORDER BY random() LIMIT {count}"
    );
    let out = util::read_stdout(Command::new("sqlite3").args(["-readonly", "-separator", " "]).arg(db).arg(sql))
        .map_err(|e| format!("{e} (the `sqlite3` CLI reads the bulk credentials: cargo xtask setup installs it)"))?;
    let mut keys = BTreeMap::new();
    let mut rows = Vec::with_capacity(count);
    for line in out.lines() {
        let bad = || format!("an unexpected credential row from sqlite3: {line:?}");
        let [org, id, epoch, wrapped, kdf, generation] = line.split(' ').collect::<Vec<_>>()[..] else {
            return Err(bad().into());
        };
        if kdf != "v2" {
            return Err(format!("{}: kdf {kdf}, not v2", bad()).into());
        }
        let org: OrgSlug = org.parse().map_err(|_| bad())?;
        let client_id: ClientId = id.parse().map_err(|_| bad())?;
        let generation: u32 = generation.parse().map_err(|_| bad())?;
        if !keys.contains_key(org.as_str()) {
            let epoch: u32 = epoch.parse().map_err(|_| bad())?;
            let wrapped: Wrapped = wrapped.parse().map_err(|e| format!("{}: {e}", bad()))?;
            let key = masters.unwrap_org_key(&org, epoch, &wrapped).map_err(|e| format!("{}: {e}", bad()))?;
            keys.insert(org.as_str().to_owned(), key);
        }
        let secret = keys[org.as_str()].derive_embed_secret(&org, &client_id, generation);
        rows.push(Bulk { org, client_id, secret });
    }
    if rows.len() < count {
        return Err(format!("{} has {} bulk credentials, {count} wanted", db.display(), rows.len()).into());
    }
    Ok(rows)
}

/// The machine's load averages (1, 5, 15 min): the machine is shared.
fn loadavg() -> Value {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    json!(text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// `GET /healthz` of an edge, whatever its status.
fn healthz(addr: SocketAddr) -> Result<Value> {
    let (_, body) = http(addr, "GET", "/healthz", &[], "")?;
    Ok(serde_json::from_str(&body)?)
}

/// `VmRSS` and `VmHWM` of a process, in KiB (0 when unreadable).
fn mem_kib(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The workerd process of an edge: in the process group of its `wrangler dev`.
fn workerd_pid(edge: &Edge) -> Option<u32> {
    let group = edge.proc()?.pid();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        let (open, close) = (stat.find('(')?, stat.rfind(')')?);
        let comm = &stat[open + 1..close];
        // After the name: state, ppid, pgrp.
        let pgrp: u32 = stat[close + 1..].split_whitespace().nth(2)?.parse().ok()?;
        (pgrp == group && comm.starts_with("workerd")).then_some(pid)
    })
}

/// An edge's workerd memory: `{pid, rss, hwm}` in KiB (null when not found).
fn workerd_mem(edge: &Edge) -> Value {
    workerd_pid(edge).map_or(Value::Null, |pid| {
        let (rss, hwm) = mem_kib(pid);
        json!({ "pid": pid, "rss": rss, "hwm": hwm })
    })
}

/// Bytes of the files under `path`.
fn du(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return std::fs::metadata(path).map_or(0, |m| m.len());
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => du(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// The machine, for the record.
fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_owned()));
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_owned()));
    let commit = util::probe(Command::new("git").args(["rev-parse", "--short", "HEAD"]).current_dir(util::repo_root()))
        .map(|c| c.trim().to_owned());
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        "memory": mem,
        "commit": commit,
        "date": util::probe(Command::new("date").arg("-u").arg("+%Y-%m-%dT%H:%M:%SZ")).map(|d| d.trim().to_owned()),
    })
}

/// One sample line: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// Prometheus text, sample by sample.
struct Metrics(Vec<Sample>);

impl Metrics {
    fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                let value: f64 = value.parse().ok()?;
                let (name, labels) = match series.split_once('{') {
                    Some((name, rest)) => (name, rest.trim_end_matches('}')),
                    None => (series, ""),
                };
                let labels = labels
                    .split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
                    .collect();
                Some((name.to_owned(), labels, value))
            })
            .collect();
        Self(samples)
    }

    /// The sample of `name` with (at least) `labels`; 0 when absent.
    fn get<K: AsRef<str>, V: AsRef<str>>(&self, name: &str, labels: &[(K, V)]) -> f64 {
        self.0
            .iter()
            .find(|(n, l, _)| {
                n == name && labels.iter().all(|(k, v)| l.iter().any(|(lk, lv)| lk == k.as_ref() && lv == v.as_ref()))
            })
            .map_or(0.0, |s| s.2)
    }
}

#[allow(clippy::cast_precision_loss)]
fn f(n: usize) -> f64 {
    n as f64
}

fn mb(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0) / 1e6
}

/// p50, p99 and max of sorted samples, in their unit.
fn summary(sorted: &[f64]) -> Value {
    json!({
        "n": sorted.len(),
        "p50": bench_edge::pct(sorted, 0.50),
        "p99": bench_edge::pct(sorted, 0.99),
        "max": sorted.last(),
    })
}

// ------------------------------------------------------------ the table

fn num(fig: &Value, pointer: &str) -> Option<f64> {
    fig.pointer(pointer).and_then(Value::as_f64)
}

/// `pointer` in `unit` steps with `decimals`, or `-`.
fn cell(fig: &Value, pointer: &str, unit: f64, decimals: usize) -> String {
    num(fig, pointer).map_or_else(|| "-".to_owned(), |v| format!("{:.*}", decimals, v / unit))
}

fn table(runs: &[Value], scale: &Scale) -> String {
    type Row = (&'static str, Box<dyn Fn(&Value) -> String>);
    let at = |p: &'static str, unit: f64, d: usize| -> Box<dyn Fn(&Value) -> String> {
        Box::new(move |fig: &Value| cell(fig, p, unit, d))
    };
    let pair = |a: &'static str, b: &'static str, unit: f64, d: usize| -> Box<dyn Fn(&Value) -> String> {
        Box::new(move |fig: &Value| format!("{} / {}", cell(fig, a, unit, d), cell(fig, b, unit, d)))
    };
    let (kib, mib, mb) = (1024.0, 1024.0 * 1024.0, 1e6);
    let rows: Vec<Row> = vec![
        ("bulk load (s)", at("/load/seconds", 1.0, 1)),
        ("admin database (MB)", at("/admin_db_bytes", mb, 1)),
        ("-- bootstrap, both edges at once", Box::new(|_| String::new())),
        ("pages per edge (a / b)", pair("/bootstrap/edges/0/push/pages", "/bootstrap/edges/1/push/pages", 1.0, 0)),
        ("MB pushed per edge", pair("/bootstrap/edges/0/push/bytes", "/bootstrap/edges/1/push/bytes", mb, 1)),
        ("largest page (KiB, cap 1024)", at("/bootstrap/edges/0/push/largest_page", kib, 1)),
        ("DO calls to apply it (edge a)", at("/bootstrap/edges/0/sync_round_trips", 1.0, 0)),
        ("edge state on disk (MB, edge a)", at("/bootstrap/edges/0/state_bytes", mb, 1)),
        ("time to in_sync (s, a / b)", pair("/bootstrap/edges/0/seconds", "/bootstrap/edges/1/seconds", 1.0, 1)),
        (
            "s per message, p50 / max (edge a)",
            pair("/bootstrap/edges/0/message_s/p50", "/bootstrap/edges/0/message_s/max", 1.0, 1),
        ),
        ("admin VmHWM (MiB)", at("/bootstrap/admin_hwm_kib", 1024.0, 1)),
        ("push failures (a / b)", pair("/bootstrap/edges/0/push/failures", "/bootstrap/edges/1/push/failures", 1.0, 0)),
        ("-- one change (revoke, rotate, patch)", Box::new(|_| String::new())),
        (
            "bytes per change (a / b, target <= 4096)",
            pair("/changes/edges/0/bytes_per_change", "/changes/edges/1/bytes_per_change", 1.0, 0),
        ),
        (
            "delta messages per change (a / b)",
            pair("/changes/edges/0/deltas_per_change", "/changes/edges/1/deltas_per_change", 1.0, 2),
        ),
        ("largest delta (bytes)", at("/changes/edges/0/largest_delta", 1.0, 0)),
        ("change -> both edges acked p50 / p99 (ms)", pair("/changes/acked_ms/p50", "/changes/acked_ms/p99", 1.0, 1)),
        ("-- revoke -> credential_revoked, 2 edges x 2 regions", Box::new(|_| String::new())),
        ("p50 / p99 (ms, target p99 < 1000)", pair("/revocations/all_ms/p50", "/revocations/all_ms/p99", 1.0, 1)),
        ("max (ms)", at("/revocations/all_ms/max", 1.0, 1)),
        ("-- a wiped edge, alone", Box::new(|_| String::new())),
        ("pages", at("/wiped/pages", 1.0, 0)),
        ("MB pushed", at("/wiped/bytes", mb, 1)),
        ("largest page (KiB)", at("/wiped/largest_page", kib, 1)),
        (
            "first page -> in_sync (s)",
            Box::new(|fig: &Value| match (num(fig, "/wiped/in_sync_s"), num(fig, "/wiped/first_page_s")) {
                (Some(a), Some(b)) => format!("{:.1}", a - b),
                _ => "-".to_owned(),
            }),
        ),
        ("change -> in_sync (s)", at("/wiped/in_sync_s", 1.0, 1)),
        ("s per message, p50 / max", pair("/wiped/message_s/p50", "/wiped/message_s/max", 1.0, 1)),
        ("push failures", at("/wiped/failures", 1.0, 0)),
        ("admin RSS max meanwhile (MiB)", at("/wiped/admin_rss_max_kib", 1024.0, 1)),
        ("admin VmHWM after (MiB)", at("/wiped/admin_hwm_after_kib", 1024.0, 1)),
        ("-- isolate cache after distinct loads", Box::new(|_| String::new())),
        ("distinct credentials loaded", at("/cache/distinct", 1.0, 0)),
        ("entries", at("/cache/entries", 1.0, 0)),
        ("bytes / bound (MiB)", pair("/cache/bytes", "/cache/max_bytes", mib, 2)),
        ("evictions", at("/cache/evictions", 1.0, 0)),
        (
            "workerd RSS before / after (MiB)",
            pair("/cache/workerd_before_kib/rss", "/cache/workerd_after_kib/rss", 1024.0, 0),
        ),
        ("-- round trips per embed load (edge a)", Box::new(|_| String::new())),
        (
            "fresh token: replay / state",
            pair("/round_trips/fresh_token/replay_per_load", "/round_trips/fresh_token/state_per_load", 1.0, 4),
        ),
        ("fresh token: loads, req/s", pair("/round_trips/fresh_token/loads", "/round_trips/fresh_token/rps", 1.0, 0)),
        (
            "session: replay / state",
            pair("/round_trips/session/replay_per_load", "/round_trips/session/state_per_load", 1.0, 4),
        ),
        ("session: loads, req/s", pair("/round_trips/session/loads", "/round_trips/session/rps", 1.0, 0)),
        ("wall time of the run (s)", at("/wall_seconds", 1.0, 0)),
    ];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## edge state plane at scale ({} orgs, 2 edges x {} regions, cache bound {} KiB)",
        scale.orgs,
        REGIONS.len(),
        scale.cache_bytes / 1024
    );
    let _ = write!(out, "{:<46}", "N");
    for run in runs {
        let _ = write!(out, " {:>22}", run["credentials"]);
    }
    out.push('\n');
    for (label, value) in &rows {
        let _ = write!(out, "{label:<46}");
        for run in runs {
            let _ = write!(out, " {:>22}", if run.get("error").is_some() { "error".to_owned() } else { value(run) });
        }
        out.push('\n');
    }
    for run in runs.iter().filter(|r| r.get("error").is_some()) {
        let _ = writeln!(out, "N = {}: {}", run["credentials"], run["error"]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_read_by_name_and_labels() {
        let m = Metrics::parse(
            "# HELP x y\nembedgate_state_version 12\n\
             embedgate_pushes_total{edge=\"http://127.0.0.1:1\",kind=\"page\"} 3\n\
             embedgate_pushes_total{edge=\"http://127.0.0.1:1\",kind=\"delta\"} 5\n",
        );
        assert!((m.get::<&str, &str>("embedgate_state_version", &[]) - 12.0).abs() < f64::EPSILON);
        assert!(
            (m.get("embedgate_pushes_total", &[("edge", "http://127.0.0.1:1"), ("kind", "delta")]) - 5.0).abs()
                < f64::EPSILON
        );
        assert!(m.get("embedgate_pushes_total", &[("kind", "probe")]).abs() < f64::EPSILON);
    }

    #[test]
    fn a_table_shows_errors_and_missing_figures() {
        let runs =
            vec![json!({"credentials": 10, "load": {"seconds": 1.25}}), json!({"credentials": 20, "error": "boom"})];
        let text = table(&runs, &Scale::default());
        assert!(text.contains("1.2") && text.contains("error") && text.contains("N = 20: \"boom\""), "{text}");
    }
}
