//! Signing embed tokens: what a host app's server does with its secret.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::jws::{b64url_encode, Hs256Key};
use crate::public_key::SigningJwk;
use crate::secret::EmbedSecret;
use crate::types::{AccountType, ClientId};
use crate::validation::TokenVersion;

/// Why a token could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The claims do not serialize to a JSON object.
    #[error("the claims must serialize to a JSON object")]
    ClaimsNotAnObject,
}

/// The claims of an embed token (architecture.md §3), for signing. Unknown claims go
/// in `extra` and are passed through.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Claims {
    /// The embed user's email.
    pub sub: String,
    /// A unique token ID.
    pub jti: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Not before (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issuer (must be the client ID when present).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Token format version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ver: Option<TokenVersion>,
    /// Audience (required with `ver: "1.1"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// The embed user's account type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_type: Option<AccountType>,
    /// The embed user's teams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teams: Option<Vec<String>>,
    /// The embed user's attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_attributes: Option<BTreeMap<String, String>>,
    /// Any other claims.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Claims {
    /// Claims for `sub` with a fresh random `jti`, issued at `now`, valid for `ttl_s`.
    pub fn new(sub: impl Into<String>, now: i64, ttl_s: i64) -> Result<Self, crate::secret::KeyError> {
        Ok(Self { sub: sub.into(), jti: random_jti()?, iat: now, exp: now.saturating_add(ttl_s), ..Self::default() })
    }
}

/// A random token ID: 128 bits as 32 lower-case hex characters.
pub fn random_jti() -> Result<String, crate::secret::KeyError> {
    ClientId::generate().map(|id| id.as_str().to_owned()).map_err(crate::secret::KeyError::Random)
}

/// Signs `claims` as an HS256 embed token with header
/// `{"alg":"HS256","typ":"JWT","kid":client_id}`.
pub fn sign<C: Serialize + ?Sized>(
    claims: &C,
    client_id: &ClientId,
    secret: &EmbedSecret,
) -> Result<String, SignError> {
    let payload = claims_object(claims)?;
    let header = serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": client_id.as_str()});
    Ok(sign_raw(header.to_string().as_bytes(), payload.to_string().as_bytes(), &Hs256Key::new(secret.hmac_key())))
}

/// Signs `claims` with an asymmetric credential's private key (`ES256` or
/// `EdDSA`), header `{"alg":…,"typ":"JWT","kid":client_id}`: what a host
/// app holding the private key does (the CLI's `keygen` users, tests, benches).
pub fn sign_with_key<C: Serialize + ?Sized>(
    claims: &C,
    client_id: &ClientId,
    key: &SigningJwk,
) -> Result<String, SignError> {
    let payload = claims_object(claims)?;
    let header = serde_json::json!({"alg": key.algorithm().as_str(), "typ": "JWT", "kid": client_id.as_str()});
    Ok(sign_raw_with_key(header.to_string().as_bytes(), payload.to_string().as_bytes(), key))
}

/// The claims as a JSON object (anything else cannot be a JWT payload).
fn claims_object<C: Serialize + ?Sized>(claims: &C) -> Result<serde_json::Value, SignError> {
    let payload = serde_json::to_value(claims).map_err(|_| SignError::ClaimsNotAnObject)?;
    if payload.is_object() {
        Ok(payload)
    } else {
        Err(SignError::ClaimsNotAnObject)
    }
}

/// Signs arbitrary header and payload bytes (the JWS layer; no checks).
/// Tests use it to build hostile tokens.
pub fn sign_raw(header: &[u8], payload: &[u8], key: &Hs256Key) -> String {
    compact(header, payload, |input| key.sign(input))
}

/// [`sign_raw`] with an asymmetric credential's private key (the header's
/// `alg` is not checked against it: tests build mismatched tokens with it).
pub fn sign_raw_with_key(header: &[u8], payload: &[u8], key: &SigningJwk) -> String {
    compact(header, payload, |input| key.sign(input))
}

/// `header.payload.signature` in base64url, `signature` computed over the first two.
pub(crate) fn compact<S: AsRef<[u8]>>(header: &[u8], payload: &[u8], signature: impl FnOnce(&[u8]) -> S) -> String {
    let mut token = b64url_encode(header);
    token.push('.');
    token.push_str(&b64url_encode(payload));
    let signature = signature(token.as_bytes());
    token.push('.');
    token.push_str(&b64url_encode(signature.as_ref()));
    token
}
