//! What the edge hands the origin behind it (architecture.md §5): the
//! identity headers, encoded so that no claim can break a request; the
//! origin's own Content-Security-Policy with the credential's
//! `frame-ancestors`; and the signed identity assertion
//! (`x-embedgate-assertion`), an EdDSA JWT the origin verifies against the
//! edge's published keys (`GET /.well-known/embedgate/jwks.json`).
//!
//! The assertion key is derived from each edge key
//! (`HMAC-SHA256(edge key, "embedgate/origin-assertion/v1")` as the Ed25519
//! seed): the current edge key signs, and both live ones are published, so
//! rotating the edge key rotates the assertion key with the same overlap.
//! Whoever holds an edge key can mint assertions, which gives nothing it
//! did not have: the same key opens the secrets that sign embed tokens.

use std::borrow::Cow;
use std::fmt;

use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::edge::Session;
use crate::jws::b64url_encode;
use crate::keys::KeySet;
use crate::public_key::PublicJwk;
use crate::secret::EdgeKey;
use crate::types::AccountType;

/// The request header carrying the signed identity assertion.
pub const ASSERTION_HEADER: &str = "x-embedgate-assertion";
/// Where the edge publishes the assertion's public keys.
pub const JWKS_PATH: &str = "/.well-known/embedgate/jwks.json";
/// How long an assertion is valid: the origin has this long to receive it.
pub const ASSERTION_TTL_S: i64 = 60;

/// A value for an `x-embed-*` header: printable ASCII as is, every other
/// byte of its UTF-8 (and `%` itself) percent-encoded, so a name in any
/// script reaches the origin intact and decodes with `decodeURIComponent`
/// or `urllib.parse.unquote`. Borrowed when nothing needs encoding.
pub fn header_value(value: &str) -> Cow<'_, str> {
    let plain = |b: u8| (0x20..0x7f).contains(&b) && b != b'%';
    if value.bytes().all(plain) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if plain(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    Cow::Owned(out)
}

/// The Content-Security-Policy of a page the origin served: its own
/// policies kept, each without a `frame-ancestors` of its own, and the
/// credential's `frame_ancestors` directive added to the first (alone when
/// the origin sent none). Who may frame an embed is the credential's to
/// say; everything else the origin's.
pub fn with_frame_ancestors(origin_policy: Option<&str>, frame_ancestors: &str) -> String {
    let mut policies: Vec<String> = origin_policy
        .unwrap_or_default()
        .split(',')
        .map(|policy| {
            policy
                .split(';')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .filter(|d| {
                    let name = d.split_ascii_whitespace().next().unwrap_or_default();
                    !name.eq_ignore_ascii_case("frame-ancestors")
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|p| !p.is_empty())
        .collect();
    match policies.first_mut() {
        Some(first) => {
            first.push_str("; ");
            first.push_str(frame_ancestors);
        }
        None => policies.push(frame_ancestors.to_owned()),
    }
    policies.join(", ")
}

/// The claims of an identity assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssertionClaims<'a> {
    /// The edge that verified the embed (its origin).
    pub iss: &'a str,
    /// The origin it is meant for (`ORIGIN_URL`).
    pub aud: &'a str,
    /// The embed user's canonical email.
    pub sub: &'a str,
    /// The org.
    pub org: &'a str,
    /// The credential that signed the embed token.
    pub client_id: &'a str,
    /// The embed user's account type, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_type: Option<AccountType>,
    /// The embed user's teams.
    pub teams: &'a [String],
    /// The embed path the identity was verified for.
    pub path: &'a str,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at: `iat` + [`ASSERTION_TTL_S`].
    pub exp: i64,
    /// A unique id (the origin may refuse one seen before).
    pub jti: &'a str,
}

impl<'a> AssertionClaims<'a> {
    /// The claims for `session`'s user loading `path` from edge `iss`, for origin `aud`, at `now`.
    pub fn for_session(
        session: &'a Session,
        iss: &'a str,
        aud: &'a str,
        path: &'a str,
        jti: &'a str,
        now: i64,
    ) -> Self {
        Self {
            iss,
            aud,
            sub: &session.sub,
            org: &session.org,
            client_id: &session.client_id,
            account_type: session.account_type,
            teams: &session.teams,
            path,
            iat: now,
            exp: now.saturating_add(ASSERTION_TTL_S),
            jti,
        }
    }
}

/// A fresh assertion id: 128 random bits, base64url (`None` if the random source fails).
pub fn new_assertion_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(b64url_encode(&bytes))
}

/// One assertion key: the Ed25519 key pair derived from an edge key, and
/// its `kid` (the RFC 7638 thumbprint of its public JWK).
struct AssertionKey {
    signing: SigningKey,
    kid: String,
}

impl AssertionKey {
    fn derive(edge_key: &EdgeKey) -> Self {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(edge_key.expose_bytes()).expect("HMAC accepts any key length");
        mac.update(b"embedgate/origin-assertion/v1\0");
        let seed = zeroize::Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()));
        let signing = SigningKey::from_bytes(&seed);
        let kid = PublicJwk::ed25519(signing.verifying_key()).thumbprint();
        Self { signing, kid }
    }

    /// Its public JWK with `kid`, `alg` and `use`, as the key set publishes it.
    fn jwk(&self) -> serde_json::Value {
        let mut jwk = serde_json::to_value(PublicJwk::ed25519(self.signing.verifying_key())).unwrap_or_default();
        jwk["kid"] = self.kid.clone().into();
        jwk["alg"] = "EdDSA".into();
        jwk["use"] = "sig".into();
        jwk
    }
}

