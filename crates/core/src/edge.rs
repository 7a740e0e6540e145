//! What the edge does for each request, without the I/O: token
//! verification against a credential the caller looks up, and the edge
//! session that lets an embed go on after its first load without its
//! (single-use) token.
//!
//! Sessions are `base64url(JSON) "." base64url(HMAC)` under a key derived
//! from the edge key (the current one seals; either live one opens), bound
//! to one credential, org and secret generation, and short-lived. Every
//! request on a session re-runs the credential checks (the generation still
//! live, org, privilege, revocation and cutoff, origin, owner rule) against
//! the *current* state, so revoking a credential or retiring the secret that
//! opened a session ends it at the next request.

use serde::{Deserialize, Serialize};

use crate::credential::{CredentialRecord, KeyRing};
use crate::error::VerifyError;
use crate::jws::{b64url_decode, b64url_encode, Hs256Key};
use crate::keys::KeySet;
use crate::secret::EdgeKey;
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
    /// The generation of the secret that signed the opening token: retiring
    /// it ends the session. (0 in sessions from before generations were kept:
    /// never live, so they end.)
    #[serde(rename = "g", default)]
    pub generation: u32,
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
    /// One per configured edge key, current (the sealing one) first.
    session_keys: Vec<Hs256Key>,
}

