//! What the edges hold, in the admin's words: per org, each credential's
//! record ([`EdgeCredential`]) and each owner's standing ([`EdgeOwner`]),
//! every one stamped with the admin state version of its last change, so a
//! replica applies a record only when it is newer than the one it has and a
//! late or repeated message can never take it back ([`EdgeCredential::newer_than`]).
//!
//! A sync message carries changes grouped by org ([`OrgChanges`]); the edge
//! composes the verification record from a credential and its owner
//! ([`EdgeCredential::record`]), deciding the status with the one status
//! function ([`crate::rules::CredentialStatus::of`]).

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::credential::{CredentialRecord, Owner, Policy, SecretGeneration, MAX_LIVE_SECRETS};
use crate::region::Region;
use crate::rules::{CredentialStatus, MemberStatus};
use crate::types::{AccountType, ClientId, OrgSlug, Privilege};
use crate::validation::MAX_LIFETIME_CAP_S;

/// The highest state version either side accepts (2⁵³ − 1: exact in every
/// JSON number, far from any integer limit). The admin refuses to go past it.
pub const MAX_VERSION: u64 = (1 << 53) - 1;
/// The largest step an edge accepts from its applied version to a newer one
/// (2³², four billion changes): a larger jump is refused, so a message
/// signed with a leaked sync key cannot pin an edge at an extreme version.
pub const MAX_VERSION_JUMP: u64 = 1 << 32;

/// Why a set of changes was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A credential appears twice in one org's changes.
    #[error("credential {0} appears more than once")]
    Duplicate(ClientId),
    /// A credential has no live secret or more than two.
    #[error("credential {0} must have one or two live secrets")]
    SecretCount(ClientId),
    /// An owner appears twice in one org's changes.
    #[error("an owner appears more than once")]
    DuplicateOwner,
    /// A version is 0 or beyond [`MAX_VERSION`].
    #[error("a version is out of range (1 to 2^53 - 1)")]
    VersionRange,
    /// A live secret carries no wrapped key (and no public key either).
    #[error("credential {0} has a live secret without its wrapped key")]
    KeyMissing(ClientId),
    /// A live generation carries both a wrapped secret and a public key.
    #[error("credential {0} has a live generation with both a wrapped secret and a public key")]
    TwoKinds(ClientId),
    /// Secrets are wrapped under an edge key this edge does not hold: taking
    /// them would leave tokens it cannot verify.
    #[error("secrets are wrapped under edge key {0}, which this edge does not hold")]
    UnknownEdgeKey(crate::keys::KeyId),
    /// The step from the applied version is beyond [`MAX_VERSION_JUMP`].
    #[error("version {offered} is too far ahead of the applied version {applied}")]
    Jump {
        /// The applied version.
        applied: u64,
        /// The version offered.
        offered: u64,
    },
}

/// Whether moving from `applied` to `offered` is a step an edge may take:
/// forward, within [`MAX_VERSION`] and within [`MAX_VERSION_JUMP`].
pub fn check_step(applied: u64, offered: u64) -> Result<(), StateError> {
    if offered == 0 || offered > MAX_VERSION {
        return Err(StateError::VersionRange);
    }
    if offered > applied.saturating_add(MAX_VERSION_JUMP) {
        return Err(StateError::Jump { applied, offered });
    }
    Ok(())
}

/// A credential as the edges hold it: everything but its owner's standing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeCredential {
    /// The public client ID (the tokens' `kid`).
    pub client_id: ClientId,
    /// The owner's email.
    pub owner: String,
    /// What it may be used for.
    pub privileges: BTreeSet<Privilege>,
    /// The live secrets, current first (one or two), each wrapped under an
    /// edge key.
    pub secrets: Vec<SecretGeneration>,
    /// Optional policy.
    #[serde(default)]
    pub policy: Policy,
    /// When it was revoked (Unix seconds).
    #[serde(default)]
    pub revoked_at: Option<i64>,
    /// The admin state version of its last change.
    pub version: u64,
}

