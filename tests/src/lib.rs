//! The end-to-end harness: real processes, no mocks.
//!
//! A [`Stack`] is one `embedgate serve` (SQLite in a temporary directory)
//! pushing to one or more edges, each a `wrangler dev` running the prebuilt
//! worker (`crates/edge/build/index.js`) on workerd with its own
//! `--persist-to` directory. Tokens are signed by PyJWT, as a host app in
//! another language would sign them.
//!
//! The processes are started and stopped by `embedgate-harness`: each in its
//! own process group, stopped with a polite signal and then `SIGKILL` to the
//! whole group, on drop too (and by a watchdog if this test process dies), so
//! a failing test leaves nothing running.
//!
//! Prerequisites, done by `cargo xtask test`: the worker built once
//! (`crates/edge/build/index.js`), `npm ci` (wrangler and Node 22 under
//! `node_modules/.bin`), and a Python with PyJWT (`.venv`, or
//! `EMBEDGATE_PYTHON`). The `embedgate` binary is built here with cargo when
//! needed.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc, clippy::must_use_candidate)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use embedgate_harness::repo_root;
use embedgate_harness::{AdminSpec, EdgeSpec};
use serde_json::{json, Value};

/// The org every stack starts with, and its first admin.
pub const ORG: &str = "acme";
/// The first admin of [`ORG`].
pub const ADMIN: &str = "admin@acme.test";
/// A second org, so that an embed URL of another org exists.
pub const OTHER_ORG: &str = "globex";
/// The admin's reconcile interval in every stack.
pub const RECONCILE: Duration = Duration::from_secs(2);
/// How long a change may take to reach a live edge.
pub const PUSH_DEADLINE: Duration = Duration::from_secs(5);

fn note(msg: &str) {
    eprintln!("[e2e {:>7.1}s] {msg}", started().elapsed().as_secs_f64());
}

fn started() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

/// Runs blocking harness work (starting, waiting, stopping) from a test's
/// runtime, letting a multi-threaded runtime move its other tasks away.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(rt) if rt.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> u16 {
    embedgate_harness::free_port().unwrap()
}

// ------------------------------------------------------------------ binaries

/// `target/<profile>/embedgate`, built by cargo once per test process.
pub fn embedgate_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // The test binary is target/<profile>/deps/<name>-<hash>.
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(repo_root()).args(["build", "--quiet", "-p", "embedgate-admin", "--bin", "embedgate"]);
        cmd.env("CARGO_TARGET_DIR", profile_dir.parent().unwrap());
        // Not the variables cargo set for this test process: build scripts
        // (ring's) rerun when they change, which would rebuild half the tree
        // here and again in the next `cargo test`.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            let per_package = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CFG_", "CARGO_BIN_", "CARGO_CRATE_"]
                .iter()
                .any(|p| name.starts_with(p));
            if per_package || ["OUT_DIR", "CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR"].contains(&&*name) {
                cmd.env_remove(&*name);
            }
        }
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().unwrap_or_else(|e| panic!("cannot run cargo to build embedgate: {e}"));
        assert!(status.success(), "`cargo build -p embedgate-admin` failed ({status})");
        let bin = profile_dir.join("embedgate");
        assert!(bin.exists(), "{} is missing after cargo build", bin.display());
        bin
    })
    .clone()
}

/// Runs `embedgate ARGS` (expecting success); its stdout, trimmed.
pub fn embedgate(args: &[&str], envs: &[(&str, &str)]) -> String {
    let out = Command::new(embedgate_bin())
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("EMBEDGATE_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "embedgate {args:?} failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.trim_end().to_owned()
}

/// The prebuilt worker; the tests never build it.
fn require_edge_build() {
    let index = embedgate_harness::edge_build_index();
    assert!(
        index.exists(),
        "{} is missing: the edge worker is not built; run `cargo xtask test`, which builds the edge",
        index.display()
    );
    let wrangler = repo_root().join("node_modules/.bin/wrangler");
    assert!(wrangler.exists(), "{} is missing: run `cargo xtask setup` (npm ci)", wrangler.display());
}

/// The Python interpreter with PyJWT: `EMBEDGATE_PYTHON`, else the workspace's `.venv`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("EMBEDGATE_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = repo_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with PyJWT: set EMBEDGATE_PYTHON or run `cargo xtask setup` (it creates {})",
        venv.display()
    );
    venv
}

