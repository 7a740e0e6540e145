//! The admin API's one error type, mapped once to a status and a JSON body
//! [`ErrorBody`] `{"error": code, "message": text, "field"?}`. Messages never
//! carry a secret, a token or the offending input value.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use embedgate_core::rules::{FieldError, RuleError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;

/// Every error: a machine-readable code and a message that never carries a
/// secret, a token or the offending value.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `unauthorized`, `token_expired`, `invitation_invalid`, `too_many_attempts`, `forbidden`, `own_tokens_only`, `operator_only`, `member_token_required`,
    /// `not_found`, `method_not_allowed`,
    /// `malformed_json`, `malformed_query`, `payload_too_large`, `invalid_input`, `name_taken`, `member_exists`,
    /// `already_revoked`, `credential_revoked`, `retire_first`, `no_previous`, `same_public_key`, `revoke_first`, `last_admin`,
    /// `member_has_token` or `internal`.
    #[schema(example = "invalid_input")]
    pub error: &'static str,
    /// A human-readable explanation.
    pub message: String,
    /// With `invalid_input` only: the offending field (`body` for the body as a whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

/// Every way an admin API request can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// 401 `unauthorized`: no, unknown or revoked member token, or a deactivated member.
    #[error("a valid member token is required (Authorization: Bearer …)")]
    Unauthorized,
    /// 401 `token_expired`: the member token or API access token is past its expiry; get a new one.
    #[error("the token has expired; sign in with a current one (an API access token: run the OAuth grant again)")]
    TokenExpired,
    /// 429 `too_many_attempts`: a request without a valid token from an
    /// address in back-off after many failed authentications (a valid token
    /// is never refused for its address's failures).
    #[error("too many failed authentication attempts from this address; retry after {retry_after_s} s")]
    TooManyAttempts {
        /// Seconds until the back-off ends (the `retry-after` header).
        retry_after_s: u64,
    },
    /// 403 `forbidden`: the member is authenticated but not allowed (only admins manage).
    #[error("only an admin of this org may do this")]
    Forbidden,
    /// 403 `own_tokens_only`: member tokens are issued only to their own member.
    #[error("a member API token is issued only to its own member: sign in as them, or give them an invitation")]
    OwnTokensOnly,
    /// 403 `member_token_required`: an API access token (the OAuth grant's)
    /// may not do this; a member's own token is needed.
    #[error("an API access token cannot do this (issue member tokens or invitations, rotate the org key, read every edge); use a member's own token")]
    MemberTokenRequired,
    /// 403 `operator_only`: every edge's detail is for platform operators.
    #[error("every edge's detail is for platform operators (admins of an org in EMBEDGATE_OPERATOR_ORGS); read GET /api/v1/orgs/{{org}}/edges")]
    OperatorOnly,
    /// 401 `invitation_invalid`: no such invitation code, or it was used or has expired.
    #[error("the invitation code is unknown, used or expired; ask an admin of the org for a new one")]
    InvitationInvalid,
    /// 409 `member_has_token`: an invitation is only for a member without a live token.
    #[error("the member holds a live token; an invitation is only for a member without one (revoke theirs first)")]
    MemberHasToken,
    /// 404 `not_found`: no such org (or not the token's org), member or credential.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 405 `method_not_allowed`: the route exists but does not take this method.
    #[error("this method is not allowed on this route")]
    MethodNotAllowed,
    /// 400 `malformed_json`: the body is not JSON or not sent as `application/json`.
    #[error("the body must be a JSON object sent with Content-Type: application/json")]
    MalformedJson,
    /// 400 `malformed_query`: the query string does not decode.
    #[error("the query string is malformed")]
    MalformedQuery,
    /// 413 `payload_too_large`: the body is over the limit (2 MiB).
    #[error("the body is too large")]
    PayloadTooLarge,
    /// 422 `invalid_input`: a field is missing or has a bad value.
    #[error("{message}")]
    InvalidInput {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it (never its value).
        message: String,
    },
    /// 409 `name_taken`: another credential of the org has this name.
    #[error("a credential with this name already exists in the org")]
    NameTaken,
    /// 409 `member_exists`: the org already has a member with this email.
    #[error("a member with this email already exists in the org")]
    MemberExists,
    /// 409 `already_revoked`: the credential is already revoked.
    #[error("the credential is already revoked")]
    AlreadyRevoked,
    /// 409 `credential_revoked`: a revoked credential cannot be rotated or changed.
    #[error("the credential is revoked")]
    CredentialRevoked,
    /// 409 `retire_first`: two secrets are already live; retire the previous one first.
    #[error("the credential already has two live secrets; retire the previous one first")]
    RetireFirst,
    /// 409 `revoke_first`: only a revoked credential can be deleted.
    #[error("only a revoked credential can be deleted; revoke it first")]
    RevokeFirst,
    /// 409 `no_previous`: there is no previous secret to retire.
    #[error("the credential has no previous secret")]
    NoPrevious,
    /// 409 `same_public_key`: a rotation to the credential's current public key (same RFC 7638 thumbprint).
    #[error(
        "the new public key is the credential's current one (same thumbprint); give the host app's new public key"
    )]
    SamePublicKey,
    /// 409 `last_admin`: the org's last active admin cannot be deactivated or demoted.
    #[error("the org's last active admin cannot be deactivated or demoted")]
    LastAdmin,
    /// 500 `internal`: anything else; logged, never detailed to the client.
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    /// A 422 for `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidInput { field, message: message.into() }
    }

    /// The HTTP status and machine-readable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::TokenExpired => (StatusCode::UNAUTHORIZED, "token_expired"),
            Self::TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::OwnTokensOnly => (StatusCode::FORBIDDEN, "own_tokens_only"),
            Self::OperatorOnly => (StatusCode::FORBIDDEN, "operator_only"),
            Self::MemberTokenRequired => (StatusCode::FORBIDDEN, "member_token_required"),
            Self::InvitationInvalid => (StatusCode::UNAUTHORIZED, "invitation_invalid"),
            Self::MemberHasToken => (StatusCode::CONFLICT, "member_has_token"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::MalformedJson => (StatusCode::BAD_REQUEST, "malformed_json"),
            Self::MalformedQuery => (StatusCode::BAD_REQUEST, "malformed_query"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::InvalidInput { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
            Self::NameTaken => (StatusCode::CONFLICT, "name_taken"),
            Self::MemberExists => (StatusCode::CONFLICT, "member_exists"),
            Self::AlreadyRevoked => (StatusCode::CONFLICT, "already_revoked"),
            Self::CredentialRevoked => (StatusCode::CONFLICT, "credential_revoked"),
            Self::RetireFirst => (StatusCode::CONFLICT, "retire_first"),
            Self::NoPrevious => (StatusCode::CONFLICT, "no_previous"),
            Self::SamePublicKey => (StatusCode::CONFLICT, "same_public_key"),
            Self::RevokeFirst => (StatusCode::CONFLICT, "revoke_first"),
            Self::LastAdmin => (StatusCode::CONFLICT, "last_admin"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(format!("database: {e}"))
    }
}

impl From<FieldError> for AppError {
    fn from(e: FieldError) -> Self {
        Self::InvalidInput { field: e.field, message: e.to_string() }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound("owner") => Self::invalid("owner", "owner must be an active member of the org"),
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::MemberExists => Self::MemberExists,
            StoreError::NameTaken => Self::NameTaken,
            StoreError::AlreadyRevoked => Self::AlreadyRevoked,
            StoreError::CredentialRevoked => Self::CredentialRevoked,
            StoreError::RetireFirst => Self::RetireFirst,
            StoreError::NoPrevious => Self::NoPrevious,
            StoreError::SamePublicKey => Self::SamePublicKey,
            StoreError::PublicKeyRequired => FieldError::new("public_key", RuleError::PublicKeyRequired).into(),
            StoreError::SecretCredential => FieldError::new("public_key", RuleError::SecretCredential).into(),
            StoreError::RevokeFirst => Self::RevokeFirst,
            StoreError::LastAdmin => Self::LastAdmin,
            StoreError::MemberHasToken => Self::MemberHasToken,
            other => Self::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, error) = self.status_and_code();
        let field = match &self {
            Self::InvalidInput { field, .. } => Some(*field),
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                None
            }
            _ => None,
        };
        let mut response = (status, Json(ErrorBody { error, message: self.to_string(), field })).into_response();
        if let Self::TooManyAttempts { retry_after_s } = self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, retry_after_s.into());
        }
        response
    }
}
