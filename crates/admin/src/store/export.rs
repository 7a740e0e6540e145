//! What the edges are pushed: the state at a version, built from the
//! credentials' own [`super::credentials::Credential::record`].

use std::collections::BTreeMap;

use embedgate_core::{OrgSlug, OrgState, Snapshot};

use super::{credentials, Store, StoreError};
use crate::server::now;

/// The full state at the database's current version: every credential's
/// record (revoked ones, and those whose owner is deactivated, flagged as
/// revoked). The version is read before and after the credentials, and the
/// read repeated if a change committed in between (every change that
/// touches what the edges see bumps it in its own transaction), so the
/// snapshot is exactly the state at its version.
pub async fn snapshot(store: &Store) -> Result<Snapshot, StoreError> {
    loop {
        let before = store.state_version().await?;
        let all = credentials::all(&store.pool).await?;
        if store.state_version().await? != before {
            continue;
        }
        let issued_at = now();
        let mut orgs: BTreeMap<OrgSlug, OrgState> = BTreeMap::new();
        for credential in &all {
            // Left out, a credential is unknown at the edge: refused, never accepted on stale terms.
            match credential.as_ref().map(|c| (c, c.record(issued_at))) {
                Ok((_, Some(record))) => orgs.entry(record.org.clone()).or_default().credentials.push(record),
                Ok((c, None)) => {
                    tracing::error!(client_id = %c.client_id, "credential without an owner row; left out of the edge state");
                }
                Err(e) => tracing::error!(error = %e, "credential row cannot be exported to the edges; left out"),
            }
        }
        return Ok(Snapshot { version: u64::try_from(before).unwrap_or(0), issued_at, orgs });
    }
}