/// An embed token for `sub`, signed by PyJWT with `secret` under `client_id`
/// (fresh `jti`, `iat` now, `exp` in 10 minutes), plus `extra` claims.
pub fn pyjwt_sign(client_id: &str, secret: &str, sub: &str, extra: Option<&Value>) -> String {
    pyjwt_sign_as("HS256", client_id, secret, sub, extra)
}

/// [`pyjwt_sign`] with the algorithm `alg`: `HS256` with an embed secret, or
/// `ES256`/`EdDSA` with a host app's private key (PEM, from [`pyjwt_keygen`]).
pub fn pyjwt_sign_as(alg: &str, client_id: &str, key: &str, sub: &str, extra: Option<&Value>) -> String {
    let python = python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/pyjwt_embed.py");
    let mut cmd = Command::new(&python);
    cmd.arg(script).args([client_id, sub]).env("EMBED_SECRET", key).env("EMBED_ALG", alg).stdin(Stdio::null());
    if let Some(extra) = extra {
        cmd.arg(extra.to_string());
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {} ({e}); run `cargo xtask setup`", python.display()));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{} {script} failed ({}); does it have PyJWT? (`cargo xtask setup`)\n{stdout}{}",
        python.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let token = stdout.trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "not a JWS: {token}");
    token
}

/// A host app's new key pair for `alg` (`ES256` or `EdDSA`), made by Python's
/// `cryptography`: the private key as PEM, and the public key as PyJWT
/// exports it (a JWK), which is what the admin is given.
pub fn pyjwt_keygen(alg: &str) -> (String, Value) {
    let python = python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/pyjwt_embed.py");
    let out = Command::new(&python).arg(script).args(["--keygen", alg]).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "--keygen {alg} failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (v["private_pem"].as_str().unwrap().to_owned(), v["public_jwk"].clone())
}

/// Many embed tokens in one interpreter start (a start costs ~0.2 s): for
/// each `(credential, sub, count)`, `count` tokens as [`pyjwt_sign`] makes
/// them (each with its own `jti`). The secrets go through stdin.
pub fn pyjwt_sign_batch(specs: &[(&Credential, &str, usize)]) -> Vec<Vec<String>> {
    use std::io::Write as _;
    let python = python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/pyjwt_embed.py");
    let mut child = Command::new(&python)
        .arg(script)
        .arg("--batch")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}); run `cargo xtask setup`", python.display()));
    let mut input = String::new();
    for (cred, sub, count) in specs {
        let line = json!({"client_id": cred.client_id, "secret": cred.secret, "sub": sub, "count": count});
        input.push_str(&line.to_string());
        input.push('\n');
    }
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{} {script} --batch failed ({}){}",
        python.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut tokens = stdout.lines().map(str::to_owned);
    let batches: Vec<Vec<String>> = specs.iter().map(|(_, _, count)| tokens.by_ref().take(*count).collect()).collect();
    for (batch, (_, _, count)) in batches.iter().zip(specs) {
        assert_eq!(batch.len(), *count, "PyJWT printed too few tokens");
        assert!(batch.iter().all(|t| t.split('.').count() == 3), "not JWSs: {batch:?}");
    }
    batches
}

// ------------------------------------------------------------------ HTTP

/// An HTTP client: no redirects followed, no proxy, short timeouts.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// One answer: status, JSON body (or `Null`), and every `Set-Cookie`.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body as JSON (`Value::Null` if it is not JSON).
    pub body: Value,
    /// Every `Set-Cookie` header.
    pub set_cookies: Vec<String>,
}

