//! `embedgate init` and `embedgate serve`: the admin server's commands.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use embedgate_core::{EdgeKey, KeySet, MasterKey, SyncKey};

use super::{write_line, UsageError};
use crate::server::{self, AppState};
use crate::store as db;

/// A key given by flag or environment, as typed: never shown by `Debug`
/// (the parsed command line may be logged), wiped on drop.
#[derive(Clone)]
pub struct KeyArg(zeroize::Zeroizing<String>);

impl KeyArg {
    /// The configured key set (`current[,other]`), or a message naming `var`.
    pub fn keys<K: embedgate_core::keys::NamedKey>(&self, var: &str) -> Result<KeySet<K>, UsageError> {
        KeySet::parse(&self.0).map_err(|e| UsageError::new(format!("{var}: {e}")))
    }
}

impl std::str::FromStr for KeyArg {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(zeroize::Zeroizing::new(s.to_owned())))
    }
}

impl std::fmt::Debug for KeyArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyArg(<redacted>)")
    }
}

/// Where the state lives and the master key (shared by `init` and `serve`).
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Data directory (the default SQLite file and the generated master key live here).
    #[arg(long, env = "EMBEDGATE_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Database URL: sqlite://PATH or postgres://… (default: DATA_DIR/embedgate.db).
    #[arg(long, env = "EMBEDGATE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Master key (egm_…), or `new,old` while `embedgate rekey` runs; default: read from DATA_DIR/master.key.
    #[arg(long, env = "EMBEDGATE_MASTER_KEY", hide_env_values = true)]
    master_key: Option<KeyArg>,
}

