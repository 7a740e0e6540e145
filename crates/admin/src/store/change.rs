//! [`Change`]: the one write path. Lock first, then the writes, then (at
//! commit) the audit entry, the state-version bump when the edges' view
//! changed, and the commit; dropped, it rolls back.

use std::collections::BTreeSet;
use std::sync::Arc;

use sqlx::AnyConnection;
use tokio::sync::{watch, OwnedMutexGuard};

use super::{audit, Backend, Event, Store, StoreError};
use crate::server::now;

/// Something the edges see that a change altered (the state they are
/// pushed): the edge change log records these by version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Touched {
    /// An org as a whole (its creation).
    Org,
    /// A credential's record (by client ID).
    Credential(String),
    /// A member whose account type or status the records of the
    /// credentials they own carry (by email).
    Member(String),
}

/// A write transaction in progress (see [`Store::change`]).
#[derive(Debug)]
pub struct Change {
    // Declared first: dropped (rolled back) before the gate opens.
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _gate: Option<OwnedMutexGuard<()>>,
    committed: Arc<watch::Sender<i64>>,
    org: String,
    actor: String,
    touched: BTreeSet<Touched>,
    version_to: Option<i64>,
}

/// What a committed change did to the state version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The new state version, when the edges' view changed (they are pushed to).
    pub version: Option<i64>,
}

impl Change {
    pub(super) async fn begin(store: &Store, org: &str, actor: &str) -> Result<Self, StoreError> {
        let (tx, gate) = match store.backend {
            Backend::Sqlite => {
                let gate = store.write_gate.clone().lock_owned().await;
                (store.pool.begin_with("BEGIN IMMEDIATE").await?, Some(gate))
            }
            Backend::Postgres => {
                let mut tx = store.pool.begin().await?;
                sqlx::query("SELECT version FROM state_version WHERE id = 1 FOR UPDATE").execute(&mut *tx).await?;
                (tx, None)
            }
        };
        Ok(Self {
            tx,
            _gate: gate,
            committed: store.committed.clone(),
            org: org.to_owned(),
            actor: actor.to_owned(),
            touched: BTreeSet::new(),
            version_to: None,
        })
    }

    /// The org this change is to.
    pub fn org(&self) -> &str {
        &self.org
    }

    /// Who makes it.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The transaction's connection, for the store's queries.
    pub(super) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Notes that the edges' view of `what` changed.
    pub(super) fn touch(&mut self, what: Touched) {
        self.touched.insert(what);
    }

    /// Commits: the audit entry for `event`, then (when the edges' view
    /// changed) the state-version bump, then the commit. The bump is
    /// announced to the edge pushers only once the commit is durable.
    pub async fn commit(mut self, event: Event) -> Result<Committed, StoreError> {
        audit::insert(&mut self.tx, &self.org, &self.actor, &event, now()).await?;
        let version = if self.touched.is_empty() { None } else { Some(self.bump().await?) };
        self.finish(version).await?;
        Ok(Committed { version })
    }

    async fn bump(&mut self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("UPDATE state_version SET version = version + 1 WHERE id = 1 RETURNING version")
            .fetch_one(&mut *self.tx)
            .await?)
    }

    async fn finish(self, version: Option<i64>) -> Result<(), StoreError> {
        let committed = self.committed.clone();
        self.tx.commit().await?;
        if let Some(version) = version {
            committed.send_if_modified(|v| (version > *v).then(|| *v = version).is_some());
        }
        Ok(())
    }

    /// Bumps the version, and sets it to `target` if that is higher.
    pub(super) async fn advance_version_to(&mut self, target: i64) -> Result<(), StoreError> {
        let current = self.bump().await?;
        let version = if current < target {
            sqlx::query("UPDATE state_version SET version = $1 WHERE id = 1")
                .bind(target)
                .execute(&mut *self.tx)
                .await?;
            target
        } else {
            current
        };
        self.version_to = Some(version);
        Ok(())
    }

    /// Commits a version-only change ([`Store::advance_version_past`]): no
    /// audit entry, as no member acted.
    pub(super) async fn commit_version_only(self) -> Result<i64, StoreError> {
        let version = self.version_to.ok_or_else(|| StoreError::Corrupt("no version to commit".into()))?;
        self.finish(Some(version)).await?;
        Ok(version)
    }
}
