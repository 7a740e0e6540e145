//! The host-app demo's server side (`/demo/api/…`): it plays the customer's
//! app server, which holds an embed secret and signs embed URLs for its
//! users, so the `/demo` page never sees a secret.
//!
//! Off unless `embedgate serve --demo`: it signs tokens for any `sub` with
//! the configured credential, which only a development stack should offer.
//! Each browser gets its own configuration (an `HttpOnly`, `SameSite=Strict`
//! cookie names it); a browser without one uses `--demo-credential FILE`
//! (the create answer saved by `cargo xtask dev`), read when needed.
//!
//! - `GET  /demo/api/config` → `{"enabled","configured","org","client_id","edge_url"}` (never the secret)
//! - `PUT  /demo/api/config` `{"org","client_id","secret"}` → the same (422 for bad input)
//! - `POST /demo/api/embed-url` `{"sub","kind"?,"id"?,"account_type"?,"ttl_s"?}` →
//!   `{"url","expires_at"}` (409 `not_configured`, 422 for bad input)

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use embedgate_core::{random_jti, sign, AccountType, Claims, ClientId, EmbedKind, EmbedSecret, OrgSlug};
use serde_json::{json, Value};

use super::{now, AppError, AppState};

/// The per-browser cookie naming a demo configuration.
const COOKIE: &str = "embedgate_demo";
/// Configurations kept at most (the oldest is dropped first).
const MAX_BROWSERS: usize = 1000;
/// Longest embed URL lifetime the demo signs.
const MAX_TTL_S: i64 = 3600;

/// The demo host's state.
#[derive(Debug, Default)]
pub struct DemoHost {
    /// Whether `--demo` was given.
    pub enabled: bool,
    /// The edge embed URLs point at (the first `EMBEDGATE_EDGES`, or `--demo-edge-url`).
    pub edge_url: Option<String>,
    /// `--demo-credential FILE`: the default configuration.
    pub default_file: Option<PathBuf>,
    browsers: Mutex<Browsers>,
}

#[derive(Debug, Default)]
struct Browsers {
    configs: HashMap<String, (u64, HostConfig)>,
    next: u64,
}

/// What a host app's server holds: its org, client ID and secret.
#[derive(Debug, Clone)]
struct HostConfig {
    org: OrgSlug,
    client_id: ClientId,
    secret: EmbedSecret,
}

impl DemoHost {
    /// An enabled demo host signing URLs for `edge_url`.
    pub fn new(edge_url: Option<String>, default_file: Option<PathBuf>) -> Self {
        Self { enabled: true, edge_url, default_file, browsers: Mutex::default() }
    }

    fn config_for(&self, browser: Option<&str>) -> Result<Option<HostConfig>, AppError> {
        let own = browser.and_then(|b| {
            let guard = self.browsers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            guard.configs.get(b).map(|(_, c)| c.clone())
        });
        match own {
            Some(c) => Ok(Some(c)),
            None => self.default_config(),
        }
    }

    fn default_config(&self) -> Result<Option<HostConfig>, AppError> {
        let Some(path) = &self.default_file else { return Ok(None) };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AppError::Internal(format!("demo credential file: {e}"))),
        };
        let v: Value = serde_json::from_str(&text).map_err(|e| AppError::Internal(format!("demo credential: {e}")))?;
        parse_config(&v).map(Some).map_err(|_| AppError::Internal("demo credential file: bad fields".to_owned()))
    }

    fn store(&self, browser: &str, config: HostConfig) {
        let mut guard = self.browsers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.next += 1;
        let stamp = guard.next;
        guard.configs.insert(browser.to_owned(), (stamp, config));
        if guard.configs.len() > MAX_BROWSERS {
            if let Some(oldest) = guard.configs.iter().min_by_key(|(_, (s, _))| *s).map(|(k, _)| k.clone()) {
                guard.configs.remove(&oldest);
            }
        }
    }
}

fn parse_config(v: &Value) -> Result<HostConfig, AppError> {
    let field = |name: &'static str| {
        v.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AppError::invalid(name, format!("{name} is required")))
    };
    let org: OrgSlug = field("org")?.parse().map_err(|_| AppError::invalid("org", "not an org slug"))?;
    let client_id: ClientId =
        field("client_id")?.parse().map_err(|_| AppError::invalid("client_id", "not a client ID"))?;
    let secret = EmbedSecret::parse_well_formed(field("secret")?).map_err(|_| {
        AppError::invalid("secret", "not an embed secret as shown when the credential was created or rotated")
    })?;
    Ok(HostConfig { org, client_id, secret })
}