impl StoreArgs {
    pub(super) fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| db::default_sqlite_url(&self.data_dir))
    }

    pub(super) fn master_key_file(&self) -> PathBuf {
        self.data_dir.join("master.key")
    }

    /// Whether the master key comes from the data directory's file (not the configuration).
    pub(super) fn master_key_from_file(&self) -> bool {
        self.master_key.is_none()
    }

    /// The configured master keys, or the one in the data directory.
    pub(super) fn load_master_keys(&self) -> Result<KeySet<MasterKey>, UsageError> {
        if let Some(k) = &self.master_key {
            return k.keys("EMBEDGATE_MASTER_KEY");
        }
        let path = self.master_key_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => MasterKey::from_printable(&text)
                .map(KeySet::single)
                .map_err(|e| UsageError::new(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(UsageError::new(format!(
                "no master key: set EMBEDGATE_MASTER_KEY (or --master-key), or run `embedgate init` to generate {}",
                path.display()
            ))),
            Err(e) => Err(UsageError::new(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// The configured master keys, or the data directory's, generating it there if absent.
    pub(super) fn load_or_generate_master_keys(&self) -> Result<KeySet<MasterKey>, UsageError> {
        if self.master_key.is_some() || self.master_key_file().exists() {
            return self.load_master_keys();
        }
        let key = MasterKey::generate().map_err(|e| UsageError::new(e.to_string()))?;
        write_private(&self.master_key_file(), &format!("{}\n", key.to_printable().as_str()))?;
        Ok(KeySet::single(key))
    }

    /// Opens the database and checks the master keys against it (upgrading
    /// a database from before the key hierarchy): the store and its keys.
    pub(super) async fn open(
        &self,
        masters: KeySet<MasterKey>,
    ) -> Result<(db::Store, std::sync::Arc<db::keys::Keys>), UsageError> {
        let store = db::open(&self.database_url()).await.map_err(|e| UsageError::new(e.to_string()))?;
        let keys = std::sync::Arc::new(db::keys::Keys::new(masters));
        let prepared = db::keys::prepare(&store, &keys).await.map_err(|e| UsageError::new(e.to_string()))?;
        if prepared.orgs_keyed > 0 && prepared.secrets_sealed > 0 {
            tracing::info!(
                orgs = prepared.orgs_keyed,
                secrets = prepared.secrets_sealed,
                "upgraded the database to per-org keys (existing secrets are unchanged)"
            );
        }
        Ok((store, keys))
    }
}

/// Replaces a file's contents atomically (a new 0600 file renamed over it).
pub(super) fn replace_private(path: &Path, contents: &str) -> Result<(), UsageError> {
    let fresh = path.with_extension("key.new");
    let _ = std::fs::remove_file(&fresh);
    write_private(&fresh, contents)?;
    std::fs::rename(&fresh, path).map_err(|e| UsageError::new(format!("cannot replace {}: {e}", path.display())))
}

/// Writes a new file readable only by its owner (0600 on Unix); never overwrites.
fn write_private(path: &Path, contents: &str) -> Result<(), UsageError> {
    use std::io::Write;
    let err = |e: std::io::Error| UsageError::new(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(err)?;
    file.write_all(contents.as_bytes()).and_then(|()| file.sync_all()).map_err(err)
}

/// How long member API tokens live (shared by `init`, for the first
/// admin's token, and `serve`).
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// How long a new member API token lives unless its issuer asks otherwise (60s to 365d).
    #[arg(long, env = "EMBEDGATE_TOKEN_DEFAULT_TTL", default_value = "30d", value_parser = super::duration::parse_seconds)]
    token_default_ttl: i64,
    /// The longest lifetime a member API token may be given (60s to 365d, at least the default).
    #[arg(long, env = "EMBEDGATE_TOKEN_MAX_TTL", default_value = "90d", value_parser = super::duration::parse_seconds)]
    token_max_ttl: i64,
}

impl TokenArgs {
    /// The policy, checked.
    pub fn policy(&self) -> Result<server::TokenPolicy, UsageError> {
        server::TokenPolicy::new(self.token_default_ttl, self.token_max_ttl)
            .map_err(|e| UsageError::new(format!("EMBEDGATE_TOKEN_DEFAULT_TTL / EMBEDGATE_TOKEN_MAX_TTL: {e}")))
    }
}

/// Arguments of `embedgate init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The org slug to create ([a-z0-9-]{1,63}).
    #[arg(long)]
    org: String,
    /// The email of the org's first admin.
    #[arg(long)]
    admin_email: String,
    #[command(flatten)]
    tokens: TokenArgs,
    #[command(flatten)]
    store: StoreArgs,
}

/// Arguments of `embedgate serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is logged).
    #[arg(long, env = "EMBEDGATE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Sync key (egk_…) the pushes to the edges are sealed with, or `new,old` during a rotation (pushes
    /// are sealed with the first; acks accepted under either). The edges hold the same key(s).
    #[arg(long, env = "EMBEDGATE_SYNC_KEY", hide_env_values = true)]
    sync_key: Option<KeyArg>,
    /// Edge key (ege_…) the live secrets sent to the edges are wrapped under (the edges hold it as
    /// EMBEDGATE_EDGE_KEY). Changing it sends every edge a full state wrapped under the new one.
    #[arg(long, env = "EMBEDGATE_EDGE_KEY", hide_env_values = true)]
    edge_key: Option<KeyArg>,
    /// Comma-separated edge base URLs; every change is pushed to each of them. `URL#VAR` gives that
    /// edge its own edge key, read from the environment variable VAR (one key per deployment).
    #[arg(long, env = "EMBEDGATE_EDGES", value_delimiter = ',')]
    edges: Vec<String>,
    /// How often every edge is probed (and healed if behind) when nothing changes: 10s, 1m, …
    #[arg(long, env = "EMBEDGATE_RECONCILE_INTERVAL", default_value = "10s", value_parser = super::duration::parse_seconds)]
    reconcile_interval: i64,
    /// How long the edge change log keeps a change: an edge further behind gets a full state (7d, 1h, …).
    #[arg(long, env = "EMBEDGATE_CHANGE_RETENTION", default_value = "7d", value_parser = super::duration::parse_seconds)]
    change_retention: i64,
    /// The most bytes of records a sync message carries (4096 to 921600; smaller pages for tests).
    #[arg(long, env = "EMBEDGATE_SYNC_PAGE_BYTES", default_value_t = embedgate_core::sync::PAGE_BUDGET_BYTES,
          value_parser = page_bytes)]
    sync_page_bytes: usize,
    /// Serve the browser pages from this folder (the repository's `www/`, for development: edits show on
    /// reload) instead of the copy built into the binary.
    #[arg(long, env = "EMBEDGATE_WWW", value_name = "DIR")]
    www: Option<PathBuf>,
    /// Comma-separated IP addresses or CIDR blocks of the reverse proxies in front of the admin (e.g.
    /// 10.0.0.0/8,fd00::/8). Only a request whose TCP peer is one of them has its client address read
    /// from X-Forwarded-For (the right-most entry that is not itself a trusted proxy); from any other
    /// peer the header is ignored. Default: none (the peer is the client).
    #[arg(long, env = "EMBEDGATE_TRUSTED_PROXIES", value_name = "LIST", default_value = "",
          value_parser = trusted_proxies)]
    trusted_proxies: server::TrustedProxies,
    /// Comma-separated org slugs whose active admins are platform operators: they read every edge's
    /// detail (GET /api/v1/edges: URLs, key ids, errors, counters). Default: none; every member reads
    /// only their own org's view (GET /api/v1/orgs/{org}/edges).
    #[arg(long, env = "EMBEDGATE_OPERATOR_ORGS", value_name = "ORGS", value_delimiter = ',')]
    operator_orgs: Vec<String>,
    /// Serve the host-app demo's signing endpoints (`/demo/api/…`): development only, loopback only.
    #[arg(long, env = "EMBEDGATE_DEMO")]
    demo: bool,
    /// The demo host's default credential: a JSON file with `org`, `client_id` and `secret`.
    #[arg(long, env = "EMBEDGATE_DEMO_CREDENTIAL", value_name = "FILE", requires = "demo")]
    demo_credential: Option<PathBuf>,
    /// The edge the demo's embed URLs point at (default: the first of EMBEDGATE_EDGES).
    #[arg(long, env = "EMBEDGATE_DEMO_EDGE_URL", value_name = "URL", requires = "demo")]
    demo_edge_url: Option<String>,
    /// How long an API access token from the OAuth client-credentials grant (POST /api/v1/oauth/token)
    /// lives: 60s to 1d.
    #[arg(long, env = "EMBEDGATE_API_TOKEN_TTL", default_value = "1h", value_parser = api_token_ttl)]
    api_token_ttl: i64,
    #[command(flatten)]
    tokens: TokenArgs,
    #[command(flatten)]
    store: StoreArgs,
}

