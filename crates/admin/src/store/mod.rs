//! The store: the admin's database and every query it runs.
//!
//! One `sqlx` Any pool over SQLite (the embedded default) or PostgreSQL
//! (several admin replicas on one database), one SQL text for both (`$1`
//! placeholders, BIGINT Unix seconds, integers for booleans, JSON text for
//! lists), and a small migration runner.
//!
//! Queries live beside the types they load: [`members`], [`tokens`], [`api_tokens`],
//! [`credentials`], [`audit`], [`orgs`]; [`export`] reads what the edges get.
//! Reads take any connection. **Every write goes through a [`Change`]**
//! ([`Store::change`]): it takes the state-version lock first, and its only
//! way to commit is [`Change::commit`], which writes the audit entry, bumps
//! the state version when something the edges see was touched, and commits;
//! dropping it rolls everything back. No handler can order these steps
//! wrongly, and the edge change log hooks in at that one place.

pub mod api_tokens;
pub mod audit;
pub mod bulk;
mod change;
pub mod credentials;
pub mod embed_users;
pub mod export;
pub mod invitations;
pub mod keys;
pub mod members;
pub mod orgs;
pub mod tokens;

pub use audit::Event;
pub use change::{Change, Committed, Origin};

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use embedgate_core::MasterKey;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use tokio::sync::OwnedMutexGuard;

/// A transaction of the store's pool.
pub(crate) type WriteTx = sqlx::Transaction<'static, sqlx::Any>;

use crate::server::now;

/// Which SQL dialect the pool speaks (only the migrations differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (a file; WAL mode, 5 s busy timeout).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Self::Postgres)
        } else {
            None
        }
    }

    fn migrations(self) -> &'static [(i64, &'static str)] {
        match self {
            Self::Sqlite => &[
                (1, include_str!("../../migrations/sqlite/0001_init.sql")),
                (2, include_str!("../../migrations/sqlite/0002_settings.sql")),
                (3, include_str!("../../migrations/sqlite/0003_credentials_page_index.sql")),
                (4, include_str!("../../migrations/sqlite/0004_change_log.sql")),
                (5, include_str!("../../migrations/sqlite/0005_org_keys.sql")),
                (6, include_str!("../../migrations/sqlite/0006_token_expiry.sql")),
                (7, include_str!("../../migrations/sqlite/0007_audit_origin.sql")),
                (8, include_str!("../../migrations/sqlite/0008_invitations.sql")),
                (9, include_str!("../../migrations/sqlite/0009_api_tokens.sql")),
                (10, include_str!("../../migrations/sqlite/0010_embed_users.sql")),
                (11, include_str!("../../migrations/sqlite/0011_credential_public_keys.sql")),
            ],
            Self::Postgres => &[
                (1, include_str!("../../migrations/postgres/0001_init.sql")),
                (2, include_str!("../../migrations/postgres/0002_settings.sql")),
                (3, include_str!("../../migrations/postgres/0003_credentials_page_index.sql")),
                (4, include_str!("../../migrations/postgres/0004_change_log.sql")),
                (5, include_str!("../../migrations/postgres/0005_org_keys.sql")),
                (6, include_str!("../../migrations/postgres/0006_token_expiry.sql")),
                (7, include_str!("../../migrations/postgres/0007_audit_origin.sql")),
                (8, include_str!("../../migrations/postgres/0008_invitations.sql")),
                (9, include_str!("../../migrations/postgres/0009_api_tokens.sql")),
                (10, include_str!("../../migrations/postgres/0010_embed_users.sql")),
                (11, include_str!("../../migrations/postgres/0011_credential_public_keys.sql")),
            ],
        }
    }
}

/// A connected, migrated database.
#[derive(Debug, Clone)]
pub struct Store {
    /// The connection pool: for reads (every write is a [`Change`]).
    pub pool: AnyPool,
    /// Its dialect.
    pub backend: Backend,
    /// On SQLite, queues this process's write transactions in FIFO order
    /// (see [`Store::change`]).
    write_gate: Arc<tokio::sync::Mutex<()>>,
    /// Carries the state version of every committed change that bumped it
    /// (the edge pusher waits on it; 0 until the first such commit here).
    committed: Arc<tokio::sync::watch::Sender<i64>>,
}

