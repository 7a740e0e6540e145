//! The JSON API under `/api/v1` (design §7) and `/healthz`.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use embedgate_core::{AccountType, ClientId, Kdf, OrgSlug, Privilege};
use serde_json::{json, Map, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::auth::{new_member_token, random_id, OrgAdmin, OrgMember};
use super::error::is_unique_violation;
use super::{now, AppError, AppState, Db};

/// The longest `max_token_lifetime_s` a credential may set (30 days).
pub const MAX_TOKEN_LIFETIME_S: i64 = 2_592_000;

/// The whole admin HTTP API.
pub fn app(state: AppState) -> Router {
    let org = Router::new()
        .route("/members", post(create_member).get(list_members))
        .route("/members/{email}", patch(update_member))
        .route("/members/{email}/tokens", post(issue_token).get(list_tokens))
        .route("/members/{email}/tokens/{token_id}/revoke", post(revoke_token))
        .route("/members/{email}/deactivate", post(deactivate_member))
        .route("/credentials", post(create_credential).get(list_credentials))
        .route("/credentials/{client_id}", get(get_credential).patch(update_credential))
        .route("/credentials/{client_id}/revoke", post(revoke_credential))
        .route("/credentials/{client_id}/rotate", post(rotate_credential))
        .route("/credentials/{client_id}/retire-previous", post(retire_previous))
        .route("/audit", get(list_audit));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(super::metrics::scrape))
        .route("/api/v1/openapi.json", get(super::openapi::openapi_json))
        .route("/api/v1/edges", get(super::push::list_edges))
        .route("/api/v1/me", get(me))
        .nest("/api/v1/orgs/{org}", org)
        .route("/", get(super::web::page))
        .route("/demo", get(super::web::page))
        .route("/inspect", get(super::web::page))
        .route("/assets/{*path}", get(super::web::asset))
        .route("/pkg/{*path}", get(super::web::asset))
        .route("/demo/api/config", get(super::demo::get_config).put(super::demo::put_config))
        .route("/demo/api/embed-url", post(super::demo::embed_url))
        .fallback(|| async { AppError::NotFound("route") })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.clone(), super::metrics::track))
        .layer(middleware::from_fn(log_requests))
        .with_state(state)
}

/// Logs method, path (never the query or body), status and latency.
async fn log_requests(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let start = Instant::now();
    let response = next.run(req).await;
    tracing::info!(%method, %path, status = response.status().as_u16(), micros = start.elapsed().as_micros(), "request");
    response
}

/// `GET /api/v1/me`: whose token this is (the console signs in with the token alone).
async fn me(member: super::Member) -> Json<Value> {
    Json(json!({ "org": member.org, "email": member.email, "account_type": member.account_type.as_str() }))
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let version = state.db.state_version().await?;
    Ok(Json(json!({ "ok": true, "state_version": version })))
}

// ---------------------------------------------------------------- helpers

/// `axum::extract::Path` whose rejection (a path segment that does not
/// percent-decode to UTF-8) is a JSON 404 like any unknown resource.
struct Path<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|_| AppError::NotFound("resource"))
    }
}

fn body_object(body: Result<Json<Value>, JsonRejection>) -> Result<Map<String, Value>, AppError> {
    match body {
        Ok(Json(Value::Object(map))) => Ok(map),
        Ok(Json(_)) => Err(AppError::invalid("body", "the body must be a JSON object")),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(AppError::PayloadTooLarge),
        Err(_) => Err(AppError::MalformedJson),
    }
}

fn opt_string(map: &Map<String, Value>, field: &'static str) -> Result<Option<String>, AppError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(AppError::invalid(field, format!("{field} must be a string"))),
    }
}

fn req_string(map: &Map<String, Value>, field: &'static str) -> Result<String, AppError> {
    opt_string(map, field)?.ok_or_else(|| AppError::invalid(field, format!("{field} is required")))
}

fn opt_i64(
    map: &Map<String, Value>,
    field: &'static str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, AppError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(AppError::invalid(
                field,
                format!("{field} must be an integer from {} to {}", range.start(), range.end()),
            )),
        },
    }
}

/// 422 (field `body`) unless every key of `body` is one of `allowed`. The
/// message lists the allowed names, never the offending key (it is input).
fn only_fields(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), AppError> {
    if body.keys().all(|k| allowed.contains(&k.as_str())) {
        Ok(())
    } else {
        Err(AppError::invalid("body", format!("only these fields may be given: {}", allowed.join(", "))))
    }
}

/// Lower-cases and checks an email address (1–254 characters, one `@`, no whitespace).
fn normalize_email(raw: &str, field: &'static str) -> Result<String, AppError> {
    let email = raw.trim().to_lowercase();
    let ok = (3..=254).contains(&email.chars().count())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split('@').count() == 2
        && email.split('@').all(|p| !p.is_empty());
    if ok {
        Ok(email)
    } else {
        Err(AppError::invalid(field, format!("{field} must be an email address")))
    }
}