/// `--api-token-ttl`: a duration from a minute to a day.
fn api_token_ttl(text: &str) -> Result<i64, String> {
    let range = server::api::oauth::API_TOKEN_TTL_RANGE_S;
    super::duration::parse_seconds(text)
        .ok()
        .filter(|s| range.contains(s))
        .ok_or_else(|| "must be a duration from 60s to 1d (e.g. 15m, 1h)".to_owned())
}

/// `--trusted-proxies`: a comma-separated list of addresses and CIDR blocks.
fn trusted_proxies(text: &str) -> Result<server::TrustedProxies, String> {
    server::TrustedProxies::parse(text)
}

/// `--sync-page-bytes`: 4096 up to the page budget under the 1 MiB message cap.
fn page_bytes(text: &str) -> Result<usize, String> {
    let max = embedgate_core::sync::PAGE_BUDGET_BYTES;
    text.parse::<usize>()
        .ok()
        .filter(|n| (4096..=max).contains(n))
        .ok_or_else(|| format!("must be a number of bytes from 4096 to {max}"))
}

/// Whether `url` may be pushed to: `https://`, or `http://` on a loopback
/// address (a local edge, the tests, `cargo xtask dev`).
fn is_push_target(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else { return false };
    let Some(host) = parsed.host_str() else { return false };
    match parsed.scheme() {
        "https" => true,
        "http" => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
}

/// Edges with a key of their own, by index in `EMBEDGATE_EDGES`.
type OwnKeys = Vec<(usize, std::sync::Arc<EdgeKey>)>;

/// `EMBEDGATE_EDGES` read: the URLs, and the edges with a key of their own
/// (`URL#VAR`: the key in the environment variable VAR, so no key is in the
/// list, which is logged).
fn edge_targets(items: &[String]) -> Result<(Vec<String>, OwnKeys), UsageError> {
    let mut urls = Vec::new();
    let mut own = Vec::new();
    for item in items.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let (url, var) = match item.split_once('#') {
            Some((url, var)) => (url.trim(), Some(var.trim())),
            None => (item, None),
        };
        if let Some(var) = var {
            let text = std::env::var(var).map_err(|_| {
                UsageError::new(format!("EMBEDGATE_EDGES: {url} names {var} for its edge key, which is not set"))
            })?;
            let key = KeySet::<EdgeKey>::parse(&text).map_err(|e| UsageError::new(format!("{var}: {e}")))?;
            own.push((urls.len(), std::sync::Arc::new(key.current().clone())));
        }
        urls.push(url.to_owned());
    }
    Ok((urls, own))
}