/// Every way the store can refuse or fail: opening it, and each change's
/// domain conflicts (the HTTP adapter maps them once, in `AppError`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL names no supported database.
    #[error("unsupported database URL (use sqlite://PATH or postgres://…)")]
    UnsupportedUrl,
    /// The directory of the SQLite file could not be created.
    #[error("cannot create the database directory {0}: {1}")]
    Dir(String, std::io::Error),
    /// A database from before the key hierarchy was set up with another master key.
    #[error(
        "the master key does not match this database (its credentials were issued under another key); \
         configure the original EMBEDGATE_MASTER_KEY or <data-dir>/master.key for the upgrade"
    )]
    MasterKeyMismatch,
    /// A configured master key was retired by `embedgate rekey`.
    #[error(
        "master key {id} was retired by `embedgate rekey` (replaced by {by}); configure the current master key \
         (EMBEDGATE_MASTER_KEY or <data-dir>/master.key) instead"
    )]
    MasterKeyRetired {
        /// The retired key's id.
        id: embedgate_core::KeyId,
        /// The key that replaced it.
        by: embedgate_core::KeyId,
    },
    /// Org keys are wrapped under a master key that is not configured.
    #[error(
        "{orgs} org key(s) are wrapped under master key {id}, which is not configured; configure it \
         (during `embedgate rekey`, as EMBEDGATE_MASTER_KEY=<new>,<old>)"
    )]
    MasterKeyMissing {
        /// The missing key's id.
        id: embedgate_core::KeyId,
        /// How many org keys it wraps.
        orgs: i64,
    },
    /// An org has no key material yet (the database was not prepared with a master key).
    #[error("org {0} has no key yet; start `embedgate serve` with the master key once")]
    NoOrgKey(String),
    /// No such org, member, token or credential (what was looked for).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The org already exists.
    #[error("the org already exists")]
    OrgExists,
    /// The org already has a member with this email.
    #[error("a member with this email already exists in the org")]
    MemberExists,
    /// Another credential of the org has this name (revoked ones included).
    #[error("a credential with this name already exists in the org")]
    NameTaken,
    /// The credential is already revoked (revoking it again).
    #[error("the credential is already revoked")]
    AlreadyRevoked,
    /// The credential is revoked (changing or rotating it).
    #[error("the credential is revoked")]
    CredentialRevoked,
    /// Two secrets are live: the previous one must be retired before another rotation.
    #[error("the credential already has two live secrets; retire the previous one first")]
    RetireFirst,
    /// There is no previous secret to retire.
    #[error("the credential has no previous secret")]
    NoPrevious,
    /// Rotating a credential that signs with a public key needs its new public key.
    #[error("a credential that signs with a public key rotates to a new public key, which was not given")]
    PublicKeyRequired,
    /// A credential that signs with a generated secret cannot rotate to a public key.
    #[error("this credential signs with a generated secret; it cannot take a public key")]
    SecretCredential,
    /// The new public key is the current one (same RFC 7638 thumbprint).
    #[error("the new public key is the credential's current one")]
    SamePublicKey,
    /// The member holds a live token: an invitation would let its holder act as them.
    #[error("the member holds a live token; revoke it first or let them issue their own")]
    MemberHasToken,
    /// The change would leave the org without an active admin.
    #[error("the org's last active admin cannot be deactivated or demoted")]
    LastAdmin,
    /// The state version reached its bound (2^53 - 1): no change can be recorded.
    #[error("the state version reached its bound; no change can be recorded")]
    VersionExhausted,
    /// The credential is not revoked (deleting it).
    #[error("only a revoked credential can be deleted")]
    RevokeFirst,
    /// A stored row breaks a rule it was written under (a bug or a hand edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The driver failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Whether a database error is a UNIQUE violation (same on SQLite and PostgreSQL).
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Reads a stored value under its rule; a value that breaks it is [`StoreError::Corrupt`].
fn stored<T, E: core::fmt::Display>(column: &str, parsed: Result<T, E>) -> Result<T, StoreError> {
    parsed.map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// The default SQLite URL for a data directory.
pub fn default_sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("embedgate.db").display())
}

/// Opens (creating if needed) and migrates the database at `url`.
pub async fn open(url: &str) -> Result<Store, StoreError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of_url(url).ok_or(StoreError::UnsupportedUrl)?;
    let mut url = url.to_owned();
    if backend == Backend::Sqlite {
        let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
        let path = path.split('?').next().unwrap_or_default();
        if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Dir(dir.display().to_string(), e))?;
        }
        if !url.contains("mode=") {
            url.push_str(if url.contains('?') { "&mode=rwc" } else { "?mode=rwc" });
        }
    }
    // sqlx logs statements at debug level (they never carry a secret: only generation numbers).
    let options = AnyConnectOptions::from_str(&url)?;
    let pool = AnyPoolOptions::new()
        .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    conn.execute("PRAGMA busy_timeout = 5000").await?;
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    // A 201 means committed and durable: fsync the WAL at every commit.
                    conn.execute("PRAGMA synchronous = FULL").await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    let db = Store {
        pool,
        backend,
        write_gate: Arc::new(tokio::sync::Mutex::new(())),
        committed: Arc::new(tokio::sync::watch::channel(0).0),
    };
    db.migrate().await?;
    Ok(db)
}

/// The one-way check value by which a database from before the key
/// hierarchy knew its master key: the first 128 bits of
/// SHA-256("embedgate/master-key-check" ‖ 0x00 ‖ key), hex ([`keys::prepare`]
/// finds the key it names, upgrades, and deletes it).
fn master_key_check(master: &MasterKey) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"embedgate/master-key-check\0");
    h.update(master.expose_bytes());
    h.finalize().iter().take(16).fold(String::with_capacity(32), |mut s, b| {
        use std::fmt::Write;
        let _ = write!(s, "{b:02x}");
        s
    })
}

