//! The monthly review at scale (issue 6): one agency with many queries in a closed month, and the
//! time to read the month, draw the sample, flag the risks and build the sheet — each beside the
//! plain read of the same ledger rows from the database (the baseline nothing can beat: every step
//! starts with it).
//!
//! The month is filled without sending anything: each query and its outcome are the entries the
//! gateway would write (`App::query_draft`, `App::outcome_draft`), dated inside last month,
//! appended through the ledger's group commit by 64 concurrent appenders.
//!
//! ```sh
//! cargo build --release -p nhiguard --examples
//! target/release/examples/bench_review [QUERIES]          # SQLite, default 100000
//! NHIGUARD_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres target/release/examples/bench_review
//! target/release/examples/bench_review 100000 --background 9800000   # inside a ledger of 10 million
//! ```
//!
//! With `--background N`, N entries (queries and outcomes of other users, dated over the five years
//! before the month) are appended first through the same group commit by 1,000 appenders, so that
//! the month lies inside a ledger of N + 2·QUERIES entries; a second table then shows the ledger at
//! that size (issue 4): signing a checkpoint (which stores the new subtree roots), verifying the
//! whole log beside raw SHA-256 over the same entries in memory, the database size per million
//! entries, and inclusion proofs.
//!
//! `--proofs URL` measures only the inclusion proofs, on the ledger an earlier run left in the
//! database at URL (a PostgreSQL run leaves its `nhiguard_test_*` database until CI drops it), so that
//! a change to proofs is measured at ten million entries without filling them again:
//!
//! ```sh
//! target/release/examples/bench_review --proofs postgres://postgres@127.0.0.1:5432/nhiguard_test_…
//! ```
//!
//! Prints figures only, never a subject.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, TimeZone};
use nhiguard_app::gateway::Access;
use nhiguard_app::{Current, SessionKind};
use nhiguard_domain::national_id::NationalId;
use nhiguard_domain::query::{CaseNumber, Outcome, Reason, Subject};

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// Issue 4's measures at the size the ledger has reached.
async fn ledger_at_scale(app: &nhiguard_app::App, url: &str) {
    use sha2::Digest;
    let t = Instant::now();
    let cp = app.checkpoint_now().await.unwrap();
    let checkpoint = t.elapsed();
    let size = app.db().ledger_size().await.unwrap();
    let t = Instant::now();
    let v = app.verify_ledger(Vec::new()).await.unwrap();
    let verify = t.elapsed();
    assert!(v.report.is_ok(), "{:?}", v.report.failure);
    // Raw SHA-256 (the leaf hash: 0x00 and the bytes) over the first million entries, in memory.
    let mut bodies = Vec::new();
    let mut scan = app.db().scan_ledger(0, 1_000_000, true).unwrap();
    while let Some(b) = scan.next().await.unwrap() {
        bodies.extend((0..b.len()).map(|i| b.body(i).to_vec()));
    }
    let t = Instant::now();
    let mut acc = 0u8;
    for body in &bodies {
        let mut h = sha2::Sha256::new();
        h.update([0u8]);
        h.update(body);
        acc ^= h.finalize()[0];
    }
    std::hint::black_box(acc);
    let sha = bodies.len() as f64 / t.elapsed().as_secs_f64();
    drop(bodies);
    let (times, again) = proof_passes(app, size).await;
    let bytes = support::db_bytes(url).await;
    let rate = v.report.entries_checked as f64 / verify.as_secs_f64();
    println!("\n| the ledger at {size} entries | figure | baseline (same run) | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| sign a checkpoint of {} entries, storing the new subtree roots | {} | | |",
        cp.map(|c| c.size).unwrap_or(0),
        secs(checkpoint)
    );
    println!(
        "| verify the whole log (`App::verify_ledger`) | {} = {rate:.0} entries/s | raw SHA-256 in memory: {sha:.0} entries/s | {:.3} |",
        secs(verify),
        rate / sha
    );
    println!(
        "| database size per million entries | {:.0} MiB | raw rows ~360 MiB per million (issue 4) | {:.2} |",
        bytes as f64 / size as f64 * 1e6 / 1_048_576.0,
        bytes as f64 / size as f64 * 1e6 / 1_048_576.0 / 360.0
    );
    println!(
        "| inclusion proof (`App::inclusion`), median / p99 of 200 | {:.2} / {:.2} ms | target < 1 ms | |",
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
    println!(
        "| the same 200 proofs again at once (their pages in memory), median / p99 | {:.2} / {:.2} ms | | |",
        again[again.len() / 2],
        again[again.len() * 99 / 100]
    );
}

/// The same 200 proofs twice, each pass's times sorted: first as they come (pages this machine has
/// not read for a minute are paged out, BENCHMARKS.md section 3), then again at once, their pages in
/// memory.
async fn proof_passes(app: &nhiguard_app::App, size: u64) -> (Vec<f64>, Vec<f64>) {
    let mut passes = Vec::new();
    for _ in 0..2 {
        let mut times = Vec::new();
        for k in 0..200u64 {
            let seq = (k * 7_919_993 + 12_345) % size;
            let t = Instant::now();
            app.inclusion(seq).await.unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        passes.push(times);
    }
    let again = passes.pop().unwrap_or_default();
    (passes.pop().unwrap_or_default(), again)
}

/// `--proofs URL`: the proofs alone, on a ledger already there (its checkpoints signed by the key
/// of the run that filled it; a proof does not check signatures, `ledger verify` does).
fn proofs_only(url: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let db = nhiguard_store::Db::open(url).await.unwrap();
        let keys = support::keys();
        let settings = nhiguard_app::settings::Settings::default();
        let nhi = nhiguard_app::gateway::sandbox_nhi(7, chrono::Utc::now().date_naive(), &settings).await.unwrap();
        let app = nhiguard_app::App::new(db, settings, Arc::new(nhiguard_domain::clock::SystemClock), keys, nhi);
        let size = app.db().latest_checkpoint().await.unwrap().expect("a signed checkpoint").size;
        let (times, again) = proof_passes(&app, size).await;
        println!("inclusion proofs in the first {size} entries of the ledger at the URL given");
        println!("| pass | median | p99 |");
        println!("|---|---|---|");
        for (pass, t) in [("first, as they come", &times), ("again at once", &again)] {
            println!("| {pass} | {:.2} ms | {:.2} ms |", t[t.len() / 2], t[t.len() * 99 / 100]);
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(url) = args.iter().position(|a| a == "--proofs").and_then(|i| args.get(i + 1)) {
        return proofs_only(url);
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let background: usize = args
        .iter()
        .position(|a| a == "--background")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let server = support::start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (app, addr, backend) = (server.app.clone(), server.addr, server.backend);
    let server_url = server.db.url.clone();
    rt.block_on(async move {
        let today = nhiguard_domain::roc::taipei_date(app.now());
        let (year, month) = nhiguard_app::review::previous_month(today);
        let days = chrono::NaiveDate::from_ymd_opt(year, month, 28).unwrap().day();
        let soc = app.db().account_by_username("soc.user").await.unwrap().unwrap();
        let tree = app.db().org_tree().await.unwrap();
        let agency = tree.agency_of(soc.org_node_id).unwrap();
        let purpose = app.db().purposes().await.unwrap().into_iter().find(|p| p.number == 8).unwrap();
        let operation = app.db().operations().await.unwrap().into_iter().find(|o| o.code == "INS01").unwrap();
        let access = Arc::new(Access { purpose, operation, agency: Some(agency), case_pattern: None });
        let current = Arc::new(Current {
            account_id: soc.id,
            username: soc.username.clone(),
            person_name: soc.person_name.clone(),
            person_title: soc.person_title.clone(),
            org_node_id: soc.org_node_id,
            roles: soc.roles.clone(),
            csrf: String::new(),
            kind: SessionKind::Api,
            client_addr: "127.0.0.1".into(),
            must_change_password: false,
            must_enrol_totp: false,
            reference_generation: None,
            grants: None,
            locked_until: None,
            barred: None,
        });
        let ids: Arc<Vec<String>> = Arc::new(app.sandbox_examples(2000));
        println!("review benchmark on {}: {n} queries by one user of one agency in {year}-{month:02}", backend);

        // ---- The rest of the ledger: five years before the month. ----
        if background > 0 {
            let started = Instant::now();
            let month_start = chrono::FixedOffset::east_opt(8 * 3600)
                .unwrap()
                .with_ymd_and_hms(year, month, 1, 0, 0, 0)
                .unwrap()
                .timestamp_micros();
            let span = 5 * 365 * 86_400 * 1_000_000i64;
            let appenders = 1000;
            let mut tasks = Vec::new();
            for t in 0..appenders {
                let (app, access, current, ids) = (app.clone(), access.clone(), current.clone(), ids.clone());
                tasks.push(tokio::spawn(async move {
                    let reason = Reason::parse("稅捐稽徵欠稅人聯絡地址查詢以送達繳款書", 8).unwrap();
                    for i in (t..background / 2).step_by(appenders) {
                        let subject = Subject::NationalId(NationalId::parse(&ids[i % ids.len()]).unwrap());
                        let case = CaseNumber::parse(&format!("108-稅-{i}")).unwrap();
                        // In order of time, as a real log fills.
                        let at = month_start - span + span / (background as i64 / 2) * i as i64;
                        let mut who = (*current).clone();
                        who.username = format!("user{:03}", i % 300);
                        let mut q = app.query_draft(&who, &access, &case, &reason, &subject, &[]);
                        q.at_micros = at;
                        let seq = app.append(q).await.unwrap();
                        let mut o = app.outcome_draft(&who.username, seq, &(Outcome::Answered, Vec::new(), None));
                        o.at_micros = at + 1;
                        app.append(o).await.unwrap();
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let size = app.db().ledger_size().await.unwrap();
            let d = started.elapsed();
            println!(
                "background: {size} ledger entries in {} ({:.0} entries/s through group commit, 1,000 appenders)",
                secs(d),
                size as f64 / d.as_secs_f64()
            );
            // A server signs a checkpoint every ten minutes, storing the subtree roots as it goes;
            // this fill had none, so the first one stores them all.
            let t = Instant::now();
            app.checkpoint_now().await.unwrap();
            println!("first checkpoint, storing the subtree roots of all {size} entries: {}", secs(t.elapsed()));
        }

        // ---- Fill the month. ----
        let started = Instant::now();
        let appenders = 64;
        let mut tasks = Vec::new();
        for t in 0..appenders {
            let (app, access, current, ids) = (app.clone(), access.clone(), current.clone(), ids.clone());
            tasks.push(tokio::spawn(async move {
                let reason = Reason::parse("兒少保護個案家訪前確認投保單位以聯繫家屬", 8).unwrap();
                for i in (t..n).step_by(appenders) {
                    let subject = Subject::NationalId(NationalId::parse(&ids[i % ids.len()]).unwrap());
                    let case = CaseNumber::parse(&format!("113-兒保-{i}")).unwrap();
                    // Office hours, spread over the month's first 28 days.
                    let day = u32::try_from(i % 28).unwrap() + 1;
                    let minute = u32::try_from(i % 480).unwrap();
                    let at = chrono::FixedOffset::east_opt(8 * 3600)
                        .unwrap()
                        .with_ymd_and_hms(year, month, day.min(days), 9 + minute / 60, minute % 60, 0)
                        .unwrap()
                        .timestamp_micros();
                    let mut q = app.query_draft(&current, &access, &case, &reason, &subject, &[]);
                    q.at_micros = at;
                    let seq = app.append(q).await.unwrap();
                    let mut o = app.outcome_draft(&current.username, seq, &(Outcome::Answered, Vec::new(), None));
                    o.at_micros = at + 1;
                    app.append(o).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let size = app.db().ledger_size().await.unwrap();
        println!("filled: {n} queries ({} ledger entries in all) in {}", size, secs(started.elapsed()));
        // A server signs a checkpoint every ten minutes, storing the new subtree roots as it goes, so
        // the one taken when the month closes covers minutes of entries, not the whole month.
        let t = Instant::now();
        app.checkpoint_now().await.unwrap();
        println!("the checkpoints a server would have signed during the month, at once: {}", secs(t.elapsed()));
        if backend == "PostgreSQL" {
            // Autovacuum would have summarized the time index's page ranges as they filled over
            // five years (migration 0020); a log loaded in minutes has to be vacuumed once.
            let t = Instant::now();
            let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&server_url).await.unwrap();
            sqlx::Executor::execute(&mut c, "VACUUM (ANALYZE) ledger_entries").await.unwrap();
            println!("VACUUM (ANALYZE) of the ledger, what autovacuum does as it grows: {}", secs(t.elapsed()));
        }

        // ---- Baseline: the month's rows read from the database, nothing more. ----
        let start_micros = chrono::FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(year, month, 1, 0, 0, 0)
            .unwrap()
            .timestamp_micros();
        let (ny, nm) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
        let end_micros = chrono::FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(ny, nm, 1, 0, 0, 0)
            .unwrap()
            .timestamp_micros();
        let t = Instant::now();
        let raw = app.db().ledger_bodies_between(&["query", "query_outcome"], start_micros, end_micros).await.unwrap();
        let baseline = t.elapsed();
        println!("\n| step | time | × the plain read |");
        println!("|---|---|---|");
        println!(
            "| read the month's {} rows, sequence number and body (baseline) | {} | 1.0 |",
            raw.len(),
            secs(baseline)
        );
        let ratio = |d: Duration| format!("{:.1}", d.as_secs_f64() / baseline.as_secs_f64().max(1e-9));
        let t = Instant::now();
        let all =
            app.db().ledger_between(&["query", "query_outcome"], start_micros, end_micros, 10_000_000).await.unwrap();
        let d = t.elapsed();
        println!(
            "| the same {} rows, every column, sorted by the database (the general read) | {} | {} |",
            all.len(),
            secs(d),
            ratio(d)
        );

        let t = Instant::now();
        let rows = nhiguard_app::review::month_rows(app.db(), agency, year, month).await.unwrap();
        let d = t.elapsed();
        println!(
            "| the month's queries, decoded and paired with outcomes ({}) | {} | {} |",
            rows.len(),
            secs(d),
            ratio(d)
        );

        let t = Instant::now();
        let prepared = app.prepare_reviews(year, month).await.unwrap();
        let d = t.elapsed();
        println!(
            "| prepare the month's reviews, every agency (checkpoint, read, draw: the sample) | {} | {} |",
            secs(d),
            ratio(d)
        );
        assert!(prepared > 0);

        // The review page's work: the month again, the recomputed draw and the risk flags.
        let mut conn = support::Conn::new(addr);
        let body = serde_json::json!({"username": "soc.chief", "password": support::PASSWORD}).to_string();
        let token = conn.request("POST", "/api/v1/session", None, Some(&body)).await.unwrap().json()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let review = app.db().review_for(agency, year, month).await.unwrap().unwrap();
        let t = Instant::now();
        let r = conn.request("GET", &format!("/api/v1/reviews/{}", review.id), Some(&token), None).await.unwrap();
        let d = t.elapsed();
        assert_eq!(r.status, 200);
        let flags = r.json()["flags"].as_array().map(Vec::len).unwrap_or(0);
        println!(
            "| the review (sample {}, recomputed; {flags} risk flags) over HTTP | {} | {} |",
            review.sample.len(),
            secs(d),
            ratio(d)
        );

        let chief = app.current(&token, SessionKind::Api, "127.0.0.1").await.unwrap();
        // The review page as it opens: the draw recomputed from the population kept at preparation.
        let t = Instant::now();
        let quick = app.review_view_from(&chief, review.id, false).await.unwrap();
        let d = t.elapsed();
        assert!(quick.sample_matches && !quick.from_ledger);
        println!(
            "| the review page's work (sample {} recomputed from the kept population, no flags) | {} | {} |",
            quick.sample.len(),
            secs(d),
            ratio(d)
        );
        let t = Instant::now();
        let (_, ods) = app.review_sheet_ods(&chief, review.id).await.unwrap();
        let d = t.elapsed();
        println!(
            "| the query record sheet as ODS ({:.1} MiB) | {} | {} |",
            ods.len() as f64 / 1_048_576.0,
            secs(d),
            ratio(d)
        );

        if background > 0 {
            ledger_at_scale(&app, &server_url).await;
        }
    });
    drop(rt);
    drop(server);
}