/// Exit code when `init` finds the org already there.
pub const EXIT_ORG_EXISTS: u8 = 1;

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, UsageError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| UsageError::new(format!("cannot start the async runtime: {e}")))
}

/// Creates the org and its first admin, prints `{"org","admin_email","token"}`.
pub fn run_init(args: &InitArgs, out: &mut dyn std::io::Write) -> Result<u8, UsageError> {
    let policy = args.tokens.policy()?;
    let masters = args.store.load_or_generate_master_keys()?;
    runtime()?.block_on(async {
        let (db, keys) = args.store.open(masters).await?;
        let result = server::init_org_with_ttl(&db, &keys, &args.org, &args.admin_email, policy.default_ttl_s).await;
        db.pool.close().await;
        match result {
            Ok(Some((token, expires_at))) => {
                let line = serde_json::json!({
                    "org": args.org,
                    "admin_email": args.admin_email.trim().to_lowercase(),
                    "token": token.as_str(),
                    "expires_at": expires_at,
                });
                write_line(out, &line.to_string())?;
                Ok(0)
            }
            Ok(None) => {
                eprintln!("embedgate: the org {:?} already exists; nothing was changed", args.org);
                Ok(EXIT_ORG_EXISTS)
            }
            Err(e) => Err(UsageError::new(e.to_string())),
        }
    })
}

