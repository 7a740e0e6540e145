//! The state the edge verifies against: a versioned snapshot of every org's
//! credential records (revoked ones included, flagged), pushed by the admin.
//! `apply` refuses anything not newer (anti-rollback) and swaps atomically.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::credential::{CredentialRecord, MAX_LIVE_SECRETS};
use crate::types::{ClientId, OrgSlug};

/// Why a snapshot was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The snapshot is not newer than the applied one.
    #[error("snapshot version {offered} is not newer than the applied version {applied}")]
    Stale {
        /// The version already applied.
        applied: u64,
        /// The version offered.
        offered: u64,
    },
    /// A record sits under an org other than its own.
    #[error("credential {0} is listed under an org other than its own")]
    OrgMismatch(ClientId),
    /// The same client ID appears twice.
    #[error("credential {0} appears more than once")]
    Duplicate(ClientId),
    /// A record has no live secret or more than two.
    #[error("credential {0} must have one or two live secrets")]
    SecretCount(ClientId),
}

/// One org's part of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgState {
    /// Every credential of the org, revoked ones included (with `revoked_at`),
    /// so a revoked credential's tokens still fail in the §4 order.
    pub credentials: Vec<CredentialRecord>,
}

impl OrgState {
    /// The org's revocation list: client ID and revocation time.
    pub fn revocations(&self) -> impl Iterator<Item = (&ClientId, i64)> {
        self.credentials.iter().filter_map(|c| c.revoked_at.map(|t| (&c.client_id, t)))
    }
}

/// A complete, versioned state as the admin pushes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Monotonically increasing; every change on the admin bumps it.
    pub version: u64,
    /// When the admin produced it (Unix seconds).
    pub issued_at: i64,
    /// Per org.
    pub orgs: BTreeMap<OrgSlug, OrgState>,
}

impl Snapshot {
    /// Whether the snapshot is consistent: every record under its own org,
    /// one or two live secrets each, no client ID twice. Checked without
    /// copying anything, so a receiver can refuse a bad snapshot before
    /// storing it.
    pub fn check(&self) -> Result<(), StateError> {
        let mut seen = std::collections::HashSet::with_capacity(self.orgs.values().map(|o| o.credentials.len()).sum());
        for (org, state) in &self.orgs {
            for record in &state.credentials {
                if &record.org != org {
                    return Err(StateError::OrgMismatch(record.client_id.clone()));
                }
                if record.secrets.is_empty() || record.secrets.len() > MAX_LIVE_SECRETS {
                    return Err(StateError::SecretCount(record.client_id.clone()));
                }
                if !seen.insert(record.client_id.as_str()) {
                    return Err(StateError::Duplicate(record.client_id.clone()));
                }
            }
        }
        Ok(())
    }
}

/// The applied state with an O(1) index by client ID.
#[derive(Debug, Clone, Default)]
pub struct EdgeState {
    version: u64,
    issued_at: i64,
    by_client: HashMap<String, CredentialRecord>,
}

impl EdgeState {
    /// The empty state (version 0: any real snapshot is newer).
    pub fn new() -> Self {
        Self::default()
    }

    /// The applied version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When the applied snapshot was produced (Unix seconds).
    pub fn issued_at(&self) -> i64 {
        self.issued_at
    }

    /// How many credentials are known.
    pub fn len(&self) -> usize {
        self.by_client.len()
    }

    /// Whether no credential is known.
    pub fn is_empty(&self) -> bool {
        self.by_client.is_empty()
    }

    /// The record of `client_id`, in O(1).
    pub fn get(&self, client_id: &str) -> Option<&CredentialRecord> {
        self.by_client.get(client_id)
    }

    /// Every known record, in no particular order.
    pub fn records(&self) -> impl Iterator<Item = &CredentialRecord> {
        self.by_client.values()
    }

    /// Applies `snapshot` if it is newer and consistent ([`Snapshot::check`]);
    /// on error nothing changes.
    pub fn apply(&mut self, snapshot: Snapshot) -> Result<(), StateError> {
        if snapshot.version <= self.version {
            return Err(StateError::Stale { applied: self.version, offered: snapshot.version });
        }
        snapshot.check()?;
        self.by_client = snapshot
            .orgs
            .into_values()
            .flat_map(|state| state.credentials)
            .map(|record| (record.client_id.as_str().to_owned(), record))
            .collect();
        self.version = snapshot.version;
        self.issued_at = snapshot.issued_at;
        Ok(())
    }
}