/// A member whose standing bounds the credentials they own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeOwner {
    /// Their email.
    pub email: String,
    /// Their account type.
    pub account_type: AccountType,
    /// Whether they are active.
    pub status: MemberStatus,
    /// The admin state version of their last change.
    pub version: u64,
}

/// A credential removed for good (an admin deleted it after revoking it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    /// The credential.
    pub client_id: ClientId,
    /// The admin state version of its deletion.
    pub version: u64,
}

impl EdgeCredential {
    /// Whether this record should replace `stored` (held at `stored_version`).
    pub fn newer_than(&self, stored_version: Option<u64>) -> bool {
        stored_version.is_none_or(|v| self.version > v)
    }

    /// The verification record of this credential of `org`, with its
    /// owner's standing (`None`: unknown, which refuses it like a
    /// deactivated owner). A status that refuses tokens is a revocation to
    /// the verifier.
    pub fn record(&self, org: &OrgSlug, owner: Option<&EdgeOwner>) -> CredentialRecord {
        let owner_status = owner.map_or(MemberStatus::Deactivated, |o| o.status);
        let status = CredentialStatus::of(self.revoked_at.is_some(), owner_status);
        CredentialRecord {
            client_id: self.client_id.clone(),
            org: org.clone(),
            owner: Owner {
                email: self.owner.clone(),
                // An unknown owner is refused anyway (owner_inactive); the lowest type is the safe one.
                account_type: owner.map_or(AccountType::Viewer, |o| o.account_type),
            },
            privileges: self.privileges.clone(),
            generations: self.secrets.iter().map(|s| s.generation).collect(),
            policy: self.policy.clone(),
            revoked_at: (!status.accepts_tokens()).then(|| self.revoked_at.unwrap_or(0)),
        }
    }

    /// Until when a revoked credential must stay at the edge as a tombstone
    /// (so its tokens are refused as `credential_revoked`, in the §4 order,
    /// rather than `unknown_client`): its revocation, plus the longest
    /// lifetime a token issued before it could have, plus the leeway and the
    /// longest session. After that no token or session of it can be accepted
    /// anyway. `None` while it is not revoked.
    pub fn tombstone_until(&self, leeway_s: u64) -> Option<i64> {
        let lifetime =
            self.policy.max_token_lifetime_s.map_or(MAX_LIFETIME_CAP_S, crate::rules::TokenLifetime::seconds);
        let span = lifetime
            .saturating_add(leeway_s)
            .saturating_add(u64::try_from(crate::edge::MAX_SESSION_TTL_S).unwrap_or(0));
        self.revoked_at.map(|at| at.saturating_add(i64::try_from(span).unwrap_or(i64::MAX)))
    }

    fn check(&self) -> Result<(), StateError> {
        let twice = self.secrets.len() == 2 && self.secrets[0].generation == self.secrets[1].generation;
        if self.secrets.is_empty() || self.secrets.len() > MAX_LIVE_SECRETS || twice {
            return Err(StateError::SecretCount(self.client_id.clone()));
        }
        if self.version == 0 || self.version > MAX_VERSION {
            return Err(StateError::VersionRange);
        }
        Ok(())
    }
}

impl EdgeOwner {
    /// Whether this standing should replace one held at `stored_version`.
    pub fn newer_than(&self, stored_version: Option<u64>) -> bool {
        stored_version.is_none_or(|v| self.version > v)
    }
}

/// One org's part of a sync message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgChanges {
    /// The org.
    pub org: OrgSlug,
    /// Where the org's replay guards live (`None`: the edge's first region).
    #[serde(default)]
    pub home_region: Option<Region>,
    /// Credentials, each as of its last change.
    #[serde(default)]
    pub credentials: Vec<EdgeCredential>,
    /// Owners' standing.
    #[serde(default)]
    pub owners: Vec<EdgeOwner>,
    /// Credentials deleted for good.
    #[serde(default)]
    pub deleted: Vec<Deleted>,
    /// In a full state: this message holds the org's last records (the edge
    /// switches the org to the new set then, and serves its old one until).
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub complete: bool,
}

impl OrgChanges {
    /// No changes yet, for `org`.
    pub fn new(org: OrgSlug) -> Self {
        Self {
            org,
            home_region: None,
            credentials: Vec::new(),
            owners: Vec::new(),
            deleted: Vec::new(),
            complete: false,
        }
    }

