//! What the verifier knows about one credential: the non-secret record the
//! admin pushes to the edge, and the key ring derived from the master key.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::jws::Hs256Key;
use crate::rules::{AllowedOrigins, TokenLifetime};
use crate::secret::{EmbedSecret, Kdf, MasterKey};
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

/// One live secret generation: which derivation and which counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretGeneration {
    /// The generation counter mixed into the derivation.
    pub generation: u32,
    /// The derivation scheme.
    pub kdf: Kdf,
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
    pub secrets: Vec<SecretGeneration>,
    /// Optional policy.
    #[serde(default)]
    pub policy: Policy,
    /// When it was revoked (Unix seconds), if it was.
    #[serde(default)]
    pub revoked_at: Option<i64>,
}

impl CredentialRecord {
    /// A live credential with the `embedding` privilege, its first secret
    /// generation (derivation v1), and no extra policy.
    pub fn new(client_id: ClientId, org: OrgSlug, owner: Owner) -> Self {
        Self {
            client_id,
            org,
            owner,
            privileges: [Privilege::Embedding].into(),
            secrets: vec![SecretGeneration { generation: 1, kdf: Kdf::V1 }],
            policy: Policy::default(),
            revoked_at: None,
        }
    }

    /// Whether the credential is revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// The HMAC keys of a credential's live secrets, state precomputed, current
/// first. Built once per credential and cached by the edge.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<Hs256Key>,
}

impl KeyRing {
    /// The key ring of one secret as given (the host app's or the CLI's view).
    pub fn from_secret(secret: &EmbedSecret) -> Self {
        Self { keys: vec![Hs256Key::new(secret.hmac_key())] }
    }

    /// Derives the keys of `record`'s live generations from the master key.
    pub fn derive(master: &MasterKey, record: &CredentialRecord) -> Self {
        let keys = record
            .secrets
            .iter()
            .take(MAX_LIVE_SECRETS)
            .map(|g| Hs256Key::new(master.derive_embed_secret(g.kdf, &record.client_id, g.generation).hmac_key()))
            .collect();
        Self { keys }
    }

    /// Whether any live key produced `tag` over `message` (each compared in constant time).
    pub fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        self.keys.iter().any(|k| k.verify(message, tag))
    }
}