impl Answer {
    async fn from(resp: reqwest::Response) -> Self {
        let status = resp.status().as_u16();
        let set_cookies = resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self { status, body, set_cookies }
    }

    /// The `error` code of a refusal.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("<no error code>")
    }

    /// The `name=value` of the session cookie set, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{}=", embedgate_core::SESSION_COOKIE)))
            .map(|c| c.split(';').next().unwrap().to_owned())
    }
}

// ------------------------------------------------------------------ edge

/// One edge: `wrangler dev` on fixed ports with a persistent state directory.
#[derive(Debug)]
pub struct Edge {
    /// A label for logs (`edge-a`, …).
    pub name: String,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    server: embedgate_harness::Edge,
}

impl Edge {
    /// An edge (not started) with its state and logs under `dir`; `vars`
    /// are more `--var NAME:VALUE` for wrangler (e.g. `EMBEDGATE_MAX_STATE_AGE`).
    fn new(name: &str, dir: &Path, edge_key: &str, sync_key: &str, vars: &[(&str, &str)]) -> Self {
        let mut spec = EdgeSpec::new(name, free_port(), free_port(), dir)
            .var("EMBEDGATE_EDGE_KEY", edge_key)
            .var("EMBEDGATE_SYNC_KEY", sync_key)
            .var("SESSION_COOKIE_SECURE", "false");
        for (k, v) in vars {
            spec = spec.var(k, v);
        }
        let server = embedgate_harness::Edge::new(spec);
        Self { name: name.to_owned(), url: server.url(), server }
    }