    /// Whether the changes are consistent: one or two live secrets each,
    /// versions in range, no credential or owner twice. Checked without
    /// copying anything, so a receiver can refuse them before storing.
    pub fn check(&self) -> Result<(), StateError> {
        let mut seen = HashSet::with_capacity(self.credentials.len() + self.deleted.len());
        for c in &self.credentials {
            c.check()?;
            if !seen.insert(c.client_id.as_str()) {
                return Err(StateError::Duplicate(c.client_id.clone()));
            }
        }
        for d in &self.deleted {
            if d.version == 0 || d.version > MAX_VERSION {
                return Err(StateError::VersionRange);
            }
            if !seen.insert(d.client_id.as_str()) {
                return Err(StateError::Duplicate(d.client_id.clone()));
            }
        }
        let mut owners = HashSet::with_capacity(self.owners.len());
        for o in &self.owners {
            if o.version == 0 || o.version > MAX_VERSION {
                return Err(StateError::VersionRange);
            }
            if !owners.insert(o.email.as_str()) {
                return Err(StateError::DuplicateOwner);
            }
        }
        Ok(())
    }

    /// Whether every live generation can be verified here: a secret wrapped
    /// under one of the edge keys `held`, or a public key (exactly one of
    /// the two). An edge refuses changes it could not verify tokens with.
    pub fn check_wrapped(&self, held: &[crate::keys::KeyId]) -> Result<(), StateError> {
        for c in &self.credentials {
            for s in &c.secrets {
                let kid = match (&s.key, &s.public_key) {
                    (None, Some(_)) => continue,
                    (Some(wrapped), None) => wrapped.key_id(),
                    (Some(_), Some(_)) => return Err(StateError::TwoKinds(c.client_id.clone())),
                    (None, None) => return Err(StateError::KeyMissing(c.client_id.clone())),
                };
                if !held.contains(&kid) {
                    return Err(StateError::UnknownEdgeKey(kid));
                }
            }
        }
        Ok(())
    }

