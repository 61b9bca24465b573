//! The database: embedded SQLite by default, PostgreSQL for larger deployments. Every query is
//! written once, in the SQL both speak, and runs through sqlx's `Any` driver; the few places where
//! the dialects truly differ (the identity column, a blob type, locking) are marked `Backend`
//! branches. Times are stored as UTC microseconds since the epoch (`BIGINT`), calendar dates as ISO
//! text, so both databases hold the same values. This crate holds no rules: it stores and loads what
//! `app` decided; it must never log row contents (they may include personal data).

mod account_review;
mod accounts;
mod append;
mod batch;
mod catalogue;
mod error;
mod faults;
mod gateway;
mod governance;
mod investigation;
mod ledger;
mod migrate;
mod org;
mod review;
mod scan;
pub mod testdb;

#[cfg(feature = "fault-injection")]
pub use faults::Fault;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use account_review::{AccountReviewItem, AccountReviewRow, ItemDecision, NewReviewItem};
pub use accounts::{AccountRow, NewAccount, SessionAccount, SessionRow, TokenProblem};
pub use append::{Appended, LockOrder, Prebuilt, Written};
pub use batch::{BatchItem, BatchRow, NewBatch, RowOutcome};
pub use catalogue::{CatalogueChange, NewLinkage, NewOperation, NewPurpose};
pub use error::StoreError;
pub use gateway::{Grant, NewResult, ResultRow};
pub use governance::{ApplicationRow, NewApplication};
pub use investigation::{InvestigationNote, InvestigationRow};
pub use ledger::{LedgerHead, LedgerRow, LedgerTile, StoredCheckpoint, StoredPrune, StoredVerification};
pub use migrate::SCHEMA_VERSION;
pub use org::{NewOrgNode, NewPerson};
pub use review::{FindingRow, NewReview, ReviewRow};
pub use scan::{LedgerBatch, LedgerScan};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A write transaction (see [`Db::begin`]). Dropped without [`Tx::commit`], it rolls back.
#[derive(Debug)]
pub struct Tx {
    inner: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    /// SQLite: this process's turn to write, held until the transaction ends (see [`Db::begin`]).
    /// Declared after `inner` so that the transaction ends before the next writer is let in.
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Tx {
    pub(crate) fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.inner
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn commit(self) -> Result<()> {
        self.inner.commit().await.map_err(StoreError::from)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Every SQLite connection that may write: WAL lets readers run beside the writer; FULL sync makes a
/// commit durable (the ledger relies on it); foreign keys are off by default.
const SQLITE_PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;";

/// Every SQLite connection that only reads.
const SQLITE_READ_ONLY_PRAGMAS: &str = "PRAGMA query_only = ON; PRAGMA busy_timeout = 10000;";

/// A connection of the store's own to the SQLite file, straight through the SQLite library (long reads
/// and group appends), set up as the pool's are. Opened for reading and writing as sqlx opens it (a WAL
/// database needs its shared-memory file); `read_only` then makes it unable to write.
pub(crate) fn open_sqlite(path: &std::path::Path, read_only: bool) -> Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch(if read_only { SQLITE_READ_ONLY_PRAGMAS } else { SQLITE_PRAGMAS })?;
    Ok(conn)
}

/// How long a writer waits for its turn before giving up: SQLite's busy timeout.
const WRITE_WAIT: Duration = Duration::from_secs(10);

/// A PostgreSQL URL, which may hold a password: never shown, not even in debug output.
#[derive(Clone)]
pub(crate) struct PgUrl(String);

impl PgUrl {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgUrl(…)")
    }
}

/// A pool on one database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// The SQLite file, for the long reads that go to SQLite directly (`scan`).
    sqlite_path: Option<std::path::PathBuf>,
    /// PostgreSQL: where long reads open a connection of their own (`scan`).
    pg_url: Option<PgUrl>,
    /// SQLite: writers of this process queue here (see [`Db::begin`]).
    write_turn: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
    /// SQLite: the connection group appends write through (`append`).
    native_writer: append::NativeWriter,
    /// PostgreSQL: the same.
    pg_writer: append::PgWriter,
    /// Faults a test has asked for; nothing without the `fault-injection` feature.
    faults: faults::Faults,
}

/// Microseconds since the Unix epoch, UTC: the one way times are stored.
pub fn micros(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_micros()
}

/// The inverse of [`micros`]; out-of-range values (only possible by editing the database by hand)
/// become the epoch rather than a panic.
pub fn from_micros(v: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(v).unwrap_or_default()
}

