//! Operations: liveness, who a token belongs to, and an org's settings.

use axum::extract::State;
use axum::Json;
use embedgate_core::rules::Email;
use embedgate_core::AccountType;
use serde::Serialize;
use utoipa::ToSchema;

use embedgate_core::rules::OrgSettingsPatch;

use super::super::auth::{Caller, OrgAdmin, OrgMember};
use super::super::extract::{ApiJson, Path};
use super::super::{AppError, AppState, ErrorBody};
use crate::store::{orgs, Event};

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always true (the database answered).
    pub ok: bool,
    /// The state version the edge push follows.
    pub state_version: i64,
}

/// The server and its database are up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The server and its database are up.", body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, AppError> {
    Ok(Json(Health { ok: true, state_version: state.store.state_version().await? }))
}

/// `GET /api/v1/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The token's org.
    pub org: String,
    /// The token's member.
    pub email: Email,
    /// Their account type (what the console offers).
    pub account_type: AccountType,
}

/// Whose token this is: the console signs in with the token alone.
#[utoipa::path(get, path = "/api/v1/me", tag = "operations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token's member and org.", body = Me),
        (status = 401, description = "No valid member token.", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this address.", body = ErrorBody)))]
pub async fn me(caller: Caller) -> Json<Me> {
    let m = caller.member;
    Json(Me { org: m.org, email: m.email, account_type: m.account_type })
}

/// `GET`/`PATCH …/settings`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgSettings {
    /// The org.
    pub org: String,
    /// Where the org's replay guards live at the edge (null: the edge's first region).
    #[schema(required = true)]
    pub home_region: Option<embedgate_core::Region>,
}

/// The org's settings. Open to every active member of the org (read-only).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/settings", tag = "operations",
    params(("org" = String, Path, description = "The org slug.")),
    security(("bearer" = [])),
    responses((status = 200, description = "The org's settings.", body = OrgSettings)))]
pub async fn get_settings(
    _reader: OrgMember,
    State(state): State<AppState>,
    Path(org): Path<String>,
) -> Result<Json<OrgSettings>, AppError> {
    let mut conn = state.store.pool.acquire().await?;
    let found = orgs::get(&mut conn, &org).await?.ok_or(AppError::NotFound("org"))?;
    Ok(Json(OrgSettings { org, home_region: found.home_region }))
}

/// Moves the org's replay guards' home: new ones are created near the org's
/// users (a first embed load then pays one round trip to an object near
/// them). Tokens already spent stay spent where they were recorded only, so
/// a move lets a token whose `jti` was used shortly before be used once more
/// (at most until its `exp`).
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/settings", tag = "operations",
    params(("org" = String, Path, description = "The org slug.")),
    request_body = OrgSettingsPatch,
    security(("bearer" = [])),
    responses((status = 200, description = "The org's settings.", body = OrgSettings)))]
pub async fn update_settings(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path(org): Path<String>,
    ApiJson(patch): ApiJson<OrgSettingsPatch>,
) -> Result<Json<OrgSettings>, AppError> {
    let mut change = state.store.change_by(&org, &admin).await?;
    if change.set_home_region(patch.home_region).await? {
        change.commit(Event::HomeRegionSet { home_region: patch.home_region }).await?;
    }
    Ok(Json(OrgSettings { org, home_region: Some(patch.home_region) }))
}
