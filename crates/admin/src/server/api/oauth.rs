//! `/api/v1/oauth/…`: the OAuth 2.0 client-credentials grant (RFC 6749
//! §4.4) for credentials with the `api` privilege, and the revocation of
//! its tokens (RFC 7009).
//!
//! The client authenticates with its client ID and one of its live embed
//! secrets (`egs_…`), by HTTP Basic (RFC 6749 §2.3.1) or by the
//! `client_id`/`client_secret` form fields, never both. The secret is
//! compared in constant time with each live generation's, derived (or
//! opened) from the org's key on the spot. The answer is an opaque access
//! token (`egc_` + 64 hex), stored only as its SHA-256, acting as the
//! credential's owner on the org's API ([`super::super::auth::Caller`]) until
//! it expires (`EMBEDGATE_API_TOKEN_TTL`, 1 h by default) or dies with the
//! credential's revocation, the retirement of the secret generation that
//! obtained it, the loss of the `api` privilege, or the owner's deactivation.
//!
//! Errors are RFC 6749 §5.2's `{"error","error_description"}`. A failed
//! client authentication is 401 `invalid_client` (with `WWW-Authenticate:
//! Basic` when Basic was used) and counts in the failure limiter like a bad
//! member token (429 `too_many_attempts` with `retry-after` in back-off).

use std::net::IpAddr;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use embedgate_core::rules::MemberStatus;
use embedgate_core::{looks_like_embed_secret, ClientId, Privilege};
use serde::Serialize;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::super::auth::{count_failure, new_api_token, random_id, token_hash, API_TOKEN_PREFIX};
use super::super::client::ClientAddr;
use super::super::{now, AppError, AppState};
use crate::store::api_tokens::{self, NewApiToken};
use crate::store::credentials::{self, Credential};
use crate::store::{Event, Origin, StoreError};

/// How long an access token lives by default (1 hour), and the bounds of
/// `EMBEDGATE_API_TOKEN_TTL` (a minute to a day).
pub const DEFAULT_API_TOKEN_TTL_S: i64 = 3600;
/// See [`DEFAULT_API_TOKEN_TTL_S`].
pub const API_TOKEN_TTL_RANGE_S: std::ops::RangeInclusive<i64> = 60..=86_400;

/// The largest form body read (a grant is a few hundred bytes).
const MAX_FORM_BYTES: usize = 16 * 1024;

/// An OAuth error answer (RFC 6749 §5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `unauthorized_client`, `unsupported_grant_type`,
    /// `invalid_scope`, `too_many_attempts` or `server_error`.
    #[schema(example = "invalid_client")]
    pub error: &'static str,
    /// A human-readable explanation (never a secret or a token).
    pub error_description: String,
}

/// Every way an OAuth request can fail, mapped once to RFC 6749 §5.2.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// 400 `invalid_request`: a parameter is missing, repeated or malformed,
    /// the body is not a form, or the client authenticated two ways.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// 401 `invalid_client`: unknown client, wrong secret, revoked
    /// credential or deactivated owner (indistinguishable on purpose).
    #[error("client authentication failed (client ID and a live secret of an active credential)")]
    InvalidClient {
        /// Whether the client used HTTP Basic (the answer then carries `WWW-Authenticate`).
        basic: bool,
    },
    /// 401 `invalid_client`: the credential signs with a public key, so it
    /// has no secret to authenticate with (private_key_jwt is not offered).
    #[error(
        "this credential signs with a public key (ES256 or EdDSA): it cannot authenticate with a client secret, \
         and private_key_jwt client authentication is not supported"
    )]
    PublicKeyClient {
        /// Whether the client used HTTP Basic (the answer then carries `WWW-Authenticate`).
        basic: bool,
    },
    /// 400 `unauthorized_client`: the credential lacks the `api` privilege.
    #[error("the credential does not have the api privilege")]
    UnauthorizedClient,
    /// 400 `unsupported_grant_type`: only `client_credentials` is offered.
    #[error("only grant_type=client_credentials is supported")]
    UnsupportedGrantType,
    /// 400 `invalid_scope`: this server has no scopes; a token acts as the owner's account type.
    #[error("this server has no scopes (a token acts as its credential's owner); omit scope")]
    InvalidScope,
    /// 429 `too_many_attempts`: an address in back-off after many failed authentications.
    #[error("too many failed authentication attempts from this address; retry after {retry_after_s} s")]
    TooManyAttempts {
        /// Seconds until the back-off ends (the `retry-after` header).
        retry_after_s: u64,
    },
    /// 500 `server_error`: anything else; logged, never detailed.
    #[error("internal error")]
    Internal(String),
}