impl Db {
    /// Opens `url` (`sqlite://PATH` or `postgres://…`), without migrating.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, false).await
    }

    /// Opens `url` so that no connection can write (`ledger verify` and other read-only checks):
    /// SQLite connections are `query_only`, PostgreSQL sessions read-only. The schema must be one
    /// this binary knows; nothing is migrated.
    pub async fn open_read_only(url: &str) -> Result<Self> {
        let db = Self::connect_with(url, true).await?;
        let found = db.schema_version().await?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew { found, known: SCHEMA_VERSION });
        }
        Ok(db)
    }

    async fn connect_with(url: &str, read_only: bool) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::BadUrl);
        };
        let options = AnyConnectOptions::from_str(url).map_err(|_| StoreError::BadUrl)?;
        let sqlite_path = match backend {
            Backend::Sqlite if !url.contains(":memory:") && !url.contains("mode=memory") => {
                let o = sqlx::sqlite::SqliteConnectOptions::from_str(url).map_err(|_| StoreError::BadUrl)?;
                Some(o.get_filename().to_path_buf())
            }
            _ => None,
        };
        // A reading command pointed at the wrong folder must not leave an empty database there
        // (the URL's `mode=rwc` would create one) and then fail on its missing tables.
        if read_only && let Some(path) = sqlite_path.as_ref().filter(|p| !p.exists()) {
            return Err(StoreError::Unavailable(format!("no database file at {}", path.display())));
        }
        // One direct attempt first: an unreachable database is reported at once, not after the
        // pool has retried for its whole acquire timeout.
        {
            use sqlx::Connection;
            let probe = sqlx::AnyConnection::connect_with(&options).await.map_err(StoreError::unavailable)?;
            probe.close().await.ok();
        }
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                // SQLite has one writer at a time; readers run beside it in WAL mode.
                Backend::Sqlite => 8,
                Backend::Postgres => 8,
            })
            // Under a burst, waiting a little longer beats refusing with 503.
            .acquire_timeout(Duration::from_secs(20))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    match (backend, read_only) {
                        (Backend::Sqlite, false) => {
                            conn.execute(SQLITE_PRAGMAS).await?;
                        }
                        (Backend::Sqlite, true) => {
                            conn.execute(SQLITE_READ_ONLY_PRAGMAS).await?;
                        }
                        (Backend::Postgres, true) => {
                            conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY").await?;
                        }
                        (Backend::Postgres, false) => {}
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(StoreError::unavailable)?;
        let write_turn = (backend == Backend::Sqlite).then(|| std::sync::Arc::new(tokio::sync::Mutex::new(())));
        let pg_url = (backend == Backend::Postgres).then(|| PgUrl(url.to_owned()));
        Ok(Self {
            pool,
            backend,
            sqlite_path,
            pg_url,
            write_turn,
            native_writer: Default::default(),
            pg_writer: Default::default(),
            faults: Default::default(),
        })
    }

    /// Opens and brings the schema up to date (refusing a schema newer than this binary).
    pub async fn open(url: &str) -> Result<Self> {
        let db = Self::connect(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that will write. Every change goes through one, together with the ledger entry
    /// that records it, so that a change and its record commit or fail together. SQLite takes the
    /// write lock at once (`BEGIN IMMEDIATE`) so that two writers queue on the busy timeout instead
    /// of failing when one upgrades a read.
    ///
    /// On SQLite, writers of this process first queue in a FIFO of their own and are woken the
    /// moment the writer before them ends. Left to SQLite's busy handler they would poll, sleeping
    /// up to 25 ms between tries while the lock sat free (BENCHMARKS.md section 1); the busy
    /// timeout now only covers other processes. The wait is bounded as the busy timeout was, so
    /// a stuck writer yields "unavailable", never a hang.
    pub async fn begin(&self) -> Result<Tx> {
        let (stmt, turn) = match &self.write_turn {
            Some(m) => ("BEGIN IMMEDIATE", Some(self.write_turn_for(m).await?)),
            None => ("BEGIN", None),
        };
        let inner = self.pool.begin_with(stmt).await?;
        Ok(Tx { inner, backend: self.backend, _turn: turn })
    }

    /// Waits for this process's turn to write on SQLite, as long as the busy timeout at most.
    pub(crate) async fn write_turn_for(
        &self,
        turn: &std::sync::Arc<tokio::sync::Mutex<()>>,
    ) -> Result<tokio::sync::OwnedMutexGuard<()>> {
        tokio::time::timeout(WRITE_WAIT, turn.clone().lock_owned())
            .await
            .map_err(|_| StoreError::Unavailable("database is busy: another write did not finish".into()))
    }

    /// For `/healthz`: can the database answer?
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(StoreError::unavailable)?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests;