/// An `http(s)://host[:port]` origin without path, query, fragment or userinfo,
/// lower-cased, one trailing `/` dropped.
fn normalize_origin(raw: &str) -> Option<String> {
    let origin = raw.trim().to_ascii_lowercase();
    let origin = origin.strip_suffix('/').unwrap_or(&origin).to_owned();
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"))?;
    let (host, port) = if rest.starts_with('[') {
        let close = rest.find(']')?;
        let (host, after) = rest.split_at(close + 1);
        (host, if after.is_empty() { None } else { Some(after.strip_prefix(':')?) })
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && (host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            || (host.len() > 2
                && host.starts_with('[')
                && host.ends_with(']')
                && host[1..host.len() - 1].bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')));
    let port_ok = port.is_none_or(|p| {
        !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0)
    });
    (host_ok && port_ok).then_some(origin)
}

async fn audit(
    conn: &mut AnyConnection,
    org: &str,
    actor: &str,
    action: &str,
    target: &str,
    detail: &Value,
) -> Result<(), AppError> {
    sqlx::query("INSERT INTO audit (org, at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(org)
        .bind(now())
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- orgs (init)

/// Creates `org` with its first admin and returns that admin's token, or
/// `None` when the org already exists. Used by `embedgate init`.
pub async fn init_org(db: &Db, org: &str, admin_email: &str) -> Result<Option<zeroize::Zeroizing<String>>, AppError> {
    if !OrgSlug::is_valid(org) {
        return Err(AppError::invalid("org", "an org slug is 1 to 63 characters of a-z, 0-9 and '-'"));
    }
    let email = normalize_email(admin_email, "admin_email")?;
    let (token, hash) = new_member_token()?;
    let at = now();
    let mut tx = db.begin_write().await?;
    let inserted =
        sqlx::query("INSERT INTO orgs (slug, created_at) VALUES ($1, $2)").bind(org).bind(at).execute(&mut *tx).await;
    match inserted {
        Err(e) if is_unique_violation(&e) => return Ok(None),
        other => {
            other?;
        }
    }
    sqlx::query(
        "INSERT INTO members (org, email, account_type, status, created_at) VALUES ($1, $2, 'admin', 'active', $3)",
    )
    .bind(org)
    .bind(&email)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO member_tokens (id, org, email, token_hash, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $3)")
        .bind(random_id()?)
        .bind(org)
        .bind(&email)
        .bind(hash)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    audit(&mut tx, org, "embedgate-init", "org.create", org, &json!({ "admin": email })).await?;
    tx.bump_version().await?;
    tx.commit().await?;
    Ok(Some(token))
}

// ---------------------------------------------------------------- members

fn member_json(row: &AnyRow) -> Result<Value, AppError> {
    Ok(json!({
        "email": row.try_get::<String, _>("email")?,
        "account_type": row.try_get::<String, _>("account_type")?,
        "status": row.try_get::<String, _>("status")?,
        "created_at": row.try_get::<i64, _>("created_at")?,
    }))
}

fn parse_account_type(body: &Map<String, Value>) -> Result<AccountType, AppError> {
    req_string(body, "account_type")?
        .parse()
        .map_err(|_| AppError::invalid("account_type", "account_type is one of admin, creator, explorer, viewer"))
}

async fn create_member(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path(org): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<impl IntoResponse, AppError> {
    let body = body_object(body)?;
    let email = normalize_email(&req_string(&body, "email")?, "email")?;
    let account_type = parse_account_type(&body)?;
    let at = now();
    let mut tx = state.db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO members (org, email, account_type, status, created_at) VALUES ($1, $2, $3, 'active', $4)",
    )
    .bind(&org)
    .bind(&email)
    .bind(account_type.as_str())
    .bind(at)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => return Err(AppError::MemberExists),
        other => {
            other?;
        }
    }
    audit(&mut tx, &org, &admin.email, "member.create", &email, &json!({ "account_type": account_type.as_str() }))
        .await?;
    tx.bump_version().await?;
    tx.commit().await?;
    let body = json!({ "email": email, "account_type": account_type.as_str(), "status": "active", "created_at": at });
    Ok((StatusCode::CREATED, Json(body)))
}

async fn list_members(
    _reader: OrgMember,
    State(state): State<AppState>,
    Path(org): Path<String>,
) -> Result<Json<Value>, AppError> {
    let rows = sqlx::query("SELECT email, account_type, status, created_at FROM members WHERE org = $1 ORDER BY email")
        .bind(&org)
        .fetch_all(&state.db.pool)
        .await?;
    let members = rows.iter().map(member_json).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "members": members })))
}

