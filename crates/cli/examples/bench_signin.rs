//! Sign-in against the password hash alone (issue 3: "sign-in throughput and latency are bounded by
//! the password hash, not by the rest"), in one run:
//!
//! - **hash alone**: Argon2id with `argon2::Argon2::default()` (OWASP's m = 19 MiB, t = 2, p = 1, as
//!   `nhiguard_app::auth` uses) — `hash_password` on one thread, `verify_password` against a stored
//!   hash on one thread (what a sign-in does), and `hash_password` on two threads (both cores);
//! - **sign-in**: `POST /api/v1/session` as `soc.user` over HTTP/1.1 keep-alive to the real app on
//!   two worker threads, from 1, 2 and 8 concurrent clients;
//! - **a disk sync** beside the database (a sign-in commits its session and ledger entry once);
//! - **a bystander**: one other signed-in client sending `GET /api/v1/me` every 5 ms while the
//!   sign-ins run, to show what the hash does to the server's other requests.
//!
//! ```sh
//! cargo build --release -p nhiguard --examples
//! target/release/examples/bench_signin [--signins 200] [--concurrency 1,2,8]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use support::{Conn, Stats};

fn hashes(n: usize, threads: usize) -> Stats {
    let next = Arc::new(AtomicUsize::new(0));
    let cpu = support::process_cpu();
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let next = next.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let t = Instant::now();
                    let h = Argon2::default().hash_password(b"Bench-Password-115").unwrap();
                    std::hint::black_box(h);
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.join().unwrap());
    }
    let elapsed = started.elapsed();
    Stats::new(lat, elapsed, 0).with_cpu(support::process_cpu().saturating_sub(cpu))
}

fn verifies(n: usize) -> Stats {
    let stored = Argon2::default().hash_password(support::PASSWORD.as_bytes()).unwrap().to_string();
    let cpu = support::process_cpu();
    let started = Instant::now();
    let mut lat = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let parsed = PasswordHash::new(&stored).unwrap();
        assert!(Argon2::default().verify_password(support::PASSWORD.as_bytes(), &parsed).is_ok());
        lat.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    Stats::new(lat, elapsed, 0).with_cpu(support::process_cpu().saturating_sub(cpu))
}

async fn sign_ins(addr: std::net::SocketAddr, c: usize, n: usize) -> Stats {
    let body: Arc<str> = serde_json::json!({"username": "soc.user", "password": support::PASSWORD}).to_string().into();
    let next = Arc::new(AtomicUsize::new(0));
    let cpu = support::process_cpu();
    let started = Instant::now();
    let tasks: Vec<_> = (0..c)
        .map(|_| {
            let (next, body) = (next.clone(), body.clone());
            tokio::spawn(async move {
                let mut conn = Conn::new(addr);
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let t = Instant::now();
                    let ok = matches!(conn.request("POST", "/api/v1/session", None, Some(&body)).await,
                        Ok(r) if r.status == 200 && r.json()["token"].is_string());
                    lat.push(t.elapsed());
                    errors += usize::from(!ok);
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.unwrap();
        lat.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    Stats::new(lat, elapsed, errors).with_cpu(support::process_cpu().saturating_sub(cpu))
}

/// One client sending `GET /api/v1/me` one after another until `stop`: what any other request
/// of the server sees meanwhile.
async fn bystander(addr: std::net::SocketAddr, token: String, stop: Arc<std::sync::atomic::AtomicBool>) -> Stats {
    let mut conn = Conn::new(addr);
    let (mut lat, mut errors) = (Vec::new(), 0usize);
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let ok = matches!(conn.request("GET", "/api/v1/me", Some(&token), None).await, Ok(r) if r.status == 200);
        lat.push(t.elapsed());
        errors += usize::from(!ok);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    Stats::new(lat, started.elapsed(), errors)
}

async fn sign_ins_with_bystander(addr: std::net::SocketAddr, c: usize, n: usize, token: String) -> (Stats, Stats) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probe = tokio::spawn(bystander(addr, token, stop.clone()));
    let s = sign_ins(addr, c, n).await;
    stop.store(true, Ordering::Relaxed);
    (s, probe.await.unwrap())
}

fn row(what: &str, s: &Stats) {
    println!(
        "| {what} | {} | {:.1}/s | {:.2} ms | {:.2} ms | {:.2} | {} |",
        s.n(),
        s.rate(),
        s.p50(),
        s.p99(),
        s.cores(),
        if s.errors == 0 { "0".to_owned() } else { format!("**{}**", s.errors) }
    );
}

fn main() {
    let n: usize = support::arg("--signins", 200);
    let levels = support::arg_list("--concurrency", &[1, 2, 8]);

    let load = support::OthersLoad::start();
    let server = support::start();
    println!("sign-in benchmark on {}, {n} per measure", server.backend);
    println!("before: {}", support::machine_note());
    let driver = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // Warm-up: the first sign-ins pay for page faults of the 19 MiB blocks.
    driver.block_on(sign_ins(server.addr, 2, 10));
    hashes(4, 2);

    let sync = support::sync_probe(&server.data_dir, 200);
    let h1 = hashes(n, 1);
    let v1 = verifies(n);
    let h2 = hashes(n, 2);
    let token = driver.block_on(support::sign_in(server.addr, "soc.reviewer"));
    let idle = driver.block_on(async {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let probe = tokio::spawn(bystander(server.addr, token.clone(), stop.clone()));
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        stop.store(true, Ordering::Relaxed);
        probe.await.unwrap()
    });
    let signs: Vec<(usize, Stats, Stats)> = levels
        .iter()
        .map(|&c| {
            let (s, b) = driver.block_on(sign_ins_with_bystander(server.addr, c, n, token.clone()));
            (c, s, b)
        })
        .collect();
    let sync2 = support::sync_probe(&server.data_dir, 200);

    println!();
    println!("| measure | n | throughput | p50 | p99 | cores busy | errors |");
    println!("|---|---|---|---|---|---|---|");
    row("Argon2id hash_password, 1 thread (baseline)", &h1);
    row("Argon2id verify_password, 1 thread (baseline)", &v1);
    row("Argon2id hash_password, 2 threads (baseline)", &h2);
    for (c, s, _) in &signs {
        row(&format!("sign-in: POST /api/v1/session, {c} client(s)"), s);
    }
    row("bystander: GET /api/v1/me every 5 ms, no sign-in running", &idle);
    for (c, _, b) in &signs {
        row(&format!("bystander: GET /api/v1/me every 5 ms, during {c} signing-in client(s)"), b);
    }
    row("disk sync (write + sync_data), before", &sync);
    row("disk sync (write + sync_data), after", &sync2);

    println!();
    println!("| sign-in, clients | throughput / hash throughput (same cores) | p50 / verify p50 | p50 − verify p50 |");
    println!("|---|---|---|---|");
    for (c, s, _) in &signs {
        let base = if *c == 1 { &h1 } else { &h2 };
        println!(
            "| {c} | {:.2} (vs {}) | {:.2} | {:.2} ms |",
            s.rate() / base.rate(),
            if *c == 1 { "1 thread" } else { "2 threads" },
            s.p50() / v1.p50(),
            s.p50() - v1.p50()
        );
    }
    println!();
    println!("after: {}", support::machine_note());
    println!("{}", load.note());
    drop(driver);
    drop(server);
}
