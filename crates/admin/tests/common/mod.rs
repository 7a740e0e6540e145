//! Test helpers shared by the admin server's integration tests: real
//! databases (a SQLite file in a temporary directory, and PostgreSQL when
//! `EMBEDGATE_TEST_POSTGRES_URL` names a superuser URL of a throw-away
//! cluster), never mocks.
#![allow(dead_code, clippy::unwrap_used, clippy::missing_panics_doc)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::Router;
use embedgate_admin::server::{self, AppState};
use embedgate_admin::store::keys::Keys;
use embedgate_admin::store::Store as Db;
use embedgate_core::MasterKey;
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::Connection;
use tower::ServiceExt;

/// The org every test environment starts with, and its first admin.
pub const ORG: &str = "acme";
pub const ADMIN: &str = "admin@acme.test";

/// One database to run a test against.
#[derive(Debug)]
pub enum Backend {
    /// A SQLite file in a fresh temporary directory.
    Sqlite,
    /// A fresh database on the PostgreSQL cluster at this superuser URL.
    Postgres(String),
}

/// SQLite always, plus PostgreSQL when `EMBEDGATE_TEST_POSTGRES_URL` is set.
pub fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Sqlite];
    if let Ok(url) = std::env::var("EMBEDGATE_TEST_POSTGRES_URL") {
        if !url.is_empty() {
            all.push(Backend::Postgres(url));
        }
    }
    all
}

fn random_hex() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    format!("{:016x}", u64::from_be_bytes(b))
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A fresh, empty database for one test: a SQLite URL under a directory, or
/// a new database `eg_test_<random>` on the PostgreSQL cluster.
#[derive(Debug)]
pub struct TestDatabase {
    /// Its URL (for `db::open` or `EMBEDGATE_DATABASE_URL`).
    pub url: String,
    pg: Option<(String, String)>,
}

impl TestDatabase {
    /// Creates the database (SQLite: `<dir>/data/embedgate.db`, created on open).
    pub async fn create(backend: &Backend, dir: &std::path::Path) -> Self {
        match backend {
            Backend::Sqlite => Self { url: embedgate_admin::store::default_sqlite_url(&dir.join("data")), pg: None },
            Backend::Postgres(admin_url) => {
                sqlx::any::install_default_drivers();
                let name = format!("eg_test_{}", random_hex());
                let mut conn = sqlx::AnyConnection::connect(admin_url).await.unwrap();
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
                Self { url: with_database(admin_url, &name), pg: Some((admin_url.clone(), name)) }
            }
        }
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// Drops a PostgreSQL test database (SQLite files go with their TempDir).
    pub async fn remove(mut self) {
        if let Some((admin_url, name)) = self.pg.take() {
            drop_pg_database(&admin_url, &name).await;
        }
    }

    /// Every row of every table as text (to scan a PostgreSQL database for leaks).
    pub async fn dump_text(&self) -> Vec<String> {
        let db = embedgate_admin::store::open(&self.url).await.unwrap();
        let mut out = Vec::new();
        for table in ["credentials", "audit", "members", "member_tokens", "api_tokens", "orgs", "state_version"] {
            let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT CAST(t AS TEXT) FROM {table} t"))
                .fetch_all(&db.pool)
                .await
                .unwrap();
            out.extend(rows);
        }
        db.pool.close().await;
        out
    }
}

/// A writer into a shared buffer: every log line of this test binary.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once) a global TRACE-level subscriber writing into a buffer, and
/// returns that buffer. A global subscriber, not a scoped one: scoped ones
/// race with other tests over tracing's callsite interest cache.
pub fn captured_logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
}

async fn drop_pg_database(admin_url: &str, name: &str) {
    let mut conn = sqlx::AnyConnection::connect(admin_url).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// A test that failed before `remove` still drops its PostgreSQL database.
impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(drop_pg_database(&admin_url, &name));
            })
            .join();
        }
    }
}

/// A running test environment: a migrated database, the org `acme` with its
/// admin, the app, and the admin's token.
pub struct Env {
    pub state: AppState,
    pub app: Router,
    pub master: MasterKey,
    /// The edge key pushes are wrapped under in these tests.
    pub edge_key: embedgate_core::EdgeKey,
    pub admin_token: String,
    pub dir: tempfile::TempDir,
    pub url: String,
    database: Option<TestDatabase>,
}

impl Env {
    /// A fresh environment on `backend` with the default auth-failure limit.
    pub async fn new(backend: &Backend) -> Self {
        Self::with_auth_limit(backend, server::DEFAULT_AUTH_FAILURES_PER_MINUTE).await
    }

    /// A fresh environment whose limiter gives each address `limit` failed
    /// authentications before its back-off starts.
    pub async fn with_auth_limit(backend: &Backend, limit: u32) -> Self {
        Self::with_state(backend, limit, |_| {}).await
    }