fn browser_id(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|h| {
        h.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == COOKIE && v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit())).then(|| v.to_owned())
        })
    })
}

fn demo(state: &AppState) -> Result<&Arc<DemoHost>, AppError> {
    state.demo.as_ref().filter(|d| d.enabled).ok_or(AppError::NotFound("demo host (start the admin with --demo)"))
}

fn describe(host: &DemoHost, config: Option<&HostConfig>) -> Value {
    json!({
        "enabled": true,
        "configured": config.is_some(),
        "org": config.map(|c| c.org.as_str()),
        "client_id": config.map(|c| c.client_id.as_str()),
        "edge_url": host.edge_url,
    })
}

/// `GET /demo/api/config`.
pub async fn get_config(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, AppError> {
    let host = demo(&state)?;
    let config = host.config_for(browser_id(&headers).as_deref())?;
    Ok(Json(describe(host, config.as_ref())))
}

/// `PUT /demo/api/config`: this browser's host app now signs with these.
pub async fn put_config(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, AppError> {
    let host = demo(&state)?;
    let Json(body) = body.map_err(|_| AppError::MalformedJson)?;
    let config = parse_config(&body)?;
    let (browser, new_cookie) = match browser_id(&headers) {
        Some(id) => (id, false),
        None => (random_jti().map_err(|e| AppError::Internal(format!("random source: {e}")))?, true),
    };
    let answer = describe(host, Some(&config));
    host.store(&browser, config);
    let mut resp = Json(answer).into_response();
    if new_cookie {
        let cookie = format!("{COOKIE}={browser}; Path=/demo; HttpOnly; SameSite=Strict");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

/// `POST /demo/api/embed-url`: signs a fresh embed URL for `sub`, as the
/// customer's server would.
pub async fn embed_url(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, AppError> {
    let host = demo(&state)?;
    let Json(body) = body.map_err(|_| AppError::MalformedJson)?;
    let Some(config) = host.config_for(browser_id(&headers).as_deref())? else {
        let body =
            json!({"error": "not_configured", "message": "the demo host has no credential: configure one first"});
        return Ok((StatusCode::CONFLICT, Json(body)).into_response());
    };
    let Some(edge) = host.edge_url.as_deref() else {
        let body = json!({"error": "no_edge", "message": "the admin has no edge configured (EMBEDGATE_EDGES)"});
        return Ok((StatusCode::CONFLICT, Json(body)).into_response());
    };
    let text = |name: &'static str| body.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let sub = text("sub").ok_or_else(|| AppError::invalid("sub", "the embed user's email is required"))?;
    if sub.len() > 254 || sub.chars().any(char::is_whitespace) || !sub.contains('@') {
        return Err(AppError::invalid("sub", "must be an email address"));
    }
    let kind = match text("kind").unwrap_or("workbook") {
        "workbook" => EmbedKind::Workbook,
        "page" => EmbedKind::Page,
        "element" => EmbedKind::Element,
        _ => return Err(AppError::invalid("kind", "must be workbook, page or element")),
    };
    let id = text("id").unwrap_or("sales-overview");
    if id.len() > 200 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/')) {
        return Err(AppError::invalid("id", "letters, digits, '-', '_' and '/' only"));
    }
    let account_type = text("account_type")
        .map(|t| t.parse::<AccountType>().map_err(|_| AppError::invalid("account_type", "not an account type")))
        .transpose()?;
    let ttl = match body.get("ttl_s") {
        None | Some(Value::Null) => 600,
        Some(v) => v
            .as_i64()
            .filter(|t| (1..=MAX_TTL_S).contains(t))
            .ok_or_else(|| AppError::invalid("ttl_s", "must be 1 to 3600 seconds"))?,
    };
    let now = now();
    let mut claims = Claims::new(sub, now, ttl).map_err(|e| AppError::Internal(format!("random source: {e}")))?;
    claims.account_type = account_type;
    let token = sign(&claims, &config.client_id, &config.secret).map_err(|e| AppError::Internal(e.to_string()))?;
    let url = format!(
        "{}/{}/{}/{id}?:jwt={token}&:embed=true",
        edge.trim_end_matches('/'),
        config.org.as_str(),
        kind.as_str()
    );
    Ok(Json(json!({ "url": url, "expires_at": claims.exp })).into_response())
}