async fn issue_token(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, email)): Path<(String, String)>,
) -> Result<impl IntoResponse, AppError> {
    let email = normalize_email(&email, "email").map_err(|_| AppError::NotFound("member"))?;
    let (token, hash) = new_member_token()?;
    let id = random_id()?;
    let mut tx = state.db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO member_tokens (id, org, email, token_hash, created_at, created_by) \
         SELECT $1, org, email, $2, $3, $4 FROM members WHERE org = $5 AND email = $6 AND status = 'active'",
    )
    .bind(&id)
    .bind(hash)
    .bind(now())
    .bind(&admin.email)
    .bind(&org)
    .bind(&email)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(AppError::NotFound("member"));
    }
    audit(&mut tx, &org, &admin.email, "member.token_issue", &email, &json!({ "token_id": id })).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "email": email, "token": token.as_str() }))))
}

/// `GET …/members/{email}/tokens`: the member's API tokens, newest first (never a token).
async fn list_tokens(
    _admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, email)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let email = normalize_email(&email, "email").map_err(|_| AppError::NotFound("member"))?;
    let exists: Option<String> = sqlx::query_scalar("SELECT email FROM members WHERE org = $1 AND email = $2")
        .bind(&org)
        .bind(&email)
        .fetch_optional(&state.db.pool)
        .await?;
    if exists.is_none() {
        return Err(AppError::NotFound("member"));
    }
    let rows = sqlx::query(
        "SELECT id, created_at, created_by, revoked_at FROM member_tokens WHERE org = $1 AND email = $2 \
         ORDER BY created_at DESC, id",
    )
    .bind(&org)
    .bind(&email)
    .fetch_all(&state.db.pool)
    .await?;
    let mut tokens = Vec::with_capacity(rows.len());
    for row in &rows {
        tokens.push(json!({
            "id": row.try_get::<String, _>("id")?,
            "email": email,
            "created_at": row.try_get::<i64, _>("created_at")?,
            "created_by": row.try_get::<String, _>("created_by")?,
            "revoked_at": row.try_get::<Option<i64>, _>("revoked_at")?,
        }));
    }
    Ok(Json(json!({ "tokens": tokens })))
}

/// Revokes one member token (idempotent: revoking a revoked token answers 200 again).
async fn revoke_token(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, email, token_id)): Path<(String, String, String)>,
) -> Result<Json<Value>, AppError> {
    let email = normalize_email(&email, "email").map_err(|_| AppError::NotFound("member"))?;
    if token_id.len() != 32 || !token_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::NotFound("token"));
    }
    let mut tx = state.db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE member_tokens SET revoked_at = $1 WHERE org = $2 AND email = $3 AND id = $4 AND revoked_at IS NULL",
    )
    .bind(now())
    .bind(&org)
    .bind(&email)
    .bind(&token_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        audit(&mut tx, &org, &admin.email, "member.token_revoke", &email, &json!({ "token_id": token_id })).await?;
    }
    let revoked_at: Option<Option<i64>> =
        sqlx::query_scalar("SELECT revoked_at FROM member_tokens WHERE org = $1 AND email = $2 AND id = $3")
            .bind(&org)
            .bind(&email)
            .bind(&token_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(revoked_at) = revoked_at else {
        return Err(AppError::NotFound("token"));
    };
    tx.commit().await?;
    Ok(Json(json!({ "id": token_id, "email": email, "revoked_at": revoked_at })))
}

/// Deactivates a member: their tokens stop working at once. The org's last
/// active admin cannot be deactivated (409 `last_admin`).
async fn deactivate_member(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, email)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let email = normalize_email(&email, "email").map_err(|_| AppError::NotFound("member"))?;
    let mut tx = state.db.begin_write().await?;
    // Bumped first: on PostgreSQL the state-version row lock makes concurrent
    // deactivations wait in line, so two admins deactivating each other
    // cannot both pass the last-admin check. Rolled back when nothing changes.
    tx.bump_version().await?;
    let done =
        sqlx::query("UPDATE members SET status = 'deactivated' WHERE org = $1 AND email = $2 AND status = 'active'")
            .bind(&org)
            .bind(&email)
            .execute(&mut *tx)
            .await?;
    let row = sqlx::query("SELECT email, account_type, status, created_at FROM members WHERE org = $1 AND email = $2")
        .bind(&org)
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound("member"))?;
    if done.rows_affected() == 1 {
        let admins: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM members WHERE org = $1 AND account_type = 'admin' AND status = 'active'",
        )
        .bind(&org)
        .fetch_one(&mut *tx)
        .await?;
        if admins == 0 {
            return Err(AppError::LastAdmin);
        }
        audit(&mut tx, &org, &admin.email, "member.deactivate", &email, &json!({})).await?;
        tx.commit().await?;
    }
    Ok(Json(member_json(&row)?))
}

