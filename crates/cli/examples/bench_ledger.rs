//! Ledger benchmarks (R-LOG-2), each beside a baseline measured in the same run on the same disk,
//! because these machines' disks swing widely:
//!
//! - append with group commit (many concurrent appenders) vs a raw batched INSERT of rows of the
//!   same shape, 1,000 rows per transaction, without hashing;
//! - single appends, one after another, vs raw single-row INSERT transactions (the disk's sync rate);
//! - verification of the whole log vs raw SHA-256 over the same bytes in memory.
//!
//! Usage: `cargo run --release -p nhiguard --example bench_ledger -- [ENTRIES]` (default 200000);
//! set `NHIGUARD_TEST_DATABASE_URL=postgres://…/postgres` to run it on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use nhiguard_app::ledger::{Draft, LedgerKeys};
use nhiguard_app::{App, Settings};
use nhiguard_domain::clock::SystemClock;
use nhiguard_ledger::{EntryKind, SigningKey};
use nhiguard_store::testdb::TestDb;
use sha2::Digest;
use sqlx::{Connection, Executor};

fn draft(i: usize) -> Draft {
    Draft {
        kind: EntryKind::Query,
        actor: format!("user{:03}", i % 200),
        at_micros: 1_800_000_000_000_000 + i as i64,
        fields: vec![
            ("case_number".into(), format!("113-兒保-{i:06}")),
            ("reason".into(), "兒少保護個案訪視前確認投保狀態以聯繫家屬".into()),
            ("operation".into(), "INS01".into()),
            ("purpose".into(), "8".into()),
            ("subject".into(), "A123456789".into()),
            ("outcome".into(), "answered".into()),
        ],
    }
}

async fn app_on(db: &TestDb) -> App {
    let store = db.open().await.unwrap();
    let keys = nhiguard_app::Keys {
        ledger: LedgerKeys {
            deployment_id: "bench".into(),
            signing: SigningKey::generate("nhiguard.bench").unwrap(),
            export_dir: None,
        },
        results: nhiguard_app::vault::ResultsKey::generate().unwrap(),
    };
    let nhi =
        nhiguard_app::gateway::sandbox_nhi(1, chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()).await.unwrap();
    App::new(store, Settings::default(), Arc::new(SystemClock), keys, nhi)
}

/// Raw rows of the ledger's shape, without hashing, `batch` per transaction, in a table of their own.
async fn raw_insert(url: &str, n: usize, batch: usize) -> f64 {
    let mut c = sqlx::AnyConnection::connect(url).await.unwrap();
    if url.starts_with("sqlite") {
        c.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;").await.unwrap();
    }
    c.execute("CREATE TABLE raw_rows (seq BIGINT PRIMARY KEY, at BIGINT, kind TEXT, actor TEXT, body TEXT)")
        .await
        .unwrap();
    let body = "x".repeat(300);
    let started = Instant::now();
    let mut seq = 0i64;
    while (seq as usize) < n {
        let mut tx = c.begin().await.unwrap();
        let rows = batch.min(n - seq as usize);
        for chunk_start in (0..rows).step_by(500) {
            let chunk = 500.min(rows - chunk_start);
            let mut sql = String::from("INSERT INTO raw_rows (seq, at, kind, actor, body) VALUES ");
            for i in 0..chunk {
                if i > 0 {
                    sql.push(',');
                }
                let b = i * 5;
                sql.push_str(&format!("(${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5));
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for _ in 0..chunk {
                q = q.bind(seq).bind(seq).bind("query").bind("user001").bind(body.clone());
                seq += 1;
            }
            q.execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let backend = if std::env::var("NHIGUARD_TEST_DATABASE_URL").is_ok() { "PostgreSQL" } else { "SQLite" };
    println!("ledger benchmark on {backend}, {n} entries of ~300 bytes");

    // Baselines on their own fresh database.
    let base = TestDb::new().await.unwrap();
    base.open().await.unwrap();
    let raw_batched = raw_insert(&base.url, n, 1000).await;
    let mut c = sqlx::AnyConnection::connect(&base.url).await.unwrap();
    if base.url.starts_with("sqlite") {
        c.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;").await.unwrap();
    }
    let singles = 300;
    let started = Instant::now();
    for i in 0..singles {
        sqlx::query("INSERT INTO raw_rows (seq, at, kind, actor, body) VALUES ($1, 0, 'q', 'u', 'x')")
            .bind(10_000_000 + i as i64)
            .execute(&mut c)
            .await
            .unwrap();
    }
    let raw_single = singles as f64 / started.elapsed().as_secs_f64();

    // The ledger: group commit from 256 concurrent appenders.
    let db = TestDb::new().await.unwrap();
    let app = app_on(&db).await;
    let started = Instant::now();
    let per = n / 256;
    let mut tasks = Vec::new();
    for t in 0..256 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                app.append(draft(t * per + i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let appended = per * 256;
    let group = appended as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    for i in 0..singles {
        app.append(draft(i)).await.unwrap();
    }
    let single = singles as f64 / started.elapsed().as_secs_f64();
    app.checkpoint_now().await.unwrap();

    // Verification vs raw SHA-256 over the same bytes, in memory.
    let rows = app.db().ledger_rows(0, u64::MAX >> 1).await.unwrap();
    let bytes: Vec<Vec<u8>> = rows.into_iter().map(|r| r.body).collect();
    let started = Instant::now();
    let mut acc = 0u8;
    for b in &bytes {
        let mut h = sha2::Sha256::new();
        h.update([0u8]);
        h.update(b);
        acc ^= h.finalize()[0];
    }
    let sha = bytes.len() as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let v = app.verify_ledger(Vec::new()).await.unwrap();
    let verify = v.report.entries_checked as f64 / started.elapsed().as_secs_f64();
    assert!(v.report.is_ok());

    let started = Instant::now();
    let inc = app.inclusion(bytes.len() as u64 / 2).await.unwrap();
    let proof_ms = started.elapsed().as_secs_f64() * 1000.0;

    println!("| measure | nhiguard | baseline | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| append, group commit, 256 appenders ({backend}) | {group:.0}/s | raw batched INSERT, 1,000/tx: {raw_batched:.0}/s | {:.2} |",
        group / raw_batched
    );
    println!(
        "| append, one at a time ({backend}) | {single:.0}/s | raw single-row INSERT tx (sync rate): {raw_single:.0}/s | {:.2} |",
        single / raw_single
    );
    println!(
        "| verify whole log ({} entries) | {verify:.0}/s | raw SHA-256 in memory: {sha:.0}/s | {:.2} |",
        bytes.len(),
        verify / sha
    );
    println!("| inclusion proof (tree of {}) | {proof_ms:.1} ms | | |", inc.tree_size);
    let _ = acc;
}
