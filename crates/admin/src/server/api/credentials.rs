//! `…/credentials`: embed credentials. A secret appears in exactly two
//! answers, create and rotate ([`CredentialWithSecret`]) (and the org's
//! emergency key rotation, `keys.rs`), derived on the spot from the org's
//! key; nothing stores it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use embedgate_core::rules::{
    AllowedOrigins, CredentialName, CredentialPatch, CredentialStatus, Description, Email, NewCredential, Privileges,
    TokenLifetime,
};
use embedgate_core::{AccountType, ClientId, EmbedSecret, OrgSlug};
use serde::Serialize;
use utoipa::ToSchema;

use super::super::auth::{OrgAdmin, OrgMember};
use super::super::extract::{ApiJson, Params, Path};
use super::super::{now, AppError, AppState, ErrorBody};
use crate::store::credentials::{self, Credential};
use crate::store::{Event, StoreError};

/// An embed credential (never a secret). Every field is always present (null when unset).
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialBody {
    /// The public client ID (the tokens' `kid`).
    pub client_id: ClientId,
    /// The org.
    pub org: OrgSlug,
    /// Its name.
    pub name: CredentialName,
    /// Its description.
    #[schema(required = true)]
    pub description: Option<Description>,
    /// The owner's email address.
    pub owner: Email,
    /// The owner's account type now (null if the owner is gone).
    #[schema(required = true)]
    pub owner_account_type: Option<AccountType>,
    /// Its privileges.
    pub privileges: Privileges,
    /// `active`, `revoked`, or `owner_inactive` (the owner is deactivated: the edges refuse it).
    pub status: CredentialStatus,
    /// Unix seconds.
    pub created_at: i64,
    /// The admin who created it.
    pub created_by: String,
    /// Unix seconds.
    #[schema(required = true)]
    pub revoked_at: Option<i64>,
    /// The admin who revoked it.
    #[schema(required = true)]
    pub revoked_by: Option<String>,
    /// Unix seconds, as reported by the edges.
    #[schema(required = true)]
    pub last_used_at: Option<i64>,
    /// The secret generations that verify (current first; two after a rotation).
    pub live_generations: Vec<u32>,
    /// Pages allowed to frame its embeds (empty: any).
    pub allowed_origins: AllowedOrigins,
    /// The longest token lifetime it accepts.
    #[schema(required = true)]
    pub max_token_lifetime_s: Option<TokenLifetime>,
    /// Tokens issued before it are refused (Unix seconds).
    #[schema(required = true)]
    pub not_before_cutoff: Option<i64>,
}

impl From<Credential> for CredentialBody {
    fn from(c: Credential) -> Self {
        Self {
            status: c.status(),
            live_generations: c.live_generations(),
            client_id: c.client_id,
            org: c.org,
            name: c.name,
            description: c.description,
            owner: c.owner,
            owner_account_type: c.owner_account_type,
            privileges: c.privileges,
            created_at: c.created_at,
            created_by: c.created_by,
            revoked_at: c.revoked_at,
            revoked_by: c.revoked_by,
            last_used_at: c.last_used_at,
            allowed_origins: c.allowed_origins,
            max_token_lifetime_s: c.max_token_lifetime_s,
            not_before_cutoff: c.not_before_cutoff,
        }
    }
}

/// A credential with its current secret: the only answer that ever carries one.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialWithSecret {
    /// The credential.
    #[serde(flatten)]
    pub credential: CredentialBody,
    /// The embed secret of `generation`; store it now, it is never shown again.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    pub secret: EmbedSecret,
    /// The secret's generation.
    pub generation: u32,
}

fn expose<S: serde::Serializer>(secret: &EmbedSecret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

impl CredentialWithSecret {
    /// `credential` with its current `secret`.
    pub(super) fn new(credential: Credential, secret: EmbedSecret) -> Self {
        let generation = credential.current_generation;
        Self { credential: credential.into(), secret, generation }
    }
}

/// `GET …/credentials`: one page in creation order.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialPage {
    /// The credentials.
    pub credentials: Vec<CredentialBody>,
    /// The `after` cursor of the next page; null on the last.
    #[schema(required = true)]
    pub next: Option<ClientId>,
}

