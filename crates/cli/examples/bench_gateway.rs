//! The gateway's overhead over a direct call to the sandbox NHIA (issue 5), side by side in one run:
//!
//! - **direct**: `nhiguard_nhi::HttpConnector::lookup` (INS01) against the sandbox over loopback HTTP
//!   — what a client would pay without nhiguard;
//! - **gateway**: `POST /api/v1/queries` (purpose 8, INS01) as `soc.user` with a bearer token over
//!   HTTP/1.1 keep-alive — authorise, durable query entry, the same lookup through the same kind of
//!   connector to the same sandbox, durable outcome entry and sealed result, answer;
//! - **a disk sync**: write + `sync_data` of a small file beside the SQLite database, right before
//!   and after each level;
//! - two of the gateway's parts alone, to show where its time goes: `GET /api/v1/me` (HTTP, bearer
//!   token and session/account reads, no write) and `App::append` (a group-committed ledger entry).
//!
//! Each concurrency level runs every path with the same number of requests from the same number of
//! concurrent clients, one after the other. The server and the sandbox run on two worker threads, the
//! load driver on a thread of its own; all share the machine's 2 cores.
//!
//! ```sh
//! cargo build --release -p nhiguard --examples
//! target/release/examples/bench_gateway [--queries 4000] [--concurrency 1,64,200] [--syncs 200]
//! NHIGUARD_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres target/release/examples/bench_gateway
//! ```
//!
//! `--rate 500,1000,2000` instead offers the load open-loop: requests start at a fixed rate whether
//! or not earlier ones have finished (new connections are opened when all are busy), and each
//! latency counts from when its request was due, so queueing shows as latency. This is how the
//! latency targets are read: at a given rate, not at saturation, where a closed loop of C clients
//! can only ever see C ÷ throughput.
//!
//! `--only gateway` (or `direct`, `me`, `append`) runs one path alone, e.g. under `perf` or `strace`;
//! `--sql` adds, per level, the SQL statements of a gateway query with their rows and time on the
//! connection (a separate run: recording costs a little). Besides latency, each row shows the CPU
//! time of the whole process per request, the cores it kept busy (of 2) and its threads' context
//! switches per request; the line above each table splits the gateway's CPU by thread.
//!
//! Prints figures only, never a subject or an answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nhiguard_app::App;
use nhiguard_app::ledger::Draft;
use nhiguard_domain::national_id::NationalId;
use nhiguard_ledger::EntryKind;
use nhiguard_nhi::{Connector, LookupRequest, Subject};
use support::{Conn, Stats};

const REASON: &str = "兒少保護個案家訪前確認投保單位以聯繫家屬";

