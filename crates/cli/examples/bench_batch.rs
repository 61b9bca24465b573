//! A batch query at scale (issue 5, R-QRY-4): a CSV of N subjects (default 100,000) uploaded as
//! `soc.user` under purpose 8 / INS01, from upload to a downloadable result, against the local
//! sandbox NHIA over loopback HTTP (the real connector), every subject its own query in the ledger.
//! Beside it, in the same run, the baseline: the same number of direct lookups through the same
//! connector, 32 in flight (as the batch runs them). Memory is read from `/proc/self/status`: the
//! resident size before, the peak while the batch runs, and after.
//!
//! ```sh
//! cargo build --release -p nhiguard --examples
//! target/release/examples/bench_batch [SUBJECTS]          # SQLite, default 100000
//! NHIGUARD_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres target/release/examples/bench_batch
//! ```
//!
//! The sandbox holds as many people as the file has rows (at least 5,000), and the file names each
//! once: a batch refuses a file that names a person twice. Prints figures only, never a subject or
//! an answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use nhiguard_app::SessionKind;
use nhiguard_app::batch::BatchInput;
use nhiguard_domain::national_id::NationalId;
use nhiguard_nhi::{LookupRequest, Subject};

/// A line of `/proc/self/status`, in MiB.
fn status_mib(field: &str) -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets the peak resident size (`VmHWM`) to the current one, so the next peak is this run's.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").ok();
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let load = support::OthersLoad::start();
    let server = support::start_with(n.max(5000));
    let driver = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (app, addr, backend, direct) = (server.app.clone(), server.addr, server.backend, server.direct.clone());
    driver.block_on(async move {
        println!("batch benchmark on {backend}: {n} subjects");
        println!("before: {}", support::machine_note());
        let ids = app.sandbox_examples(n);
        assert_eq!(ids.len(), n, "the sandbox knows {n} people");
        let token = support::sign_in(addr, "soc.user").await;
        let current = app.current(&token, SessionKind::Api, "127.0.0.1").await.unwrap();
        let purpose = app.db().purposes().await.unwrap().into_iter().find(|p| p.number == 8).unwrap();
        let operation = app.db().operations().await.unwrap().into_iter().find(|o| o.code == "INS01").unwrap();

        // ---- Baseline: the same lookups straight to the sandbox, 32 in flight. ----
        let parsed: Arc<Vec<NationalId>> = Arc::new(ids.iter().map(|s| NationalId::parse(s).unwrap()).collect());
        let started = Instant::now();
        let sem = Arc::new(tokio::sync::Semaphore::new(32));
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            let (direct, parsed, sem) = (direct.clone(), parsed.clone(), sem.clone());
            set.spawn(async move {
                let _permit = sem.acquire_owned().await;
                let req = LookupRequest {
                    operation_code: "INS01".into(),
                    subject: Subject::NationalId(parsed[i % parsed.len()].clone()),
                    request_id: format!("bench-batch-direct-{i}"),
                };
                direct.lookup(&req).await.is_ok()
            });
        }
        let mut ok = 0usize;
        while let Some(r) = set.join_next().await {
            ok += usize::from(r.unwrap());
        }
        let baseline = started.elapsed();
        assert_eq!(ok, n);

        // ---- The batch. ----
        let mut csv = String::from("身分證號\n");
        for i in 0..n {
            csv.push_str(&ids[i % ids.len()]);
            csv.push('\n');
        }
        let input = BatchInput {
            purpose_id: purpose.id,
            operation_id: operation.id,
            case_number: "115-稅-000001".into(),
            reason: "欠稅人聯絡地址查詢以送達繳款書".into(),
            file_name: "subjects.csv".into(),
            bytes: csv.into_bytes(),
        };
        let ledger_before = app.db().ledger_size().await.unwrap();
        let rss_before = status_mib("VmRSS:");
        reset_peak();
        let started = Instant::now();
        let id = app.upload_batch(&current, &input).await.unwrap();
        let uploaded = started.elapsed();
        drop(input);
        let mut samples = Vec::new();
        loop {
            let b = app.batch(&current, id).await.unwrap();
            samples.push((started.elapsed(), b.done, status_mib("VmRSS:")));
            if b.state == "done" {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(1800), "the batch did not finish");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let (_, file) = app.batch_file(&current, id, false).await.unwrap();
        let total = started.elapsed();
        let peak = status_mib("VmHWM:");
        let rss_after = status_mib("VmRSS:");
        let entries = app.db().ledger_size().await.unwrap() - ledger_before;
        let b = app.batch(&current, id).await.unwrap();
        println!();
        println!("| measure | figure | baseline (same run) | ratio |");
        println!("|---|---|---|---|");
        println!(
            "| direct lookups through the connector, 32 in flight (baseline) | {:.1} s = {:.0}/s | | 1 |",
            baseline.as_secs_f64(),
            n as f64 / baseline.as_secs_f64()
        );
        println!(
            "| **batch of {n}: upload to downloadable result** | **{:.1} s** = {:.0} subjects/s | {:.1} s | {:.1} |",
            total.as_secs_f64(),
            n as f64 / total.as_secs_f64(),
            baseline.as_secs_f64(),
            total.as_secs_f64() / baseline.as_secs_f64()
        );
        println!("| — part: upload (read, check every row, store sealed) | {:.2} s | | |", uploaded.as_secs_f64());
        println!("| rows answered / not found / failed | {} / {} / {} | | |", b.answered, b.not_found, b.failed);
        println!("| ledger entries written | {entries} ({:.2} per subject) | | |", entries as f64 / n as f64);
        println!("| result file | {:.1} MiB | | |", file.len() as f64 / 1_048_576.0);
        println!(
            "| resident memory: before / peak during / after | {rss_before:.0} / {peak:.0} / {rss_after:.0} MiB | | |"
        );
        // Memory over the run, at a tenth, a half and nine tenths of the rows.
        let at = |f: f64| {
            samples
                .iter()
                .find(|(_, done, _)| *done as f64 >= f * n as f64)
                .map(|(t, _, rss)| format!("{rss:.0} MiB at {:.0} s", t.as_secs_f64()))
                .unwrap_or_default()
        };
        println!("| resident memory at 10 % / 50 % / 90 % of the rows | {} / {} / {} | | |", at(0.1), at(0.5), at(0.9));
        println!();
        println!("after: {}", support::machine_note());
        println!("{}", load.note());
    });
    drop(driver);
    drop(server);
}