impl Store {
    /// This database's lineage: random, made on first use, sent with every
    /// sync message, so an edge that holds another database's state is
    /// recognised (and given a full state) whatever its version.
    pub async fn lineage(&self) -> Result<String, StoreError> {
        // 128 random bits as hex, as a client ID is made.
        let fresh = embedgate_core::ClientId::generate()
            .map_err(|e| StoreError::Corrupt(format!("random source: {e}")))?
            .as_str()
            .to_owned();
        sqlx::query("INSERT INTO settings (name, value) VALUES ('lineage', $1) ON CONFLICT (name) DO NOTHING")
            .bind(&fresh)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE name = 'lineage'").fetch_one(&self.pool).await?)
    }

    /// A write transaction outside a [`Change`] (records the edges report,
    /// which bump no state version), with the same locking: on SQLite the
    /// process's FIFO gate (held until the returned guard drops: keep it as
    /// long as the transaction) and `BEGIN IMMEDIATE`, so a transaction that
    /// reads before it writes never meets `database is locked` when it
    /// would upgrade its lock; on PostgreSQL a plain transaction.
    pub(crate) async fn write(&self) -> Result<(WriteTx, Option<OwnedMutexGuard<()>>), StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => {
                let gate = self.write_gate.clone().lock_owned().await;
                (self.pool.begin_with("BEGIN IMMEDIATE").await?, Some(gate))
            }
            Backend::Postgres => (self.pool.begin().await?, None),
        })
    }

    /// Begins a change to `org` by `actor` (a member's email, or
    /// `embedgate-init`): the one way to write. The state-version lock is
    /// taken first, so concurrent changes queue here and each reads what the
    /// previous one committed (two admins demoting each other cannot both
    /// pass the last-admin check).
    ///
    /// On SQLite the process's writers first pass an async FIFO gate, then
    /// `BEGIN IMMEDIATE` takes the database's write lock at once (a writer
    /// that finds it taken would sleep in SQLite's busy handler, 1, 2, 5 …
    /// 100 ms, far longer than the commit it waits for; the busy timeout
    /// still covers other processes). On PostgreSQL the lock is the
    /// state-version row (`SELECT … FOR UPDATE`).
    pub async fn change(&self, org: &str, actor: &str) -> Result<Change, StoreError> {
        Change::begin(self, org, actor, None).await
    }

    /// A change with an explicit origin (a member redeeming an invitation:
    /// the new token's ID and their address).
    pub async fn change_from(&self, org: &str, actor: &str, origin: Origin) -> Result<Change, StoreError> {
        Change::begin(self, org, actor, Some(origin)).await
    }

    /// A change made through the API by `caller`: its audit entry records
    /// the member, the ID of the token they used and their client address.
    /// A caller holding an API access token acts as the credential
    /// (`credential:<client_id>`, the access token's ID), not as its owner.
    pub async fn change_by(&self, org: &str, caller: &crate::server::Caller) -> Result<Change, StoreError> {
        let origin = Origin { token_id: caller.token_id.clone(), address: caller.addr.to_string() };
        Change::begin(self, org, &caller.actor(), Some(origin)).await
    }

    /// Hears of every committed change that bumped the state version in this
    /// process (changes made by other replicas are found by reconciliation).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<i64> {
        self.committed.subscribe()
    }

    /// The current state version.
    pub async fn state_version(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT version FROM state_version WHERE id = 1").fetch_one(&self.pool).await
    }

    /// Moves the state version past `past` (when an edge holds a newer
    /// version than this database, e.g. after a restore from backup: the
    /// admin is the authority, so its next push must win). A change of its
    /// own, with nothing else in it.
    pub async fn advance_version_past(&self, past: u64) -> Result<i64, StoreError> {
        let target =
            i64::try_from(past).map_err(|_| StoreError::Corrupt("edge version out of range".into()))?.saturating_add(1);
        let mut change = Change::begin(self, "", "", None).await?;
        change.advance_version_to(target).await?;
        change.commit_version_only().await
    }

    /// Applies the embedded migrations not yet recorded, each in one transaction.
    /// Idempotent; safe to run at every start.
    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        // Several replicas may start at once on one PostgreSQL database:
        // migrate under a session advisory lock (SQLite serialises writers itself).
        if self.backend == Backend::Postgres {
            conn.execute("SELECT pg_advisory_lock(7307429946861041734)").await?;
        }
        let result = migrate_on(&mut conn, self.backend).await;
        if self.backend == Backend::Postgres {
            conn.execute("SELECT pg_advisory_unlock(7307429946861041734)").await?;
        }
        result
    }
}

async fn migrate_on(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    conn.execute(
        "CREATE TABLE IF NOT EXISTS embedgate_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    for &(version, sql) in backend.migrations() {
        let mut tx = match backend {
            Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => conn.begin().await?,
        };
        let done: Option<i64> = sqlx::query_scalar("SELECT version FROM embedgate_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_some() {
            continue;
        }
        let statements = sql
            .split(';')
            .map(str::trim)
            .filter(|s| !s.lines().all(|l| l.trim().is_empty() || l.trim().starts_with("--")));
        for statement in statements {
            tx.execute(statement).await?;
        }
        sqlx::query("INSERT INTO embedgate_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}