/// `PATCH …/members/{email}` `{"account_type": …}`: changes a member's account
/// type. The edges carry each credential owner's type, so a change bumps the
/// state version. The same type again is a no-op 200 (no audit entry, no
/// bump); demoting the org's last active admin is 409 `last_admin`.
async fn update_member(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, email)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, AppError> {
    let email = normalize_email(&email, "email").map_err(|_| AppError::NotFound("member"))?;
    let body = body_object(body)?;
    only_fields(&body, &["account_type"])?;
    let account_type = parse_account_type(&body)?;
    let mut tx = state.db.begin_write().await?;
    // Bumping first takes the state-version row lock: on PostgreSQL two
    // concurrent demotions queue here, so the second one reads the member and
    // counts the admins after the first has committed, and the last-admin
    // check cannot be raced. A no-op or a refusal drops `tx`, which rolls the
    // bump back.
    tx.bump_version().await?;
    let select = "SELECT email, account_type, status, created_at FROM members WHERE org = $1 AND email = $2";
    let row = sqlx::query(select)
        .bind(&org)
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound("member"))?;
    let old: String = row.try_get("account_type")?;
    if old == account_type.as_str() {
        return Ok(Json(member_json(&row)?));
    }
    sqlx::query("UPDATE members SET account_type = $1 WHERE org = $2 AND email = $3")
        .bind(account_type.as_str())
        .bind(&org)
        .bind(&email)
        .execute(&mut *tx)
        .await?;
    let admins: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM members WHERE org = $1 AND account_type = 'admin' AND status = 'active'",
    )
    .bind(&org)
    .fetch_one(&mut *tx)
    .await?;
    if admins == 0 {
        return Err(AppError::LastAdmin);
    }
    let detail = json!({ "account_type": { "from": old, "to": account_type.as_str() } });
    audit(&mut tx, &org, &admin.email, "member.update", &email, &detail).await?;
    let row = sqlx::query(select).bind(&org).bind(&email).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(Json(member_json(&row)?))
}

// ---------------------------------------------------------------- credentials

const CREDENTIAL_COLUMNS: &str =
    "c.client_id, c.org, c.name, c.description, c.owner_email, m.account_type AS owner_account_type, \
     m.status AS owner_status, \
     c.privileges, c.created_at, c.created_by, c.revoked_at, c.revoked_by, c.last_used_at, c.current_generation, \
     c.previous_generation, c.allowed_origins, c.max_token_lifetime_s, c.not_before_cutoff";

fn credential_json(row: &AnyRow) -> Result<Value, AppError> {
    let parse = |col: &str| -> Result<Value, AppError> {
        serde_json::from_str(&row.try_get::<String, _>(col)?)
            .map_err(|e| AppError::Internal(format!("bad JSON in {col}: {e}")))
    };
    let revoked_at: Option<i64> = row.try_get("revoked_at")?;
    let mut live = vec![row.try_get::<i64, _>("current_generation")?];
    live.extend(row.try_get::<Option<i64>, _>("previous_generation")?);
    Ok(json!({
        "client_id": row.try_get::<String, _>("client_id")?,
        "org": row.try_get::<String, _>("org")?,
        "name": row.try_get::<String, _>("name")?,
        "description": row.try_get::<Option<String>, _>("description")?,
        "owner": row.try_get::<String, _>("owner_email")?,
        "owner_account_type": row.try_get::<Option<String>, _>("owner_account_type")?,
        "privileges": parse("privileges")?,
        "status": embedgate_core::rules::CredentialStatus::of(
            revoked_at.is_some(),
            match row.try_get::<Option<String>, _>("owner_status")?.as_deref() {
                Some("active") => embedgate_core::rules::MemberStatus::Active,
                _ => embedgate_core::rules::MemberStatus::Deactivated,
            },
        )
        .as_str(),
        "created_at": row.try_get::<i64, _>("created_at")?,
        "created_by": row.try_get::<String, _>("created_by")?,
        "revoked_at": revoked_at,
        "revoked_by": row.try_get::<Option<String>, _>("revoked_by")?,
        "last_used_at": row.try_get::<Option<i64>, _>("last_used_at")?,
        "live_generations": live,
        "allowed_origins": parse("allowed_origins")?,
        "max_token_lifetime_s": row.try_get::<Option<i64>, _>("max_token_lifetime_s")?,
        "not_before_cutoff": row.try_get::<Option<i64>, _>("not_before_cutoff")?,
    }))
}

async fn fetch_credential(conn: &mut AnyConnection, org: &str, client_id: &str) -> Result<AnyRow, AppError> {
    let sql = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials c LEFT JOIN members m ON m.org = c.org AND m.email = c.owner_email \
         WHERE c.org = $1 AND c.client_id = $2"
    );
    sqlx::query(&sql)
        .bind(org)
        .bind(client_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(AppError::NotFound("credential"))
}

