//! `…/embed-users`: who loaded embeds with the org's credentials (issue 15),
//! latest last seen first. Admins only: the rows are end users' emails.

use axum::extract::State;
use axum::Json;
use base64::Engine as _;
use embedgate_core::ClientId;
use serde::Serialize;
use utoipa::ToSchema;

use super::super::auth::OrgAdmin;
use super::super::extract::{Params, Path};
use super::super::{AppError, AppState};
use crate::store::embed_users::{self, Cursor, EmbedUser};

/// The default page size.
const PAGE_DEFAULT: i64 = 50;
/// The largest page.
const PAGE_MAX: i64 = 200;
/// The longest cursor accepted.
const MAX_CURSOR_CHARS: usize = 1024;

/// One identity's use of one credential.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmbedUserBody {
    /// The credential.
    pub client_id: String,
    /// The embed user's email (canonical: lower case), as the edge verified it.
    pub email: String,
    /// The account type of its latest load; null when its tokens named none.
    #[schema(required = true)]
    pub account_type: Option<String>,
    /// The teams of its latest load (at most 20, each at most 64 characters).
    pub teams: Vec<String>,
    /// Its first load seen (Unix seconds, an edge's clock).
    pub first_seen: i64,
    /// Its last load seen.
    pub last_seen: i64,
    /// Loads counted over every edge (page loads and refreshes; not session checks).
    pub loads: i64,
}

impl From<EmbedUser> for EmbedUserBody {
    fn from(u: EmbedUser) -> Self {
        Self {
            client_id: u.client_id,
            email: u.email,
            account_type: u.account_type,
            teams: u.teams,
            first_seen: u.first_seen,
            last_seen: u.last_seen,
            loads: u.loads,
        }
    }
}

/// `GET …/embed-users`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmbedUserPage {
    /// The identities, latest last seen first.
    pub users: Vec<EmbedUserBody>,
    /// The `cursor` of the next page (opaque); null on the last.
    #[schema(required = true)]
    pub next: Option<String>,
}

fn encode(c: &Cursor) -> String {
    let text = serde_json::json!([c.last_seen, c.client_id, c.email]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode(text: &str) -> Option<Cursor> {
    if text.len() > MAX_CURSOR_CHARS {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok()?;
    let (last_seen, client_id, email): (i64, String, String) = serde_json::from_slice(&bytes).ok()?;
    Some(Cursor { last_seen, client_id, email })
}

/// Who loaded embeds with the org's credentials (admins only).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/embed-users", tag = "embed users",
    params(("org" = String, Path, description = "The org slug."),
           ("client_id" = Option<String>, Query, description = "Only this credential's users."),
           ("limit" = Option<i64>, Query, description = "Page size, 1 to 200 (default 50)."),
           ("cursor" = Option<String>, Query, description = "The `next` cursor of the previous page.")),
    security(("bearer" = [])),
    responses((status = 200, description = "Embed users, latest last seen first.", body = EmbedUserPage)))]
pub async fn list_embed_users(
    _admin: OrgAdmin,
    State(state): State<AppState>,
    Path(org): Path<String>,
    params: Params,
) -> Result<Json<EmbedUserPage>, AppError> {
    let limit = params.int("limit", PAGE_DEFAULT, 1..=PAGE_MAX)?;
    let client_id = params
        .text("client_id")
        .map(|c| c.parse::<ClientId>().map_err(|_| AppError::invalid("client_id", "client_id must be a client ID")))
        .transpose()?;
    let cursor = params
        .text("cursor")
        .map(|c| decode(c).ok_or_else(|| AppError::invalid("cursor", "cursor must be a `next` from a previous page")))
        .transpose()?;
    let mut conn = state.store.pool.acquire().await?;
    let rows =
        embed_users::page(&mut conn, &org, client_id.as_ref().map(ClientId::as_str), cursor.as_ref(), limit).await?;
    let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) == limit;
    let next = if full {
        rows.last()
            .map(|u| encode(&Cursor { last_seen: u.last_seen, client_id: u.client_id.clone(), email: u.email.clone() }))
    } else {
        None
    };
    Ok(Json(EmbedUserPage { users: rows.into_iter().map(EmbedUserBody::from).collect(), next }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = Cursor { last_seen: 7, client_id: "c".into(), email: "a@x.com".into() };
        assert_eq!(decode(&encode(&c)), Some(c));
        assert_eq!(decode("!!"), None);
        assert_eq!(decode(&"A".repeat(MAX_CURSOR_CHARS + 1)), None);
    }
}
