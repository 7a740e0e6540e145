//! `cargo xtask bench-edge`: the edge's figures on the real runtime (issue 4),
//! all on 127.0.0.1, bounded, stopping everything it starts.
//!
//! - Revoke → refused: an admin pushing to two edges (workerd via `wrangler
//!   dev`); for each of N credentials, the time from sending the revoke to
//!   the first `credential_revoked` at each edge (polled every 5 ms with fresh
//!   tokens). Also new credential → first 200 at each edge.
//! - Throughput: `wrk` (Debian) for a bounded time against the pass-through
//!   route, the embed route with a fresh token per request (verify + replay
//!   Durable Object) from an HS256, an ES256 and an EdDSA credential (what a
//!   public-key credential costs in the worker), and the embed route on a
//!   session cookie.
//! - The worker's WASM size, raw and gzip.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use embedgate_core::{sign, sign_with_key, Algorithm, Claims, ClientId, EmbedSecret, SigningJwk};
use embedgate_harness::{dev_var, free_port, http, Admin, AdminSpec, Edge, EdgeSpec};
use serde_json::Value;

use crate::util::{self, cargo, Result};

const ORG: &str = "bench";
const ADMIN_EMAIL: &str = "admin@bench.test";

#[derive(Debug, Clone)]
pub struct Options {
    /// Revocations measured.
    pub revocations: usize,
    /// Seconds per wrk run.
    pub seconds: u64,
    /// `--scale`: the state plane at scale instead (`bench_scale`).
    pub scale: Option<crate::bench_scale::Scale>,
}

impl Default for Options {
    fn default() -> Self {
        Self { revocations: 50, seconds: 10, scale: None }
    }
}

