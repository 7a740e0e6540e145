//! Bulk loading for benchmarks (`embedgate bench-load`): many orgs with many
//! credentials written straight through the store, one [`Change`] per org,
//! so the change log, the record versions and the audit log are exactly as
//! if an admin had created them one by one, at a fraction of the time.

use std::fmt::Write as _;

use embedgate_core::rules::Email;
use embedgate_core::ClientId;

use super::change::Touched;
use super::keys::Keys;
use super::{Change, Event, Store, StoreError};
use crate::server::now;

/// Rows per INSERT statement.
const ROWS_PER_STATEMENT: usize = 200;

/// What a bulk load made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// Orgs created.
    pub orgs: usize,
    /// Credentials created.
    pub credentials: usize,
    /// The state version afterwards.
    pub version: i64,
}

/// Creates `orgs` orgs (`{prefix}-00000` …), each with one admin member
/// (`admin@{org}.test`) owning `per_org` credentials with the embedding
/// privilege. `progress` hears of each org done.
pub async fn load(
    store: &Store,
    keys: &Keys,
    prefix: &str,
    orgs: usize,
    per_org: usize,
    mut progress: impl FnMut(usize),
) -> Result<Loaded, StoreError> {
    let at = now();
    let mut loaded = Loaded { orgs: 0, credentials: 0, version: 0 };
    for i in 0..orgs {
        let org = format!("{prefix}-{i:05}");
        let admin = Email::parse(&format!("admin@{org}.test")).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut change = store.change(&org, "embedgate-bench-load").await?;
        let token_id = ClientId::generate().map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // The admin's token hash is random (nobody holds the token), and it has expired.
        let token = super::tokens::NewToken { id: token_id.as_str(), hash: token_id.as_str(), expires_at: at };
        change.create_org(keys, &admin, &token, at).await?;
        change.bulk_credentials(&admin, per_org, at).await?;
        let committed = change.commit(Event::BulkLoaded { count: per_org }).await?;
        loaded.orgs += 1;
        loaded.credentials += per_org;
        loaded.version = committed.version.unwrap_or(loaded.version);
        progress(i + 1);
    }
    Ok(loaded)
}

impl Change {
    /// `count` credentials of this change's org owned by `owner`, named
    /// `bulk-N`, each touched (so the log records it).
    async fn bulk_credentials(&mut self, owner: &Email, count: usize, at: i64) -> Result<(), StoreError> {
        let org = self.org().to_owned();
        let mut made = 0;
        while made < count {
            let rows = ROWS_PER_STATEMENT.min(count - made);
            let mut sql = String::from(
                "INSERT INTO credentials (client_id, org, name, description, owner_email, privileges, created_at, \
                 created_by, kdf, current_generation, allowed_origins) VALUES ",
            );
            let mut ids = Vec::with_capacity(rows);
            for r in 0..rows {
                let base = r * 4;
                if r > 0 {
                    sql.push_str(", ");
                }
                let _ = write!(
                    sql,
                    "(${}, ${}, ${}, NULL, ${}, '[\"embedding\"]', {at}, 'embedgate-bench-load', 'v2', 1, '[]')",
                    base + 1,
                    base + 2,
                    base + 3,
                    base + 4
                );
                ids.push(ClientId::generate().map_err(|e| StoreError::Corrupt(e.to_string()))?);
            }
            let mut query = sqlx::query(&sql);
            for (r, id) in ids.iter().enumerate() {
                query = query.bind(id.as_str()).bind(&org).bind(format!("bulk-{}", made + r)).bind(owner.as_str());
            }
            query.execute(self.conn()).await?;
            for id in ids {
                self.touch(Touched::Credential(id.as_str().to_owned()));
            }
            made += rows;
        }
        Ok(())
    }
}