impl OAuthError {
    /// The HTTP status and the RFC 6749 error code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::InvalidClient { .. } | Self::PublicKeyClient { .. } => (StatusCode::UNAUTHORIZED, "invalid_client"),
            Self::UnauthorizedClient => (StatusCode::BAD_REQUEST, "unauthorized_client"),
            Self::UnsupportedGrantType => (StatusCode::BAD_REQUEST, "unsupported_grant_type"),
            Self::InvalidScope => (StatusCode::BAD_REQUEST, "invalid_scope"),
            Self::TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
        }
    }
}

impl From<AppError> for OAuthError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Internal(detail) => Self::Internal(detail),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<sqlx::Error> for OAuthError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(format!("database: {e}"))
    }
}

/// RFC 6749 §5.1: token answers (and their errors) are never cached.
fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, error) = self.status_and_code();
        if let Self::Internal(detail) = &self {
            tracing::error!(error = %detail, "internal error");
        }
        let mut response =
            (status, Json(OAuthErrorBody { error, error_description: self.to_string() })).into_response();
        no_store(&mut response);
        match self {
            Self::InvalidClient { basic: true } | Self::PublicKeyClient { basic: true } => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"embedgate\""));
            }
            Self::TooManyAttempts { retry_after_s } => {
                response.headers_mut().insert(header::RETRY_AFTER, retry_after_s.into());
            }
            _ => {}
        }
        response
    }
}

/// `POST /api/v1/oauth/token`'s form (RFC 6749 §4.4.2), as documented.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TokenRequest {
    /// `client_credentials`.
    pub grant_type: String,
    /// The credential's client ID (or use HTTP Basic).
    pub client_id: Option<String>,
    /// One of the credential's live embed secrets, `egs_…` (or use HTTP Basic).
    pub client_secret: Option<String>,
    /// Not supported: given, it is 400 `invalid_scope`.
    pub scope: Option<String>,
}

/// `POST /api/v1/oauth/revoke`'s form (RFC 7009 §2.1), as documented.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct RevokeRequest {
    /// The access token to revoke (`egc_…`).
    pub token: String,
    /// Ignored (only access tokens exist).
    pub token_type_hint: Option<String>,
    /// The credential's client ID (or use HTTP Basic).
    pub client_id: Option<String>,
    /// One of the credential's live embed secrets (or use HTTP Basic).
    pub client_secret: Option<String>,
}

/// An access token (RFC 6749 §5.1): shown this once, stored only as a hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessToken {
    /// `egc_` and 64 hex characters: send as `Authorization: Bearer …`.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    pub access_token: Zeroizing<String>,
    /// `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds it lives.
    pub expires_in: i64,
}

fn expose<S: serde::Serializer>(token: &Zeroizing<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(token)
}

/// The revocation answer: always the same (RFC 7009 §2.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {}

/// A form body's parameters; empty values count as absent (RFC 6749 §3.1).
#[derive(Debug, Default)]
struct Form(Vec<(String, Zeroizing<String>)>);

impl Form {
    fn take(&mut self, name: &str) -> Option<Zeroizing<String>> {
        let at = self.0.iter().position(|(n, _)| n == name)?;
        Some(self.0.swap_remove(at).1)
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }
}

/// Reads an `application/x-www-form-urlencoded` body of at most 16 KiB;
/// a repeated parameter is `invalid_request` (RFC 6749 §3.1).
async fn read_form(headers: &HeaderMap, body: Body) -> Result<Form, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(OAuthError::InvalidRequest("the body must be sent as application/x-www-form-urlencoded"));
    }
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| OAuthError::InvalidRequest("the body is unreadable or over 16 KiB"))?;
    let mut form = Form::default();
    for (name, value) in form_urlencoded::parse(&bytes) {
        if value.is_empty() {
            continue;
        }
        if form.has(&name) {
            return Err(OAuthError::InvalidRequest("a parameter is repeated"));
        }
        form.0.push((name.into_owned(), Zeroizing::new(value.into_owned())));
    }
    Ok(form)
}

/// Decodes one `application/x-www-form-urlencoded` component (RFC 6749 §2.3.1).
fn form_decode(part: &str) -> Option<Zeroizing<String>> {
    let bytes = part.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out.to_vec()).ok().map(Zeroizing::new)
}

/// How the client authenticated: its client ID and secret, and whether by HTTP Basic.
struct ClientAuth {
    client_id: Zeroizing<String>,
    secret: Zeroizing<String>,
    basic: bool,
}

