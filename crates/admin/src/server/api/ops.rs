//! Operations: liveness and who a token belongs to.

use axum::extract::State;
use axum::Json;
use embedgate_core::rules::Email;
use embedgate_core::AccountType;
use serde::Serialize;
use utoipa::ToSchema;

use super::super::auth::Member;
use super::super::{AppError, AppState, ErrorBody};

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
pub async fn me(member: Member) -> Json<Me> {
    Json(Me { org: member.org, email: member.email, account_type: member.account_type })
}
