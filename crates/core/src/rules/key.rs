//! The `public_key` field of a credential's bodies (create, rotate): a
//! host app's public JWK, validated by [`PublicJwk`], refused with
//! [`JwkError`]'s fixed message and never with the value.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::RuleError;
use crate::public_key::{JwkError, PublicJwk};

/// A `public_key` value as a validated public key: a JSON object that
/// [`PublicJwk`] accepts (anything else is [`JwkError::NotJwk`]).
pub fn public_key_of(value: &Value) -> Result<PublicJwk, JwkError> {
    if !value.is_object() {
        return Err(JwkError::NotJwk);
    }
    PublicJwk::from_value(value)
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
        assert_eq!(public_key_of(&private), Err(JwkError::PrivateKey));
        for (value, rule) in [
            (json!("{\"kty\":\"EC\"}"), JwkError::NotJwk),
            (json!(["x"]), JwkError::NotJwk),
            (json!({"kty": "EC", "crv": "P-256", "x": 12345, "y": "a"}), JwkError::NotJwk),
            (json!({"kty": "EC", "crv": "P-256", "y": "a"}), JwkError::Missing("x")),
            (
                json!({"kty": "RSA", "n": "abc", "e": "AQAB"}),
                JwkError::UnsupportedKey("RSA keys are not accepted: use ES256 or EdDSA"),
            ),
            (json!({"kty": "OKP", "crv": "Ed25519", "x": "short"}), JwkError::BadCoordinate("x")),
        ] {
            assert_eq!(public_key_of(&value), Err(rule), "{value}");
            let message = rule.to_string();
            assert!(!message.contains("12345") && !message.contains("short"), "{message}");
        }
        assert_eq!(public_key_of(&json!({"kty": "EC", "pad": "a".repeat(3000)})), Err(JwkError::TooLong));
        assert_eq!(JwkError::Missing("x").to_string(), "not a JWK: the member \"x\" is missing");
    }
}
