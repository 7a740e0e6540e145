//! The worker's configuration: secrets (`EMBEDGATE_EDGE_KEY`,
//! `EMBEDGATE_SYNC_KEY`, each `current[,other]` during a rotation) and
//! variables, read once per isolate. An edge holds no master key: one
//! configured (`EMBEDGATE_MASTER_KEY`) is refused.

use std::cell::OnceCell;
use std::rc::Rc;

use embedgate_core::origin::AssertionSigner;
use embedgate_core::{EdgeKey, EdgeVerifier, KeySet, Region, SyncKey, Validation};
use worker::Env;

/// Why the edge cannot serve: its secrets are missing or malformed.
#[derive(Debug, Clone, Copy)]
pub struct Unconfigured(pub &'static str);

/// What the worker reads from its environment.
#[derive(Debug)]
pub struct Config {
    /// The edge keys the admin wraps the live secrets under (the current
    /// one seals sessions; either opens secrets and sessions).
    pub edge_keys: KeySet<EdgeKey>,
    /// The sync keys a message may be sealed with (the ack goes back under the same one).
    pub sync: KeySet<SyncKey>,
    /// Token validation settings.
    pub validation: Validation,
    /// The verifier (validation and the session key).
    pub verifier: EdgeVerifier,
    /// Where verified embeds are forwarded (`None`: the demo workbook).
    pub origin: Option<OriginTarget>,
    /// Signs the identity assertion forwarded to the origin (keys derived
    /// from the edge keys; the public ones at the JWKS path).
    pub assertion: AssertionSigner,
    /// The longest an isolate serves cached state without asking the store.
    pub max_staleness_ms: u64,
    /// `EMBEDGATE_REGIONS`: where replicas of the state live, the first the default.
    pub regions: Vec<Region>,
    /// `EMBEDGATE_CACHE_BYTES`: the bound of each isolate's credential cache.
    pub cache_bytes: usize,
    /// `EMBEDGATE_TRUST_REGION_HEADER`: a request may pick its replica with
    /// `x-embedgate-region` (tests and benchmarks; off in production, where
    /// the request's continent decides).
    pub trust_region_header: bool,
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

/// `ORIGIN_URL`: where verified embeds are forwarded.
#[derive(Debug)]
pub struct OriginTarget {
    /// The URL prefix, without a trailing `/`.
    pub url: String,
    /// Its origin (`scheme://host[:port]`): the identity assertion's `aud`.
    pub audience: String,
}

/// The default bound of an isolate's credential cache: 16 MiB, an eighth of
/// the 128 MB isolate limit, whatever the number of credentials.
pub const DEFAULT_CACHE_BYTES: usize = 16 << 20;

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
    if secret(env, "EMBEDGATE_MASTER_KEY").is_some() {
        return Err(Unconfigured(
            "EMBEDGATE_MASTER_KEY must not be set on an edge (it opens every org's keys): delete it \
             (wrangler secret delete EMBEDGATE_MASTER_KEY); the edge needs EMBEDGATE_EDGE_KEY",
        ));
    }
    let edge = secret(env, "EMBEDGATE_EDGE_KEY").ok_or(Unconfigured("EMBEDGATE_EDGE_KEY is not set"))?;
    let edge_keys = KeySet::<EdgeKey>::parse(&edge)
        .map_err(|_| Unconfigured("EMBEDGATE_EDGE_KEY must be one or two distinct ege_ keys, comma-separated"))?;
    let sync = secret(env, "EMBEDGATE_SYNC_KEY").ok_or(Unconfigured("EMBEDGATE_SYNC_KEY is not set"))?;
    let sync = KeySet::<SyncKey>::parse(&sync)
        .map_err(|_| Unconfigured("EMBEDGATE_SYNC_KEY must be one or two distinct egk_ keys, comma-separated"))?;
    let regions = match var(env, "EMBEDGATE_REGIONS") {
        None => vec![Region::Wnam],
        Some(list) => Region::parse_list(&list)
            .map_err(|_| Unconfigured("EMBEDGATE_REGIONS must list regions such as wnam,weur, each once"))?,
    };
    let mut validation = Validation::default();
    if let Some(leeway) = var(env, "EMBEDGATE_LEEWAY_S").and_then(|v| v.parse().ok()) {
        validation.leeway_s = leeway;
    }
    if let Some(audience) = var(env, "EMBEDGATE_AUDIENCE") {
        validation.audience = audience;
    }
    // The assertion's audience is the origin of ORIGIN_URL (which may carry a path prefix).
    let origin = match var(env, "ORIGIN_URL").map(|u| u.trim_end_matches('/').to_owned()) {
        None => None,
        Some(url) => {
            let audience = embedgate_core::origin_of(&url)
                .ok_or(Unconfigured("ORIGIN_URL must be an http(s) URL: scheme://host[:port][/prefix]"))?
                .to_owned();
            Some(OriginTarget { url, audience })
        }
    };
    let flag =
        |name: &str, default: bool| var(env, name).map_or(default, |v| matches!(v.as_str(), "1" | "true" | "yes"));
    Ok(Config {
        verifier: EdgeVerifier::new(&edge_keys, validation.clone()),
        assertion: AssertionSigner::new(&edge_keys),
        edge_keys,
        sync,
        validation,
        origin,
        max_staleness_ms: var(env, "STATE_MAX_STALENESS_MS").and_then(|v| v.parse().ok()).unwrap_or(500),
        regions,
        cache_bytes: var(env, "EMBEDGATE_CACHE_BYTES").and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CACHE_BYTES),
        trust_region_header: flag("EMBEDGATE_TRUST_REGION_HEADER", false),
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

impl Config {
    /// The replica a request reads: the one its header names when trusted
    /// and configured, else the configured region nearest its continent.
    pub fn region_for(&self, req: &worker::Request) -> Region {
        if self.trust_region_header {
            let named = req.headers().get("x-embedgate-region").ok().flatten().and_then(|r| r.parse::<Region>().ok());
            if let Some(region) = named.filter(|r| self.regions.contains(r)) {
                return region;
            }
        }
        let continent = req.cf().and_then(worker::Cf::continent);
        Region::for_request(&self.regions, continent.as_deref())
    }

    /// The region an org's replay guards live in.
    pub fn home_of(&self, home_region: Option<Region>) -> Region {
        home_region.or_else(|| self.regions.first().copied()).unwrap_or(Region::Wnam)
    }
}
