//! What the edge does for each request, without the I/O: token
//! verification against a credential the caller looks up, and the edge
//! session that lets an embed go on after its first load without its
//! (single-use) token.
//!
//! Sessions are `base64url(JSON) "." base64url(HMAC)` under a key derived
//! from the master key, bound to one credential and org, and short-lived.
//! Every request on a session re-runs the credential checks (org, privilege,
//! revocation and cutoff, origin, owner rule) against the *current* state, so
//! revoking a credential ends its sessions at the next request.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::credential::{CredentialRecord, KeyRing};
use crate::error::VerifyError;
use crate::jws::{b64url_decode, b64url_encode, Hs256Key};
use crate::secret::MasterKey;
use crate::types::AccountType;
use crate::unverified::UnverifiedToken;
use crate::validation::{check_embed, check_owner, EmbedContext, Validation, VerifiedToken};

/// The longest edge session, in seconds (it never outlives its token either).
pub const MAX_SESSION_TTL_S: i64 = 600;
/// The longest session cookie value minted or accepted, in bytes.
pub const MAX_SESSION_BYTES: usize = 3072;
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "embedgate_session";

/// The embed user of an edge session: what a verified token proved, carried on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The credential that signed the token.
    #[serde(rename = "cid")]
    pub client_id: String,
    /// The credential's org.
    pub org: String,
    /// The embed user.
    pub sub: String,
    /// The embed user's account type, if the token named one.
    #[serde(rename = "at", default, skip_serializing_if = "Option::is_none")]
    pub account_type: Option<AccountType>,
    /// The embed user's teams.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<String>,
    /// The token's `iat` (the credential's cutoff applies to it).
    pub iat: i64,
    /// When the session ends (Unix seconds).
    pub exp: i64,
}

/// The edge's verifier: validation settings and the session key. It holds
/// no credential: the caller looks each up (the isolate's
/// [`crate::cache::CredentialCache`], backed by the regional stores).
#[derive(Debug, Clone)]
pub struct EdgeVerifier {
    validation: Validation,
    session_key: Hs256Key,
}