    /// Whether nothing is in it.
    pub fn is_empty(&self) -> bool {
        self.credentials.is_empty() && self.owners.is_empty() && self.deleted.is_empty() && self.home_region.is_none()
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::secret::{EdgeKey, EmbedSecret};

    pub(crate) fn credential(version: u64) -> EdgeCredential {
        let client_id = ClientId::generate().unwrap();
        let key = EdgeKey::generate()
            .unwrap()
            .wrap_secret(&"acme".parse().unwrap(), &client_id, 1, &EmbedSecret::generate().unwrap())
            .unwrap();
        EdgeCredential {
            client_id,
            owner: "ana@acme.test".into(),
            privileges: [Privilege::Embedding].into(),
            secrets: vec![SecretGeneration::wrapped(1, key)],
            policy: Policy::default(),
            revoked_at: None,
            version,
        }
    }

    fn owner(status: MemberStatus, version: u64) -> EdgeOwner {
        EdgeOwner { email: "ana@acme.test".into(), account_type: AccountType::Creator, status, version }
    }

    #[test]
    fn the_record_carries_the_owners_standing_and_one_status_rule() {
        let org: OrgSlug = "acme".parse().unwrap();
        let c = credential(3);
        let live = c.record(&org, Some(&owner(MemberStatus::Active, 2)));
        assert!(!live.is_revoked());
        assert_eq!(live.owner.account_type, AccountType::Creator);
        assert!(c.record(&org, Some(&owner(MemberStatus::Deactivated, 4))).is_revoked(), "owner_inactive refuses");
        assert!(c.record(&org, None).is_revoked(), "no owner known: refused");
        let revoked = EdgeCredential { revoked_at: Some(100), ..c.clone() };
        assert_eq!(revoked.record(&org, Some(&owner(MemberStatus::Active, 2))).revoked_at, Some(100));
    }

    #[test]
    fn only_newer_records_replace_and_versions_are_bounded() {
        let c = credential(5);
        assert!(c.newer_than(None) && c.newer_than(Some(4)));
        assert!(!c.newer_than(Some(5)) && !c.newer_than(Some(9)));
        assert_eq!(check_step(0, 1), Ok(()));
        assert_eq!(check_step(10, 10 + MAX_VERSION_JUMP), Ok(()));
        assert!(matches!(check_step(10, 11 + MAX_VERSION_JUMP), Err(StateError::Jump { .. })));
        assert_eq!(check_step(0, i64::MAX as u64), Err(StateError::VersionRange));
        assert_eq!(check_step(0, 0), Err(StateError::VersionRange));
    }

    #[test]
    fn changes_are_checked_before_anything_is_stored() {
        let org: OrgSlug = "acme".parse().unwrap();
        let c = credential(1);
        let dup = OrgChanges { credentials: vec![c.clone(), c.clone()], ..OrgChanges::new(org.clone()) };
        assert!(matches!(dup.check(), Err(StateError::Duplicate(_))));
        let none = EdgeCredential { secrets: vec![], ..credential(1) };
        let bad = OrgChanges { credentials: vec![none], ..OrgChanges::new(org.clone()) };
        assert!(matches!(bad.check(), Err(StateError::SecretCount(_))));
        let zero = OrgChanges { credentials: vec![credential(0)], ..OrgChanges::new(org.clone()) };
        assert_eq!(zero.check(), Err(StateError::VersionRange));
        let mut twice = credential(1);
        twice.secrets.push(twice.secrets[0].clone());
        let bad = OrgChanges { credentials: vec![twice], ..OrgChanges::new(org.clone()) };
        assert!(matches!(bad.check(), Err(StateError::SecretCount(_))));
        let deleted = vec![Deleted { client_id: c.client_id.clone(), version: 2 }];
        let both = OrgChanges { credentials: vec![c], deleted, ..OrgChanges::new(org) };
        assert!(matches!(both.check(), Err(StateError::Duplicate(_))));
    }

    #[test]
    fn an_edge_refuses_secrets_it_holds_no_key_for() {
        let org: OrgSlug = "acme".parse().unwrap();
        let c = credential(1);
        let kid = c.secrets[0].key.as_ref().unwrap().key_id();
        let changes = OrgChanges { credentials: vec![c.clone()], ..OrgChanges::new(org.clone()) };
        assert_eq!(changes.check_wrapped(&[kid]), Ok(()));
        assert_eq!(changes.check_wrapped(&[]), Err(StateError::UnknownEdgeKey(kid)));
        let mut bare = c.clone();
        bare.secrets[0].key = None;
        let changes = OrgChanges { credentials: vec![bare.clone()], ..OrgChanges::new(org.clone()) };
        assert!(matches!(changes.check_wrapped(&[kid]), Err(StateError::KeyMissing(_))));
        // A public-key generation needs no edge key; one that is both is refused.
        let public = crate::public_key::SigningJwk::generate(crate::Algorithm::EdDsa).unwrap().public();
        bare.secrets[0].public_key = Some(public.clone());
        let changes = OrgChanges { credentials: vec![bare], ..OrgChanges::new(org.clone()) };
        assert_eq!(changes.check_wrapped(&[]), Ok(()));
        let mut both = c;
        both.secrets[0].public_key = Some(public);
        let changes = OrgChanges { credentials: vec![both], ..OrgChanges::new(org) };
        assert!(matches!(changes.check_wrapped(&[kid]), Err(StateError::TwoKinds(_))));
    }

    #[test]
    fn a_tombstone_lasts_until_no_old_token_or_session_can_be_accepted() {
        let c = EdgeCredential { revoked_at: Some(1_000), ..credential(1) };
        let until = c.tombstone_until(60).unwrap();
        assert_eq!(until, 1_000 + i64::try_from(MAX_LIFETIME_CAP_S).unwrap() + 60 + 600);
        let mut short = c.clone();
        short.policy.max_token_lifetime_s = Some(crate::rules::TokenLifetime::new(3600).unwrap());
        assert_eq!(short.tombstone_until(60), Some(1_000 + 3600 + 60 + 600));
        assert_eq!(credential(1).tombstone_until(60), None);
    }
}
