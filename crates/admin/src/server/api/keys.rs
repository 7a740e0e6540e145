//! `…/keys`: an org's key material. The one operation is the emergency
//! rotation (architecture.md §9): the org moves to new key material and
//! every credential with a secret to a new secret, shown once here; the old
//! secrets stop verifying at every edge within the revocation bound.
//! Credentials that sign with a public key are left alone: nothing of
//! theirs derives from the org key.

use axum::extract::State;
use axum::Json;
use embedgate_core::rules::{FieldError, OrgKeyRotation, RuleError};
use serde::Serialize;
use utoipa::ToSchema;

use super::super::auth::OrgAdmin;
use super::super::extract::{ApiJson, Path};
use super::super::{AppError, AppState, ErrorBody};
use super::credentials::{CredentialBody, CredentialWithSecret};
use crate::store::Event;

/// `POST …/keys/rotate`: what the rotation did.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgKeyRotated {
    /// The org.
    pub org: String,
    /// The org key's new epoch (1 for an org's first key).
    pub epoch: u32,
    /// Every live credential with its new secret: store them now, they are never shown again.
    pub credentials: Vec<CredentialWithSecret>,
    /// The revoked credentials, moved off the old key too (no secret: they stay revoked).
    pub revoked: Vec<CredentialBody>,
    /// The credentials that sign with a public key (ES256, EdDSA), live or
    /// revoked: left alone, as their keys do not derive from the org key.
    pub public_key: Vec<CredentialBody>,
}

/// Emergency rotation: the org gets new key material, every credential with
/// a secret a new secret (its previous ones stop verifying at once, as a
/// retire does), and the old key is destroyed. Audited as `org.key_rotate`.
/// Every embed signed with a secret fails with `bad_signature` until its host
/// app signs with the new secret. Credentials that sign with a public key are
/// left alone (listed in `public_key`): their keys do not derive from the org key.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/keys/rotate", tag = "credentials",
    params(("org" = String, Path, description = "The org slug.")),
    request_body = OrgKeyRotation,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Rotated; each new secret is shown this once.", body = OrgKeyRotated),
        (status = 422, description = "`invalid_input`: `confirm` does not repeat the org's slug.", body = ErrorBody),
    ))]
pub async fn rotate_org_key(
    admin: OrgAdmin,
    State(state): State<AppState>,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<OrgKeyRotation>,
) -> Result<Json<OrgKeyRotated>, AppError> {
    admin.require_member_token()?;
    if body.confirm != org {
        return Err(FieldError::new("confirm", RuleError::Confirm).into());
    }
    let mut change = state.store.change_by(&org, &admin).await?;
    let done = change.rotate_org_key(&state.keys).await?;
    let (epoch, public_key_credentials) = (done.epoch, done.public_key.len());
    change.commit(Event::OrgKeyRotated { epoch, credentials: done.rotated.len(), public_key_credentials }).await?;
    let mut credentials = Vec::new();
    let mut revoked = Vec::new();
    for (credential, secret) in done.rotated {
        match secret {
            Some(secret) => credentials.push(CredentialWithSecret::new(credential, Some(secret))),
            None => revoked.push(credential.into()),
        }
    }
    let public_key = done.public_key.into_iter().map(CredentialBody::from).collect();
    Ok(Json(OrgKeyRotated { org, epoch, credentials, revoked, public_key }))
}
