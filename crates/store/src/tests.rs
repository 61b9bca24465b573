//! Store-level checks that need raw access: schema versions and unreachable databases. They run
//! on SQLite by default and on PostgreSQL when `NHIGUARD_TEST_DATABASE_URL` is set.

use crate::testdb::TestDb;
use crate::{Db, SCHEMA_VERSION, StoreError};

#[tokio::test]
async fn migrations_run_once_and_record_the_version() {
    let t = TestDb::new().await.unwrap();
    let db = t.open().await.unwrap();
    assert_eq!(db.schema_version().await.unwrap(), SCHEMA_VERSION);
    db.migrate().await.unwrap();
    let n: i64 = sqlx::Row::try_get(
        &sqlx::query("SELECT COUNT(*) AS n FROM nhiguard_schema").fetch_one(db.pool()).await.unwrap(),
        "n",
    )
    .unwrap();
    assert_eq!(n, SCHEMA_VERSION, "each migration recorded once");
}

/// Two processes starting on one new database at once (a server and a cron job after an upgrade):
/// each migration is applied once, and neither fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_migrating_one_database_at_once_both_start() {
    let t = TestDb::new().await.unwrap();
    let mut handles = Vec::new();
    for _ in 0..4 {
        handles.push(Db::connect(&t.url).await.unwrap());
    }
    // Each has read the version before any has taken the write lock.
    for db in &handles {
        sqlx::query("CREATE TABLE IF NOT EXISTS nhiguard_schema (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
            .execute(db.pool())
            .await
            .unwrap();
    }
    let runs: Vec<_> = handles.iter().cloned().map(|db| tokio::spawn(async move { db.migrate().await })).collect();
    for r in runs {
        r.await.unwrap().unwrap();
    }
    let a = &handles[0];
    let n: i64 = sqlx::Row::try_get(
        &sqlx::query("SELECT COUNT(*) AS n FROM nhiguard_schema").fetch_one(a.pool()).await.unwrap(),
        "n",
    )
    .unwrap();
    assert_eq!(n, SCHEMA_VERSION, "each migration recorded once");
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_is_refused_with_a_message() {
    let t = TestDb::new().await.unwrap();
    let db = t.open().await.unwrap();
    sqlx::query("INSERT INTO nhiguard_schema (version, name, applied_at) VALUES (99, 'future', 0)")
        .execute(db.pool())
        .await
        .unwrap();
    db.close().await;
    let err = Db::open(&t.url).await.unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("upgrade nhiguard"));
}

#[tokio::test]
async fn an_unreachable_database_is_reported_as_unavailable() {
    let err = Db::open("postgres://nhiguard@127.0.0.1:1/nhiguard?connect_timeout=2").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(matches!(Db::open("mysql://x/y").await.unwrap_err(), StoreError::BadUrl));
}