impl EdgeVerifier {
    /// A verifier whose session keys derive from the edge's keys: sessions
    /// are sealed under the current one and opened under any.
    pub fn new(edge_keys: &KeySet<EdgeKey>, validation: Validation) -> Self {
        let session_keys = edge_keys.iter().map(|(_, k)| Hs256Key::new(k.session_key().as_slice())).collect();
        Self { validation, session_keys }
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
            generation: token.generation(),
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
        let tag = b64url_encode(&self.session_keys.first()?.sign(payload.as_bytes()));
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
        // Every key is tried (at most two), so the time taken does not tell which one matched.
        let opened = self.session_keys.iter().fold(false, |ok, k| k.verify(payload.as_bytes(), &tag) | ok);
        if !opened {
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
    /// retired secret, a demoted or deactivated owner or a new policy ends
    /// the session at its next request: the secret generation still live
    /// (`bad_signature` otherwise, as its tokens get), org, owner rule, then
    /// org, privilege, revocation and cutoff, origin, with the §4 codes.
    pub fn check_session(
        session: &Session,
        record: Option<&CredentialRecord>,
        ctx: &EmbedContext<'_>,
    ) -> Result<(), VerifyError> {
        let record = record.filter(|r| r.client_id.as_str() == session.client_id).ok_or(VerifyError::UnknownClient)?;
        if !record.is_live(session.generation) {
            return Err(VerifyError::BadSignature);
        }
        if record.org.as_str() != session.org {
            return Err(VerifyError::OrgMismatch);
        }
        check_owner(record, &session.sub, session.account_type, !session.teams.is_empty())?;
        check_embed(record, ctx, session.iat)
    }

    /// The session rule of a refresh (`:refresh=1`, architecture.md §5): a
    /// token sent to extend a live `session` in place must be of the same
    /// credential (so of the same org) and name the same user (`sub`, both
    /// canonical), or it is `impersonation_not_allowed`: a refresh extends a
    /// session, it never switches whose it is. Call it after the token's own
    /// checks and before its `jti` is spent, so a refused refresh spends
    /// nothing.
    pub fn check_refresh(session: &Session, token: &VerifiedToken<'_>) -> Result<(), VerifyError> {
        let record = token.credential();
        let same = record.client_id.as_str() == session.client_id
            && record.org.as_str() == session.org
            && token.sub() == session.sub.as_str();
        if same {
            Ok(())
        } else {
            Err(VerifyError::ImpersonationNotAllowed)
        }
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
    use crate::keys::OrgKey;
    use crate::{sign, Claims, ClientId};

    const NOW: i64 = 1_700_000_000;

    /// An edge with its key, an org key standing in for the admin, and a record.
    struct Setup {
        edge: EdgeVerifier,
        edge_key: EdgeKey,
        org_key: OrgKey,
        record: CredentialRecord,
    }

    impl Setup {
        fn new() -> Self {
            let edge_key = EdgeKey::generate().unwrap();
            let edge = EdgeVerifier::new(&KeySet::single(edge_key.clone()), Validation::default());
            let owner = Owner { email: "admin@acme.test".into(), account_type: AccountType::Admin };
            let record = CredentialRecord::new(ClientId::generate().unwrap(), "acme".parse().unwrap(), owner);
            Self { edge, edge_key, org_key: OrgKey::generate().unwrap(), record }
        }

        fn secret(&self, generation: u32) -> crate::EmbedSecret {
            self.org_key.derive_embed_secret(&self.record.org, &self.record.client_id, generation)
        }

        /// What the edge builds from the admin's wrapped secrets.
        fn keys(&self) -> KeyRing {
            let secrets: Vec<SecretGeneration> = self
                .record
                .generations
                .iter()
                .map(|&g| SecretGeneration {
                    generation: g,
                    public_key: None,
                    key: Some(
                        self.edge_key
                            .wrap_secret(&self.record.org, &self.record.client_id, g, &self.secret(g))
                            .unwrap(),
                    ),
                })
                .collect();
            let (ring, failure) = KeyRing::unwrap(
                &KeySet::single(self.edge_key.clone()),
                &self.record.org,
                &self.record.client_id,
                &secrets,
            );
            assert!(failure.is_none());
            ring
        }

        fn token(&self, generation: u32) -> String {
            sign(&Claims::new("ana@acme.test", NOW, 3600).unwrap(), &self.record.client_id, &self.secret(generation))
                .unwrap()
        }
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
    fn verifies_with_unwrapped_keys_and_follows_rotation() {
        let mut s = Setup::new();
        let ctx = EmbedContext { org: Some("acme"), origin: None };
        let keys = s.keys();
        let ok = verify(&s.edge, &s.token(1), &s.record, &keys, &ctx).unwrap();
        assert_eq!((ok.sub().as_ref(), ok.generation()), ("ana@acme.test", 1));
        assert_eq!(verify(&s.edge, &s.token(2), &s.record, &keys, &ctx).unwrap_err(), VerifyError::BadSignature);
        s.record.generations.insert(0, 2);
        let keys = s.keys();
        assert_eq!(
            verify(&s.edge, &s.token(1), &s.record, &keys, &ctx).unwrap().generation(),
            1,
            "previous still live"
        );
        assert_eq!(verify(&s.edge, &s.token(2), &s.record, &keys, &ctx).unwrap().generation(), 2, "new secret live");
        s.record.generations.truncate(1);
        let keys = s.keys();
        assert_eq!(verify(&s.edge, &s.token(1), &s.record, &keys, &ctx).unwrap_err(), VerifyError::BadSignature);
    }

    #[test]
    fn a_secret_the_edge_cannot_open_verifies_nothing() {
        let s = Setup::new();
        let stranger = EdgeKey::generate().unwrap();
        let g = 1;
        let secrets = [
            SecretGeneration::wrapped(
                g,
                stranger.wrap_secret(&s.record.org, &s.record.client_id, g, &s.secret(g)).unwrap(),
            ),
            SecretGeneration { generation: 2, key: None, public_key: None },
        ];
        let (ring, failure) =
            KeyRing::unwrap(&KeySet::single(s.edge_key.clone()), &s.record.org, &s.record.client_id, &secrets);
        assert!(ring.is_empty());
        assert!(failure.is_some());
        let ctx = EmbedContext::default();
        assert_eq!(verify(&s.edge, &s.token(1), &s.record, &ring, &ctx).unwrap_err(), VerifyError::BadSignature);
    }

    #[test]
    fn sessions_end_with_revocation_expiry_and_tampering() {
        let mut s = Setup::new();
        let ctx = EmbedContext { org: Some("acme"), origin: None };
        let keys = s.keys();
        let tok = s.token(1);
        let verified = verify(&s.edge, &tok, &s.record, &keys, &ctx).unwrap();
        let cookie = s.edge.seal_session(&EdgeVerifier::session_for(&verified, NOW, 300), NOW).unwrap();
        let current = |r: &CredentialRecord| {
            let r = r.clone();
            move |_: &Session| Some(r)
        };
        let edge = &s.edge;
        let session = edge.resume_session(&cookie, NOW + 10, &ctx, current(&s.record)).unwrap();
        assert_eq!((session.sub.as_str(), session.exp, session.generation), ("ana@acme.test", NOW + 300, 1));
        assert_eq!(
            edge.resume_session(&cookie, NOW + 300, &ctx, current(&s.record)).unwrap_err(),
            VerifyError::Expired
        );
        let other = EmbedContext { org: Some("globex"), origin: None };
        assert_eq!(
            edge.resume_session(&cookie, NOW, &other, current(&s.record)).unwrap_err(),
            VerifyError::OrgMismatch
        );
        assert_eq!(edge.resume_session(&cookie, NOW, &ctx, |_| None).unwrap_err(), VerifyError::UnknownClient);
        // Any changed byte of the payload or tag is refused.
        for i in 0..cookie.len() {
            let mut bytes = cookie.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(bytes).unwrap();
            if forged != cookie {
                assert!(edge.resume_session(&forged, NOW, &ctx, current(&s.record)).is_err(), "byte {i}");
            }
        }
        // A session of another edge key is refused.
        let stranger = EdgeVerifier::new(&KeySet::single(EdgeKey::generate().unwrap()), Validation::default());
        assert_eq!(stranger.open_session(&cookie, NOW).unwrap_err(), VerifyError::BadSignature);
        // Revocation ends it.
        s.record.revoked_at = Some(NOW + 1);
        assert_eq!(
            edge.resume_session(&cookie, NOW + 2, &ctx, current(&s.record)).unwrap_err(),
            VerifyError::CredentialRevoked
        );
    }

    #[test]
    fn retiring_the_secret_that_opened_a_session_ends_it() {
        let mut s = Setup::new();
        let ctx = EmbedContext::default();
        let keys = s.keys();
        let verified = verify(&s.edge, &s.token(1), &s.record, &keys, &ctx).unwrap();
        let cookie = s.edge.seal_session(&EdgeVerifier::session_for(&verified, NOW, 300), NOW).unwrap();
        // Rotated: generation 1 is still live, so the session goes on.
        s.record.generations = vec![2, 1];
        let now = s.record.clone();
        assert!(s.edge.resume_session(&cookie, NOW + 1, &ctx, |_| Some(now)).is_ok());
        // The previous secret is retired: its sessions end as its tokens do.
        s.record.generations = vec![2];
        let now = s.record.clone();
        assert_eq!(
            s.edge.resume_session(&cookie, NOW + 2, &ctx, |_| Some(now)).unwrap_err(),
            VerifyError::BadSignature
        );
    }

    #[test]
    fn sessions_survive_an_edge_key_rotation_while_both_keys_are_live() {
        let s = Setup::new();
        let ctx = EmbedContext::default();
        let keys = s.keys();
        let verified = verify(&s.edge, &s.token(1), &s.record, &keys, &ctx).unwrap();
        let cookie = s.edge.seal_session(&EdgeVerifier::session_for(&verified, NOW, 300), NOW).unwrap();
        let new_key = EdgeKey::generate().unwrap();
        let both = EdgeVerifier::new(
            &KeySet::from_keys(vec![new_key.clone(), s.edge_key.clone()]).unwrap(),
            Validation::default(),
        );
        let record = s.record.clone();
        assert!(both.resume_session(&cookie, NOW + 1, &ctx, |_| Some(record)).is_ok(), "old key still opens");
        let resealed = both.seal_session(&EdgeVerifier::session_for(&verified, NOW, 300), NOW).unwrap();
        assert_eq!(
            s.edge.open_session(&resealed, NOW).unwrap_err(),
            VerifyError::BadSignature,
            "sealed under the new key"
        );
        let only_new = EdgeVerifier::new(&KeySet::single(new_key), Validation::default());
        assert_eq!(only_new.open_session(&cookie, NOW).unwrap_err(), VerifyError::BadSignature, "old key retired");
    }

    #[test]
    fn a_refresh_extends_the_same_user_only() {
        let s = Setup::new();
        let ctx = EmbedContext::default();
        let keys = s.keys();
        let first = verify(&s.edge, &s.token(1), &s.record, &keys, &ctx).unwrap();
        let session = EdgeVerifier::session_for(&first, NOW, 6);
        assert_eq!(session.exp, NOW + 6);
        // A new token for the same user and credential: accepted, and the new session runs from now.
        let again = verify(&s.edge, &s.token(1), &s.record, &keys, &ctx).unwrap();
        assert_eq!(EdgeVerifier::check_refresh(&session, &again), Ok(()));
        assert_eq!(EdgeVerifier::session_for(&again, NOW + 5, 6).exp, NOW + 11);
        // The same user in another case is the same canonical user.
        let upper = sign(&Claims::new("Ana@ACME.test", NOW, 3600).unwrap(), &s.record.client_id, &s.secret(1)).unwrap();
        let upper = verify(&s.edge, &upper, &s.record, &keys, &ctx).unwrap();
        assert_eq!(EdgeVerifier::check_refresh(&session, &upper), Ok(()));
        // Another user of the same credential (its owner is an admin, so the token itself is fine).
        let bob = sign(&Claims::new("bob@acme.test", NOW, 3600).unwrap(), &s.record.client_id, &s.secret(1)).unwrap();
        let bob = verify(&s.edge, &bob, &s.record, &keys, &ctx).unwrap();
        assert_eq!(EdgeVerifier::check_refresh(&session, &bob), Err(VerifyError::ImpersonationNotAllowed));
        // The same user through another credential.
        let mut other = session.clone();
        other.client_id = ClientId::generate().unwrap().as_str().to_owned();
        assert_eq!(EdgeVerifier::check_refresh(&other, &again), Err(VerifyError::ImpersonationNotAllowed));
        let mut other = session;
        other.org = "globex".into();
        assert_eq!(EdgeVerifier::check_refresh(&other, &again), Err(VerifyError::ImpersonationNotAllowed));
    }

    #[test]
    fn a_session_never_outlives_its_token_or_its_owner_rule() {
        let mut s = Setup::new();
        let ctx = EmbedContext::default();
        let keys = s.keys();
        let tok = s.token(1);
        let parsed = UnverifiedToken::parse(&tok, crate::MAX_TOKEN_BYTES).unwrap();
        let verified = s.edge.verify(parsed, NOW + 3590, &ctx, |_| Some((&s.record, &keys))).unwrap();
        let cookie = s.edge.seal_session(&EdgeVerifier::session_for(&verified, NOW + 3590, 600), NOW + 3590).unwrap();
        let now = s.record.clone();
        assert_eq!(s.edge.resume_session(&cookie, NOW + 3599, &ctx, |_| Some(now)).unwrap().exp, NOW + 3600);
        // The owner is demoted: sessions for other users end.
        s.record.owner.account_type = AccountType::Creator;
        let record = s.record.clone();
        assert_eq!(
            s.edge.resume_session(&cookie, NOW + 3591, &ctx, |_| Some(record)).unwrap_err(),
            VerifyError::ImpersonationNotAllowed
        );
    }
}
