//! `…/credentials`: embed credentials. A secret appears in exactly two
//! answers, create and rotate ([`CredentialWithSecret`]) (and the org's
//! emergency key rotation, `keys.rs`), derived on the spot from the org's
//! key; nothing stores it.
//!
//! A credential created with a host app's public key (`public_key`, a JWK:
//! ES256 or EdDSA) has no secret at all: its create and rotate answers carry
//! none, and each rotation takes the host app's next public key.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use embedgate_core::rules::{
    AllowedOrigins, CredentialName, CredentialPatch, CredentialRotation, CredentialStatus, Description, Email,
    NewCredential, Privileges, TokenLifetime,
};
use embedgate_core::{AccountType, Algorithm, ClientId, EmbedSecret, OrgSlug, PublicJwk};
use serde::Serialize;
use utoipa::ToSchema;

use super::super::auth::{OrgAdmin, OrgMember};
use super::super::extract::{ApiJson, OptionalApiJson, Params, Path};
use super::super::{now, AppError, AppState, ErrorBody};
use crate::store::credentials::{self, Credential};
use crate::store::keys::Keys;
use crate::store::{Change, Event, StoreError};

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
    /// How the current generation's tokens are signed: `HS256` with a
    /// generated embed secret, or `ES256`/`EdDSA` with the host app's private key.
    pub algorithm: Algorithm,
    /// The live public keys, current first (empty for a credential that signs with a generated secret).
    pub public_keys: Vec<PublicKeyBody>,
}

/// One live public key of a credential that signs with a key pair (never the key itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicKeyBody {
    /// Its generation.
    pub generation: u32,
    /// `ES256` or `EdDSA`.
    pub algorithm: Algorithm,
    /// Its RFC 7638 JWK thumbprint (base64url SHA-256): compare it with the host app's key.
    pub thumbprint: String,
}

impl From<Credential> for CredentialBody {
    fn from(c: Credential) -> Self {
        let public_keys = c
            .public_keys()
            .into_iter()
            .map(|(generation, key)| PublicKeyBody {
                generation,
                algorithm: key.algorithm(),
                thumbprint: key.thumbprint(),
            })
            .collect();
        Self {
            status: c.status(),
            live_generations: c.live_generations(),
            algorithm: c.algorithm(),
            public_keys,
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

/// A credential with its current generation and, when it signs with a
/// generated secret, that secret: the only answer that ever carries one.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialWithSecret {
    /// The credential.
    #[serde(flatten)]
    pub credential: CredentialBody,
    /// The embed secret of `generation`; store it now, it is never shown
    /// again. Absent for a credential that signs with a public key (`ES256`, `EdDSA`).
    #[serde(serialize_with = "expose", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, nullable = false)]
    pub secret: Option<EmbedSecret>,
    /// The current generation (the secret's, or the public key's).
    pub generation: u32,
}

#[allow(clippy::ref_option, reason = "serde's serialize_with hands the field by reference")]
fn expose<S: serde::Serializer>(secret: &Option<EmbedSecret>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_str(secret.expose_secret()),
        None => s.serialize_none(),
    }
}

impl CredentialWithSecret {
    /// `credential` with its current `secret` (`None`: it signs with a public key).
    pub(super) fn new(credential: Credential, secret: Option<EmbedSecret>) -> Self {
        let generation = credential.current_generation;
        Self { credential: credential.into(), secret, generation }
    }
}

/// The secret to show for `credential` just created or rotated in `change`:
/// its current one, or none when it signs with a public key.
async fn shown_secret(
    change: &mut Change,
    keys: &Keys,
    credential: &Credential,
) -> Result<Option<EmbedSecret>, AppError> {
    if credential.is_public_key() {
        return Ok(None);
    }
    Ok(Some(change.current_secret(keys, credential).await?))
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

/// Creates a credential; its secret is in this answer and never again. With
/// a `public_key` (the host app's, ES256 or EdDSA) no secret is made: the
/// credential verifies tokens signed with the matching private key.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/credentials", tag = "credentials",
    params(("org" = String, Path, description = "The org slug.")),
    request_body = NewCredential,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; the secret is shown this once (none with a `public_key`).", body = CredentialWithSecret),
        (status = 409, description = "`name_taken`.", body = ErrorBody),
        (status = 422, description = "`invalid_input` naming the field, e.g. `public_key` for a JWK that is not an accepted public key.", body = ErrorBody),
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
    let secret = shown_secret(&mut change, &state.keys, &credential).await?;
    let event = Event::CredentialCreated {
        client_id,
        name: new.name,
        owner: new.owner,
        privileges: new.privileges,
        algorithm: credential.algorithm(),
        thumbprint: credential.public_current.as_ref().map(PublicJwk::thumbprint),
    };
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

/// A new secret, shown once; the previous one stays live until retired. A
/// credential that signs with a public key is given the host app's new
/// public key instead (`{"public_key": …}`, required there, refused for a
/// secret credential; it may change the algorithm).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/credentials/{client_id}/rotate", tag = "credentials",
    params(("org" = String, Path, description = "The org slug."),
           ("client_id" = String, Path, description = "The credential's client ID.")),
    request_body(content = Option<CredentialRotation>, description = "Optional (no body and no Content-Type rotates a secret): the new `public_key` of a credential that signs with one."),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A new secret, shown this once (none for a public key); the previous one stays live.", body = CredentialWithSecret),
        (status = 409, description = "`credential_revoked`, `retire_first` (two generations live) or `same_public_key` (the new key is the current one).", body = ErrorBody),
        (status = 422, description = "`invalid_input` on `public_key`: missing for a public-key credential, given for a secret one, or not an accepted public key.", body = ErrorBody),
    ))]
pub async fn rotate_credential(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path((org, client_id)): Path<(String, String)>,
    OptionalApiJson(body): OptionalApiJson<CredentialRotation>,
) -> Result<Json<CredentialWithSecret>, AppError> {
    let client_id = path_client_id(&client_id)?;
    let mut change = state.store.change_by(&org, &admin).await?;
    let credential = change.rotate_credential(&client_id, body.public_key.as_ref(), now()).await?;
    let secret = shown_secret(&mut change, &state.keys, &credential).await?;
    let event = Event::CredentialRotated {
        client_id,
        generation: credential.current_generation,
        algorithm: credential.algorithm(),
        thumbprint: credential.public_current.as_ref().map(PublicJwk::thumbprint),
    };
    change.commit(event).await?;
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
