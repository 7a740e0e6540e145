//! Asymmetric credentials: a host app signs embed tokens with its own private
//! key (`ES256` over P-256, or `EdDSA` over Ed25519, RFC 8037) and embedgate
//! holds only the public key, as a JWK (RFC 7517). Nothing embedgate stores
//! can mint such a token.
//!
//! - [`PublicJwk`]: a validated public key (the point is on its curve, no
//!   private member, `alg`/`use` consistent), serialized in its canonical
//!   form, with its RFC 7638 thumbprint.
//! - [`SigningJwk`]: a private key, for `embedgate keygen` and for tests and
//!   benchmarks that play the host app. Redacted `Debug`, no `Serialize`,
//!   zeroized on drop; its JSON is only ever handed out in a [`Zeroizing`].
//! - [`Algorithm`]: the three signature algorithms a credential may use.

use core::fmt;

use ed25519_dalek::Signer as _;
use p256::ecdsa::signature::Verifier as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::jws::{b64url_decode, b64url_encode};
use crate::secret::KeyError;

/// The longest JWK accepted, in bytes of JSON.
pub const MAX_JWK_BYTES: usize = 2048;

/// A signature algorithm of embed tokens (the JWS `alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA256 with a generated embed secret (the default).
    #[serde(rename = "HS256")]
    Hs256,
    /// ECDSA over P-256 with SHA-256 (RFC 7518 §3.4): the signature is `r || s`, 64 bytes.
    #[serde(rename = "ES256")]
    Es256,
    /// Ed25519 (RFC 8037).
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl Algorithm {
    /// The JWS `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The algorithm a JWS `alg` names, exactly (case-sensitive).
    pub fn from_jws(alg: &str) -> Option<Self> {
        match alg {
            "HS256" => Some(Self::Hs256),
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            _ => None,
        }
    }

    /// Whether it is a public-key algorithm.
    pub fn is_asymmetric(self) -> bool {
        self != Self::Hs256
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::str::FromStr for Algorithm {
    type Err = JwkError;

    /// `ES256` or `EdDSA` (any case: this is for command lines and forms).
    fn from_str(s: &str) -> Result<Self, JwkError> {
        match s.to_ascii_lowercase().as_str() {
            "es256" => Ok(Self::Es256),
            "eddsa" | "ed25519" => Ok(Self::EdDsa),
            "hs256" => Ok(Self::Hs256),
            _ => Err(JwkError::UnsupportedKey("the algorithm must be ES256 or EdDSA")),
        }
    }
}

/// Why a JWK was refused. Every message is fixed text: none repeats the
/// JWK, nor the JSON parser's words (which could quote a member's value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwkError {
    /// Not a JSON object, or a member has the wrong type.
    #[error("not a JWK: it must be a JSON object whose kty, crv, x (and, for P-256, y) members are strings")]
    NotJwk,
    /// A required member is absent (its name).
    #[error("not a JWK: the member \"{0}\" is missing")]
    Missing(&'static str),
    /// Longer than [`MAX_JWK_BYTES`].
    #[error("the JWK is longer than 2048 bytes")]
    TooLong,
    /// It holds a private key (`d`): paste the public key only.
    #[error("this JWK holds a private key (it has a \"d\" member): give the public key only; the private key stays with the host app")]
    PrivateKey,
    /// A key type, curve or algorithm other than P-256/ES256 or Ed25519/EdDSA.
    #[error("unsupported key: {0}")]
    UnsupportedKey(&'static str),
    /// A coordinate is not strict base64url of the curve's size.
    #[error("the member \"{0}\" must be the unpadded base64url of 32 bytes")]
    BadCoordinate(&'static str),
    /// The coordinates are not a valid public key of the curve (off the
    /// curve, the identity, or a small-order Ed25519 point).
    #[error("the coordinates are not a valid public key on {0}")]
    InvalidPoint(&'static str),
    /// `alg` or `use` disagree with the key.
    #[error("the member \"{0}\" does not fit this key: {1}")]
    Mismatch(&'static str, &'static str),
}

/// Whether pasted key text is a JWK (JSON starting with `{`) rather than an
/// embed secret: the one rule [`crate::KeyRing::from_key_text`] and the
/// browser inspector decide by.
pub fn looks_like_jwk(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// The JWK members read (others, such as `kid` or `key_ops`, are ignored).
#[derive(Deserialize, Serialize, Default)]
struct RawJwk {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    #[serde(default, skip_serializing)]
    d: Option<serde::de::IgnoredAny>,
    #[serde(default, skip_serializing)]
    alg: Option<String>,
    #[serde(default, rename = "use", skip_serializing)]
    use_: Option<String>,
}

/// A validated public key: what an asymmetric credential stores and the edge verifies with.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicJwk {
    key: PublicKey,
}

#[derive(Clone, PartialEq, Eq)]
enum PublicKey {
    Es256(p256::ecdsa::VerifyingKey),
    EdDsa(ed25519_dalek::VerifyingKey),
}

impl fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicJwk({}, {})", self.algorithm(), self.thumbprint())
    }
}

fn coordinate(value: Option<&String>, name: &'static str) -> Result<[u8; 32], JwkError> {
    let text = value.ok_or(JwkError::Missing(name))?;
    b64url_decode(text).and_then(|b| <[u8; 32]>::try_from(b).ok()).ok_or(JwkError::BadCoordinate(name))
}

impl PublicJwk {
    /// Parses and validates a public JWK from its JSON text.
    pub fn parse(json: &str) -> Result<Self, JwkError> {
        if json.len() > MAX_JWK_BYTES {
            return Err(JwkError::TooLong);
        }
        let raw: RawJwk = serde_json::from_str(json).map_err(|_| JwkError::NotJwk)?;
        Self::from_raw(&raw)
    }

    /// [`PublicJwk::parse`] of a JSON value already parsed.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, JwkError> {
        Self::parse(&value.to_string())
    }

    fn from_raw(raw: &RawJwk) -> Result<Self, JwkError> {
        if raw.d.is_some() {
            return Err(JwkError::PrivateKey);
        }
        if !matches!(raw.use_.as_deref(), None | Some("sig")) {
            return Err(JwkError::Mismatch("use", "an embed token key must be a signature key (\"sig\")"));
        }
        let key = match (raw.kty.as_deref(), raw.crv.as_deref()) {
            (Some("EC"), Some("P-256")) => {
                if raw.alg.as_deref().is_some_and(|a| a != "ES256") {
                    return Err(JwkError::Mismatch("alg", "a P-256 key signs ES256"));
                }
                let x = coordinate(raw.x.as_ref(), "x")?;
                let y = coordinate(raw.y.as_ref(), "y")?;
                let point = p256::EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
                let key = p256::ecdsa::VerifyingKey::from_encoded_point(&point)
                    .map_err(|_| JwkError::InvalidPoint("P-256"))?;
                PublicKey::Es256(key)
            }
            (Some("OKP"), Some("Ed25519")) => {
                if raw.alg.as_deref().is_some_and(|a| a != "EdDSA") {
                    return Err(JwkError::Mismatch("alg", "an Ed25519 key signs EdDSA"));
                }
                if raw.y.is_some() {
                    return Err(JwkError::Mismatch("y", "an Ed25519 key has no y"));
                }
                let x = coordinate(raw.x.as_ref(), "x")?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&x).map_err(|_| JwkError::InvalidPoint("Ed25519"))?;
                if key.is_weak() {
                    return Err(JwkError::InvalidPoint("Ed25519"));
                }
                PublicKey::EdDsa(key)
            }
            (Some("EC"), _) => return Err(JwkError::UnsupportedKey("the only EC curve accepted is P-256 (ES256)")),
            (Some("OKP"), _) => return Err(JwkError::UnsupportedKey("the only OKP curve accepted is Ed25519 (EdDSA)")),
            (Some("oct"), _) => {
                return Err(JwkError::UnsupportedKey("a symmetric key is not a public key; use a generated secret"))
            }
            (Some("RSA"), _) => return Err(JwkError::UnsupportedKey("RSA keys are not accepted: use ES256 or EdDSA")),
            _ => return Err(JwkError::UnsupportedKey("kty must be EC (P-256) or OKP (Ed25519)")),
        };
        Ok(Self { key })
    }

    /// The public JWK of an Ed25519 key (the edge's origin-assertion keys).
    pub(crate) fn ed25519(key: ed25519_dalek::VerifyingKey) -> Self {
        Self { key: PublicKey::EdDsa(key) }
    }

    /// The algorithm its tokens are signed with.
    pub fn algorithm(&self) -> Algorithm {
        match self.key {
            PublicKey::Es256(_) => Algorithm::Es256,
            PublicKey::EdDsa(_) => Algorithm::EdDsa,
        }
    }

    fn raw(&self) -> RawJwk {
        match &self.key {
            PublicKey::Es256(k) => {
                let point = k.to_encoded_point(false);
                RawJwk {
                    kty: Some("EC".into()),
                    crv: Some("P-256".into()),
                    x: point.x().map(|x| b64url_encode(x)),
                    y: point.y().map(|y| b64url_encode(y)),
                    ..RawJwk::default()
                }
            }
            PublicKey::EdDsa(k) => RawJwk {
                kty: Some("OKP".into()),
                crv: Some("Ed25519".into()),
                x: Some(b64url_encode(k.as_bytes())),
                ..RawJwk::default()
            },
        }
    }

    /// Its canonical JSON: the required members only, in RFC 7638 order
    /// (`{"crv":…,"kty":…,"x":…[,"y":…]}`). This is the thumbprint's input.
    pub fn canonical_json(&self) -> String {
        let raw = self.raw();
        let (crv, kty, x) = (raw.crv.unwrap_or_default(), raw.kty.unwrap_or_default(), raw.x.unwrap_or_default());
        match raw.y {
            Some(y) => format!(r#"{{"crv":"{crv}","kty":"{kty}","x":"{x}","y":"{y}"}}"#),
            None => format!(r#"{{"crv":"{crv}","kty":"{kty}","x":"{x}"}}"#),
        }
    }

    /// Its RFC 7638 thumbprint: base64url SHA-256 of [`PublicJwk::canonical_json`].
    pub fn thumbprint(&self) -> String {
        b64url_encode(&Sha256::digest(self.canonical_json()))
    }

    /// Whether `signature` is this key's signature of `message` (ES256: `r || s`,
    /// 64 bytes; EdDSA: 64 bytes, checked strictly).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.key {
            PublicKey::Es256(k) => {
                p256::ecdsa::Signature::from_slice(signature).is_ok_and(|sig| k.verify(message, &sig).is_ok())
            }
            PublicKey::EdDsa(k) => <[u8; 64]>::try_from(signature)
                .is_ok_and(|sig| k.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig)).is_ok()),
        }
    }
}

