//! The baseline for the gateway's overhead: N lookups from C concurrent tasks through the real
//! HTTP connector to the sandbox NHIA over loopback HTTP, in one process. Reports lookups per
//! second and the median and 99th-percentile latency of one lookup.
//!
//! ```sh
//! cargo run --release -p nhiguard-nhi --example bench_sandbox -- [--lookups 20000] [--concurrency 64]
//! ```
//!
//! It prints figures only, never a subject or an answer.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nhiguard_nhi::{
    Connector, HttpConnector, HttpConnectorConfig, LookupRequest, SandboxConfig, SandboxData, Subject, spawn_sandbox,
};

const OPERATIONS: [&str; 3] = ["INS01", "ADR01", "VIS01"];

fn arg(args: &[String], name: &str, default: usize) -> Result<usize, Box<dyn Error + Send + Sync>> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => {
            let v = args.get(i + 1).ok_or_else(|| format!("{name} needs a number"))?;
            Ok(v.parse().map_err(|_| format!("{name}: not a number: {v}"))?)
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(rank.min(sorted.len() - 1)).copied().unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().collect();
    let lookups = arg(&args, "--lookups", 20_000)?;
    let concurrency = arg(&args, "--concurrency", 64)?.max(1);

    let data = Arc::new(SandboxData::with_seed(1));
    let credential = "bench-credential";
    let sandbox = spawn_sandbox("127.0.0.1:0".parse()?, SandboxConfig::new(data.clone(), credential)).await?;
    let connector = Arc::new(HttpConnector::new(HttpConnectorConfig {
        retries: 0,
        breaker_threshold: 0,
        ..HttpConnectorConfig::new(sandbox.endpoint(), credential)
    })?);
    let ids = Arc::new(data.sample_ids(1000));

    // Warm-up: open the pooled connections.
    let warm: Vec<_> = (0..concurrency)
        .map(|i| {
            let (c, ids) = (connector.clone(), ids.clone());
            tokio::spawn(async move { one(&*c, &ids, i).await })
        })
        .collect();
    for w in warm {
        w.await??;
    }

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (c, ids, next) = (connector.clone(), ids.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0usize;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= lookups {
                        break;
                    }
                    let t = Instant::now();
                    if one(&*c, &ids, i).await.is_err() {
                        errors += 1;
                    }
                    latencies.push(t.elapsed());
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(lookups);
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();

    println!("sandbox NHIA over loopback HTTP, in-process (HttpConnector -> sandbox_router)");
    println!("lookups      {lookups} ({errors} errors), concurrency {concurrency}, population {}", data.len());
    println!("elapsed      {:.3} s", elapsed.as_secs_f64());
    println!("throughput   {:.0} lookups/s", lookups as f64 / elapsed.as_secs_f64());
    println!("latency p50  {:.3} ms", percentile(&latencies, 0.50).as_secs_f64() * 1e3);
    println!("latency p99  {:.3} ms", percentile(&latencies, 0.99).as_secs_f64() * 1e3);
    sandbox.shutdown().await;
    Ok(())
}

async fn one(
    c: &dyn Connector,
    ids: &[nhiguard_domain::national_id::NationalId],
    i: usize,
) -> Result<(), Box<dyn Error + Send + Sync>> {
    let id = ids.get(i % ids.len().max(1)).ok_or("no sample ids")?;
    let req = LookupRequest {
        operation_code: OPERATIONS[i % OPERATIONS.len()].to_owned(),
        subject: Subject::NationalId(id.clone()),
        request_id: format!("bench-{i}"),
    };
    c.lookup(&req).await?;
    Ok(())
}
