//! The worker's configuration: secrets (`EMBEDGATE_MASTER_KEY`,
//! `EMBEDGATE_SYNC_KEY`) and variables, read once per isolate.

use std::cell::OnceCell;
use std::rc::Rc;

use embedgate_core::{MasterKey, SyncKey, Validation};
use worker::Env;

/// Why the edge cannot serve: its secrets are missing or malformed.
#[derive(Debug, Clone, Copy)]
pub struct Unconfigured(pub &'static str);

/// What the worker reads from its environment.
#[derive(Debug)]
pub struct Config {
    /// The master key every embed secret is derived from.
    pub master: MasterKey,
    /// The key sync messages are sealed with.
    pub sync: SyncKey,
    /// Token validation settings.
    pub validation: Validation,
    /// Where verified embeds are forwarded (`None`: the demo workbook).
    pub origin_url: Option<String>,
    /// The longest an isolate serves cached state without asking the store.
    pub max_staleness_ms: u64,
    /// Edge session lifetime (seconds; 0 disables sessions).
    pub session_ttl_s: i64,
    /// Whether the session cookie is `Secure` (off only for plain-HTTP development).
    pub secure_cookie: bool,
    /// Whether the benchmark's pass-through route is served.
    pub bench_routes: bool,
    /// `EMBEDGATE_MAX_STATE_AGE`: refuse embeds (fail closed, 503
    /// `state_stale`) when the admin has not vouched for the state for longer
    /// than this many seconds. `None` (the default): serve the last state.
    pub max_state_age_s: Option<u64>,
}

thread_local! {
    static CONFIG: OnceCell<Result<Rc<Config>, Unconfigured>> = const { OnceCell::new() };
}

fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string()).filter(|v| !v.trim().is_empty())
}

fn secret(env: &Env, name: &str) -> Option<String> {
    env.secret(name).ok().map(|v| v.to_string()).or_else(|| var(env, name))
}

fn read(env: &Env) -> Result<Config, Unconfigured> {
    let master = secret(env, "EMBEDGATE_MASTER_KEY").ok_or(Unconfigured("EMBEDGATE_MASTER_KEY is not set"))?;
    let master =
        MasterKey::from_printable(&master).map_err(|_| Unconfigured("EMBEDGATE_MASTER_KEY is not a valid egm_ key"))?;
    let sync = secret(env, "EMBEDGATE_SYNC_KEY").ok_or(Unconfigured("EMBEDGATE_SYNC_KEY is not set"))?;
    let sync =
        SyncKey::from_printable(&sync).map_err(|_| Unconfigured("EMBEDGATE_SYNC_KEY is not a valid egk_ key"))?;
    let mut validation = Validation::default();
    if let Some(leeway) = var(env, "EMBEDGATE_LEEWAY_S").and_then(|v| v.parse().ok()) {
        validation.leeway_s = leeway;
    }
    if let Some(audience) = var(env, "EMBEDGATE_AUDIENCE") {
        validation.audience = audience;
    }
    let flag =
        |name: &str, default: bool| var(env, name).map_or(default, |v| matches!(v.as_str(), "1" | "true" | "yes"));
    Ok(Config {
        master,
        sync,
        validation,
        origin_url: var(env, "ORIGIN_URL").map(|u| u.trim_end_matches('/').to_owned()),
        max_staleness_ms: var(env, "STATE_MAX_STALENESS_MS").and_then(|v| v.parse().ok()).unwrap_or(500),
        session_ttl_s: var(env, "SESSION_TTL_S").and_then(|v| v.parse().ok()).unwrap_or(600),
        secure_cookie: flag("SESSION_COOKIE_SECURE", true),
        bench_routes: flag("EMBEDGATE_BENCH_ROUTES", false),
        max_state_age_s: match var(env, "EMBEDGATE_MAX_STATE_AGE") {
            None => None,
            Some(v) => Some(
                embedgate_core::parse_seconds(&v)
                    .ok()
                    .and_then(|s| u64::try_from(s).ok())
                    .ok_or(Unconfigured("EMBEDGATE_MAX_STATE_AGE must be a positive duration: 300, 300s, 5m, 1h"))?,
            ),
        },
    })
}

/// This isolate's configuration (read on first use).
pub fn get(env: &Env) -> Result<Rc<Config>, Unconfigured> {
    CONFIG.with(|c| c.get_or_init(|| read(env).map(Rc::new)).clone())
}