fn secret_json(state: &AppState, row: &AnyRow, client_id: &ClientId) -> Result<Value, AppError> {
    let mut body = credential_json(row)?;
    let generation = u32::try_from(row.try_get::<i64, _>("current_generation")?)
        .map_err(|_| AppError::Internal("generation out of range".into()))?;
    let secret = state.master.derive_embed_secret(Kdf::V1, client_id, generation);
    body["secret"] = Value::from(secret.expose_secret());
    body["generation"] = Value::from(generation);
    Ok(body)
}

struct NewCredential {
    name: String,
    description: Option<String>,
    owner: String,
    privileges: BTreeSet<Privilege>,
    allowed_origins: Vec<String>,
    max_token_lifetime_s: Option<i64>,
    not_before_cutoff: Option<i64>,
}

// One parser per credential field, shared by create and update (PATCH), so
// both give the same 422 for the same value. Each reads its field from the
// body; an absent or null optional field is `None` (PATCH: cleared).

/// Bidirectional-text controls: they can make a name read as another in the
/// console (a revoke confirmation naming the wrong credential), so names and
/// descriptions refuse them like control characters.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn parse_name(body: &Map<String, Value>) -> Result<String, AppError> {
    let name = req_string(body, "name")?.trim().to_owned();
    if !(1..=100).contains(&name.chars().count()) || name.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(AppError::invalid(
            "name",
            "name must be 1 to 100 characters (trimmed), without control or bidirectional-override characters",
        ));
    }
    Ok(name)
}

fn parse_description(body: &Map<String, Value>) -> Result<Option<String>, AppError> {
    let description = opt_string(body, "description")?;
    if description.as_ref().is_some_and(|d| {
        d.chars().count() > 1000
            || d.chars().any(|c| (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || is_bidi_control(c))
    }) {
        return Err(AppError::invalid(
            "description",
            "description must be at most 1000 characters, without control characters other than line breaks and \
             tabs, and without bidirectional-override characters",
        ));
    }
    Ok(description)
}

fn parse_owner(body: &Map<String, Value>) -> Result<String, AppError> {
    normalize_email(&req_string(body, "owner")?, "owner")
}

fn parse_privileges(body: &Map<String, Value>) -> Result<BTreeSet<Privilege>, AppError> {
    let privileges_err =
        || AppError::invalid("privileges", "privileges must be a non-empty array of \"embedding\" and \"api\"");
    match body.get("privileges") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().and_then(|s| s.parse::<Privilege>().ok()).ok_or_else(privileges_err))
            .collect(),
        _ => Err(privileges_err()),
    }
}

/// Sorted, deduplicated, normalised origins; absent or null is the empty list (any origin).
fn parse_allowed_origins(body: &Map<String, Value>) -> Result<Vec<String>, AppError> {
    let origins_err = || {
        AppError::invalid(
            "allowed_origins",
            "allowed_origins must be an array of at most 50 http(s) origins without a path",
        )
    };
    match body.get("allowed_origins") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= 50 => {
            let set = items
                .iter()
                .map(|v| v.as_str().and_then(normalize_origin).ok_or_else(origins_err))
                .collect::<Result<BTreeSet<_>, _>>()?;
            Ok(set.into_iter().collect())
        }
        Some(_) => Err(origins_err()),
    }
}

fn parse_max_token_lifetime(body: &Map<String, Value>) -> Result<Option<i64>, AppError> {
    opt_i64(body, "max_token_lifetime_s", 1..=MAX_TOKEN_LIFETIME_S)
}

/// How far in the future `not_before_cutoff` may be (1 day): room for the
/// admin's clock being ahead, but a cutoff cannot silently disable a
/// credential for longer (every token issued before it is refused).
pub const MAX_CUTOFF_AHEAD_S: i64 = 86_400;

/// Unix seconds from 0 to [`MAX_CUTOFF_AHEAD_S`] after `now`.
fn parse_not_before_cutoff(body: &Map<String, Value>, now: i64) -> Result<Option<i64>, AppError> {
    match body.get("not_before_cutoff") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 0 && n <= now.saturating_add(MAX_CUTOFF_AHEAD_S) => Ok(Some(n)),
            _ => Err(AppError::invalid(
                "not_before_cutoff",
                "not_before_cutoff must be an integer of Unix seconds from 0 to at most one day from now",
            )),
        },
    }
}

fn parse_new_credential(body: &Map<String, Value>) -> Result<NewCredential, AppError> {
    Ok(NewCredential {
        name: parse_name(body)?,
        description: parse_description(body)?,
        owner: parse_owner(body)?,
        privileges: parse_privileges(body)?,
        allowed_origins: parse_allowed_origins(body)?,
        max_token_lifetime_s: parse_max_token_lifetime(body)?,
        not_before_cutoff: parse_not_before_cutoff(body, now())?,
    })
}

