//! What the verifier knows about one credential: the non-secret record, and
//! the key ring of its live secrets (unwrapped by the edge from what the
//! admin sent it, or given by a host app that holds the secret).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::jws::Hs256Key;
use crate::keys::{KeySet, Wrapped};
use crate::public_key::{Algorithm, PublicJwk};
use crate::rules::{AllowedOrigins, TokenLifetime};
use crate::secret::{EdgeKey, EmbedSecret, KeyError};
use crate::types::{AccountType, ClientId, OrgSlug, Privilege};

/// At most this many secrets are live per credential (current and previous).
pub const MAX_LIVE_SECRETS: usize = 2;

/// The member who owns a credential; their account type bounds what it may sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The owner's email, lower-cased.
    pub email: String,
    /// The owner's account type.
    pub account_type: AccountType,
}

/// One live key as the admin sends it to the edges: its generation and
/// either its HMAC key wrapped under the edge key ([`crate::keys`]) or, for
/// an asymmetric credential, its public key (not secret: sent as is, in the
/// push's authenticated body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretGeneration {
    /// The generation counter (sessions remember the one that opened them).
    pub generation: u32,
    /// The secret, wrapped under an edge key and bound to its org, client ID
    /// and generation. `None` for a public key, and in records stored before
    /// the key hierarchy, which verify nothing until replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Wrapped>,
    /// The public key of an asymmetric credential's generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicJwk>,
}

impl SecretGeneration {
    /// A generation of a generated secret, wrapped for the edges.
    pub fn wrapped(generation: u32, key: Wrapped) -> Self {
        Self { generation, key: Some(key), public_key: None }
    }

    /// A generation of an asymmetric credential: its public key.
    pub fn public(generation: u32, key: PublicJwk) -> Self {
        Self { generation, key: None, public_key: Some(key) }
    }
}

/// Optional per-credential policy (architecture.md §2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Origins allowed to frame embeds signed by this credential (empty: any).
    pub allowed_origins: AllowedOrigins,
    /// The longest `exp - iat` accepted (never above 30 days).
    pub max_token_lifetime_s: Option<TokenLifetime>,
    /// Tokens with `iat` earlier than this (Unix seconds) are refused.
    pub not_before_cutoff: Option<i64>,
}

/// A credential's verification record: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRecord {
    /// The credential's public ID (the tokens' `kid`).
    pub client_id: ClientId,
    /// The org it belongs to.
    pub org: OrgSlug,
    /// Its owner.
    pub owner: Owner,
    /// What it may be used for.
    pub privileges: BTreeSet<Privilege>,
    /// The live secret generations, current first (one or two).
    pub generations: Vec<u32>,
    /// Optional policy.
    #[serde(default)]
    pub policy: Policy,
    /// When it was revoked (Unix seconds), if it was.
    #[serde(default)]
    pub revoked_at: Option<i64>,
}

impl CredentialRecord {
    /// A live credential with the `embedding` privilege, its first secret
    /// generation, and no extra policy.
    pub fn new(client_id: ClientId, org: OrgSlug, owner: Owner) -> Self {
        Self {
            client_id,
            org,
            owner,
            privileges: [Privilege::Embedding].into(),
            generations: vec![1],
            policy: Policy::default(),
            revoked_at: None,
        }
    }

    /// Whether the credential is revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    /// Whether `generation` is one of its live secrets.
    pub fn is_live(&self, generation: u32) -> bool {
        self.generations.contains(&generation)
    }
}

/// One live key of a credential.
#[derive(Debug, Clone)]
enum VerifyKey {
    /// A generated secret's HMAC key, state precomputed.
    Hs256(Hs256Key),
    /// An asymmetric credential's public key.
    Public(PublicJwk),
}

impl VerifyKey {
    fn algorithm(&self) -> Algorithm {
        match self {
            Self::Hs256(_) => Algorithm::Hs256,
            Self::Public(k) => k.algorithm(),
        }
    }

    fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        match self {
            Self::Hs256(k) => k.verify(message, tag),
            Self::Public(k) => k.verify(message, tag),
        }
    }
}

/// The keys of a credential's live generations, current first: HMAC keys
/// (state precomputed) of generated secrets, or the public keys of an
/// asymmetric credential. Built once per credential and cached by the edge.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<(u32, VerifyKey)>,
}

impl KeyRing {
    /// The key ring of one secret as given (the host app's or the CLI's
    /// view), standing for `generation`.
    pub fn from_secret(secret: &EmbedSecret, generation: u32) -> Self {
        Self { keys: vec![(generation, VerifyKey::Hs256(Hs256Key::new(secret.hmac_key())))] }
    }

    /// The key ring of a credential's key as a person pastes it: a public
    /// JWK (text starting with `{`) or else an embed secret exactly as given.
    pub fn from_key_text(text: &str, generation: u32) -> Result<Self, crate::public_key::JwkError> {
        if crate::public_key::looks_like_jwk(text) {
            Ok(Self::from_public_key(&PublicJwk::parse(text)?, generation))
        } else {
            Ok(Self::from_secret(&EmbedSecret::new(text.to_owned()), generation))
        }
    }

    /// The key ring of one public key, standing for `generation`.
    pub fn from_public_key(key: &PublicJwk, generation: u32) -> Self {
        Self { keys: vec![(generation, VerifyKey::Public(key.clone()))] }
    }

    /// The keys of the live generations the admin sent for `client_id` of
    /// `org`: secrets unwrapped with the edge's keys, public keys as sent. A
    /// secret that does not open (no key, or a key this edge does not hold)
    /// is left out and reported: its tokens are refused as `bad_signature`.
    pub fn unwrap(
        keys: &KeySet<EdgeKey>,
        org: &OrgSlug,
        client_id: &ClientId,
        secrets: &[SecretGeneration],
    ) -> (Self, Option<KeyError>) {
        let mut ring = Vec::with_capacity(secrets.len().min(MAX_LIVE_SECRETS));
        let mut failure = None;
        for s in secrets.iter().take(MAX_LIVE_SECRETS) {
            if let Some(public) = &s.public_key {
                ring.push((s.generation, VerifyKey::Public(public.clone())));
                continue;
            }
            let opened = match &s.key {
                Some(w) => keys.unwrap_secret(org, client_id, s.generation, w),
                None => Err(KeyError::Format("wrapped key")),
            };
            match opened {
                Ok(secret) => ring.push((s.generation, VerifyKey::Hs256(Hs256Key::new(secret.hmac_key())))),
                Err(e) => failure = Some(e),
            }
        }
        (Self { keys: ring }, failure)
    }

    /// Whether any live key signs with `alg` (a token whose header names
    /// another algorithm is refused before any signature is computed: no
    /// algorithm confusion).
    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.keys.iter().any(|(_, k)| k.algorithm() == alg)
    }

    /// The generation whose key of algorithm `alg` produced `tag` over
    /// `message` (HMACs compared in constant time), if any.
    pub fn verify(&self, alg: Algorithm, message: &[u8], tag: &[u8]) -> Option<u32> {
        // Every key of the algorithm is tried, so the time taken does not tell which one matched.
        self.keys.iter().filter(|(_, k)| k.algorithm() == alg).fold(None, |found, (g, k)| {
            if k.verify(message, tag) {
                found.or(Some(*g))
            } else {
                found
            }
        })
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds no key (nothing verifies).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// The isolate's cache bounds its memory by an estimate per live key:
    /// every kind of key (an HMAC state, a P-256 or Ed25519 public key) fits it.
    #[test]
    fn a_live_key_fits_the_caches_estimate() {
        let size = core::mem::size_of::<(u32, VerifyKey)>();
        assert!(size <= crate::cache::PER_KEY, "a key ring entry is {size} bytes");
    }
}
