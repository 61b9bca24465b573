//! Ledger benchmarks (R-LOG-2, issue 4), each beside a baseline measured in the same run on the same
//! disk, because these machines' disks swing widely:
//!
//! - append with group commit (many concurrent appenders) vs a raw batched INSERT of rows of the
//!   same shape, 1,000 rows per transaction, without hashing;
//! - single appends, one after another, vs raw single-row INSERT transactions (the disk's sync rate);
//! - verification of the whole log vs raw SHA-256 over the same bytes in memory;
//! - inclusion-proof time, and the database size per million entries.
//!
//! Beside each, the parts it is made of, to show where the time goes: the raw INSERT into a table
//! with `ledger_entries`' columns and indexes; encoding + hashing alone in memory; the store's own
//! append path (`Tx::ledger_head` + `Tx::ledger_append`, 1,000 pre-hashed rows per transaction); the
//! read of every row through the store (`Db::ledger_rows`, sqlx `Any`), through `Any` with only the
//! three columns verification needs, and through sqlx's native driver; the `Verifier` fed from
//! memory; and, for a proof, reading every leaf hash vs computing the proof from them in memory.
//!
//! ```sh
//! cargo build --release -p nhiguard --examples
//! target/release/examples/bench_ledger [ENTRIES] [--appenders 256,1000]      # SQLite, default 100000
//! NHIGUARD_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres target/release/examples/bench_ledger
//! ```
//! ENTRIES entries are appended once per appender count, so the log ends with about
//! ENTRIES × (number of appender counts) entries. `--sql` also prints, for each group-commit run, the
//! SQL statements per entry and their time (so the number of transactions, hence entries per
//! transaction) — a separate run, since recording costs a little.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::sync::Arc;
use std::time::Instant;

use nhiguard_app::ledger::{Draft, LedgerKeys};
use nhiguard_app::{App, Settings};
use nhiguard_domain::clock::SystemClock;
use nhiguard_ledger::{
    Entry, EntryKind, Frontier, Hash, SignedCheckpoint, SigningKey, StoredEntry, Verifier, inclusion_proof, leaf_hash,
};
use nhiguard_store::testdb::TestDb;
use nhiguard_store::{LedgerHead, LedgerRow};
use sha2::Digest;
use sqlx::{Connection, Executor, Row};

const SEED: [u8; 32] = [42u8; 32];
const READ_BATCH: u64 = 20_000;

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
            signing: SigningKey::from_seed("nhiguard.bench", &SEED).unwrap(),
            export_dir: None,
        },
        results: nhiguard_app::vault::ResultsKey::generate().unwrap(),
    };
    let settings = Settings::default();
    let nhi = nhiguard_app::gateway::sandbox_nhi(1, chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(), &settings)
        .await
        .unwrap();
    App::new(store, settings, Arc::new(SystemClock), keys, nhi)
}

async fn raw_conn(url: &str) -> sqlx::AnyConnection {
    let mut c = sqlx::AnyConnection::connect(url).await.unwrap();
    if url.starts_with("sqlite") {
        c.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;").await.unwrap();
    }
    c
}

