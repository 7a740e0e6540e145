//! `…/audit`: the org's audit log, newest first.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::super::auth::OrgAdmin;
use super::super::extract::{Params, Path};
use super::super::{AppError, AppState};
use crate::store::audit::{self, Entry};

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditItem {
    /// Increasing ID (the paging cursor).
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who did it (a member's email, or `embedgate-init`).
    pub actor: String,
    /// E.g. `credential.create`, `credential.rotate`, `member.token_issue`.
    pub action: String,
    /// The client ID, member email or org acted on.
    pub target: String,
    /// Action-specific details (never a secret).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// The ID of the member token that made the change (never the token); null for the command
    /// line's changes (`embedgate init`, `rekey`, the upgrade) and entries from before it was recorded.
    #[schema(required = true)]
    pub token_id: Option<String>,
    /// The client address the change came from (the TCP peer, or X-Forwarded-For's client behind
    /// a trusted proxy); null as `token_id`.
    #[schema(required = true)]
    pub address: Option<String>,
}

impl From<Entry> for AuditItem {
    fn from(e: Entry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail,
            token_id: e.token_id,
            address: e.address,
        }
    }
}

/// `GET …/audit`: newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// The entries.
    pub items: Vec<AuditItem>,
    /// The `before` cursor of the next page; null on the last.
    #[schema(required = true)]
    pub next_before: Option<i64>,
}

/// The org's audit log (admins only).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/audit", tag = "audit",
    params(("org" = String, Path, description = "The org slug."),
           ("limit" = Option<i64>, Query, description = "Page size, 1 to 500 (default 50)."),
           ("before" = Option<i64>, Query, description = "The `next_before` cursor of the previous page.")),
    security(("bearer" = [])),
    responses((status = 200, description = "Audit entries, newest first.", body = AuditPage)))]
pub async fn list_audit(
    _admin: OrgAdmin,
    State(state): State<AppState>,
    Path(org): Path<String>,
    params: Params,
) -> Result<Json<AuditPage>, AppError> {
    let limit = params.int("limit", 50, 1..=500)?;
    let before = params.int("before", i64::MAX, 1..=i64::MAX)?;
    let mut conn = state.store.pool.acquire().await?;
    let entries = audit::page(&mut conn, &org, before, limit).await?;
    let full = i64::try_from(entries.len()).unwrap_or(i64::MAX) == limit;
    let next_before = if full { entries.last().map(|e| e.id) } else { None };
    Ok(Json(AuditPage { items: entries.into_iter().map(AuditItem::from).collect(), next_before }))
}