    /// Spawns wrangler (does not wait for it).
    pub fn spawn(&mut self) {
        self.server.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name));
        note(&format!("started {} (pid {})", self.name, self.server.proc().unwrap().pid()));
    }

    /// Waits until the worker answers `GET /healthz` (200, or 503 from a
    /// bounded edge that has not been vouched for yet).
    #[allow(clippy::unused_async, reason = "the tests' API is async; the harness under it blocks")]
    pub async fn wait_ready(&mut self) {
        let took = blocking(|| self.server.wait_ready()).unwrap_or_else(|e| panic!("{e}"));
        note(&format!("{} ready at {} in {:.1}s", self.name, self.url, took.as_secs_f64()));
    }

    /// Starts it and waits until it is ready.
    pub async fn start(&mut self) {
        self.spawn();
        self.wait_ready().await;
    }

    /// Stops wrangler and its workerd; afterwards the port refuses connections.
    #[allow(clippy::unused_async, reason = "the tests' API is async; the harness under it blocks")]
    pub async fn stop(&mut self) {
        blocking(|| self.server.stop()).unwrap_or_else(|e| panic!("{e}"));
        note(&format!("stopped {}", self.name));
    }

    /// Sets a worker variable (or secret) for its next start (it wins over earlier ones).
    pub fn set_var(&mut self, name: &str, value: &str) {
        self.server.spec_mut().vars.push(name, value);
    }

    /// Stops it and starts it again with its current variables (its state is kept).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start().await;
    }

    /// Deletes its persisted state (it must be stopped): the next start is a
    /// fresh edge at version 0 on the same URL.
    pub fn wipe_state(&mut self) {
        self.server.wipe_state().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Its worker's output so far (wrangler's log of its current start).
    pub fn log(&self) -> String {
        self.server.proc().map(|p| std::fs::read_to_string(p.log()).unwrap_or_default()).unwrap_or_default()
    }

    /// Stops it (if running) from the stack's drop, showing its log on a failure.
    fn stop_on_drop(&mut self) {
        if self.server.is_running() {
            if std::thread::panicking() {
                eprintln!("--- {} log tail ---\n{}", self.name, self.server.log_tail());
            }
            if let Err(e) = self.server.stop() {
                eprintln!("{e}");
            }
            note(&format!("stopped {}", self.name));
        }
    }

    /// `GET /healthz` as JSON (asserting 200).
    pub async fn healthz(&self) -> Value {
        let (status, body) = self.healthz_raw().await;
        assert_eq!(status, 200, "{} /healthz: {body}", self.name);
        body
    }

    /// `GET /healthz`: status and JSON (503 when the edge fails closed).
    pub async fn healthz_raw(&self) -> (u16, Value) {
        let r = http().get(format!("{}/healthz", self.url)).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// The applied state version.
    pub async fn version(&self) -> u64 {
        self.healthz().await["version"].as_u64().unwrap()
    }

    /// Polls `/healthz` until the edge has applied `version` (or newer).
    pub async fn wait_version(&self, version: u64, within: Duration) {
        let t0 = Instant::now();
        loop {
            let applied = self.version().await;
            if applied >= version {
                return;
            }
            assert!(t0.elapsed() < within, "{} still at version {applied} < {version} after {within:?}", self.name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET /{org}/workbook/{id}` as JSON with `:jwt=token` and/or a cookie.
    pub async fn embed(&self, org: &str, token: Option<&str>, cookie: Option<&str>) -> Answer {
        self.embed_in(None, org, token, cookie).await
    }

    /// A refresh as the embed page sends it: `GET /{org}/workbook/wb-1?:jwt=token&:refresh=1`
    /// as JSON, with the session `cookie` it extends.
    pub async fn refresh(&self, org: &str, token: &str, cookie: Option<&str>) -> Answer {
        let url = format!("{}/{org}/workbook/wb-1?:jwt={token}&:refresh=1", self.url);
        let mut req = http().get(url).header("accept", "application/json");
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        Answer::from(req.send().await.unwrap()).await
    }

    /// [`Edge::embed`] reading the replica of `region` (header
    /// `x-embedgate-region`, honoured with `EMBEDGATE_TRUST_REGION_HEADER=true`).
    pub async fn embed_in(&self, region: Option<&str>, org: &str, token: Option<&str>, cookie: Option<&str>) -> Answer {
        let mut url = format!("{}/{org}/workbook/wb-1", self.url);
        if let Some(token) = token {
            url.push_str("?:jwt=");
            url.push_str(token);
        }
        let mut req = http().get(url).header("accept", "application/json");
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        if let Some(region) = region {
            req = req.header("x-embedgate-region", region);
        }
        Answer::from(req.send().await.unwrap()).await
    }

    /// `POST /.well-known/embedgate/sync` with a body and signature header as given.
    pub async fn sync_raw(&self, body: Vec<u8>, signature: Option<&str>) -> Answer {
        let mut req = http()
            .post(format!("{}{}", self.url, embedgate_core::sync::SYNC_PATH))
            .header("content-type", "application/json")
            .body(body);
        if let Some(sig) = signature {
            req = req.header(embedgate_core::sync::SIGNATURE_HEADER, sig);
        }
        Answer::from(req.send().await.unwrap()).await
    }
}

/// An edge outside a stack ([`Stack::extra_edge`]) is stopped when dropped
/// (a stack stops its own first; stopping twice is a no-op).
impl Drop for Edge {
    fn drop(&mut self) {
        self.stop_on_drop();
    }
}

// ------------------------------------------------------------------ admin

/// `embedgate serve` on a fixed port and data directory.
#[derive(Debug)]
pub struct Admin {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    server: embedgate_harness::Admin,
}

impl Admin {
    /// Starts it and waits for `/healthz`.
    #[allow(clippy::unused_async, reason = "the tests' API is async; the harness under it blocks")]
    pub async fn start(&mut self) {
        blocking(|| self.server.start()).unwrap_or_else(|e| panic!("{e}"));
        note(&format!("started admin (pid {})", self.server.proc().unwrap().pid()));
    }

    /// Sets an environment variable for its next start (it wins over earlier ones).
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.server.spec_mut().env.push(name, value);
    }

    /// An environment variable as it will be started with.
    pub fn env(&self, name: &str) -> Option<String> {
        self.server.spec().env.get(name).map(str::to_owned)
    }

    /// Stops it (if running) and starts it again with its current environment.
    pub async fn restart(&mut self) {
        self.stop();
        self.start().await;
    }

    /// Its data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.server.spec().data_dir.clone()
    }

    /// The output of its current start (its `serve-N.log`) so far.
    pub fn log(&self) -> String {
        self.server.proc().map(|p| std::fs::read_to_string(p.log()).unwrap_or_default()).unwrap_or_default()
    }

    /// Stops it (SIGTERM: graceful shutdown).
    pub fn stop(&mut self) {
        if self.server.is_running() {
            blocking(|| self.server.stop()).unwrap_or_else(|e| panic!("{e}"));
            note("stopped admin");
        }
    }

    /// Stops it (if running) from the stack's drop, showing its log on a failure.
    fn stop_on_drop(&mut self) {
        if self.server.is_running() {
            if std::thread::panicking() {
                eprintln!("--- admin log tail ---\n{}", self.server.log_tail());
            }
            if let Err(e) = self.server.stop() {
                eprintln!("{e}");
            }
            note("stopped admin");
        }
    }
}

// ------------------------------------------------------------------ stack

/// A credential as created: its client ID and (current) secret.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The client ID (the token's `kid`).
    pub client_id: String,
    /// The secret shown on create (or the latest rotate).
    pub secret: String,
}

impl Credential {
    /// A PyJWT token of this credential for `sub`.
    pub fn sign(&self, sub: &str) -> String {
        pyjwt_sign(&self.client_id, &self.secret, sub, None)
    }

    /// `count` PyJWT tokens of this credential for `sub` (one interpreter start).
    pub fn sign_many(&self, sub: &str, count: usize) -> Vec<String> {
        pyjwt_sign_batch(&[(self, sub, count)]).pop().unwrap()
    }
}

/// An admin server and its edges, all stopped on drop.
#[derive(Debug)]
pub struct Stack {
    /// The edges, in `EMBEDGATE_EDGES` order.
    pub edges: Vec<Edge>,
    /// The admin server.
    pub admin: Admin,
    /// The API token of [`ADMIN`].
    pub token: String,
    /// The sync key (printable) the admin and the edges share.
    pub sync_key: String,
    /// The edge key (printable) the edges hold and the admin wraps secrets under.
    pub edge_key: String,
    /// Every org's first admin's API token, by org (ORG first).
    org_tokens: Vec<(String, String)>,
    // Last: removed after every process is stopped.
    dir: tempfile::TempDir,
}

impl Stack {
    /// Starts an admin (with [`ORG`] and [`OTHER_ORG`]) and `edges` edges,
    /// and waits until every edge is in sync.
    pub async fn start(edges: usize) -> Self {
        Self::start_with(edges, &[], &[]).await
    }

    /// [`Stack::start`] with more worker variables for every edge (`NAME`, `VALUE`).
    pub async fn start_with_edge_vars(edges: usize, vars: &[(&str, &str)]) -> Self {
        Self::start_with(edges, &[], vars).await
    }

    /// A stack whose admin also serves the browser pages (`www/`, with the
    /// WASM module `cargo xtask www` built) and the host-app demo's endpoints.
    pub async fn start_with_pages(edges: usize) -> Self {
        let www = repo_root().join("www");
        let module = www.join("pkg/embedgate_wasm_bg.wasm");
        assert!(module.exists(), "{} is missing: run `cargo xtask www` (part of `cargo xtask test`)", module.display());
        let www = www.to_str().unwrap().to_owned();
        Self::start_with(edges, &[("EMBEDGATE_WWW", &www), ("EMBEDGATE_DEMO", "true")], &[]).await
    }

    /// [`Stack::start`] with more environment for the admin and more variables for the edges.
    async fn start_with(edges: usize, admin_env: &[(&str, &str)], edge_vars: &[(&str, &str)]) -> Self {
        Self::start_setup(edges, &Setup { admin_env, edge_vars, orgs: &[] }).await
    }

    /// [`Stack::start`] as `setup` says: more admin environment, more edge
    /// variables, more orgs.
    pub async fn start_setup(edges: usize, setup: &Setup<'_>) -> Self {
        let Setup { admin_env, edge_vars, orgs } = *setup;
        started();
        require_edge_build();
        let dir = tempfile::Builder::new().prefix("embedgate-e2e-").tempdir().unwrap();
        note(&format!("stack in {}", dir.path().display()));
        let master_key = embedgate(&["keygen", "master"], &[]);
        let sync_key = embedgate(&["keygen", "sync"], &[]);
        let edge_key = embedgate(&["keygen", "edge"], &[]);
        assert!(master_key.starts_with("egm_") && sync_key.starts_with("egk_") && edge_key.starts_with("ege_"));
        let data_dir = dir.path().join("admin");
        let data = data_dir.to_str().unwrap();
        // The admin's master key is given (not generated beside the database), so the leak scan knows it.
        let key_env = [("EMBEDGATE_MASTER_KEY", master_key.as_str())];
        let init = embedgate(&["init", "--org", ORG, "--admin-email", ADMIN, "--data-dir", data], &key_env);
        let init: Value = serde_json::from_str(&init).unwrap();
        let token = init["token"].as_str().unwrap().to_owned();
        let mut org_tokens = vec![(ORG.to_owned(), token.clone())];
        for org in std::iter::once(&OTHER_ORG).chain(orgs) {
            let admin = admin_of(org);
            let init = embedgate(&["init", "--org", org, "--admin-email", &admin, "--data-dir", data], &key_env);
            let init: Value = serde_json::from_str(&init).unwrap();
            org_tokens.push(((*org).to_owned(), init["token"].as_str().unwrap().to_owned()));
        }

        let mut edges: Vec<Edge> = (0..edges)
            .map(|i| {
                let name = format!("edge-{}", char::from(b'a' + u8::try_from(i).unwrap()));
                Edge::new(&name, dir.path(), &edge_key, &sync_key, edge_vars)
            })
            .collect();
        let edge_urls: Vec<&str> = edges.iter().map(|e| e.url.as_str()).collect();
        let spec = AdminSpec::new(&embedgate_bin(), free_port(), &data_dir)
            .env("RUST_LOG", "warn")
            .env("EMBEDGATE_MASTER_KEY", &master_key)
            .env("EMBEDGATE_SYNC_KEY", &sync_key)
            .env("EMBEDGATE_EDGE_KEY", &edge_key)
            .env("EMBEDGATE_EDGES", &edge_urls.join(","))
            // Its admin reads every edge's detail (GET /api/v1/edges).
            .env("EMBEDGATE_OPERATOR_ORGS", ORG)
            .env("EMBEDGATE_RECONCILE_INTERVAL", &format!("{}s", RECONCILE.as_secs()));
        let spec = admin_env.iter().fold(spec, |spec, (k, v)| spec.env(k, v));
        let server = embedgate_harness::Admin::new(spec);
        let admin = Admin { url: server.url(), server };
        // Edges first (they start in parallel: the worker is prebuilt), then the
        // admin; the stack owns them all before any wait can panic.
        for edge in &mut edges {
            edge.spawn();
        }
        let mut stack = Self { edges, admin, token, sync_key, edge_key, org_tokens, dir };
        for edge in &mut stack.edges {
            edge.wait_ready().await;
        }
        stack.admin.start().await;
        stack.wait_in_sync(Duration::from_secs(30)).await;
        stack
    }

    /// An edge with this stack's keys and `vars`, not among the admin's
    /// edges and not started (for what an edge does on its own: a bad
    /// configuration, say). Stopped when dropped.
    pub fn extra_edge(&self, name: &str, vars: &[(&str, &str)]) -> Edge {
        Edge::new(name, self.dir.path(), &self.edge_key, &self.sync_key, vars)
    }

    /// The stack's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// An admin API call with the admin's token: (status, JSON body).
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let token = self.token.clone();
        self.api_as(&token, method, path, body).await
    }

    /// An admin API call with `token`.
    pub async fn api_as(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = http().request(method, format!("{}{path}", self.admin.url)).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let a = Answer::from(req.send().await.unwrap()).await;
        (a.status, a.body)
    }

    /// A first token for `email`, an existing member of `org`: the admin
    /// invites them and the invitation is redeemed as them (an admin cannot
    /// issue a token for another member). The redeem answer (`id`, `token`, …).
    pub async fn invited_token(&self, org: &str, email: &str) -> Value {
        let (status, invitation) =
            self.api("POST", &format!("/api/v1/orgs/{org}/members/{email}/invitations"), None).await;
        assert_eq!(status, 201, "invite {email}: {invitation}");
        let (status, issued) =
            self.api("POST", "/api/v1/invitations/redeem", Some(json!({"code": invitation["code"]}))).await;
        assert_eq!(status, 201, "redeem {email}'s invitation: {issued}");
        issued
    }

    /// `POST /api/v1/orgs/{ORG}{path}` expecting `status`; the JSON answer.
    pub async fn post(&self, path: &str, body: Value, status: u16) -> Value {
        let (got, answer) = self.api("POST", &format!("/api/v1/orgs/{ORG}{path}"), Some(body)).await;
        assert_eq!(got, status, "POST {path}: {answer}");
        answer
    }

    /// Creates a credential owned by `owner` with the embedding privilege.
    pub async fn create_credential(&self, name: &str, owner: &str) -> Credential {
        let body = json!({"name": name, "owner": owner, "privileges": ["embedding"]});
        let answer = self.post("/credentials", body, 201).await;
        Credential {
            client_id: answer["client_id"].as_str().unwrap().to_owned(),
            secret: answer["secret"].as_str().unwrap().to_owned(),
        }
    }

    /// The API token of `org`'s first admin ([`admin_of`]).
    pub fn token_of(&self, org: &str) -> &str {
        let found = self.org_tokens.iter().find(|(o, _)| o == org);
        found.map_or_else(|| panic!("the stack has no org {org}"), |(_, token)| token.as_str())
    }

    /// Creates a credential of `org` owned by its first admin, as that admin.
    pub async fn create_credential_in(&self, org: &str, name: &str) -> Credential {
        let body = json!({"name": name, "owner": admin_of(org), "privileges": ["embedding"]});
        let path = format!("/api/v1/orgs/{org}/credentials");
        let (status, answer) = self.api_as(self.token_of(org), "POST", &path, Some(body)).await;
        assert_eq!(status, 201, "POST {path}: {answer}");
        Credential {
            client_id: answer["client_id"].as_str().unwrap().to_owned(),
            secret: answer["secret"].as_str().unwrap().to_owned(),
        }
    }

    /// The admin's `GET /metrics` text.
    pub async fn metrics(&self) -> String {
        let resp = http().get(format!("{}/metrics", self.admin.url)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "GET /metrics");
        resp.text().await.unwrap()
    }

    /// What the admin sent `edge` so far, from `/metrics`.
    pub async fn pushed_to(&self, edge: &Edge) -> Pushed {
        let text = self.metrics().await;
        let edge = edge.url.as_str();
        let count = |kind: &str| metric(&text, "embedgate_pushes_total", &[("edge", edge), ("kind", kind)]);
        Pushed {
            delta: count("delta"),
            page: count("page"),
            probe: count("probe"),
            bytes: metric(&text, "embedgate_push_bytes_total", &[("edge", edge)]),
            failures: metric(&text, "embedgate_push_failures_total", &[("edge", edge)]),
        }
    }

    /// `GET /api/v1/edges`.
    pub async fn edges_status(&self) -> Value {
        let (status, body) = self.api("GET", "/api/v1/edges", None).await;
        assert_eq!(status, 200, "GET /api/v1/edges: {body}");
        body
    }

    /// The admin's current state version.
    pub async fn state_version(&self) -> u64 {
        self.edges_status().await["state_version"].as_u64().unwrap()
    }

    /// Polls every live edge's `/healthz` until it has the admin's current
    /// version (within [`PUSH_DEADLINE`]); returns that version.
    pub async fn wait_pushed(&self) -> u64 {
        let version = self.state_version().await;
        for edge in &self.edges {
            if edge.server.is_running() {
                edge.wait_version(version, PUSH_DEADLINE).await;
            }
        }
        version
    }

    /// Polls `GET /api/v1/edges` until every edge is `in_sync` at the admin's
    /// version, and checks each edge's `/healthz` agrees; returns the version.
    pub async fn wait_in_sync(&self, within: Duration) -> u64 {
        let t0 = Instant::now();
        loop {
            let status = self.edges_status().await;
            let version = status["state_version"].as_u64().unwrap();
            let edges = status["edges"].as_array().unwrap();
            assert_eq!(edges.len(), self.edges.len(), "{status}");
            let synced =
                edges.iter().all(|e| e["state"] == "in_sync" && e["applied_version"].as_u64() == Some(version));
            if synced {
                for edge in &self.edges {
                    assert_eq!(edge.version().await, version, "{} /healthz disagrees with {status}", edge.name);
                }
                return version;
            }
            assert!(t0.elapsed() < within, "edges not in sync after {within:?}: {status}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // The admin first, so it stops pushing; then the edges.
        self.admin.stop_on_drop();
        for edge in &mut self.edges {
            edge.stop_on_drop();
        }
    }
}

/// Logs a step of a scenario.
pub fn step(msg: &str) {
    note(msg);
}

/// What a stack starts with beyond [`Stack::start`]'s defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct Setup<'a> {
    /// More environment for the admin (`NAME`, `VALUE`; a later one wins).
    pub admin_env: &'a [(&'a str, &'a str)],
    /// More worker variables for every edge.
    pub edge_vars: &'a [(&'a str, &'a str)],
    /// More orgs (besides [`ORG`] and [`OTHER_ORG`]), made with `embedgate
    /// init` before the admin starts, each with its first admin [`admin_of`].
    pub orgs: &'a [&'a str],
}

/// The first admin of an org the stack made: `admin@{org}.test` ([`ADMIN`] for [`ORG`]).
pub fn admin_of(org: &str) -> String {
    format!("admin@{org}.test")
}

/// Sync messages and bytes the admin sent one edge (`/metrics`), attempts
/// that failed included (they are counted when sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pushed {
    /// `embedgate_pushes_total{kind="delta"}`.
    pub delta: u64,
    /// `embedgate_pushes_total{kind="page"}`: pages of full states.
    pub page: u64,
    /// `embedgate_pushes_total{kind="probe"}`.
    pub probe: u64,
    /// `embedgate_push_bytes_total`: sealed bodies of every kind.
    pub bytes: u64,
    /// `embedgate_push_failures_total`: attempts that failed (the edge
    /// unreachable, or it could not take the message).
    pub failures: u64,
}

/// The value of the sample `name{labels}` (exactly these labels, in any
/// order) in a Prometheus text exposition; panics if it is absent.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    let mut want: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    want.sort();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let (metric_name, mut got) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}').split(',').map(str::to_owned).collect::<Vec<_>>()),
            None => (series, Vec::new()),
        };
        got.sort();
        if metric_name == name && got == want {
            return value.parse().unwrap_or_else(|_| panic!("{line}: not a whole number"));
        }
    }
    panic!("no {name}{labels:?} in /metrics:\n{text}")
}

// ------------------------------------------------------------------ leak scans

impl Stack {
    /// [`Stack::start`] with the admin logging at `trace` (into its
    /// `serve-N.log` under [`Stack::dir`]), for the leak scan of tests/no_leak.rs.
    pub async fn start_tracing(edges: usize) -> Self {
        Self::start_with(edges, &[("RUST_LOG", "trace")], &[]).await
    }

    /// The master key (printable) the admin of this stack holds (no edge
    /// does); the leak scan (tests/no_leak.rs) searches every file and answer for it.
    pub fn master_key(&self) -> String {
        self.admin.server.spec().env.get("EMBEDGATE_MASTER_KEY").unwrap().to_owned()
    }
}