/// A credential column's new value, as stored (lists as JSON text).
enum Stored {
    Text(Option<String>),
    Int(Option<i64>),
}

/// The stored form of a privilege set (a sorted JSON array), as create writes it.
fn privileges_text(privileges: &BTreeSet<Privilege>) -> String {
    json!(privileges.iter().map(|p| p.as_str()).collect::<Vec<_>>()).to_string()
}

type FieldParser = fn(&Map<String, Value>) -> Result<Stored, AppError>;

/// The fields `PATCH …/credentials/{client_id}` may change (each named as
/// its column), with their parsers; null clears the optional ones.
const CREDENTIAL_PATCH: [(&str, FieldParser); 6] = [
    ("name", |body| Ok(Stored::Text(Some(parse_name(body)?)))),
    ("description", |body| Ok(Stored::Text(parse_description(body)?))),
    ("privileges", |body| Ok(Stored::Text(Some(privileges_text(&parse_privileges(body)?))))),
    ("allowed_origins", |body| Ok(Stored::Text(Some(json!(parse_allowed_origins(body)?).to_string())))),
    ("max_token_lifetime_s", |body| Ok(Stored::Int(parse_max_token_lifetime(body)?))),
    ("not_before_cutoff", |body| Ok(Stored::Int(parse_not_before_cutoff(body, now())?))),
];

/// The (column, new value) pairs of a PATCH body, in a fixed order: 422 for
/// an empty object, an unknown field or a bad value.
fn parse_credential_patch(body: &Map<String, Value>) -> Result<Vec<(&'static str, Stored)>, AppError> {
    let fields: Vec<&str> = CREDENTIAL_PATCH.iter().map(|(field, _)| *field).collect();
    if body.is_empty() {
        return Err(AppError::invalid("body", format!("give at least one of: {}", fields.join(", "))));
    }
    only_fields(body, &fields)?;
    CREDENTIAL_PATCH
        .iter()
        .filter(|(field, _)| body.contains_key(*field))
        .map(|(field, parse)| Ok((*field, parse(body)?)))
        .collect()
}

async fn create_credential(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path(org): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<impl IntoResponse, AppError> {
    let new = parse_new_credential(&body_object(body)?)?;
    let owner_ok: Option<String> =
        sqlx::query_scalar("SELECT email FROM members WHERE org = $1 AND email = $2 AND status = 'active'")
            .bind(&org)
            .bind(&new.owner)
            .fetch_optional(&state.db.pool)
            .await?;
    if owner_ok.is_none() {
        return Err(AppError::invalid("owner", "owner must be an active member of the org"));
    }
    let client_id = ClientId::generate().map_err(|e| AppError::Internal(format!("random source: {e}")))?;
    let privileges: Vec<&str> = new.privileges.iter().map(|p| p.as_str()).collect();
    let mut tx = state.db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO credentials (client_id, org, name, description, owner_email, privileges, created_at, created_by, \
         kdf, current_generation, allowed_origins, max_token_lifetime_s, not_before_cutoff) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'v1', 1, $9, $10, $11)",
    )
    .bind(client_id.as_str())
    .bind(&org)
    .bind(&new.name)
    .bind(new.description.as_deref())
    .bind(&new.owner)
    .bind(privileges_text(&new.privileges))
    .bind(now())
    .bind(&admin.email)
    .bind(json!(new.allowed_origins).to_string())
    .bind(new.max_token_lifetime_s)
    .bind(new.not_before_cutoff)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => return Err(AppError::NameTaken),
        other => {
            other?;
        }
    }
    let detail = json!({ "name": new.name, "owner": new.owner, "privileges": privileges });
    audit(&mut tx, &org, &admin.email, "credential.create", client_id.as_str(), &detail).await?;
    tx.bump_version().await?;
    let row = fetch_credential(&mut tx, &org, client_id.as_str()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(secret_json(&state, &row, &client_id)?)))
}

/// Default and largest page of `GET …/credentials`.
const CREDENTIAL_PAGE_DEFAULT: i64 = 100;
const CREDENTIAL_PAGE_MAX: i64 = 1000;