/// Raw rows, without hashing, `batch` per transaction, into `table` (created by the caller).
/// `indexed` gives the rows `ledger_entries`' six columns (its indexes are on the table).
async fn raw_insert(c: &mut sqlx::AnyConnection, table: &str, n: usize, batch: usize, indexed: bool) -> f64 {
    let body = "x".repeat(300);
    let hash = vec![7u8; 32];
    let cols = if indexed { 6 } else { 5 };
    let started = Instant::now();
    let mut seq = 0i64;
    while (seq as usize) < n {
        let mut tx = c.begin().await.unwrap();
        let rows = batch.min(n - seq as usize);
        for chunk_start in (0..rows).step_by(500) {
            let chunk = 500.min(rows - chunk_start);
            let mut sql = if indexed {
                format!("INSERT INTO {table} (seq, at, kind, actor, body, leaf_hash) VALUES ")
            } else {
                format!("INSERT INTO {table} (seq, at, kind, actor, body) VALUES ")
            };
            for i in 0..chunk {
                if i > 0 {
                    sql.push(',');
                }
                let b = i * cols;
                let marks: Vec<String> = (1..=cols).map(|k| format!("${}", b + k)).collect();
                sql.push_str(&format!("({})", marks.join(", ")));
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for _ in 0..chunk {
                q = q.bind(seq).bind(seq).bind("query").bind(format!("user{:03}", seq % 200));
                q = if indexed { q.bind(body.clone().into_bytes()).bind(hash.clone()) } else { q.bind(body.clone()) };
                seq += 1;
            }
            q.execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// `raw_insert` of `n` index-less rows, 1,000 per transaction, through rusqlite (SQLite only).
fn raw_insert_native(url: &str, n: usize) -> f64 {
    let path = url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned();
    let mut c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
         CREATE TABLE raw_native (seq BIGINT PRIMARY KEY, at BIGINT, kind TEXT, actor TEXT, body TEXT);",
    )
    .unwrap();
    let body = "x".repeat(300);
    let started = Instant::now();
    let mut seq = 0i64;
    while (seq as usize) < n {
        let tx = c.transaction().unwrap();
        {
            let mut st =
                tx.prepare("INSERT INTO raw_native (seq, at, kind, actor, body) VALUES (?1, ?2, ?3, ?4, ?5)").unwrap();
            for _ in 0..1000.min(n - seq as usize) {
                st.execute(rusqlite::params![seq, seq, "query", format!("user{:03}", seq % 200), body]).unwrap();
                seq += 1;
            }
        }
        tx.commit().unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// What `append_in` does before it touches the database: encode, hash, extend the frontier.
fn encode_rows(from: u64, n: usize, frontier: &mut Frontier) -> Vec<LedgerRow> {
    (0..n)
        .map(|i| {
            let d = draft(i);
            let seq = from + i as u64;
            let body = Entry::new(seq, d.at_micros, d.kind, d.actor.clone(), d.fields).unwrap().encode();
            let leaf = leaf_hash(&body);
            frontier.push(leaf);
            LedgerRow {
                seq,
                at: d.at_micros,
                kind: d.kind.code().into(),
                actor: d.actor,
                body,
                leaf_hash: leaf.as_bytes().to_vec(),
            }
        })
        .collect()
}

async fn group_commit(app: &App, appenders: usize, n: usize) -> (f64, usize) {
    let per = n / appenders;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..appenders {
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
    (per as f64 * appenders as f64 / started.elapsed().as_secs_f64(), per * appenders)
}

/// Times proofs the way `App::inclusion` makes them (from the stored subtree roots: the median of
/// 200 entries spread over the tree), beside the proof from every leaf hash (one read of the
/// `leaf_hash` column, then the proof in memory) — how it was made before the roots were stored.
async fn proof_parts(app: &App, url: &str, seq: u64) -> (u64, f64, f64, f64, f64) {
    let inc = app.inclusion(seq).await.unwrap(); // the first may fill in roots; not timed
    let size = inc.tree_size;
    let mut times = Vec::new();
    for k in 0..200u64 {
        let s = (k * 7_919_993 + seq) % size;
        let started = Instant::now();
        let p = app.inclusion(s).await.unwrap();
        times.push(started.elapsed().as_secs_f64() * 1e3);
        if k == 0 {
            std::hint::black_box(p);
        }
    }
    times.sort_by(f64::total_cmp);
    let (median, p99) = (times[times.len() / 2], times[times.len() * 99 / 100]);
    let mut c = sqlx::AnyConnection::connect(url).await.unwrap();
    let started = Instant::now();
    let hashes = sqlx::query("SELECT leaf_hash FROM ledger_entries WHERE seq < $1 ORDER BY seq")
        .bind(size as i64)
        .fetch_all(&mut c)
        .await
        .unwrap();
    let leaves: Vec<Hash> =
        hashes.iter().map(|r| Hash(<[u8; 32]>::try_from(r.get::<Vec<u8>, _>(0).as_slice()).unwrap())).collect();
    let read_leaf_only = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let proof = inclusion_proof(&leaves, seq, size).unwrap();
    let compute = started.elapsed().as_secs_f64() * 1e3;
    assert_eq!(proof, inc.proof);
    (size, median, p99, read_leaf_only, compute)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .get(1)
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.replace(['_', ','], "").parse().unwrap())
        .unwrap_or(100_000);
    let appender_counts: Vec<usize> = match args.iter().position(|a| a == "--appenders") {
        Some(i) => args[i + 1].split(',').map(|x| x.parse().unwrap()).collect(),
        None => vec![256, 1000],
    };
    let tally = args.iter().any(|a| a == "--sql").then(support::SqlTally::install);
    let load = support::OthersLoad::start();
    let backend = if std::env::var("NHIGUARD_TEST_DATABASE_URL").is_ok() { "PostgreSQL" } else { "SQLite" };
    println!("{}", support::machine_note());
    println!("ledger benchmark on {backend}, {n} entries of ~300 bytes per appender count {appender_counts:?}");
    let mut table = Vec::new();
    let mut out = |measure: String, ours: String, baseline: String, ratio: String| {
        table.push(format!("| {measure} | {ours} | {baseline} | {ratio} |"));
    };

    // ---- Baselines on their own fresh database. ----
    let base = TestDb::new().await.unwrap();
    base.open().await.unwrap();
    let mut c = raw_conn(&base.url).await;
    c.execute("CREATE TABLE raw_rows (seq BIGINT PRIMARY KEY, at BIGINT, kind TEXT, actor TEXT, body TEXT)")
        .await
        .unwrap();
    // The ledger table's columns and search indexes as the migrations make them on each database
    // (PostgreSQL: a BRIN index on the time since migration 0020), without its triggers.
    let indexed = if backend == "SQLite" {
        "CREATE TABLE raw_indexed (seq BIGINT PRIMARY KEY, at BIGINT NOT NULL, kind TEXT NOT NULL, \
         actor TEXT NOT NULL, body BLOB NOT NULL, leaf_hash BLOB NOT NULL); \
         CREATE INDEX raw_indexed_kind_at ON raw_indexed (kind, at); \
         CREATE INDEX raw_indexed_actor_at ON raw_indexed (actor, at);"
    } else {
        "CREATE TABLE raw_indexed (LIKE ledger_entries INCLUDING INDEXES)"
    };
    c.execute(indexed).await.unwrap();
    let raw_batched = raw_insert(&mut c, "raw_rows", n, 1000, false).await;
    let raw_indexed = raw_insert(&mut c, "raw_indexed", n, 1000, true).await;
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
    drop(c);
    // SQLite: the same raw rows through the SQLite library directly (one prepared statement,
    // 1,000 rows per transaction), as the store's group append writes: the harder baseline.
    let raw_native = (backend == "SQLite").then(|| raw_insert_native(&base.url, n));

    // ---- The append path in parts: encode + hash in memory, then the store's SQL. ----
    let mut frontier = Frontier::new();
    let started = Instant::now();
    let rows = encode_rows(0, n, &mut frontier);
    let encode_rate = n as f64 / started.elapsed().as_secs_f64();
    let parts_db = TestDb::new().await.unwrap();
    let parts = parts_db.open().await.unwrap();
    let mut f2 = Frontier::new();
    let started = Instant::now();
    for chunk in rows.chunks(1000) {
        for r in chunk {
            f2.push(Hash(<[u8; 32]>::try_from(r.leaf_hash.as_slice()).unwrap()));
        }
        let mut tx = parts.begin().await.unwrap();
        tx.ledger_head().await.unwrap();
        tx.ledger_append(chunk, &LedgerHead { size: f2.size(), frontier: f2.to_bytes() }).await.unwrap();
        tx.commit().await.unwrap();
    }
    let store_rate = n as f64 / started.elapsed().as_secs_f64();
    drop(rows);

    // ---- The ledger: group commit from many concurrent appenders, then single appends. ----
    let db = TestDb::new().await.unwrap();
    let app = app_on(&db).await;
    let mut proofs = Vec::new();
    for &appenders in &appender_counts {
        if let Some(t) = &tally {
            t.reset();
        }
        let started = Instant::now();
        let threads = support::thread_cpu();
        let (group, done) = group_commit(&app, appenders, n).await;
        println!(
            "group commit with {appenders} appenders: cores used by thread: {}",
            support::thread_cores(&threads, &support::thread_cpu(), started.elapsed())
        );
        if let Some(t) = &tally {
            let txs = t.count("UPDATE ledger_head");
            println!(
                "group commit with {appenders} appenders: {done} entries in {txs} transactions, {:.1} entries per transaction",
                done as f64 / txs.max(1) as f64
            );
            println!("SQL statements per appended entry:");
            t.print(
                done,
                &format!("wall time per entry {:.3} ms", started.elapsed().as_secs_f64() * 1e3 / done as f64),
            );
            println!();
        }
        out(
            format!("append, group commit, {appenders} appenders"),
            format!("{group:.0}/s"),
            format!("raw batched INSERT, 1,000/tx: {raw_batched:.0}/s"),
            format!("**{:.2}**", group / raw_batched),
        );
        if let Some(native) = raw_native {
            out(
                format!("append, group commit, {appenders} appenders, against the SQLite library's own inserts"),
                format!("{group:.0}/s"),
                format!("raw INSERT through rusqlite, prepared, 1,000/tx: {native:.0}/s"),
                format!("**{:.2}**", group / native),
            );
        }
        app.checkpoint_now().await.unwrap();
        let size = app.db().ledger_size().await.unwrap();
        proofs.push(proof_parts(&app, &db.url, size / 2).await);
    }
    out(
        "— part: raw batched INSERT into a table with the ledger table's columns and indexes, 1,000/tx".into(),
        format!("{raw_indexed:.0}/s"),
        format!("raw batched INSERT, 1,000/tx: {raw_batched:.0}/s"),
        format!("{:.2}", raw_indexed / raw_batched),
    );
    out(
        "— part: the store's append (`Tx::ledger_head` + `ledger_append`), 1,000 pre-hashed rows/tx".into(),
        format!("{store_rate:.0}/s"),
        format!("raw batched INSERT, 1,000/tx: {raw_batched:.0}/s"),
        format!("{:.2}", store_rate / raw_batched),
    );
    out(
        "— part: encode + leaf hash + frontier, in memory, 1 thread".into(),
        format!("{encode_rate:.0}/s"),
        format!("raw batched INSERT, 1,000/tx: {raw_batched:.0}/s"),
        format!("{:.1}", encode_rate / raw_batched),
    );

    let started = Instant::now();
    for i in 0..singles {
        app.append(draft(i)).await.unwrap();
    }
    let single = singles as f64 / started.elapsed().as_secs_f64();
    out(
        "append, one at a time".into(),
        format!("{single:.0}/s"),
        format!("raw single-row INSERT tx (sync rate): {raw_single:.0}/s"),
        format!("**{:.2}**", single / raw_single),
    );
    app.checkpoint_now().await.unwrap();
    let size = app.db().ledger_size().await.unwrap();

    // ---- Verification, and the read alone. ----
    let started = Instant::now();
    let mut rows: Vec<LedgerRow> = Vec::with_capacity(size as usize);
    let mut from = 0;
    loop {
        let batch = app.db().ledger_rows(from, READ_BATCH).await.unwrap();
        let Some(last) = batch.last() else { break };
        from = last.seq + 1;
        rows.extend(batch);
    }
    let read_store = rows.len() as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut any = raw_conn(&db.url).await;
    let mut count = 0usize;
    let mut from = 0i64;
    loop {
        let batch =
            sqlx::query("SELECT seq, body, leaf_hash FROM ledger_entries WHERE seq >= $1 ORDER BY seq LIMIT $2")
                .bind(from)
                .bind(READ_BATCH as i64)
                .fetch_all(&mut any)
                .await
                .unwrap();
        let Some(last) = batch.last() else { break };
        from = last.try_get::<i64, _>(0).unwrap() + 1;
        for r in &batch {
            let (_s, b, h): (i64, Vec<u8>, Vec<u8>) = (r.get(0), r.get(1), r.get(2));
            count += usize::from(!b.is_empty() && h.len() == 32);
        }
    }
    let read_any3 = count as f64 / started.elapsed().as_secs_f64();
    drop(any);

    // The store's own long read, as `App::verify_ledger` uses it, drained without verifying.
    let started = Instant::now();
    let mut scan = app.db().scan_ledger(0, u64::MAX, true).unwrap();
    let mut scanned = 0usize;
    while let Some(b) = scan.next().await.unwrap() {
        scanned += (0..b.len()).filter(|&i| !b.body(i).is_empty() && b.leaf(i).is_some()).count();
    }
    let read_scan = scanned as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let count = native_read(&db.url).await;
    let read_native = count as f64 / started.elapsed().as_secs_f64();

    // The database engine reading every row's bytes without handing them to Rust one by one.
    let mut any = raw_conn(&db.url).await;
    let started = Instant::now();
    let engine_rows: i64 = sqlx::query("SELECT count(*) AS n FROM ledger_entries WHERE body > $1 AND leaf_hash > $1")
        .bind(vec![0u8])
        .fetch_one(&mut any)
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap();
    let read_engine = engine_rows as f64 / started.elapsed().as_secs_f64();
    drop(any);

    let key = SigningKey::from_seed("nhiguard.bench", &SEED).unwrap();
    let checkpoints: Vec<SignedCheckpoint> =
        app.db().checkpoints().await.unwrap().iter().map(|c| SignedCheckpoint::parse(&c.text).unwrap()).collect();
    let hashes: Vec<Hash> = rows.iter().map(|r| Hash(<[u8; 32]>::try_from(r.leaf_hash.as_slice()).unwrap())).collect();
    let started = Instant::now();
    let mut verifier = Verifier::new("bench", key.public_key(), checkpoints).unwrap();
    for (chunk, hs) in rows.chunks(READ_BATCH as usize).zip(hashes.chunks(READ_BATCH as usize)) {
        let batch: Vec<StoredEntry<'_>> = chunk
            .iter()
            .zip(hs)
            .map(|(r, h)| StoredEntry { seq: r.seq, bytes: &r.body, leaf_hash: Some(*h) })
            .collect();
        assert!(verifier.feed(&batch));
    }
    assert!(verifier.finish().is_ok());
    let verify_memory = rows.len() as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut acc = 0u8;
    for r in &rows {
        let mut h = sha2::Sha256::new();
        h.update([0u8]);
        h.update(&r.body);
        acc ^= h.finalize()[0];
    }
    let sha = rows.len() as f64 / started.elapsed().as_secs_f64();
    std::hint::black_box(acc);

    let started = Instant::now();
    let v = app.verify_ledger(Vec::new()).await.unwrap();
    let verify = v.report.entries_checked as f64 / started.elapsed().as_secs_f64();
    assert!(v.report.is_ok());
    out(
        format!("verify whole log, `App::verify_ledger` ({} entries)", v.report.entries_checked),
        format!("{verify:.0}/s"),
        format!("raw SHA-256 in memory: {sha:.0}/s"),
        format!("**{:.3}**", verify / sha),
    );
    out(
        "— part: read every row, `Db::ledger_rows` (sqlx Any, 6 columns by name, 20,000/batch)".into(),
        format!("{read_store:.0}/s"),
        format!("raw SHA-256 in memory: {sha:.0}/s"),
        format!("{:.3}", read_store / sha),
    );
    out(
        "— part: read every row, the store's scan (`Db::scan_ledger`: rusqlite / binary COPY, packed batches)".into(),
        format!("{read_scan:.0}/s"),
        format!("raw SHA-256 in memory: {sha:.0}/s"),
        format!("{:.3}", read_scan / sha),
    );
    out(
        "— part: read every row, sqlx Any, only seq, body, leaf_hash, by index".into(),
        format!("{read_any3:.0}/s"),
        format!("raw SHA-256 in memory: {sha:.0}/s"),
        format!("{:.3}", read_any3 / sha),
    );
    out(
        format!("— part: read every row, sqlx native {backend} driver, only seq, body, leaf_hash"),
        format!("{read_native:.0}/s"),
        format!("raw SHA-256 in memory: {sha:.0}/s"),
        format!("{:.3}", read_native / sha),
    );
    out(
        "— part: the database engine scanning every row's body and hash (one COUNT, no rows to Rust)".into(),
        format!("{read_engine:.0}/s"),
        format!("raw SHA-256 in memory: {sha:.0}/s"),
        format!("{:.3}", read_engine / sha),
    );
    out(
        "— part: `Verifier` fed from memory (rows already read), 1 thread".into(),
        format!("{verify_memory:.0}/s"),
        format!("raw SHA-256 in memory: {sha:.0}/s"),
        format!("{:.2}", verify_memory / sha),
    );
    drop(rows);

    proofs.push(proof_parts(&app, &db.url, size / 2).await);
    for (tree, median, p99, leaf_only, compute) in &proofs {
        out(
            format!("inclusion proof, `App::inclusion` (stored subtree roots), tree of {tree}: median / p99 of 200"),
            format!("{median:.2} / {p99:.2} ms"),
            format!("from every leaf: read the leaf_hash column {leaf_only:.1} ms + proof in memory {compute:.2} ms"),
            format!("{:.4}", median / (leaf_only + compute)),
        );
    }

    let per_million = support::db_bytes(&db.url).await as f64 / size as f64 * 1e6 / (1024.0 * 1024.0);
    out(
        format!("database size per million entries (whole database of {size} entries)"),
        format!("{per_million:.0} MiB"),
        "raw rows ~360 MiB per million (issue 4)".into(),
        format!("{:.2}", per_million / 360.0),
    );

    println!("{}", support::machine_note());
    println!("{}", load.note());
    println!("| measure | nhiguard | baseline (same run) | ratio |");
    println!("|---|---|---|---|");
    for line in table {
        println!("{line}");
    }
}

/// Reads every entry's seq, body and leaf hash through sqlx's own driver for the database (not `Any`).
async fn native_read(url: &str) -> usize {
    let mut count = 0usize;
    let mut from = 0i64;
    macro_rules! read_all {
        ($conn:expr) => {
            loop {
                let batch = sqlx::query(
                    "SELECT seq, body, leaf_hash FROM ledger_entries WHERE seq >= $1 ORDER BY seq LIMIT $2",
                )
                .bind(from)
                .bind(READ_BATCH as i64)
                .fetch_all(&mut $conn)
                .await
                .unwrap();
                let Some(last) = batch.last() else { break };
                from = last.try_get::<i64, _>(0).unwrap() + 1;
                for r in &batch {
                    let (b, h): (&[u8], &[u8]) = (r.get(1), r.get(2));
                    count += usize::from(!b.is_empty() && h.len() == 32);
                }
            }
        };
    }
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        read_all!(c);
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        read_all!(c);
    }
    count
}