/// A client ID in the path: one that cannot be a client ID names no credential.
fn path_client_id(raw: &str) -> Result<ClientId, AppError> {
    raw.parse().map_err(|_| AppError::NotFound("credential"))
}

/// Default and largest page of `GET …/credentials`.
const PAGE_DEFAULT: i64 = 100;
const PAGE_MAX: i64 = 1000;

/// Creates a credential; its secret is in this answer and never again.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/credentials", tag = "credentials",
    params(("org" = String, Path, description = "The org slug.")),
    request_body = NewCredential,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; the secret is shown this once.", body = CredentialWithSecret),
        (status = 409, description = "`name_taken`.", body = ErrorBody),
    ))]
pub async fn create_credential(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path(org): Path<String>,
    ApiJson(new): ApiJson<NewCredential>,
) -> Result<(StatusCode, Json<CredentialWithSecret>), AppError> {
    let client_id = ClientId::generate().map_err(|e| AppError::Internal(format!("random source: {e}")))?;
    let mut change = state.store.change_by(&org, &admin).await?;
    let credential = change.create_credential(&client_id, &new, now()).await?;
    let secret = change.current_secret(&state.keys, &credential).await?;
    let event = Event::CredentialCreated { client_id, name: new.name, owner: new.owner, privileges: new.privileges };
    change.commit(event).await?;
    Ok((StatusCode::CREATED, Json(CredentialWithSecret::new(credential, secret))))
}

/// One page of the org's credentials. Open to every active member of the org (read-only).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/credentials", tag = "credentials",
    params(("org" = String, Path, description = "The org slug."),
           ("limit" = Option<i64>, Query, description = "Page size, 1 to 1000 (default 100)."),
           ("after" = Option<String>, Query, description = "The `next` cursor of the previous page.")),
    security(("bearer" = [])),
    responses((status = 200, description = "One page of credentials in creation order (no secrets).", body = CredentialPage)))]
pub async fn list_credentials(
    _reader: OrgMember,
    State(state): State<AppState>,
    Path(org): Path<String>,
    params: Params,
) -> Result<Json<CredentialPage>, AppError> {
    let limit = params.int("limit", PAGE_DEFAULT, 1..=PAGE_MAX)?;
    let bad_cursor = || AppError::invalid("after", "after must be a client ID from this org's list");
    let after = params.text("after").map(|a| a.parse::<ClientId>().map_err(|_| bad_cursor())).transpose()?;
    let mut conn = state.store.pool.acquire().await?;
    let page = match credentials::page(&mut conn, &org, after.as_ref(), limit).await {
        Err(StoreError::NotFound("cursor")) => return Err(bad_cursor()),
        other => other?,
    };
    Ok(Json(CredentialPage {
        credentials: page.credentials.into_iter().map(CredentialBody::from).collect(),
        next: page.next,
    }))
}

/// One credential. Open to every active member of the org (read-only).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/credentials/{client_id}", tag = "credentials",
    params(("org" = String, Path, description = "The org slug."),
           ("client_id" = String, Path, description = "The credential's client ID.")),
    security(("bearer" = [])),
    responses((status = 200, description = "The credential (no secret).", body = CredentialBody)))]
pub async fn get_credential(
    _reader: OrgMember,
    State(state): State<AppState>,
    Path((org, client_id)): Path<(String, String)>,
) -> Result<Json<CredentialBody>, AppError> {
    let client_id = path_client_id(&client_id)?;
    let mut conn = state.store.pool.acquire().await?;
    let credential = credentials::get(&mut conn, &org, &client_id).await?.ok_or(AppError::NotFound("credential"))?;
    Ok(Json(credential.into()))
}

/// Changes the given fields (the rest stay); the edges get the new policy.
/// Fields given with their current value are not changes: a body that
/// changes nothing answers 200 without an audit entry or push.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/credentials/{client_id}", tag = "credentials",
    params(("org" = String, Path, description = "The org slug."),
           ("client_id" = String, Path, description = "The credential's client ID.")),
    request_body = CredentialPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated credential (no secret).", body = CredentialBody),
        (status = 409, description = "`name_taken` or `credential_revoked`.", body = ErrorBody),
    ))]