    /// A fresh environment with `limit` free failures per address and the
    /// state adjusted by `adjust` before the app is built.
    pub async fn with_state(backend: &Backend, limit: u32, adjust: impl FnOnce(&mut AppState)) -> Self {
        captured_logs();
        let dir = tempfile::TempDir::new().unwrap();
        let database = TestDatabase::create(backend, dir.path()).await;
        let url = database.url.clone();
        let db = embedgate_admin::store::open(&url).await.unwrap();
        let master = MasterKey::generate().unwrap();
        let keys = std::sync::Arc::new(Keys::new(embedgate_core::KeySet::single(master.clone())));
        embedgate_admin::store::keys::prepare(&db, &keys).await.unwrap();
        let token = server::init_org(&db, &keys, ORG, ADMIN).await.unwrap().unwrap();
        let mut state = AppState::with_auth_limit(db, keys, limit);
        adjust(&mut state);
        Self {
            app: server::app(state.clone()),
            state,
            master,
            edge_key: embedgate_core::EdgeKey::generate().unwrap(),
            admin_token: token.to_string(),
            dir,
            url,
            database: Some(database),
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.state.store
    }

    /// The master keys and org keys.
    pub fn keys(&self) -> &Keys {
        &self.state.keys
    }

    /// What wraps the secrets exported for an edge.
    #[allow(dead_code)]
    pub fn sealer(&self) -> embedgate_admin::store::export::ForEdge<'_> {
        embedgate_admin::store::export::ForEdge { keys: &self.state.keys, edge: &self.edge_key }
    }

    /// Closes the pool and drops a PostgreSQL test database.
    pub async fn finish(mut self) {
        self.state.store.pool.close().await;
        if let Some(database) = self.database.take() {
            database.remove().await;
        }
    }

    /// The SQLite files (database, WAL, shared memory) that exist.
    pub fn sqlite_files(&self) -> Vec<PathBuf> {
        let data = self.dir.path().join("data");
        ["embedgate.db", "embedgate.db-wal", "embedgate.db-shm"]
            .iter()
            .map(|f| data.join(f))
            .filter(|p| p.exists())
            .collect()
    }

    /// Sends a request (JSON body when given) and returns status and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let body = body.map(|b| (b.to_string(), "application/json"));
        self.call_raw(method, path, token, body.as_ref().map(|(b, ct)| (b.as_str(), *ct)), None).await
    }

    /// Sends a request with a raw body and content type, optionally from a client address.
    pub async fn call_raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, &str)>,
        from: Option<SocketAddr>,
    ) -> (StatusCode, Value) {
        let (status, _, json) = self.call_with(method, path, token, body, from, &[]).await;
        (status, json)
    }

    /// Sends a request with a raw body, from a client address, with extra
    /// headers; returns status, headers and JSON body.
    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, &str)>,
        from: Option<SocketAddr>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut req = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some((b, ct)) => {
                req = req.header("content-type", ct);
                Body::from(b.to_owned())
            }
            None => Body::empty(),
        };
        let mut req = req.body(body).unwrap();
        if let Some(addr) = from {
            req.extensions_mut().insert(ConnectInfo(addr));
        }
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        (status, headers, json)
    }

    /// Creates a member (as the admin), invites them, and redeems the
    /// invitation as them: their first token (an admin cannot issue one).
    pub async fn member_with_token(&self, email: &str, account_type: &str) -> String {
        let (s, _) = self
            .call(
                "POST",
                &format!("/api/v1/orgs/{ORG}/members"),
                Some(&self.admin_token),
                Some(&serde_json::json!({ "email": email, "account_type": account_type })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        self.invited_token(email).await
    }

    /// Invites an existing member (as the admin) and redeems it as them.
    pub async fn invited_token(&self, email: &str) -> String {
        let (s, invitation) = self
            .call("POST", &format!("/api/v1/orgs/{ORG}/members/{email}/invitations"), Some(&self.admin_token), None)
            .await;
        assert_eq!(s, StatusCode::CREATED, "{invitation}");
        let code = invitation["code"].as_str().unwrap();
        let (s, body) =
            self.call("POST", "/api/v1/invitations/redeem", None, Some(&serde_json::json!({ "code": code }))).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Creates a credential owned by the admin; returns the create answer.
    pub async fn create_credential(&self, name: &str) -> Value {
        let (s, body) = self
            .call(
                "POST",
                &format!("/api/v1/orgs/{ORG}/credentials"),
                Some(&self.admin_token),
                Some(&serde_json::json!({ "name": name, "owner": ADMIN, "privileges": ["embedding"] })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body
    }
}