/// The client's authentication: HTTP Basic or the form's fields, exactly one.
fn client_auth(headers: &HeaderMap, form: &mut Form) -> Result<ClientAuth, OAuthError> {
    let in_form = form.has("client_id") || form.has("client_secret");
    let Some(authorization) = headers.get(header::AUTHORIZATION) else {
        let (Some(client_id), Some(secret)) = (form.take("client_id"), form.take("client_secret")) else {
            return Err(OAuthError::InvalidRequest(
                "client authentication is required: HTTP Basic, or client_id and client_secret",
            ));
        };
        return Ok(ClientAuth { client_id, secret, basic: false });
    };
    let malformed = OAuthError::InvalidRequest("the Authorization header must be HTTP Basic (client_id:client_secret)");
    let value =
        authorization.to_str().map_err(|_| OAuthError::InvalidRequest("the Authorization header is malformed"))?;
    let Some((scheme, encoded)) = value.split_once(' ') else { return Err(malformed) };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed);
    }
    if in_form {
        return Err(OAuthError::InvalidRequest("authenticate by HTTP Basic or by form fields, not both"));
    }
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| OAuthError::InvalidRequest("the Basic credentials are not base64"))?,
    );
    let text =
        std::str::from_utf8(&decoded).map_err(|_| OAuthError::InvalidRequest("the Basic credentials are not UTF-8"))?;
    let (id, secret) =
        text.split_once(':').ok_or(OAuthError::InvalidRequest("the Basic credentials need client_id:client_secret"))?;
    match (form_decode(id), form_decode(secret)) {
        (Some(client_id), Some(secret)) if !client_id.is_empty() && !secret.is_empty() => {
            Ok(ClientAuth { client_id, secret, basic: true })
        }
        _ => Err(OAuthError::InvalidRequest("the Basic credentials are malformed")),
    }
}

/// Authenticates the client: its credential and the live secret generation
/// its secret is. Each live generation is compared (in constant time, none
/// skipped). An unknown client or a wrong secret counts as a failure of the
/// address (429 in back-off); the right secret of a revoked credential or of
/// a deactivated owner is refused too (counted, but answered 401 even in back-off).
/// A credential that signs with a public key has no secret: refused as
/// `invalid_client` saying so.
async fn authenticate_client(
    state: &AppState,
    addr: IpAddr,
    auth: &ClientAuth,
) -> Result<(Credential, u32), OAuthError> {
    let in_backoff = state.limiter.backoff(addr).is_some();
    let refuse = |in_backoff: bool| match count_failure(state, addr, in_backoff) {
        Some(retry_after_s) => OAuthError::TooManyAttempts { retry_after_s },
        None => OAuthError::InvalidClient { basic: auth.basic },
    };
    let Ok(client_id) = auth.client_id.parse::<ClientId>() else { return Err(refuse(in_backoff)) };
    let mut conn = state.store.pool.acquire().await?;
    let Some(credential) = credentials::find(&mut conn, &client_id).await? else { return Err(refuse(in_backoff)) };
    if credential.is_public_key() {
        // Said plainly (client IDs are public): no secret of any form can work.
        return Err(match count_failure(state, addr, in_backoff) {
            Some(retry_after_s) => OAuthError::TooManyAttempts { retry_after_s },
            None => OAuthError::PublicKeyClient { basic: auth.basic },
        });
    }
    if !looks_like_embed_secret(&auth.secret) {
        return Err(refuse(in_backoff));
    }
    let mut matched = None;
    for generation in credential.live_generations() {
        let secret = state.keys.secret(&mut conn, &credential, generation).await?;
        if bool::from(secret.hmac_key().ct_eq(auth.secret.as_bytes())) {
            matched = Some(generation);
        }
    }
    let Some(generation) = matched else { return Err(refuse(in_backoff)) };
    if credential.revoked_at.is_some() || credential.owner_status != MemberStatus::Active {
        return Err(refuse(false));
    }
    Ok((credential, generation))
}

/// A change made by the credential itself (the grant, a revocation).
async fn change_as(
    state: &AppState,
    credential: &Credential,
    token_id: &str,
    addr: IpAddr,
) -> Result<crate::store::Change, OAuthError> {
    let origin = Origin { token_id: token_id.to_owned(), address: addr.to_string() };
    Ok(state
        .store
        .change_from(credential.org.as_str(), &format!("credential:{}", credential.client_id), origin)
        .await?)
}