pub async fn update_credential(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, client_id)): Path<(String, String)>,
    ApiJson(patch): ApiJson<CredentialPatch>,
) -> Result<Json<CredentialBody>, AppError> {
    let client_id = path_client_id(&client_id)?;
    let mut change = state.store.change_by(&org, &admin).await?;
    let (credential, fields) = change.update_credential(&client_id, &patch).await?;
    if !fields.is_empty() {
        change.commit(Event::CredentialUpdated { client_id, fields }).await?;
    }
    Ok(Json(credential.into()))
}

/// Revokes a credential for good: every embed that uses it stops.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/credentials/{client_id}/revoke", tag = "credentials",
    params(("org" = String, Path, description = "The org slug."),
           ("client_id" = String, Path, description = "The credential's client ID.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Revoked.", body = CredentialBody),
        (status = 409, description = "`already_revoked`.", body = ErrorBody),
    ))]
pub async fn revoke_credential(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, client_id)): Path<(String, String)>,
) -> Result<Json<CredentialBody>, AppError> {
    let client_id = path_client_id(&client_id)?;
    let mut change = state.store.change_by(&org, &admin).await?;
    let credential = change.revoke_credential(&client_id, now()).await?;
    change.commit(Event::CredentialRevoked { client_id }).await?;
    Ok(Json(credential.into()))
}

/// A new secret, shown once; the previous one stays live until retired.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/credentials/{client_id}/rotate", tag = "credentials",
    params(("org" = String, Path, description = "The org slug."),
           ("client_id" = String, Path, description = "The credential's client ID.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A new secret, shown this once; the previous one stays live.", body = CredentialWithSecret),
        (status = 409, description = "`credential_revoked` or `retire_first` (two secrets live).", body = ErrorBody),
    ))]
pub async fn rotate_credential(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, client_id)): Path<(String, String)>,
) -> Result<Json<CredentialWithSecret>, AppError> {
    let client_id = path_client_id(&client_id)?;
    let mut change = state.store.change_by(&org, &admin).await?;
    let credential = change.rotate_credential(&client_id).await?;
    let secret = change.current_secret(&state.keys, &credential).await?;
    change.commit(Event::CredentialRotated { client_id, generation: credential.current_generation }).await?;
    Ok(Json(CredentialWithSecret::new(credential, secret)))
}

/// Retires the previous secret: it no longer verifies.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/credentials/{client_id}/retire-previous", tag = "credentials",
    params(("org" = String, Path, description = "The org slug."),
           ("client_id" = String, Path, description = "The credential's client ID.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The previous secret no longer verifies.", body = CredentialBody),
        (status = 409, description = "`credential_revoked` or `no_previous`.", body = ErrorBody),
    ))]
pub async fn retire_previous(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, client_id)): Path<(String, String)>,
) -> Result<Json<CredentialBody>, AppError> {
    let client_id = path_client_id(&client_id)?;
    let mut change = state.store.change_by(&org, &admin).await?;
    let credential = change.retire_previous(&client_id).await?;
    change.commit(Event::PreviousSecretRetired { client_id }).await?;
    Ok(Json(credential.into()))
}

/// Deletes a revoked credential for good: its name is free again, the
/// edges drop it, and its audit entries stay.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/credentials/{client_id}", tag = "credentials",
    params(("org" = String, Path, description = "The org slug."),
           ("client_id" = String, Path, description = "The credential's client ID.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted: the credential as it was.", body = CredentialBody),
        (status = 409, description = "`revoke_first`: it is not revoked.", body = ErrorBody),
    ))]
pub async fn delete_credential(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, client_id)): Path<(String, String)>,
) -> Result<Json<CredentialBody>, AppError> {
    let client_id = path_client_id(&client_id)?;
    let mut change = state.store.change_by(&org, &admin).await?;
    let credential = change.delete_credential(&client_id).await?;
    change.commit(Event::CredentialDeleted { client_id, name: credential.name.clone() }).await?;
    Ok(Json(credential.into()))
}