/// `GET /api/v1/orgs/{org}/credentials[?limit=N][&after=CLIENT_ID]`: keyset paging in the
/// stable order (created_at, client_id), served by the index `credentials_by_org_page`.
/// `next` is the client ID to pass as `after` for the following page, or null on the last.
async fn list_credentials(
    _reader: OrgMember,
    State(state): State<AppState>,
    Path(org): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let limit = query.get("limit").map_or(Ok(CREDENTIAL_PAGE_DEFAULT), |v| {
        v.parse::<i64>().ok().filter(|n| (1..=CREDENTIAL_PAGE_MAX).contains(n)).ok_or_else(|| {
            AppError::invalid("limit", format!("limit must be an integer from 1 to {CREDENTIAL_PAGE_MAX}"))
        })
    })?;
    // The cursor is a client ID of this org: its (created_at, client_id) is the key to start after.
    let start = match query.get("after") {
        None => None,
        Some(after) => {
            let bad = || AppError::invalid("after", "after must be a client ID from this org's list");
            let client_id = after.parse::<ClientId>().map_err(|_| bad())?;
            let created_at: i64 = sqlx::query("SELECT created_at FROM credentials WHERE org = $1 AND client_id = $2")
                .bind(&org)
                .bind(client_id.as_str())
                .fetch_optional(&state.db.pool)
                .await?
                .ok_or_else(bad)?
                .try_get("created_at")?;
            Some((created_at, client_id.as_str().to_owned()))
        }
    };
    let (after_at, after_id) = start.unwrap_or((i64::MIN, String::new()));
    // One row more than the page tells whether there is a next page.
    let sql = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials c LEFT JOIN members m ON m.org = c.org AND m.email = c.owner_email \
         WHERE c.org = $1 AND (c.created_at, c.client_id) > ($2, $3) ORDER BY c.created_at, c.client_id LIMIT $4"
    );
    let mut rows =
        sqlx::query(&sql).bind(&org).bind(after_at).bind(after_id).bind(limit + 1).fetch_all(&state.db.pool).await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let items = rows.iter().map(credential_json).collect::<Result<Vec<_>, _>>()?;
    let next = if more { items.last().map(|i| i["client_id"].clone()) } else { None };
    Ok(Json(json!({ "credentials": items, "next": next })))
}

fn parse_client_id(raw: &str) -> Result<ClientId, AppError> {
    raw.parse().map_err(|_| AppError::NotFound("credential"))
}

async fn get_credential(
    _reader: OrgMember,
    State(state): State<AppState>,
    Path((org, client_id)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let client_id = parse_client_id(&client_id)?;
    let mut conn = state.db.pool.acquire().await?;
    let row = fetch_credential(&mut conn, &org, client_id.as_str()).await?;
    Ok(Json(credential_json(&row)?))
}

/// `PATCH …/credentials/{client_id}`: changes any of the [`CREDENTIAL_PATCH`]
/// fields with the create path's validation and answers the credential as
/// `GET` does. A field given with its current value is not a change; a body
/// that changes nothing is a 200 without audit entry or version bump.
async fn update_credential(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, client_id)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, AppError> {
    let client_id = parse_client_id(&client_id)?;
    let patch = parse_credential_patch(&body_object(body)?)?;
    let mut tx = state.db.begin_write().await?;
    // First, as in `update_member`: on PostgreSQL concurrent changes queue on
    // the state-version row, so the row read below is current. A no-op or a
    // refusal drops `tx`, which rolls the bump back.
    tx.bump_version().await?;
    let row = fetch_credential(&mut tx, &org, client_id.as_str()).await?;
    if row.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
        return Err(AppError::CredentialRevoked);
    }
    let mut changed = Vec::with_capacity(patch.len());
    for (column, value) in patch {
        let same = match &value {
            Stored::Text(v) => row.try_get::<Option<String>, _>(column)? == *v,
            Stored::Int(v) => row.try_get::<Option<i64>, _>(column)? == *v,
        };
        if !same {
            changed.push((column, value));
        }
    }
    if changed.is_empty() {
        return Ok(Json(credential_json(&row)?));
    }
    // Column names come from CREDENTIAL_PATCH, never from the request.
    let sets: Vec<String> =
        changed.iter().enumerate().map(|(i, (column, _))| format!("{column} = ${}", i + 1)).collect();
    let sql = format!(
        "UPDATE credentials SET {} WHERE org = ${} AND client_id = ${} AND revoked_at IS NULL",
        sets.join(", "),
        changed.len() + 1,
        changed.len() + 2
    );
    let mut query = sqlx::query(&sql);
    for (_, value) in &changed {
        query = match value {
            Stored::Text(v) => query.bind(v.clone()),
            Stored::Int(v) => query.bind(*v),
        };
    }
    match query.bind(&org).bind(client_id.as_str()).execute(&mut *tx).await {
        Err(e) if is_unique_violation(&e) => return Err(AppError::NameTaken),
        Err(e) => return Err(e.into()),
        Ok(done) if done.rows_affected() == 0 => {
            return Err(why_not(&mut tx, &org, client_id.as_str(), AppError::Internal("update raced".into())).await);
        }
        Ok(_) => {}
    }
    let fields: Vec<&str> = changed.iter().map(|(column, _)| *column).collect();
    audit(&mut tx, &org, &admin.email, "credential.update", client_id.as_str(), &json!({ "fields": fields })).await?;
    let row = fetch_credential(&mut tx, &org, client_id.as_str()).await?;
    tx.commit().await?;
    Ok(Json(credential_json(&row)?))
}