impl Serialize for PublicJwk {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw().serialize(s)
    }
}

impl<'de> Deserialize<'de> for PublicJwk {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawJwk::deserialize(d)?;
        Self::from_raw(&raw).map_err(serde::de::Error::custom)
    }
}

/// A private signing key of an asymmetric credential: the host app's. It
/// never reaches embedgate; `embedgate keygen` makes one and tests sign with it.
pub struct SigningJwk {
    key: PrivateKey,
}

enum PrivateKey {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
}

impl fmt::Debug for SigningJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningJwk({}, <redacted>)", self.public().thumbprint())
    }
}

impl SigningJwk {
    /// A new random key pair for `alg` (`ES256` or `EdDSA`).
    pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        loop {
            let mut seed = Zeroizing::new([0u8; 32]);
            getrandom::fill(seed.as_mut()).map_err(KeyError::Random)?;
            let key = match alg {
                Algorithm::EdDsa => PrivateKey::EdDsa(ed25519_dalek::SigningKey::from_bytes(&seed)),
                Algorithm::Es256 => match p256::ecdsa::SigningKey::from_slice(seed.as_ref()) {
                    Ok(k) => PrivateKey::Es256(k),
                    // Zero or above the group order (probability about 2^-32): draw again.
                    Err(_) => continue,
                },
                Algorithm::Hs256 => return Err(KeyError::Format("asymmetric algorithm (ES256 or EdDSA)")),
            };
            return Ok(Self { key });
        }
    }

    /// Reads a private JWK (`d` and the public members, which must match).
    pub fn parse(json: &str) -> Result<Self, JwkError> {
        #[derive(Deserialize)]
        struct WithD {
            d: Option<String>,
        }
        if json.len() > MAX_JWK_BYTES {
            return Err(JwkError::TooLong);
        }
        let with_d: WithD = serde_json::from_str(json).map_err(|_| JwkError::NotJwk)?;
        let d = Zeroizing::new(with_d.d.ok_or(JwkError::Missing("d"))?);
        let raw: RawJwk = serde_json::from_str(json).map_err(|_| JwkError::NotJwk)?;
        let public = PublicJwk::from_raw(&RawJwk { d: None, ..raw })?;
        let d = Zeroizing::new(coordinate(Some(&d), "d")?);
        let key = match public.algorithm() {
            Algorithm::Es256 => PrivateKey::Es256(
                p256::ecdsa::SigningKey::from_slice(d.as_ref()).map_err(|_| JwkError::InvalidPoint("P-256"))?,
            ),
            _ => PrivateKey::EdDsa(ed25519_dalek::SigningKey::from_bytes(&d)),
        };
        let parsed = Self { key };
        if parsed.public() != public {
            return Err(JwkError::Mismatch("d", "the private key does not belong to the public key given with it"));
        }
        Ok(parsed)
    }

    /// The algorithm it signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.key {
            PrivateKey::Es256(_) => Algorithm::Es256,
            PrivateKey::EdDsa(_) => Algorithm::EdDsa,
        }
    }

    /// Its public key.
    pub fn public(&self) -> PublicJwk {
        let key = match &self.key {
            PrivateKey::Es256(k) => PublicKey::Es256(*k.verifying_key()),
            PrivateKey::EdDsa(k) => PublicKey::EdDsa(k.verifying_key()),
        };
        PublicJwk { key }
    }

    /// The private JWK's JSON (with `alg`, so libraries such as PyJWT's
    /// `PyJWK` pick the algorithm), in memory that is wiped when dropped.
    pub fn to_json(&self) -> Zeroizing<String> {
        let public = self.public().raw();
        let d = Zeroizing::new(match &self.key {
            PrivateKey::Es256(k) => b64url_encode(&k.to_bytes()),
            PrivateKey::EdDsa(k) => b64url_encode(k.as_bytes()),
        });
        let (crv, kty, x) =
            (public.crv.unwrap_or_default(), public.kty.unwrap_or_default(), public.x.unwrap_or_default());
        let alg = self.algorithm();
        Zeroizing::new(match public.y {
            Some(y) => format!(r#"{{"kty":"{kty}","crv":"{crv}","alg":"{alg}","x":"{x}","y":"{y}","d":"{}"}}"#, *d),
            None => format!(r#"{{"kty":"{kty}","crv":"{crv}","alg":"{alg}","x":"{x}","d":"{}"}}"#, *d),
        })
    }

    /// The JWS signature of `message` (ES256: `r || s`, deterministic per RFC 6979).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            PrivateKey::Es256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_bytes().to_vec()
            }
            PrivateKey::EdDsa(k) => k.sign(message).to_bytes().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// RFC 8037 appendix A.1/A.3: an Ed25519 key and its thumbprint.
    const RFC8037_PUBLIC: &str = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
    const RFC8037_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

    #[test]
    fn rfc8037_key_and_thumbprint() {
        let key = PublicJwk::parse(RFC8037_PUBLIC).unwrap();
        assert_eq!(key.algorithm(), Algorithm::EdDsa);
        assert_eq!(key.thumbprint(), RFC8037_THUMBPRINT);
    }

    #[test]
    fn rfc8037_signature_verifies_and_a_changed_one_does_not() {
        // RFC 8037 A.4: the JWS of "Example of Ed25519 signing".
        let key = PublicJwk::parse(RFC8037_PUBLIC).unwrap();
        let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        let sig =
            b64url_decode("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
                .unwrap();
        assert!(key.verify(input.as_bytes(), &sig));
        let mut bad = sig.clone();
        bad[0] ^= 1;
        assert!(!key.verify(input.as_bytes(), &bad));
        assert!(!key.verify(input.as_bytes(), &sig[..63]));
    }

    #[test]
    fn generated_pairs_sign_verify_and_round_trip() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa] {
            let pair = SigningJwk::generate(alg).unwrap();
            let public = pair.public();
            assert_eq!(public.algorithm(), alg);
            let sig = pair.sign(b"header.payload");
            assert_eq!(sig.len(), 64);
            assert!(public.verify(b"header.payload", &sig));
            assert!(!public.verify(b"header.payloaD", &sig));
            // The private JWK reads back to the same key; the public one serializes canonically.
            let again = SigningJwk::parse(&pair.to_json()).unwrap();
            assert_eq!(again.public(), public);
            let json = serde_json::to_string(&public).unwrap();
            assert_eq!(PublicJwk::parse(&json).unwrap(), public);
            assert!(!json.contains("\"d\""), "{json}");
            // Debug shows no key bytes.
            assert!(!format!("{pair:?}").contains(&*pair.to_json()));
        }
    }

    #[test]
    fn a_private_jwk_is_refused_where_a_public_one_is_expected() {
        let pair = SigningJwk::generate(Algorithm::Es256).unwrap();
        assert_eq!(PublicJwk::parse(&pair.to_json()), Err(JwkError::PrivateKey));
    }

    #[test]
    fn bad_keys_are_refused_with_their_reason() {
        let es = SigningJwk::generate(Algorithm::Es256).unwrap().public();
        let v: serde_json::Value = serde_json::to_value(&es).unwrap();
        let (x, y) = (v["x"].as_str().unwrap(), v["y"].as_str().unwrap());
        let cases = [
            ("\"egs_x\"".to_owned(), "not a JWK"),
            ("{}".to_owned(), "kty must be"),
            (r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#.to_owned(), "RSA"),
            (r#"{"kty":"oct","k":"c2VjcmV0"}"#.to_owned(), "symmetric"),
            (format!(r#"{{"kty":"EC","crv":"P-384","x":"{x}","y":"{y}"}}"#), "P-256"),
            (format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}"}}"#), "\"y\" is missing"),
            (format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{x}"}}"#), "valid public key"),
            (format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}=","y":"{y}"}}"#), "base64url"),
            (format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}","alg":"ES384"}}"#), "ES256"),
            (format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}","use":"enc"}}"#), "sig"),
            // The identity point and a small-order point are not Ed25519 keys.
            (r#"{"kty":"OKP","crv":"Ed25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#.to_owned(), "valid"),
            (r#"{"kty":"OKP","crv":"X25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#.to_owned(), "Ed25519"),
            (format!("{{\"kty\":\"EC\",\"pad\":\"{}\"}}", "a".repeat(MAX_JWK_BYTES)), "2048"),
        ];
        for (json, why) in cases {
            let err = PublicJwk::parse(&json).unwrap_err().to_string();
            assert!(err.contains(why), "{json}: {err}");
        }
        // Extra members a JWK commonly carries are fine.
        let with_extras = format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}","alg":"ES256","use":"sig","kid":"k1","key_ops":["verify"],"ext":true}}"#
        );
        assert_eq!(PublicJwk::parse(&with_extras).unwrap(), es);
    }

    #[test]
    fn a_private_jwk_whose_d_is_not_its_public_key_is_refused() {
        let a = SigningJwk::generate(Algorithm::EdDsa).unwrap();
        let b = SigningJwk::generate(Algorithm::EdDsa).unwrap();
        let mut mixed: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap();
        let b_json: serde_json::Value = serde_json::from_str(&b.to_json()).unwrap();
        mixed["d"] = b_json["d"].clone();
        assert!(matches!(SigningJwk::parse(&mixed.to_string()), Err(JwkError::Mismatch("d", _))));
    }
}