pub fn run(options: &Options) -> Result<()> {
    crate::setup::run()?;
    util::run(&mut cargo(["build", "--release", "-p", "embedgate-admin"]))?;
    embedgate_harness::build_edge()?;
    let binary = util::target_dir().join("release/embedgate");
    let dir = util::run_dir("bench-edge")?;
    let result = match &options.scale {
        Some(scale) => crate::bench_scale::measure(&binary, &dir, scale),
        None => measure(&binary, &dir, options),
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(binary: &Path, dir: &Path, options: &Options) -> Result<()> {
    // The admin's master key is its data dir's (made by `init`); edge and sync keys are the edges' (.dev.vars).
    let (edge_key, sync) = (dev_var("EMBEDGATE_EDGE_KEY")?, dev_var("EMBEDGATE_SYNC_KEY")?);
    let mut edges = Vec::new();
    for i in 0..2 {
        let port = free_port()?;
        println!("starting edge {i} on 127.0.0.1:{port} …");
        // The keys come from .dev.vars, read by wrangler itself.
        let spec = EdgeSpec::new(&format!("edge{i}"), port, free_port()?, dir)
            .var("EMBEDGATE_BENCH_ROUTES", "true")
            .var("SESSION_COOKIE_SECURE", "false");
        edges.push(Edge::start_new(spec)?);
    }
    let edge_urls: Vec<String> = edges.iter().map(Edge::url).collect();
    let init = util::read_stdout(
        Command::new(binary)
            .args(["init", "--org", ORG, "--admin-email", ADMIN_EMAIL, "--data-dir"])
            .arg(dir.join("admin")),
    )?;
    let token = serde_json::from_str::<Value>(&init)?["token"].as_str().ok_or("init printed no token")?.to_owned();
    let spec = AdminSpec::new(binary, free_port()?, &dir.join("admin"))
        .env("EMBEDGATE_EDGE_KEY", &edge_key)
        .env("EMBEDGATE_SYNC_KEY", &sync)
        .env("EMBEDGATE_EDGES", &edge_urls.join(","))
        .env("EMBEDGATE_OPERATOR_ORGS", ORG);
    let admin = Admin::start_new(spec)?;
    let api = Api::new(&admin, &token, ORG, ADMIN_EMAIL);

    // --- propagation -------------------------------------------------------------
    let mut usable = Vec::new();
    let mut revoked = Vec::new();
    for i in 0..options.revocations {
        let sent = Instant::now();
        let (client_id, secret) = api.create(&format!("bench-{i}"))?;
        for edge in &edges {
            usable.push(poll(edge, &client_id, &secret, sent, "ok")?);
        }
        let sent = Instant::now();
        api.post(&format!("/api/v1/orgs/{ORG}/credentials/{client_id}/revoke"))?;
        for edge in &edges {
            revoked.push(poll(edge, &client_id, &secret, sent, "credential_revoked")?);
        }
    }
    let mut report = String::new();
    let _ = writeln!(report, "\n## propagation ({} credentials, {} edges)", options.revocations, edges.len());
    let _ = writeln!(report, "{:<32} {:>8} {:>8} {:>8} {:>6}", "", "p50 ms", "p99 ms", "max ms", "n");
    for (name, samples) in [("new credential -> usable", &mut usable), ("revoke -> credential_revoked", &mut revoked)] {
        samples.sort_by(f64::total_cmp);
        let _ = writeln!(
            report,
            "{name:<32} {:>8.1} {:>8.1} {:>8.1} {:>6}",
            pct(samples, 0.50),
            pct(samples, 0.99),
            samples.last().copied().unwrap_or_default(),
            samples.len()
        );
    }
    println!("{report}");

    report.push_str(&throughput_and_size(&api, &edges[0], options, dir)?);
    println!("{report}");
    drop(admin);
    drop(edges);
    Ok(())
}

/// The wrk runs against `edge` and the worker's size, as report text.
fn throughput_and_size(api: &Api<'_>, edge: &Edge, options: &Options, dir: &Path) -> Result<String> {
    let mut report = String::new();
    // --- throughput ----------------------------------------------------------------
    let (client_id, secret) = api.create("bench-load")?;
    poll(edge, &client_id, &secret, Instant::now(), "ok")?;
    let count = usize::try_from(options.seconds).unwrap_or(10) * 1500;
    let paths = token_paths(&dir.join("paths.txt"), count, || token_for(&client_id, &secret))?;
    // The same load from public-key credentials: the host app's key pair signs.
    let mut asymmetric = Vec::new();
    for alg in [Algorithm::Es256, Algorithm::EdDsa] {
        let pair = SigningJwk::generate(alg)?;
        let id = api.create_with_key(&format!("bench-load-{alg}"), &pair)?;
        let client: ClientId = id.parse().map_err(|e| format!("{e:?}"))?;
        poll_with(edge, Instant::now(), "ok", || signed_by(&client, &pair))?;
        let file = dir.join(format!("paths-{alg}.txt"));
        asymmetric.push((alg, token_paths(&file, count, || signed_by(&client, &pair))?));
    }
    let cookie = session_cookie(edge, &client_id, &secret)?;
    let target = edge.url();
    let fresh = |paths: &Path| wrk(&target, "/", Some(paths), None, options.seconds, dir);
    let mut runs = vec![
        (
            "pass-through route".to_owned(),
            wrk(&target, "/.well-known/embedgate/passthrough", None, None, options.seconds, dir)?,
        ),
        ("embed, fresh token (verify + replay DO)".to_owned(), fresh(&paths)?),
    ];
    for (alg, paths) in &asymmetric {
        runs.push((format!("embed, fresh {alg} token (public key)"), fresh(paths)?));
    }
    runs.push((
        "embed, session cookie".to_owned(),
        wrk(&target, &format!("/{ORG}/workbook/q3"), None, Some(&cookie), options.seconds, dir)?,
    ));
    let base = runs[0].1.rps;
    let _ = writeln!(report, "\n## throughput (wrk -t1 -c8 -d{}s, one edge)", options.seconds);
    let _ = writeln!(
        report,
        "{:<42} {:>9} {:>8} {:>8} {:>9} {:>10}",
        "route", "req/s", "p50 ms", "p99 ms", "non-2xx", "vs pass"
    );
    for (name, r) in &runs {
        let _ = writeln!(
            report,
            "{name:<42} {:>9.0} {:>8.2} {:>8.2} {:>9} {:>9.1}%",
            r.rps,
            r.p50_ms,
            r.p99_ms,
            r.non_2xx,
            100.0 * (r.rps / base - 1.0)
        );
    }
    for (name, r) in &runs[1..] {
        let _ = writeln!(
            report,
            "added time per request, {name}: {:.3} ms (1/rps difference at saturation)",
            1000.0 * (1.0 / r.rps - 1.0 / base)
        );
    }
    let hs256 = runs[1].1.rps;
    for (name, r) in &runs[2..2 + asymmetric.len()] {
        let _ = writeln!(
            report,
            "{name} vs HS256: {:.3} ms more per request, {:.2}x the HS256 time at saturation",
            1000.0 * (1.0 / r.rps - 1.0 / hs256),
            hs256 / r.rps
        );
    }

    // --- size --------------------------------------------------------------------------
    let wasm = util::repo_root().join("crates/edge/build/index_bg.wasm");
    let raw = std::fs::metadata(&wasm)?.len();
    let gz = util::read_stdout(Command::new("sh").arg("-c").arg(format!("gzip -9 -c '{}' | wc -c", wasm.display())))?;
    let _ = writeln!(
        report,
        "\n## worker size\nindex_bg.wasm {raw} bytes, {} bytes gzip (Workers limits: 3 MB gzip free plan, 10 MB paid)",
        gz.trim()
    );
    Ok(report)
}

/// The admin's API as one org's admin.
pub(crate) struct Api<'a> {
    admin: &'a Admin,
    auth: String,
    org: &'a str,
    owner: &'a str,
}

impl<'a> Api<'a> {
    pub(crate) fn new(admin: &'a Admin, token: &str, org: &'a str, owner: &'a str) -> Self {
        Self { admin, auth: format!("Bearer {token}"), org, owner }
    }

    pub(crate) fn post(&self, path: &str) -> Result<Value> {
        self.send(path, "{}")
    }

    pub(crate) fn send(&self, path: &str, body: &str) -> Result<Value> {
        self.call("POST", path, body)
    }

    /// `method path` with the token and a JSON body; the JSON answer (2xx only).
    pub(crate) fn call(&self, method: &str, path: &str, body: &str) -> Result<Value> {
        let headers = [("authorization", self.auth.as_str()), ("content-type", "application/json")];
        let (status, text) = http(self.admin.addr(), method, path, &headers, body)?;
        if !(200..300).contains(&status) {
            return Err(format!("{method} {path}: HTTP {status} {text}").into());
        }
        Ok(serde_json::from_str(&text)?)
    }

    /// A new credential of the org holding `pair`'s public key (the private
    /// key stays here, as with a host app): its client ID.
    pub(crate) fn create_with_key(&self, name: &str, pair: &SigningJwk) -> Result<String> {
        let body = serde_json::json!({
            "name": name, "owner": self.owner, "privileges": ["embedding"], "public_key": pair.public(),
        })
        .to_string();
        let v = self.send(&format!("/api/v1/orgs/{}/credentials", self.org), &body)?;
        Ok(v["client_id"].as_str().unwrap_or_default().to_owned())
    }

    /// A new credential of the org, owned by the org's admin: its client ID and secret.
    pub(crate) fn create(&self, name: &str) -> Result<(String, String)> {
        let body = serde_json::json!({"name": name, "owner": self.owner, "privileges": ["embedding"]}).to_string();
        let v = self.send(&format!("/api/v1/orgs/{}/credentials", self.org), &body)?;
        Ok((
            v["client_id"].as_str().unwrap_or_default().to_owned(),
            v["secret"].as_str().unwrap_or_default().to_owned(),
        ))
    }
}

/// Writes `count` embed paths with fresh tokens from `token` (wrk's input); the file.
fn token_paths(file: &Path, count: usize, mut token: impl FnMut() -> Result<String>) -> Result<std::path::PathBuf> {
    let mut lines = String::with_capacity(count * 600);
    for _ in 0..count {
        let _ = writeln!(lines, "/{ORG}/workbook/q3?:jwt={}", token()?);
    }
    std::fs::write(file, lines)?;
    Ok(file.to_path_buf())
}

/// A fresh embed token signed with a host app's private key.
fn signed_by(client: &ClientId, pair: &SigningJwk) -> Result<String> {
    let now = i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs())?;
    Ok(sign_with_key(&Claims::new("user@bench.test", now, 3600)?, client, pair)?)
}