/// Runs `n` requests from `c` concurrent clients; `one(client, i)` performs request `i` and says
/// whether it succeeded.
async fn drive<S, F, Fut>(c: usize, n: usize, mut state: impl FnMut() -> S, one: F) -> Stats
where
    S: Send + 'static,
    F: Fn(S, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (S, bool)> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let cpu = support::process_cpu();
    let switches = support::process_switches();
    let started = Instant::now();
    let tasks: Vec<_> = (0..c)
        .map(|_| {
            let (next, one, mut s) = (next.clone(), one.clone(), state());
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let t = Instant::now();
                    let (back, ok) = one(s, i).await;
                    s = back;
                    lat.push(t.elapsed());
                    errors += usize::from(!ok);
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut lat, mut errors) = (Vec::with_capacity(n), 0);
    for t in tasks {
        let (l, e) = t.await.unwrap();
        lat.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    Stats::new(lat, elapsed, errors)
        .with_cpu(support::process_cpu().saturating_sub(cpu))
        .with_switches(support::process_switches().saturating_sub(switches))
}

/// Offers `n` requests at `rate` per second, open-loop: request `i` is due at `i ÷ rate` seconds
/// and starts then on a free client (a new one if none is free); its latency counts from when it
/// was due.
async fn drive_open<S, F, Fut>(rate: f64, n: usize, state: impl Fn() -> S, one: F) -> Stats
where
    S: Send + 'static,
    F: Fn(S, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (S, bool)> + Send + 'static,
{
    let pool: Arc<std::sync::Mutex<Vec<S>>> = Arc::default();
    let done: Arc<std::sync::Mutex<(Vec<Duration>, usize)>> = Arc::default();
    let cpu = support::process_cpu();
    let switches = support::process_switches();
    let started = Instant::now();
    // Requests are released by a thread that sleeps until each is due. The runtime's timer fires
    // on whole milliseconds: it released requests up to 1 ms late and in bunches (two at once at
    // 2,000/s), a queue that a path which answers in 0.1 ms hardly feels and a slower one does.
    let (release, mut released) = tokio::sync::mpsc::unbounded_channel();
    let pacer = std::thread::spawn(move || {
        for i in 0..n {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if release.send((i, due)).is_err() {
                break;
            }
        }
    });
    let mut tasks = Vec::with_capacity(n);
    while let Some((i, due)) = released.recv().await {
        let s = pool.lock().unwrap().pop().unwrap_or_else(&state);
        let (pool, done, one) = (pool.clone(), done.clone(), one.clone());
        tasks.push(tokio::spawn(async move {
            let (s, ok) = one(s, i).await;
            let latency = due.elapsed();
            pool.lock().unwrap().push(s);
            let mut d = done.lock().unwrap();
            d.0.push(latency);
            d.1 += usize::from(!ok);
        }));
    }
    pacer.join().unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let (lat, errors) = std::mem::take(&mut *done.lock().unwrap());
    Stats::new(lat, elapsed, errors)
        .with_cpu(support::process_cpu().saturating_sub(cpu))
        .with_switches(support::process_switches().saturating_sub(switches))
}

/// How a path is driven: `c` clients in a closed loop, or an open-loop rate.
#[derive(Clone, Copy)]
enum Load {
    Clients(usize),
    Rate(f64),
}

async fn run<S, F, Fut>(load: Load, n: usize, state: impl Fn() -> S, one: F) -> Stats
where
    S: Send + 'static,
    F: Fn(S, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (S, bool)> + Send + 'static,
{
    match load {
        Load::Clients(c) => drive(c, n, state, one).await,
        Load::Rate(r) => drive_open(r, n, state, one).await,
    }
}

async fn direct(connector: Arc<dyn Connector>, ids: Arc<Vec<NationalId>>, c: usize, n: usize) -> Stats {
    direct_at(connector, ids, Load::Clients(c), n).await
}

async fn direct_at(connector: Arc<dyn Connector>, ids: Arc<Vec<NationalId>>, load: Load, n: usize) -> Stats {
    run(
        load,
        n,
        || (),
        move |(), i| {
            let (connector, ids) = (connector.clone(), ids.clone());
            async move {
                let req = LookupRequest {
                    operation_code: "INS01".into(),
                    subject: Subject::NationalId(ids[i % ids.len()].clone()),
                    request_id: format!("bench-direct-{i}"),
                };
                ((), connector.lookup(&req).await.is_ok())
            }
        },
    )
    .await
}

struct Target {
    addr: SocketAddr,
    token: Arc<str>,
    purpose_id: i64,
    operation_id: i64,
    ids: Arc<Vec<String>>,
}

static FIRST_ERROR: std::sync::Once = std::sync::Once::new();

async fn gateway(t: &Target, c: usize, n: usize) -> Stats {
    gateway_at(t, Load::Clients(c), n).await
}

async fn gateway_at(t: &Target, load: Load, n: usize) -> Stats {
    let (addr, token, ids) = (t.addr, t.token.clone(), t.ids.clone());
    let (p, o) = (t.purpose_id, t.operation_id);
    run(
        load,
        n,
        move || Conn::new(addr),
        move |mut conn: Conn, i| {
            let (token, ids) = (token.clone(), ids.clone());
            async move {
                let body = serde_json::json!({
                    "purpose_id": p, "operation_id": o, "case_number": format!("115-兒保-{:06}", i % 1_000_000),
                    "reason": REASON, "national_id": ids[i % ids.len()],
                })
                .to_string();
                let ok = match conn.request("POST", "/api/v1/queries", Some(&token), Some(&body)).await {
                    Ok(r) if r.status == 200 && r.json()["outcome"] == "answered" => true,
                    Ok(r) => {
                        FIRST_ERROR.call_once(|| {
                            println!("first failed query: HTTP {} {}", r.status, String::from_utf8_lossy(&r.body));
                        });
                        false
                    }
                    Err(e) => {
                        FIRST_ERROR.call_once(|| println!("first failed query: {e}"));
                        conn = Conn::new(addr);
                        false
                    }
                };
                (conn, ok)
            }
        },
    )
    .await
}

async fn me(t: &Target, c: usize, n: usize) -> Stats {
    let (addr, token) = (t.addr, t.token.clone());
    drive(
        c,
        n,
        move || Conn::new(addr),
        move |mut conn: Conn, _| {
            let token = token.clone();
            async move {
                let ok =
                    matches!(conn.request("GET", "/api/v1/me", Some(&token), None).await, Ok(r) if r.status == 200);
                (conn, ok)
            }
        },
    )
    .await
}

async fn append(app: App, c: usize, n: usize) -> Stats {
    drive(
        c,
        n,
        || (),
        move |(), i| {
            let app = app.clone();
            async move {
                let d = Draft {
                    kind: EntryKind::Query,
                    actor: "bench.append".into(),
                    at_micros: chrono::Utc::now().timestamp_micros(),
                    fields: vec![
                        ("case_number".into(), format!("115-兒保-{i:06}")),
                        ("reason".into(), REASON.into()),
                        ("operation".into(), "INS01".into()),
                        ("purpose".into(), "8".into()),
                        ("subject_masked".into(), "A1234*****".into()),
                        ("outcome".into(), "sent".into()),
                    ],
                };
                ((), app.append(d).await.is_ok())
            }
        },
    )
    .await
}

fn row(level: usize, what: &str, s: &Stats) {
    println!(
        "| {level} | {what} | {:.0}/s | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} | {:.0} | {} |",
        s.rate(),
        s.p50(),
        s.p99(),
        s.cpu_ms(),
        s.cores(),
        s.switches_per(),
        if s.errors == 0 { "0".to_owned() } else { format!("**{}**", s.errors) }
    );
}

/// The open-loop run (`--rate`): direct and gateway at each offered rate, and issue 5's latency
/// targets read there.
async fn open_loop(
    server: &support::Server,
    target: &Target,
    parsed: Arc<Vec<NationalId>>,
    rates: &[usize],
    n: usize,
    syncs: usize,
) {
    let mut summary = Vec::new();
    for &r in rates {
        let rate = r as f64;
        let sync_before = support::sync_probe(&server.data_dir, syncs);
        let d = direct_at(server.direct.clone(), parsed.clone(), Load::Rate(rate), n).await;
        let (threads, t0) = (support::thread_cpu(), Instant::now());
        let g = gateway_at(target, Load::Rate(rate), n).await;
        let gateway_threads = support::thread_cores(&threads, &support::thread_cpu(), t0.elapsed());
        let sync_after = support::sync_probe(&server.data_dir, syncs);
        let mut all_syncs = sync_before.latencies.clone();
        all_syncs.extend(sync_after.latencies.iter().copied());
        let sync = Stats::new(all_syncs, sync_before.elapsed + sync_after.elapsed, 0);
        println!();
        println!("### offered {r} requests/s (open loop)");
        println!("gateway at {r}/s, cores used by thread: {gateway_threads}");
        println!();
        println!(
            "| offered | path | achieved | p50 | p99 | CPU/request | cores busy | context switches/request | errors |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        row(r, "direct: HttpConnector → sandbox (baseline)", &d);
        row(r, "gateway: POST /api/v1/queries", &g);
        println!(
            "| – | disk sync: write + sync_data, {} in a row | {:.0}/s | {:.2} ms | {:.2} ms | – | – | – | |",
            sync.n(),
            sync.rate(),
            sync.p50(),
            sync.p99()
        );
        summary.push((r, d, g, sync));
    }
    println!();
    println!("### against issue 5's targets, at each offered rate");
    println!(
        "| offered | achieved (≥ 2,000/s) | added p50 (≤ sync p50 + 1 ms) | added p99 | gateway p99 (≤ 10 ms) | errors |"
    );
    println!("|---|---|---|---|---|---|");
    for (r, d, g, sync) in &summary {
        let added = g.p50() - d.p50();
        let allowed = sync.p50() + 1.0;
        let yes = |b: bool| if b { "met" } else { "NOT met" };
        println!(
            "| {r}/s | {:.0}/s | {added:.2} ms vs {allowed:.2} ms — {} | {:.2} ms | {:.2} ms — {} | {} |",
            g.rate(),
            yes(added <= allowed),
            g.p99() - d.p99(),
            g.p99(),
            yes(g.p99() <= 10.0),
            g.errors
        );
    }
    println!();
}

fn main() {
    let queries: usize = support::arg("--queries", 4000);
    let levels = support::arg_list("--concurrency", &[1, 64, 200]);
    let syncs: usize = support::arg("--syncs", 200);
    // `--only gateway` (or direct, me, append): run one path alone, e.g. under a profiler.
    let only: Option<String> =
        std::env::args().collect::<Vec<_>>().windows(2).find(|w| w[0] == "--only").map(|w| w[1].clone());
    let runs = |p: &str| only.as_deref().is_none_or(|o| o == p);

    // `--sql`: tally the SQL statements of each gateway query (a separate run: it costs a little).
    let tally = std::env::args().any(|a| a == "--sql").then(support::SqlTally::install);
    let load = support::OthersLoad::start();
    let server = support::start();
    let driver = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    driver.block_on(async {
        println!("gateway benchmark on {}, {} requests per path per level", server.backend, queries);
        println!("before: {}", support::machine_note());
        let token: Arc<str> = support::sign_in(server.addr, "soc.user").await.into();
        let options =
            Conn::new(server.addr).request("GET", "/api/v1/query-options", Some(&token), None).await.unwrap().json();
        let purpose = options.as_array().unwrap().iter().find(|o| o["purpose_number"] == 8).expect("purpose 8");
        let op = purpose["operations"].as_array().unwrap().iter().find(|o| o["code"] == "INS01").expect("INS01");
        let ids = server.app.sandbox_examples(1000);
        let target = Target {
            addr: server.addr,
            token,
            purpose_id: purpose["purpose_id"].as_i64().unwrap(),
            operation_id: op["id"].as_i64().unwrap(),
            ids: Arc::new(ids.clone()),
        };
        let parsed: Arc<Vec<NationalId>> = Arc::new(ids.iter().map(|s| NationalId::parse(s).unwrap()).collect());

        // Warm-up: open the pooled connections, fill the caches.
        let warm = levels.iter().copied().max().unwrap_or(1);
        direct(server.direct.clone(), parsed.clone(), warm, warm * 4).await;
        gateway(&target, warm, warm * 4).await;
        let size_before = server.app.db().ledger_size().await.unwrap();

        let rates: Vec<usize> = support::arg_list("--rate", &[]);
        if !rates.is_empty() {
            open_loop(&server, &target, parsed.clone(), &rates, queries, syncs).await;
            println!("after: {}", support::machine_note());
            println!("{}", load.note());
            return;
        }

        let mut summary = Vec::new();
        let mut gateway_total = 0;
        for &c in &levels {
            println!();
            println!("### concurrency {c}");
            let sync_before = support::sync_probe(&server.data_dir, syncs);
            let skip = || Stats::new(vec![Duration::ZERO], Duration::from_secs(1), 0);
            let d = if runs("direct") { direct(server.direct.clone(), parsed.clone(), c, queries).await } else { skip() };
            if let Some(t) = &tally {
                t.reset();
            }
            let (threads, t0) = (support::thread_cpu(), Instant::now());
            let g = if runs("gateway") { gateway(&target, c, queries).await } else { skip() };
            let gateway_threads = support::thread_cores(&threads, &support::thread_cpu(), t0.elapsed());
            if let Some(t) = &tally {
                println!("SQL statements of the gateway queries at concurrency {c}:");
                let mean = g.latencies.iter().map(|d| d.as_secs_f64()).sum::<f64>() * 1e3 / g.n().max(1) as f64;
                t.print(g.n(), &format!("mean latency {mean:.2} ms"));
                println!();
            }
            gateway_total += if runs("gateway") { queries } else { 0 };
            let m = if runs("me") { me(&target, c, queries).await } else { skip() };
            let a = if runs("append") { append(server.app.clone(), c, queries).await } else { skip() };
            let sync_after = support::sync_probe(&server.data_dir, syncs);
            let mut all_syncs = sync_before.latencies.clone();
            all_syncs.extend(sync_after.latencies.iter().copied());
            let sync = Stats::new(all_syncs, sync_before.elapsed + sync_after.elapsed, 0);
            if runs("gateway") {
                println!("gateway at {c} clients, cores used by thread: {gateway_threads}");
                println!();
            }
            println!(
                "| clients | path | throughput | p50 | p99 | CPU/request | cores busy | context switches/request | errors |"
            );
            println!("|---|---|---|---|---|---|---|---|---|");
            for (p, what, s) in [
                ("direct", "direct: HttpConnector → sandbox (baseline)", &d),
                ("gateway", "gateway: POST /api/v1/queries", &g),
                ("me", "part: GET /api/v1/me (auth only, no write)", &m),
                ("append", "part: App::append (one group-committed entry)", &a),
            ] {
                if runs(p) {
                    row(c, what, s);
                }
            }
            println!(
                "| – | disk sync: write + sync_data, {} in a row | {:.0}/s | {:.2} ms | {:.2} ms | – | – | – | p50 before {:.2} / after {:.2} ms |",
                sync.n(),
                sync.rate(),
                sync.p50(),
                sync.p99(),
                sync_before.p50(),
                sync_after.p50()
            );
            summary.push((c, d, g, sync));
        }
        let size_after = server.app.db().ledger_size().await.unwrap();
        let appended: usize = if runs("append") { levels.len() * queries } else { 0 };
        println!();
        println!(
            "ledger entries per gateway query: {:.2} (expected 2: the query and its outcome)",
            (size_after - size_before) as f64 / gateway_total.max(1) as f64 - appended as f64 / gateway_total.max(1) as f64
        );

        if !(runs("direct") && runs("gateway")) {
            println!("after: {}", support::machine_note());
            println!("{}", load.note());
            return;
        }
        println!();
        println!("### against issue 5's targets");
        println!(
            "| clients | gateway q/s (≥ 2,000) | gateway / direct throughput | added p50 (≤ sync p50 + 1 ms) | added p99 | gateway p99 (≤ 10 ms) |"
        );
        println!("|---|---|---|---|---|---|");
        for (c, d, g, sync) in &summary {
            let added = g.p50() - d.p50();
            let allowed = sync.p50() + 1.0;
            let yes = |b: bool| if b { "met" } else { "NOT met" };
            println!(
                "| {c} | {:.0}/s — {} | {:.3} | {added:.2} ms vs {allowed:.2} ms — {} | {:.2} ms | {:.2} ms — {} |",
                g.rate(),
                yes(g.rate() >= 2000.0),
                g.rate() / d.rate(),
                yes(added <= allowed),
                g.p99() - d.p99(),
                g.p99(),
                yes(g.p99() <= 10.0)
            );
        }
        println!();
        println!("after: {}", support::machine_note());
        println!("{}", load.note());
    });
    drop(driver);
    drop(server);
}