/// The client-credentials grant (RFC 6749 §4.4): a credential with the
/// `api` privilege authenticates (HTTP Basic, or `client_id` and
/// `client_secret` in the form: one of its live embed secrets) and gets a
/// short-lived access token that acts on its org's API as its owner, with
/// the owner's current account type. The token is shown this once.
#[utoipa::path(post, path = "/api/v1/oauth/token", tag = "oauth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded",
        description = "RFC 6749 §4.4.2: `grant_type=client_credentials`, with client authentication."),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "An access token, shown this once (`Cache-Control: no-store`).", body = AccessToken),
        (status = 400, description = "`invalid_request`, `unauthorized_client` (no `api` privilege), `unsupported_grant_type` or `invalid_scope`.", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`: unknown client, wrong secret, revoked credential, deactivated owner, or a credential that signs with a public key (no client secret; private_key_jwt is not supported).", body = OAuthErrorBody),
        (status = 429, description = "`too_many_attempts`: too many failed authentications from this address.", body = OAuthErrorBody),
        (status = 500, description = "`server_error` (logged, never detailed).", body = OAuthErrorBody)))]
pub async fn oauth_token(
    ClientAddr(addr): ClientAddr,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OAuthError> {
    let mut form = read_form(&headers, body).await?;
    let auth = client_auth(&headers, &mut form)?;
    match form.take("grant_type").as_deref().map(String::as_str) {
        None => return Err(OAuthError::InvalidRequest("grant_type is required")),
        Some("client_credentials") => {}
        Some(_) => return Err(OAuthError::UnsupportedGrantType),
    }
    if form.has("scope") {
        return Err(OAuthError::InvalidScope);
    }
    let (credential, generation) = authenticate_client(&state, addr, &auth).await?;
    if !credential.privileges.contains(Privilege::Api) {
        return Err(OAuthError::UnauthorizedClient);
    }
    let (access_token, hash) = new_api_token()?;
    let id = random_id()?;
    let at = now();
    let ttl = state.api_token_ttl_s;
    let expires_at = at + ttl;
    let mut change = change_as(&state, &credential, &id, addr).await?;
    let stored = NewApiToken {
        id: &id,
        hash: &hash,
        client_id: &credential.client_id,
        generation,
        owner: credential.owner.as_str(),
        expires_at,
    };
    change.issue_api_token(&stored, at).await?;
    change
        .commit(Event::ApiTokenIssued { client_id: credential.client_id.clone(), token_id: id, generation, expires_at })
        .await?;
    let mut response = Json(AccessToken { access_token, token_type: "Bearer", expires_in: ttl }).into_response();
    no_store(&mut response);
    Ok(response)
}

/// Token revocation (RFC 7009): the credential, authenticated as for the
/// grant (with or without the `api` privilege), revokes one of its own
/// access tokens. The answer is the same whether the token was live,
/// already dead, unknown or another client's. Revoking the credential, or
/// retiring the secret generation a token was obtained with, ends its tokens too.
#[utoipa::path(post, path = "/api/v1/oauth/revoke", tag = "oauth",
    request_body(content = RevokeRequest, content_type = "application/x-www-form-urlencoded",
        description = "RFC 7009 §2.1: `token`, with client authentication."),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "The token no longer works (whatever it was).", body = Revoked),
        (status = 400, description = "`invalid_request`: no `token`, or malformed client authentication.", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`.", body = OAuthErrorBody),
        (status = 429, description = "`too_many_attempts`.", body = OAuthErrorBody),
        (status = 500, description = "`server_error` (logged, never detailed).", body = OAuthErrorBody)))]
pub async fn oauth_revoke(
    ClientAddr(addr): ClientAddr,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OAuthError> {
    let mut form = read_form(&headers, body).await?;
    let auth = client_auth(&headers, &mut form)?;
    let token = form.take("token").ok_or(OAuthError::InvalidRequest("token is required"))?;
    let (credential, _) = authenticate_client(&state, addr, &auth).await?;
    if token.starts_with(API_TOKEN_PREFIX) && token.len() <= 128 {
        let mut conn = state.store.pool.acquire().await?;
        let found = api_tokens::find_unrevoked(&mut conn, &credential.client_id, &token_hash(&token)).await?;
        drop(conn);
        if let Some(token_id) = found {
            // The audit entry's origin names the revoked token (the request carried no other).
            let mut change = change_as(&state, &credential, &token_id, addr).await?;
            if change.revoke_api_token(&credential.client_id, &token_id, now()).await? {
                change.commit(Event::ApiTokenRevoked { client_id: credential.client_id.clone(), token_id }).await?;
            }
        }
    }
    let mut response = Json(Revoked {}).into_response();
    no_store(&mut response);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let decoded = |s: &str| form_decode(s).map(|d| d.to_string());
        assert_eq!(decoded("egs_ABC"), Some("egs_ABC".to_owned()));
        assert_eq!(decoded("a+b%3Ac%25"), Some("a b:c%".to_owned()));
        assert_eq!(decoded("%zz"), None);
        assert_eq!(decoded("%4"), None);
        assert_eq!(decoded("%ff"), None, "not UTF-8");
    }
}