/// The edge's assertion signer: one key per live edge key, the current first.
pub struct AssertionSigner {
    keys: Vec<AssertionKey>,
}

impl fmt::Debug for AssertionSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionSigner").field("kids", &self.keys.iter().map(|k| &k.kid).collect::<Vec<_>>()).finish()
    }
}

impl AssertionSigner {
    /// The signer of an edge holding `edge_keys`.
    pub fn new(edge_keys: &KeySet<EdgeKey>) -> Self {
        Self { keys: edge_keys.iter().map(|(_, k)| AssertionKey::derive(k)).collect() }
    }

    /// The `kid`s, current first.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }

    /// The public keys as a JWK Set (RFC 7517), current first.
    pub fn jwks(&self) -> String {
        serde_json::json!({ "keys": self.keys.iter().map(AssertionKey::jwk).collect::<Vec<_>>() }).to_string()
    }

    /// The compact JWS of `claims` (`alg` EdDSA), signed with the current key.
    pub fn sign(&self, claims: &AssertionClaims<'_>) -> String {
        let key = &self.keys[0];
        let header = serde_json::json!({ "alg": "EdDSA", "typ": "JWT", "kid": key.kid }).to_string();
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        crate::sign::compact(header.as_bytes(), &payload, |input| key.signing.sign(input).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    use super::*;
    use crate::jws::b64url_decode;

    #[test]
    fn header_values_survive_any_script_and_never_carry_a_line_break() {
        assert_eq!(header_value("kim@example.com"), "kim@example.com");
        assert!(matches!(header_value("kim@example.com"), Cow::Borrowed(_)));
        assert_eq!(header_value("józef@例え.jp"), "j%C3%B3zef@%E4%BE%8B%E3%81%88.jp");
        assert_eq!(header_value("a%b"), "a%25b");
        assert_eq!(header_value("x\r\nSet-Cookie: a=b"), "x%0D%0ASet-Cookie: a=b");
        assert_eq!(header_value(r#"["sales","ventas é"]"#), r#"["sales","ventas %C3%A9"]"#);
    }

    #[test]
    fn the_credential_says_who_frames_and_the_origin_says_the_rest() {
        let fa = "frame-ancestors https://app.example.com";
        assert_eq!(with_frame_ancestors(None, fa), fa);
        assert_eq!(with_frame_ancestors(Some("  "), fa), fa);
        assert_eq!(
            with_frame_ancestors(Some("default-src 'self'; img-src https:"), fa),
            "default-src 'self'; img-src https:; frame-ancestors https://app.example.com"
        );
        // The origin's own frame-ancestors (any case) gives way to the credential's.
        assert_eq!(
            with_frame_ancestors(Some("Frame-Ancestors *; script-src 'none';"), fa),
            "script-src 'none'; frame-ancestors https://app.example.com"
        );
        // Several policies: each keeps its directives and loses its frame-ancestors.
        assert_eq!(
            with_frame_ancestors(Some("default-src 'self', frame-ancestors 'none'; img-src data:"), fa),
            "default-src 'self'; frame-ancestors https://app.example.com, img-src data:"
        );
    }

    #[test]
    fn an_assertion_verifies_under_the_published_key_and_rotates_with_the_edge_key() {
        let old = EdgeKey::generate().unwrap();
        let new = EdgeKey::generate().unwrap();
        let before = AssertionSigner::new(&KeySet::single(old.clone()));
        let signer = AssertionSigner::new(&KeySet::from_keys(vec![new, old]).unwrap());
        // The old key stays published while it is live; the new one signs.
        assert_eq!(signer.kids()[1], before.kids()[0]);
        assert_ne!(signer.kids()[0], signer.kids()[1]);

        let session = Session {
            client_id: "c".repeat(32),
            org: "acme".into(),
            generation: 1,
            sub: "józef@example.com".into(),
            account_type: Some(AccountType::Viewer),
            teams: vec!["sales".into()],
            iat: 1_700_000_000,
            exp: 1_700_000_600,
        };
        let claims = AssertionClaims::for_session(
            &session,
            "https://edge.example",
            "https://origin.example",
            "/acme/workbook/w1",
            "j1",
            1_700_000_010,
        );
        let jwt = signer.sign(&claims);
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value = serde_json::from_slice(&b64url_decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "EdDSA");
        let jwks: serde_json::Value = serde_json::from_str(&signer.jwks()).unwrap();
        let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).unwrap();
        assert_eq!(jwk["kid"], signer.kids()[0]);
        let x: [u8; 32] = b64url_decode(jwk["x"].as_str().unwrap()).unwrap().try_into().unwrap();
        let sig: [u8; 64] = b64url_decode(parts[2]).unwrap().try_into().unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        let key = VerifyingKey::from_bytes(&x).unwrap();
        assert!(key.verify(input.as_bytes(), &Signature::from_bytes(&sig)).is_ok());
        // A changed claim does not verify.
        let forged = input.replace(parts[1], &b64url_encode(br#"{"sub":"ceo@example.com"}"#));
        assert!(key.verify(forged.as_bytes(), &Signature::from_bytes(&sig)).is_err());
        let payload: serde_json::Value = serde_json::from_slice(&b64url_decode(parts[1]).unwrap()).unwrap();
        assert_eq!(payload["sub"], "józef@example.com");
        assert_eq!(payload["aud"], "https://origin.example");
        assert_eq!(payload["path"], "/acme/workbook/w1");
        assert_eq!(payload["exp"], 1_700_000_070);
        assert_eq!(payload["account_type"], "viewer");
    }
}