/// Explains why a conditional UPDATE touched no row.
async fn why_not(conn: &mut AnyConnection, org: &str, client_id: &str, if_live: AppError) -> AppError {
    match fetch_credential(conn, org, client_id).await {
        Err(e) => e,
        Ok(row) => match row.try_get::<Option<i64>, _>("revoked_at") {
            Ok(Some(_)) => AppError::CredentialRevoked,
            Ok(None) => if_live,
            Err(e) => e.into(),
        },
    }
}

async fn revoke_credential(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, client_id)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let client_id = parse_client_id(&client_id)?;
    let mut tx = state.db.begin_write().await?;
    let done = sqlx::query("UPDATE credentials SET revoked_at = $1, revoked_by = $2 WHERE org = $3 AND client_id = $4 AND revoked_at IS NULL")
        .bind(now())
        .bind(&admin.email)
        .bind(&org)
        .bind(client_id.as_str())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(
            match why_not(&mut tx, &org, client_id.as_str(), AppError::Internal("revoke raced".into())).await {
                AppError::CredentialRevoked => AppError::AlreadyRevoked,
                e => e,
            },
        );
    }
    audit(&mut tx, &org, &admin.email, "credential.revoke", client_id.as_str(), &json!({})).await?;
    tx.bump_version().await?;
    let row = fetch_credential(&mut tx, &org, client_id.as_str()).await?;
    tx.commit().await?;
    Ok(Json(credential_json(&row)?))
}

async fn rotate_credential(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, client_id)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let client_id = parse_client_id(&client_id)?;
    let mut tx = state.db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE credentials SET previous_generation = current_generation, current_generation = current_generation + 1 \
         WHERE org = $1 AND client_id = $2 AND revoked_at IS NULL AND previous_generation IS NULL",
    )
    .bind(&org)
    .bind(client_id.as_str())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(why_not(&mut tx, &org, client_id.as_str(), AppError::RetireFirst).await);
    }
    let row = fetch_credential(&mut tx, &org, client_id.as_str()).await?;
    let generation: i64 = row.try_get("current_generation")?;
    audit(&mut tx, &org, &admin.email, "credential.rotate", client_id.as_str(), &json!({ "generation": generation }))
        .await?;
    tx.bump_version().await?;
    tx.commit().await?;
    Ok(Json(secret_json(&state, &row, &client_id)?))
}

async fn retire_previous(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, client_id)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let client_id = parse_client_id(&client_id)?;
    let mut tx = state.db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE credentials SET previous_generation = NULL \
         WHERE org = $1 AND client_id = $2 AND revoked_at IS NULL AND previous_generation IS NOT NULL",
    )
    .bind(&org)
    .bind(client_id.as_str())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(why_not(&mut tx, &org, client_id.as_str(), AppError::NoPrevious).await);
    }
    audit(&mut tx, &org, &admin.email, "credential.retire_previous", client_id.as_str(), &json!({})).await?;
    tx.bump_version().await?;
    let row = fetch_credential(&mut tx, &org, client_id.as_str()).await?;
    tx.commit().await?;
    Ok(Json(credential_json(&row)?))
}

// ---------------------------------------------------------------- audit

async fn list_audit(
    _admin: OrgAdmin,
    State(state): State<AppState>,
    Path(org): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let int = |field: &'static str, default: i64, range: std::ops::RangeInclusive<i64>| -> Result<i64, AppError> {
        query.get(field).map_or(Ok(default), |v| {
            v.parse::<i64>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
                AppError::invalid(
                    field,
                    format!("{field} must be an integer from {} to {}", range.start(), range.end()),
                )
            })
        })
    };
    let limit = int("limit", 50, 1..=500)?;
    let before = int("before", i64::MAX, 1..=i64::MAX)?;
    let rows = sqlx::query(
        "SELECT id, at, actor, action, target, detail FROM audit WHERE org = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(&org)
    .bind(before)
    .bind(limit)
    .fetch_all(&state.db.pool)
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let detail: String = row.try_get("detail")?;
        items.push(json!({
            "id": row.try_get::<i64, _>("id")?,
            "at": row.try_get::<i64, _>("at")?,
            "actor": row.try_get::<String, _>("actor")?,
            "action": row.try_get::<String, _>("action")?,
            "target": row.try_get::<String, _>("target")?,
            "detail": serde_json::from_str::<Value>(&detail).unwrap_or(Value::Null),
        }));
    }
    let next_before = if i64::try_from(items.len()).unwrap_or(i64::MAX) == limit {
        items.last().map(|i| i["id"].clone())
    } else {
        None
    };
    Ok(Json(json!({ "items": items, "next_before": next_before })))
}