/// Runs the admin server until SIGINT or SIGTERM.
pub fn run_serve(args: &ServeArgs) -> Result<u8, UsageError> {
    init_tracing();
    let token_policy = args.tokens.policy()?;
    let masters = args.store.load_master_keys()?;
    let sync_keys: Option<KeySet<SyncKey>> =
        args.sync_key.as_ref().map(|k| k.keys("EMBEDGATE_SYNC_KEY")).transpose()?;
    let edge_key: Option<EdgeKey> = args
        .edge_key
        .as_ref()
        .map(|k| k.keys::<EdgeKey>("EMBEDGATE_EDGE_KEY").map(|set| set.current().clone()))
        .transpose()?;
    let (edges, own_keys) = edge_targets(&args.edges)?;
    if !edges.is_empty() && sync_keys.is_none() {
        return Err(UsageError::new("EMBEDGATE_EDGES is set but EMBEDGATE_SYNC_KEY is not; pushes must be signed"));
    }
    if edge_key.is_none() && own_keys.len() < edges.len() {
        return Err(UsageError::new(
            "EMBEDGATE_EDGES is set but EMBEDGATE_EDGE_KEY is not (nor a key of its own, URL#VAR, for every edge); \
             the secrets sent to the edges must be wrapped (generate one with `embedgate keygen edge` and give the \
             edge the same value)",
        ));
    }
    if let Some(bad) = edges.iter().find(|e| !is_push_target(e)) {
        return Err(UsageError::new(format!(
            "EMBEDGATE_EDGES: {bad:?} must be an https:// URL (http:// only on a loopback address: 127.0.0.1, [::1], \
             localhost), so that the state and the wrapped secrets travel over TLS"
        )));
    }
    let pages = match &args.www {
        Some(dir) if dir.is_dir() => server::web::Pages::Folder(dir.clone()),
        Some(dir) => return Err(UsageError::new(format!("--www: {} is not a folder", dir.display()))),
        None => server::web::Pages::Embedded,
    };
    if args.demo && !args.listen.ip().is_loopback() {
        return Err(UsageError::new(
            "--demo signs embed tokens for anyone who can reach the server: it is allowed on a loopback address only",
        ));
    }
    let demo_edge = args.demo_edge_url.clone().or_else(|| edges.first().cloned());
    if let Some(bad) = demo_edge.as_deref().filter(|e| embedgate_core::origin_of(e).is_none()) {
        return Err(UsageError::new(format!("--demo-edge-url: {bad:?} is not an http:// or https:// URL")));
    }
    if args.store.master_key_from_file() {
        tracing::warn!(
            file = %args.store.master_key_file().display(),
            "the master key is read from a file beside the database: anyone with a copy of the data directory \
             holds both; in production set EMBEDGATE_MASTER_KEY from a secret store and remove the file"
        );
    }
    runtime()?.block_on(async {
        let (db, keys) = args.store.open(masters).await?;
        tracing::info!(backend = ?db.backend, master_keys = ?keys.masters(), "database ready");
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| UsageError::new(format!("cannot listen on {}: {e}", args.listen)))?;
        let addr = listener.local_addr().map_err(|e| UsageError::new(e.to_string()))?;
        tracing::info!(%addr, "embedgate admin listening on http://{addr}");
        let mut state = AppState::new(db.clone(), keys.clone());
        configure_access(args, &mut state);
        state.tokens = token_policy;
        state.push = server::PushConfig {
            edges,
            sync_keys: sync_keys.map(std::sync::Arc::new),
            edge_key: edge_key.map(std::sync::Arc::new),
            own_keys,
            reconcile: std::time::Duration::from_secs(args.reconcile_interval.unsigned_abs()),
            page_bytes: args.sync_page_bytes,
            retention: std::time::Duration::from_secs(args.change_retention.unsigned_abs()),
        };
        state.edges = std::sync::Arc::new(server::push::EdgeBoard::new(&state.push.edges));
        let mut frames = state.push.edges.clone();
        frames.extend(demo_edge.clone());
        match &pages {
            server::web::Pages::Folder(dir) => {
                tracing::info!(www = %dir.display(), "serving the console from a folder at http://{addr}/");
            }
            server::web::Pages::Embedded => tracing::info!("serving the console at http://{addr}/"),
        }
        state.web = std::sync::Arc::new(server::web::WebConfig::new(pages, &frames));
        if args.demo {
            tracing::warn!("demo host enabled: /demo/api signs embed tokens (development only)");
            state.demo =
                Some(std::sync::Arc::new(server::demo::DemoHost::new(demo_edge, args.demo_credential.clone())));
        }
        let (stop_pushing, stopped) = tokio::sync::watch::channel(false);
        let lineage = db.lineage().await.map_err(|e| UsageError::new(e.to_string()))?;
        server::push::spawn(db.clone(), keys, &lineage, &state.push, state.edges.clone(), &stopped);
        server::push::spawn_pruning(db.clone(), state.push.retention, stopped.clone());
        if !state.push.edges.is_empty() {
            tracing::info!(edges = state.push.edges.len(), "pushing state to the edges");
        }
        let app = server::app(state);
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|e| UsageError::new(format!("server error: {e}")))?;
        let _ = stop_pushing.send(true);
        db.pool.close().await;
        tracing::info!("stopped");
        Ok(0)
    })
}