pub(crate) fn token_for(client_id: &str, secret: &str) -> Result<String> {
    let client: ClientId = client_id.parse().map_err(|e| format!("{e:?}"))?;
    sign_token(&client, &EmbedSecret::new(secret.to_owned()))
}

/// A fresh embed token (new `jti`, an hour's lifetime) of `client` signed with `secret`.
pub(crate) fn sign_token(client: &ClientId, secret: &EmbedSecret) -> Result<String> {
    let now = i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs())?;
    Ok(sign(&Claims::new("user@bench.test", now, 3600)?, client, secret)?)
}

/// Milliseconds from `sent` until the edge answers with `want` (`ok` or a code).
fn poll(edge: &Edge, client_id: &str, secret: &str, sent: Instant, want: &str) -> Result<f64> {
    poll_at(edge.addr(), ORG, None, client_id, secret, sent, want, Duration::from_millis(5))
}

/// Milliseconds from `sent` until `edge` answers `want` to a fresh token
/// from `token` (polled every 5 ms; 30 s at most).
fn poll_with(edge: &Edge, sent: Instant, want: &str, token: impl FnMut() -> Result<String>) -> Result<f64> {
    poll_until(edge.addr(), ORG, None, sent, want, Duration::from_millis(5), token)
}

/// What one embed load of `org`'s page with `token` answers on `addr` (in
/// `region` when given, through `x-embedgate-region`): `ok` or the error code.
pub(crate) fn load(addr: SocketAddr, org: &str, region: Option<&str>, token: &str) -> Result<String> {
    let path = format!("/{org}/workbook/q3?:jwt={token}");
    let mut headers = vec![("accept", "application/json")];
    if let Some(region) = region {
        headers.push(("x-embedgate-region", region));
    }
    let (_, body) = http(addr, "GET", &path, &headers, "")?;
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    Ok(if v["ok"] == true { "ok".to_owned() } else { v["error"].as_str().unwrap_or("?").to_owned() })
}

