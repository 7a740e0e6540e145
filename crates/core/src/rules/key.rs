//! The `public_key` field of a credential's bodies (create, rotate): a
//! host app's public JWK, validated by [`PublicJwk`], refused with
//! [`JwkError`]'s message and never with the value.

use core::fmt;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::RuleError;
use crate::public_key::{JwkError, PublicJwk};

/// Why a `public_key` was refused: [`JwkError`] as a plain value (its
/// message is the same), without the JSON parser's own text, which could
/// repeat a member's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyRule {
    /// Not a JSON object, or a member is not a string.
    NotJwk,
    /// A required member is absent (its name).
    Missing(&'static str),
    /// Longer than [`crate::public_key::MAX_JWK_BYTES`].
    TooLong,
    /// It holds a private key (`d`).
    PrivateKey,
    /// A key type, curve or algorithm other than P-256/ES256 or Ed25519/EdDSA.
    Unsupported(&'static str),
    /// A coordinate is not the unpadded base64url of 32 bytes (its name).
    BadCoordinate(&'static str),
    /// The coordinates are not a valid public key of the curve (its name).
    InvalidPoint(&'static str),
    /// A member (`alg`, `use`, …) does not fit the key: the member and why.
    Mismatch(&'static str, &'static str),
}

/// The sentence of [`KeyRule::NotJwk`].
const NOT_JWK: &str = "it must be a JSON object whose kty, crv, x (and, for P-256, y) members are strings";

/// The members whose absence [`JwkError::NotJson`] reports by name.
const MEMBERS: [&str; 4] = ["kty", "crv", "x", "y"];

impl From<&JwkError> for KeyRule {
    fn from(e: &JwkError) -> Self {
        match e {
            JwkError::NotJson(why) => {
                MEMBERS.into_iter().find(|m| *why == missing(m)).map_or(Self::NotJwk, Self::Missing)
            }
            JwkError::TooLong => Self::TooLong,
            JwkError::PrivateKey => Self::PrivateKey,
            JwkError::UnsupportedKey(why) => Self::Unsupported(why),
            JwkError::BadCoordinate(name) => Self::BadCoordinate(name),
            JwkError::InvalidPoint(curve) => Self::InvalidPoint(curve),
            JwkError::Mismatch(member, why) => Self::Mismatch(member, why),
        }
    }
}

/// [`JwkError::NotJson`]'s text for a missing member.
fn missing(member: &str) -> String {
    format!("the member \"{member}\" is missing")
}

impl KeyRule {
    /// The [`JwkError`] it stands for (for its message).
    fn error(self) -> JwkError {
        match self {
            Self::NotJwk => JwkError::NotJson(NOT_JWK.to_owned()),
            Self::Missing(member) => JwkError::NotJson(missing(member)),
            Self::TooLong => JwkError::TooLong,
            Self::PrivateKey => JwkError::PrivateKey,
            Self::Unsupported(why) => JwkError::UnsupportedKey(why),
            Self::BadCoordinate(name) => JwkError::BadCoordinate(name),
            Self::InvalidPoint(curve) => JwkError::InvalidPoint(curve),
            Self::Mismatch(member, why) => JwkError::Mismatch(member, why),
        }
    }
}

impl fmt::Display for KeyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error().fmt(f)
    }
}

/// A `public_key` value as a validated public key: a JSON object that
/// [`PublicJwk`] accepts (anything else is [`KeyRule::NotJwk`] before any
/// parsing, so no message can quote it).
pub fn public_key_of(value: &Value) -> Result<PublicJwk, KeyRule> {
    if !value.is_object() {
        return Err(KeyRule::NotJwk);
    }
    PublicJwk::from_value(value).map_err(|e| KeyRule::from(&e))
}

/// Serde's side of an optional `public_key` (absent or `null`: none),
/// refused with [`RuleError::PublicKey`].
pub(super) fn optional_public_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PublicJwk>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(value) => {
            public_key_of(&value).map(Some).map_err(|rule| serde::de::Error::custom(RuleError::PublicKey(rule)))
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use serde_json::json;

    use super::*;
    use crate::public_key::{Algorithm, SigningJwk};

    #[test]
    fn a_public_jwk_parses_and_bad_ones_say_why_without_the_value() {
        let key = SigningJwk::generate(Algorithm::Es256).unwrap();
        let public: Value = serde_json::to_value(key.public()).unwrap();
        assert_eq!(public_key_of(&public).unwrap(), key.public());
        let private: Value = serde_json::from_str(&key.to_json()).unwrap();
        assert_eq!(public_key_of(&private), Err(KeyRule::PrivateKey));
        for (value, rule) in [
            (json!("{\"kty\":\"EC\"}"), KeyRule::NotJwk),
            (json!(["x"]), KeyRule::NotJwk),
            (json!({"kty": "EC", "crv": "P-256", "x": 12345, "y": "a"}), KeyRule::NotJwk),
            (json!({"kty": "EC", "crv": "P-256", "y": "a"}), KeyRule::Missing("x")),
            (
                json!({"kty": "RSA", "n": "abc", "e": "AQAB"}),
                KeyRule::Unsupported("RSA keys are not accepted: use ES256 or EdDSA"),
            ),
            (json!({"kty": "OKP", "crv": "Ed25519", "x": "short"}), KeyRule::BadCoordinate("x")),
        ] {
            assert_eq!(public_key_of(&value), Err(rule), "{value}");
            let message = rule.to_string();
            assert!(!message.contains("12345") && !message.contains("short"), "{message}");
        }
        assert_eq!(public_key_of(&json!({"kty": "EC", "pad": "a".repeat(3000)})), Err(KeyRule::TooLong));
        assert_eq!(KeyRule::Missing("x").to_string(), "not a JWK: the member \"x\" is missing");
    }
}