impl EdgeVerifier {
    /// A verifier whose session key is derived from `master`.
    pub fn new(master: &MasterKey, validation: Validation) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master.expose_bytes()).expect("any key length");
        mac.update(b"embedgate/edge-session/v1\0");
        let session_key = Hs256Key::new(&mac.finalize().into_bytes());
        Self { validation, session_key }
    }

    /// The validation settings.
    pub fn validation(&self) -> &Validation {
        &self.validation
    }

    /// Verifies a parsed embed token (architecture.md §4 order, everything
    /// but replay, which needs strongly consistent storage) against the
    /// credential `lookup` gives for its `kid`.
    pub fn verify<'k>(
        &self,
        token: UnverifiedToken<'_>,
        now: i64,
        ctx: &EmbedContext<'_>,
        lookup: impl FnOnce(&str) -> Option<(&'k CredentialRecord, &'k KeyRing)>,
    ) -> Result<VerifiedToken<'k>, VerifyError> {
        self.validation.verify_parsed(token, now, ctx, lookup)
    }

    /// The session of the user `token` proved, ending after `ttl_s` (at most
    /// [`MAX_SESSION_TTL_S`]) or at the token's `exp`, whichever is first.
    pub fn session_for(token: &VerifiedToken<'_>, now: i64, ttl_s: i64) -> Session {
        let record = token.credential();
        Session {
            client_id: record.client_id.as_str().to_owned(),
            org: record.org.as_str().to_owned(),
            sub: token.sub().into_owned(),
            account_type: token.account_type(),
            teams: token.teams(),
            iat: token.iat(),
            exp: now.saturating_add(ttl_s.clamp(0, MAX_SESSION_TTL_S)).min(token.exp()),
        }
    }

    /// The cookie value carrying `session`; `None` when the session has
    /// already ended at `now` or would not fit in [`MAX_SESSION_BYTES`].
    pub fn seal_session(&self, session: &Session, now: i64) -> Option<String> {
        if session.exp <= now {
            return None;
        }
        let payload = b64url_encode(&serde_json::to_vec(session).ok()?);
        let tag = b64url_encode(&self.session_key.sign(payload.as_bytes()));
        let cookie = format!("{payload}.{tag}");
        (cookie.len() <= MAX_SESSION_BYTES).then_some(cookie)
    }

    /// Opens a session cookie: MAC (constant time), then expiry. A forged or
    /// garbled cookie is `malformed_token` or `bad_signature`, an ended one
    /// `expired`. The credential checks follow with [`EdgeVerifier::check_session`].
    pub fn open_session(&self, cookie: &str, now: i64) -> Result<Session, VerifyError> {
        const GARBLED: VerifyError = VerifyError::MalformedToken("the session cookie is garbled");
        if cookie.len() > MAX_SESSION_BYTES {
            return Err(GARBLED);
        }
        let (payload, tag) = cookie.split_once('.').ok_or(GARBLED)?;
        let tag = b64url_decode(tag).ok_or(GARBLED)?;
        if !self.session_key.verify(payload.as_bytes(), &tag) {
            return Err(VerifyError::BadSignature);
        }
        let session: Session =
            b64url_decode(payload).and_then(|json| serde_json::from_slice(&json).ok()).ok_or(GARBLED)?;
        if now >= session.exp {
            return Err(VerifyError::Expired);
        }
        Ok(session)
    }

    /// Re-runs the credential checks for an open session against the
    /// credential's current `record` (`None`: unknown), so a revocation, a
    /// demoted or deactivated owner or a new policy ends the session at its
    /// next request: org, owner rule, then org, privilege, revocation and
    /// cutoff, origin, with the §4 codes.
    pub fn check_session(
        session: &Session,
        record: Option<&CredentialRecord>,
        ctx: &EmbedContext<'_>,
    ) -> Result<(), VerifyError> {
        let record = record.filter(|r| r.client_id.as_str() == session.client_id).ok_or(VerifyError::UnknownClient)?;
        if record.org.as_str() != session.org {
            return Err(VerifyError::OrgMismatch);
        }
        check_owner(record, &session.sub, session.account_type)?;
        check_embed(record, ctx, session.iat)
    }

    /// [`EdgeVerifier::open_session`] then [`EdgeVerifier::check_session`].
    pub fn resume_session(
        &self,
        cookie: &str,
        now: i64,
        ctx: &EmbedContext<'_>,
        record: impl FnOnce(&Session) -> Option<CredentialRecord>,
    ) -> Result<Session, VerifyError> {
        let session = self.open_session(cookie, now)?;
        Self::check_session(&session, record(&session).as_ref(), ctx)?;
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::credential::{Owner, SecretGeneration};
    use crate::{sign, Claims, ClientId};

    const NOW: i64 = 1_700_000_000;

    fn setup() -> (EdgeVerifier, MasterKey, CredentialRecord) {
        let master = MasterKey::generate().unwrap();
        let edge = EdgeVerifier::new(&master, Validation::default());
        let owner = Owner { email: "admin@acme.test".into(), account_type: AccountType::Admin };
        let record = CredentialRecord::new(ClientId::generate().unwrap(), "acme".parse().unwrap(), owner);
        (edge, master, record)
    }

    fn token(master: &MasterKey, record: &CredentialRecord, generation: u32) -> String {
        let secret = master.derive_embed_secret(crate::Kdf::V1, &record.client_id, generation);
        sign(&Claims::new("ana@acme.test", NOW, 3600).unwrap(), &record.client_id, &secret).unwrap()
    }

    fn verify<'k>(
        edge: &EdgeVerifier,
        token: &str,
        record: &'k CredentialRecord,
        keys: &'k KeyRing,
        ctx: &EmbedContext<'_>,
    ) -> Result<VerifiedToken<'k>, VerifyError> {
        let parsed = UnverifiedToken::parse(token, crate::MAX_TOKEN_BYTES)?;
        edge.verify(parsed, NOW, ctx, |kid| (kid == record.client_id.as_str()).then_some((record, keys)))
    }

    #[test]
    fn verifies_with_derived_keys_and_follows_rotation() {
        let (edge, master, mut record) = setup();
        let ctx = EmbedContext { org: Some("acme"), origin: None };
        let keys = KeyRing::derive(&master, &record);
        assert_eq!(verify(&edge, &token(&master, &record, 1), &record, &keys, &ctx).unwrap().sub(), "ana@acme.test");
        assert_eq!(
            verify(&edge, &token(&master, &record, 2), &record, &keys, &ctx).unwrap_err(),
            VerifyError::BadSignature
        );
        record.secrets.insert(0, SecretGeneration { generation: 2, kdf: crate::Kdf::V1 });
        let keys = KeyRing::derive(&master, &record);
        assert!(verify(&edge, &token(&master, &record, 1), &record, &keys, &ctx).is_ok(), "previous secret still live");
        assert!(verify(&edge, &token(&master, &record, 2), &record, &keys, &ctx).is_ok(), "new secret live");
        record.secrets.truncate(1);
        let keys = KeyRing::derive(&master, &record);
        assert_eq!(
            verify(&edge, &token(&master, &record, 1), &record, &keys, &ctx).unwrap_err(),
            VerifyError::BadSignature
        );
    }

    #[test]
    fn sessions_end_with_revocation_expiry_and_tampering() {
        let (edge, master, mut record) = setup();
        let ctx = EmbedContext { org: Some("acme"), origin: None };
        let keys = KeyRing::derive(&master, &record);
        let tok = token(&master, &record, 1);
        let verified = verify(&edge, &tok, &record, &keys, &ctx).unwrap();
        let cookie = edge.seal_session(&EdgeVerifier::session_for(&verified, NOW, 300), NOW).unwrap();
        let current = |r: &CredentialRecord| {
            let r = r.clone();
            move |_: &Session| Some(r)
        };
        let session = edge.resume_session(&cookie, NOW + 10, &ctx, current(&record)).unwrap();
        assert_eq!((session.sub.as_str(), session.exp), ("ana@acme.test", NOW + 300));
        assert_eq!(edge.resume_session(&cookie, NOW + 300, &ctx, current(&record)).unwrap_err(), VerifyError::Expired);
        let other = EmbedContext { org: Some("globex"), origin: None };
        assert_eq!(edge.resume_session(&cookie, NOW, &other, current(&record)).unwrap_err(), VerifyError::OrgMismatch);
        assert_eq!(edge.resume_session(&cookie, NOW, &ctx, |_| None).unwrap_err(), VerifyError::UnknownClient);
        // Any changed byte of the payload or tag is refused.
        for i in 0..cookie.len() {
            let mut bytes = cookie.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(bytes).unwrap();
            if forged != cookie {
                assert!(edge.resume_session(&forged, NOW, &ctx, current(&record)).is_err(), "byte {i}");
            }
        }
        // A session of another master key is refused.
        let stranger = EdgeVerifier::new(&MasterKey::generate().unwrap(), Validation::default());
        assert_eq!(stranger.open_session(&cookie, NOW).unwrap_err(), VerifyError::BadSignature);
        // Revocation ends it.
        record.revoked_at = Some(NOW + 1);
        assert_eq!(
            edge.resume_session(&cookie, NOW + 2, &ctx, current(&record)).unwrap_err(),
            VerifyError::CredentialRevoked
        );
    }

    #[test]
    fn a_session_never_outlives_its_token_or_its_owner_rule() {
        let (edge, master, mut record) = setup();
        let ctx = EmbedContext::default();
        let keys = KeyRing::derive(&master, &record);
        let tok = token(&master, &record, 1);
        let parsed = UnverifiedToken::parse(&tok, crate::MAX_TOKEN_BYTES).unwrap();
        let verified = edge.verify(parsed, NOW + 3590, &ctx, |_| Some((&record, &keys))).unwrap();
        let cookie = edge.seal_session(&EdgeVerifier::session_for(&verified, NOW + 3590, 600), NOW + 3590).unwrap();
        let now = record.clone();
        assert_eq!(edge.resume_session(&cookie, NOW + 3599, &ctx, |_| Some(now)).unwrap().exp, NOW + 3600);
        // The owner is demoted: sessions for other users end.
        record.owner.account_type = AccountType::Creator;
        assert_eq!(
            edge.resume_session(&cookie, NOW + 3591, &ctx, |_| Some(record)).unwrap_err(),
            VerifyError::ImpersonationNotAllowed
        );
    }
}
