//! A fresh database for each test: a temporary SQLite file by default, or a new PostgreSQL
//! database on the server named by `NHIGUARD_TEST_DATABASE_URL`. The same tests run on both.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{AssertSqlSafe, Connection, Executor};

use crate::{Db, Result, StoreError};

/// A database that exists for one test. SQLite files are removed on drop; PostgreSQL test
/// databases are named `nhiguard_test_*` and dropped by CI before each run.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    sqlite_path: Option<std::path::PathBuf>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_name() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("nhiguard_test_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos)
}

impl TestDb {
    pub async fn new() -> Result<Self> {
        sqlx::any::install_default_drivers();
        let name = unique_name();
        match std::env::var("NHIGUARD_TEST_DATABASE_URL") {
            Ok(base) if !base.is_empty() => {
                let mut admin = sqlx::AnyConnection::connect(&base).await.map_err(StoreError::unavailable)?;
                admin.execute(AssertSqlSafe(format!("CREATE DATABASE {name}"))).await?;
                admin.close().await.ok();
                let (prefix, _) = base.rsplit_once('/').ok_or(StoreError::BadUrl)?;
                Ok(Self { url: format!("{prefix}/{name}"), sqlite_path: None })
            }
            _ => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                Ok(Self { url: format!("sqlite://{}?mode=rwc", path.display()), sqlite_path: Some(path) })
            }
        }
    }

    pub async fn open(&self) -> Result<Db> {
        Db::open(&self.url).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(p) = &self.sqlite_path {
            for suffix in ["", "-wal", "-shm"] {
                let mut s = p.clone().into_os_string();
                s.push(suffix);
                std::fs::remove_file(s).ok();
            }
        }
    }
}