/// Who the API believes and admits: the trusted proxies and the operator orgs.
fn configure_access(args: &ServeArgs, state: &mut AppState) {
    if !args.trusted_proxies.is_empty() {
        tracing::info!(proxies = %args.trusted_proxies, "X-Forwarded-For is read from these peers only");
    }
    state.trusted_proxies = std::sync::Arc::new(args.trusted_proxies.clone());
    state.api_token_ttl_s = args.api_token_ttl;
    let operators: std::collections::BTreeSet<String> =
        args.operator_orgs.iter().map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect();
    if !operators.is_empty() {
        tracing::info!(orgs = ?operators, "the admins of these orgs read every edge's detail");
    }
    state.operator_orgs = std::sync::Arc::new(operators);
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // A closed stderr must not bring the server down (the default reports
        // write errors with eprintln!, which panics when stderr is gone).
        .log_internal_errors(false)
        .try_init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

/// Arguments of `embedgate bench-load` (benchmarks only).
#[derive(Debug, Args)]
pub struct BenchLoadArgs {
    /// Orgs to create (`{prefix}-00000` …), each with one admin.
    #[arg(long)]
    orgs: usize,
    /// Credentials in all (spread evenly over the orgs).
    #[arg(long)]
    credentials: usize,
    /// The orgs' slug prefix.
    #[arg(long, default_value = "bench")]
    prefix: String,
    #[command(flatten)]
    store: StoreArgs,
}

/// Bulk-loads orgs and credentials straight through the store (every change
/// logged and versioned as through the API), printing
/// `{"orgs","credentials","version","seconds"}`.
pub fn run_bench_load(args: &BenchLoadArgs, out: &mut dyn std::io::Write) -> Result<u8, UsageError> {
    if args.orgs == 0 || args.credentials < args.orgs {
        return Err(UsageError::new("--orgs must be at least 1 and --credentials at least --orgs"));
    }
    let masters = args.store.load_or_generate_master_keys()?;
    runtime()?.block_on(async {
        let (db, keys) = args.store.open(masters).await?;
        let started = std::time::Instant::now();
        let per_org = args.credentials / args.orgs;
        let step = (args.orgs / 10).max(1);
        let loaded = db::bulk::load(&db, &keys, &args.prefix, args.orgs, per_org, |done| {
            if done % step == 0 {
                eprintln!("embedgate: bench-load: {done} of {} orgs", args.orgs);
            }
        })
        .await
        .map_err(|e| UsageError::new(e.to_string()))?;
        db.pool.close().await;
        let line = serde_json::json!({
            "orgs": loaded.orgs,
            "credentials": loaded.credentials,
            "version": loaded.version,
            "seconds": started.elapsed().as_secs_f64(),
        });
        write_line(out, &line.to_string())?;
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::{api_token_ttl, is_push_target};

    #[test]
    fn api_token_lifetimes_are_a_minute_to_a_day() {
        assert_eq!(api_token_ttl("1h"), Ok(3600));
        assert_eq!(api_token_ttl("60s"), Ok(60));
        assert_eq!(api_token_ttl("1d"), Ok(86_400));
        for bad in ["59s", "2d", "0", "forever", ""] {
            assert!(api_token_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pushes_go_over_tls_except_to_a_loopback_edge() {
        for ok in [
            "https://edge.example.com",
            "https://edge.example.com:8443/base",
            "http://127.0.0.1:8787",
            "http://127.3.4.5",
            "http://[::1]:8787",
            "http://localhost:8787",
            "http://LOCALHOST",
        ] {
            assert!(is_push_target(ok), "{ok}");
        }
        for bad in [
            "http://edge.example.com",
            "http://10.0.0.7:8787",
            "http://[::2]",
            "http://localhost.example.com",
            "http://127.0.0.1.example.com",
            "ftp://edge.example.com",
            "https://",
            "edge.example.com",
            "",
        ] {
            assert!(!is_push_target(bad), "{bad}");
        }
    }
}
