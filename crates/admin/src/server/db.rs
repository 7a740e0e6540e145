//! The database: one `sqlx` Any pool over SQLite (the embedded default) or
//! PostgreSQL, one SQL text for both (`$1, $2…` placeholders, BIGINT Unix
//! seconds, integers for booleans, JSON text for lists), and a tiny
//! migration runner that records applied versions.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use embedgate_core::MasterKey;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

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
            ],
            Self::Postgres => &[
                (1, include_str!("../../migrations/postgres/0001_init.sql")),
                (2, include_str!("../../migrations/postgres/0002_settings.sql")),
                (3, include_str!("../../migrations/postgres/0003_credentials_page_index.sql")),
            ],
        }
    }
}

/// A connected, migrated database.
#[derive(Debug, Clone)]
pub struct Db {
    /// The connection pool.
    pub pool: AnyPool,
    /// Its dialect.
    pub backend: Backend,
    /// On SQLite, queues this process's write transactions in FIFO order
    /// (see [`Db::begin_write`]).
    write_gate: Arc<tokio::sync::Mutex<()>>,
    /// Carries the state version of every committed change that bumped it
    /// (the edge pusher waits on it; 0 until the first such commit here).
    committed: Arc<tokio::sync::watch::Sender<i64>>,
}

/// A write transaction from [`Db::begin_write`]: derefs to the connection,
/// rolls back on drop unless committed, and holds the SQLite write gate.
#[derive(Debug)]
pub struct WriteTx {
    // Declared first: dropped (rolled back) before the gate opens.
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
    committed: Arc<tokio::sync::watch::Sender<i64>>,
    bumped_to: Option<i64>,
}

impl WriteTx {
    /// Bumps the state version the edges follow (design §6), in this
    /// transaction; once it commits, [`Db::subscribe`]rs hear of it.
    pub async fn bump_version(&mut self) -> Result<i64, sqlx::Error> {
        let version: i64 =
            sqlx::query_scalar("UPDATE state_version SET version = version + 1 WHERE id = 1 RETURNING version")
                .fetch_one(&mut *self.tx)
                .await?;
        self.bumped_to = Some(version);
        Ok(version)
    }

    /// Records that this transaction set the version to `version` directly
    /// (announced on commit like a bump).
    pub fn note_version(&mut self, version: i64) {
        self.bumped_to = Some(version);
    }

    /// Commits; the gate opens once the commit is durable, and a bumped
    /// version is announced only then.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await?;
        if let Some(version) = self.bumped_to {
            self.committed.send_if_modified(|v| (version > *v).then(|| *v = version).is_some());
        }
        Ok(())
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The URL names no supported database.
    #[error("unsupported database URL (use sqlite://PATH or postgres://…)")]
    UnsupportedUrl,
    /// The directory of the SQLite file could not be created.
    #[error("cannot create the database directory {0}: {1}")]
    Dir(String, std::io::Error),
    /// The configured master key is not the one this database was set up with.
    #[error(
        "the master key does not match this database (its credentials were issued under another key); \
         configure the original EMBEDGATE_MASTER_KEY or <data-dir>/master.key"
    )]
    MasterKeyMismatch,
    /// The driver failed.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
}

/// The default SQLite URL for a data directory.
pub fn default_sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("embedgate.db").display())
}

/// Opens (creating if needed) and migrates the database at `url`.
pub async fn open(url: &str) -> Result<Db, DbError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of_url(url).ok_or(DbError::UnsupportedUrl)?;
    let mut url = url.to_owned();
    if backend == Backend::Sqlite {
        let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
        let path = path.split('?').next().unwrap_or_default();
        if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| DbError::Dir(dir.display().to_string(), e))?;
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
    let db = Db {
        pool,
        backend,
        write_gate: Arc::new(tokio::sync::Mutex::new(())),
        committed: Arc::new(tokio::sync::watch::channel(0).0),
    };
    db.migrate().await?;
    Ok(db)
}

/// A one-way check value of a master key: the first 128 bits of
/// SHA-256("embedgate/master-key-check" ‖ 0x00 ‖ key), hex. It cannot derive a secret.
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

impl Db {
    /// Records the master key's check value on first use and refuses a
    /// different key afterwards, so a lost or swapped key is caught at start
    /// instead of silently issuing secrets the edge will not accept.
    pub async fn check_master_key(&self, master: &MasterKey) -> Result<(), DbError> {
        let check = master_key_check(master);
        sqlx::query("INSERT INTO settings (name, value) VALUES ('master_key_check', $1) ON CONFLICT (name) DO NOTHING")
            .bind(&check)
            .execute(&self.pool)
            .await?;
        let stored: String = sqlx::query_scalar("SELECT value FROM settings WHERE name = 'master_key_check'")
            .fetch_one(&self.pool)
            .await?;
        if stored == check {
            Ok(())
        } else {
            Err(DbError::MasterKeyMismatch)
        }
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock
    /// at once (`BEGIN IMMEDIATE`), so a transaction that reads before it
    /// writes cannot fail with SQLITE_BUSY on lock upgrade; it waits up to the
    /// busy timeout instead.
    ///
    /// SQLite has one writer at a time, and a writer that finds the lock taken
    /// sleeps in its busy handler (1, 2, 5, … 100 ms), so concurrent creates
    /// waited far longer than the commits they queued behind. The process's
    /// SQLite writers therefore first take an async FIFO gate and only then
    /// `BEGIN IMMEDIATE` (the busy timeout still covers other processes).
    /// PostgreSQL's row locks need no gate.
    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let gate = self.write_gate.clone().lock_owned().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(WriteTx { tx, _gate: Some(gate), committed: self.committed.clone(), bumped_to: None })
            }
            Backend::Postgres => {
                let tx = self.pool.begin().await?;
                Ok(WriteTx { tx, _gate: None, committed: self.committed.clone(), bumped_to: None })
            }
        }
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
            .bind(super::now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}
