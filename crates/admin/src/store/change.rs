//! [`Change`]: the one write path. Lock first, then the writes, then (at
//! commit) the audit entry, the state-version bump when the edges' view
//! changed, and the commit; dropped, it rolls back.

use std::collections::BTreeSet;
use std::sync::Arc;

use sqlx::AnyConnection;
use tokio::sync::{watch, OwnedMutexGuard};

use embedgate_core::MAX_VERSION;

use super::{audit, Backend, Event, Store, StoreError};
use crate::server::now;

/// Something the edges see that a change altered (the state they are
/// pushed): the edge change log records these by version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Touched {
    /// An org as a whole (its creation, its home region).
    Org,
    /// A credential's record (by client ID).
    Credential(String),
    /// A member, whose standing bounds the credentials they own (by email).
    Member(String),
}

impl Touched {
    /// The change log's `kind` and `record` columns.
    pub(crate) fn columns(&self) -> (&'static str, &str) {
        match self {
            Self::Org => (KIND_ORG, ""),
            Self::Credential(id) => (KIND_CREDENTIAL, id),
            Self::Member(email) => (KIND_OWNER, email),
        }
    }
}

/// The change log's kinds.
pub(crate) const KIND_ORG: &str = "org";
/// See [`KIND_ORG`].
pub(crate) const KIND_CREDENTIAL: &str = "credential";
/// See [`KIND_ORG`].
pub(crate) const KIND_OWNER: &str = "owner";

/// Where an API change came from: the member token's ID and the client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The ID of the member token used (never the token).
    pub token_id: String,
    /// The client address (after the trusted-proxy rule).
    pub address: String,
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
    origin: Option<Origin>,
    touched: BTreeSet<Touched>,
    version_to: Option<i64>,
    /// Audit entries of other orgs a batch writes ([`Change::commit_batch`]).
    batch: Vec<(String, Event)>,
}

/// What a committed change did to the state version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The new state version, when the edges' view changed (they are pushed to).
    pub version: Option<i64>,
}

impl Change {
    pub(super) async fn begin(
        store: &Store,
        org: &str,
        actor: &str,
        origin: Option<Origin>,
    ) -> Result<Self, StoreError> {
        let (mut tx, gate) = store.write().await?;
        if store.backend == Backend::Postgres {
            sqlx::query("SELECT version FROM state_version WHERE id = 1 FOR UPDATE").execute(&mut *tx).await?;
        }
        Ok(Self {
            tx,
            _gate: gate,
            committed: store.committed.clone(),
            org: org.to_owned(),
            actor: actor.to_owned(),
            origin,
            touched: BTreeSet::new(),
            version_to: None,
            batch: Vec::new(),
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
    /// changed) the state-version bump, the change log's rows and each
    /// touched record's version, then the commit. The bump is announced to
    /// the edge pushers only once the commit is durable.
    pub async fn commit(mut self, event: Event) -> Result<Committed, StoreError> {
        let at = now();
        audit::insert(&mut self.tx, &self.org, (&self.actor, self.origin.as_ref()), &event, at).await?;
        let version = if self.touched.is_empty() {
            None
        } else {
            let version = self.bump().await?;
            self.log(version, at).await?;
            Some(version)
        };
        self.finish(version).await?;
        Ok(Committed { version })
    }

    /// Records what this change touched at `version`, and stamps each
    /// touched record with it (three statements, however many records).
    async fn log(&mut self, version: i64, at: i64) -> Result<(), StoreError> {
        const ROWS: usize = 200;
        let touched: Vec<Touched> = std::mem::take(&mut self.touched).into_iter().collect();
        for batch in touched.chunks(ROWS) {
            let values: Vec<String> =
                (0..batch.len()).map(|r| format!("($1, $2, ${}, ${}, $3)", 4 + 2 * r, 5 + 2 * r)).collect();
            let sql = format!("INSERT INTO changes (version, org, kind, record, at) VALUES {}", values.join(", "));
            let mut insert = sqlx::query(&sql).bind(version).bind(&self.org).bind(at);
            for what in batch {
                let (kind, record) = what.columns();
                insert = insert.bind(kind).bind(record);
            }
            insert.execute(&mut *self.tx).await?;
        }
        for stamp in [
            "UPDATE credentials SET version = $1 WHERE org = $2 AND client_id IN \
             (SELECT record FROM changes WHERE version = $1 AND org = $2 AND kind = 'credential')",
            "UPDATE members SET version = $1 WHERE org = $2 AND email IN \
             (SELECT record FROM changes WHERE version = $1 AND org = $2 AND kind = 'owner')",
            "UPDATE orgs SET version = $1 WHERE slug = $2 AND EXISTS \
             (SELECT 1 FROM changes WHERE version = $1 AND org = $2 AND kind = 'org')",
        ] {
            sqlx::query(stamp).bind(version).bind(&self.org).execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// The next state version; never past [`MAX_VERSION`] (an admin that
    /// got there refuses changes rather than overflow anywhere).
    async fn bump(&mut self) -> Result<i64, StoreError> {
        let version: i64 =
            sqlx::query_scalar("UPDATE state_version SET version = version + 1 WHERE id = 1 RETURNING version")
                .fetch_one(&mut *self.tx)
                .await?;
        if u64::try_from(version).is_ok_and(|v| v <= MAX_VERSION) {
            Ok(version)
        } else {
            Err(StoreError::VersionExhausted)
        }
    }

    async fn finish(self, version: Option<i64>) -> Result<(), StoreError> {
        let committed = self.committed.clone();
        self.tx.commit().await?;
        if let Some(version) = version {
            committed.send_if_modified(|v| (version > *v).then(|| *v = version).is_some());
        }
        Ok(())
    }

    /// Queues an audit entry for `org` (a batch over many orgs, such as
    /// re-wrapping their keys, that the edges do not see).
    pub(super) fn also_audit(&mut self, org: &str, event: Event) {
        self.batch.push((org.to_owned(), event));
    }

    /// Commits a batch: the queued audit entries, no version (nothing the
    /// edges see may have been touched).
    pub(super) async fn commit_batch(mut self) -> Result<(), StoreError> {
        if !self.touched.is_empty() {
            return Err(StoreError::Corrupt("a batch touched what the edges see".into()));
        }
        let at = now();
        let batch = std::mem::take(&mut self.batch);
        for (org, event) in &batch {
            audit::insert(&mut self.tx, org, (&self.actor, self.origin.as_ref()), event, at).await?;
        }
        self.finish(None).await
    }

    /// Commits housekeeping that no member asked for and the edges do not
    /// see (pruning the change log): no audit entry, no version.
    pub(super) async fn commit_unaudited(self) -> Result<(), StoreError> {
        self.finish(None).await
    }

    /// Bumps the version, and sets it to `target` if that is higher (and
    /// within [`MAX_VERSION`]).
    pub(super) async fn advance_version_to(&mut self, target: i64) -> Result<(), StoreError> {
        let current = self.bump().await?;
        if u64::try_from(target).map_or(true, |t| t > MAX_VERSION) {
            return Err(StoreError::VersionExhausted);
        }
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