/// Milliseconds from `sent` until the edge at `addr` answers with `want`
/// (`ok` or a code) to a fresh token, polled every `every`; 30 s at most.
#[allow(clippy::too_many_arguments)]
pub(crate) fn poll_at(
    addr: SocketAddr,
    org: &str,
    region: Option<&str>,
    client_id: &str,
    secret: &str,
    sent: Instant,
    want: &str,
    every: Duration,
) -> Result<f64> {
    poll_until(addr, org, region, sent, want, every, || token_for(client_id, secret))
}

/// [`poll_at`] with the fresh tokens from `token`.
fn poll_until(
    addr: SocketAddr,
    org: &str,
    region: Option<&str>,
    sent: Instant,
    want: &str,
    every: Duration,
    mut token: impl FnMut() -> Result<String>,
) -> Result<f64> {
    let deadline = sent + Duration::from_secs(30);
    loop {
        let got = load(addr, org, region, &token()?)?;
        if got == want {
            return Ok(sent.elapsed().as_secs_f64() * 1000.0);
        }
        if Instant::now() > deadline {
            return Err(format!("edge {addr} ({region:?}) still answers {got}, not {want}, after 30 s").into());
        }
        std::thread::sleep(every);
    }
}

/// A session cookie from one first load.
fn session_cookie(edge: &Edge, client_id: &str, secret: &str) -> Result<String> {
    session_cookie_at(edge.addr(), ORG, client_id, secret)
}

/// A session cookie from one first load of `org`'s page on `addr`.
pub(crate) fn session_cookie_at(addr: SocketAddr, org: &str, client_id: &str, secret: &str) -> Result<String> {
    use std::io::{Read, Write};
    let path = format!("/{org}/workbook/q3?:jwt={}", token_for(client_id, secret)?);
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    raw.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie:")
                .then(|| l[11..].trim().split(';').next().unwrap_or("").to_owned())
        })
        .ok_or_else(|| "the first load set no session cookie".into())
}

pub(crate) struct WrkResult {
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) non_2xx: u64,
}

pub(crate) fn wrk(
    target: &str,
    path: &str,
    paths: Option<&Path>,
    cookie: Option<&str>,
    seconds: u64,
    dir: &Path,
) -> Result<WrkResult> {
    let script = dir.join("bench.lua");
    let mut lua = String::from("wrk.headers[\"Accept\"] = \"application/json\"\n");
    if let Some(c) = cookie {
        let _ = writeln!(lua, "wrk.headers[\"Cookie\"] = \"{c}\"");
    }
    if let Some(p) = paths {
        let _ = write!(
            lua,
            "local paths = {{}}\nfor l in io.lines(\"{}\") do paths[#paths + 1] = l end\n\
             local i = 0\nrequest = function()\n  i = i + 1\n  return wrk.format(nil, paths[(i - 1) % #paths + 1])\nend\n",
            p.display()
        );
    } else {
        let _ = writeln!(lua, "wrk.path = \"{path}\"");
    }
    std::fs::write(&script, lua)?;
    let out = util::read_stdout(
        Command::new("wrk")
            .args(["-t1", "-c8", &format!("-d{seconds}s"), "--latency", "-s"])
            .arg(&script)
            .arg(format!("{target}{path}")),
    )?;
    println!("{out}");
    let field = |prefix: &str| -> Option<String> {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.split_whitespace().next().unwrap_or("").to_owned()))
    };
    let ms = |s: Option<String>| -> f64 {
        let s = s.unwrap_or_default();
        if let Some(v) = s.strip_suffix("ms") {
            v.parse().unwrap_or(f64::NAN)
        } else if let Some(v) = s.strip_suffix("us") {
            v.parse::<f64>().unwrap_or(f64::NAN) / 1000.0
        } else if let Some(v) = s.strip_suffix('s') {
            v.parse::<f64>().unwrap_or(f64::NAN) * 1000.0
        } else {
            f64::NAN
        }
    };
    Ok(WrkResult {
        rps: field("Requests/sec:").and_then(|v| v.parse().ok()).unwrap_or(0.0),
        p50_ms: ms(field("50%")),
        p99_ms: ms(field("99%")),
        non_2xx: field("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0),
    })
}

pub(crate) fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}
