//! Shared by the HTTP benchmarks (`bench_gateway`, `bench_signin`): a live nhiguard on a port-0
//! listener over a fresh database (SQLite, or PostgreSQL when `NHIGUARD_TEST_DATABASE_URL` is
//! set) with the demo county, a keep-alive HTTP/1.1 client, latency statistics, a disk-sync probe
//! and a note on how loaded the machine was.
//!
//! The server (axum, the app, its group-commit writer and the sandbox NHIA) runs on its own tokio
//! runtime with two worker threads, as `nhiguard serve` would on these 2-core machines; the load
//! driver runs on a separate single-threaded runtime, so that a worker blocked inside the server
//! (a password hash) does not also stop the clock of the clients measuring it. Everything stays on
//! 127.0.0.1. It must never be pointed at real data: it exists to measure.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nhiguard_app::{App, Settings};
use nhiguard_domain::clock::SystemClock;
use nhiguard_nhi::{Connector, HttpConnector, HttpConnectorConfig, SandboxConfig, SandboxData, spawn_sandbox};
use nhiguard_store::testdb::TestDb;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufStream};

/// The allocator `nhiguard` itself runs with (`src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub const PASSWORD: &str = nhiguard_app::seed::DEMO_PASSWORD;

/// The running server and what the benchmarks compare it with.
pub struct Server {
    pub addr: SocketAddr,
    pub app: App,
    /// A second HTTP connector to the very sandbox the app uses, with the same settings: the
    /// direct baseline.
    pub direct: Arc<dyn Connector>,
    pub db: TestDb,
    /// Where the SQLite file lives (the disk the sync probe measures).
    pub data_dir: PathBuf,
    pub backend: &'static str,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _sandbox: nhiguard_nhi::SandboxHandle,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// A benchmark's own signing and results keys, made afresh.
pub fn keys() -> nhiguard_app::Keys {
    nhiguard_app::Keys {
        ledger: nhiguard_app::ledger::LedgerKeys {
            deployment_id: "bench".into(),
            signing: nhiguard_ledger::SigningKey::generate("nhiguard.bench").unwrap(),
            export_dir: None,
        },
        results: nhiguard_app::vault::ResultsKey::generate().unwrap(),
    }
}

/// Starts the demo county on its own two-worker runtime. The NHIA side is what
/// `nhiguard_app::gateway::sandbox_nhi` builds (the sandbox over loopback HTTP, the real connector
/// with its default timeouts, retries and breaker), built here so that the benchmark holds the
/// sandbox's credential for the direct baseline.
pub fn start() -> Server {
    start_with(5000)
}

/// As [`start`], with a sandbox of `people` synthetic people.
pub fn start_with(people: usize) -> Server {
    // Two workers, as the server runs on this machine; `TOKIO_WORKER_THREADS` (tokio's own name) to try others.
    let workers = std::env::var("TOKIO_WORKER_THREADS").ok().and_then(|w| w.parse().ok()).unwrap_or(2);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap();
    let (addr, app, direct, db, sandbox, shutdown) = runtime.block_on(async {
        let db = TestDb::new().await.unwrap();
        let store = db.open().await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let settings = Settings { listen: addr, ..Settings::default() };
        let keys = keys();
        let today = chrono::Utc::now().date_naive();
        let data = Arc::new(SandboxData::generate(7, people, today));
        let credential = nhiguard_app::auth::random_token().unwrap();
        let sandbox =
            spawn_sandbox("127.0.0.1:0".parse().unwrap(), SandboxConfig::new(data.clone(), credential.clone()))
                .await
                .unwrap();
        let connector = || -> Arc<dyn Connector> {
            Arc::new(HttpConnector::new(HttpConnectorConfig::new(sandbox.endpoint(), credential.clone())).unwrap())
        };
        let nhi = nhiguard_app::gateway::Nhi { connector: connector(), sandbox: Some(data), sandbox_server: None };
        let direct = connector();
        let app = App::new(store, settings, Arc::new(SystemClock), keys, nhi);
        app.fill_demo().await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = app.clone();
        tokio::spawn(async move {
            nhiguard_web::serve(served, listener, async {
                rx.await.ok();
            })
            .await
            .ok();
        });
        (addr, app, direct, db, sandbox, tx)
    });
    let backend = if db.url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
    Server {
        addr,
        app,
        direct,
        db,
        data_dir: std::env::temp_dir(),
        backend,
        shutdown: Some(shutdown),
        _sandbox: sandbox,
        runtime: Some(runtime),
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    addr: SocketAddr,
    s: Option<BufStream<tokio::net::TcpStream>>,
}

pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, s: None }
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        json: Option<&str>,
    ) -> std::io::Result<Reply> {
        if self.s.is_none() {
            let tcp = tokio::net::TcpStream::connect(self.addr).await?;
            tcp.set_nodelay(true)?;
            self.s = Some(BufStream::new(tcp));
        }
        let s = self.s.as_mut().expect("connected above");
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        if let Some(t) = bearer {
            req.push_str("Authorization: Bearer ");
            req.push_str(t);
            req.push_str("\r\n");
        }
        match json {
            Some(b) => {
                req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n", b.len()));
                req.push_str(b);
            }
            None => req.push_str("\r\n"),
        }
        s.write_all(req.as_bytes()).await?;
        s.flush().await?;
        let mut line = String::new();
        s.read_line(&mut line).await?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let (mut length, mut chunked, mut close) = (0usize, false, false);
        loop {
            line.clear();
            if s.read_line(&mut line).await? == 0 || line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
                match k.as_str() {
                    "content-length" => length = v.parse().unwrap_or(0),
                    "transfer-encoding" => chunked = v.contains("chunked"),
                    "connection" => close = v.contains("close"),
                    _ => {}
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                s.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim(), 16).map_err(std::io::Error::other)?;
                let mut chunk = vec![0u8; size + 2];
                s.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            s.read_exact(&mut body).await?;
        }
        if close {
            self.s = None;
        }
        Ok(Reply { status, body })
    }
}

/// Signs in through the API and returns the bearer token.
pub async fn sign_in(addr: SocketAddr, username: &str) -> String {
    let body = serde_json::json!({"username": username, "password": PASSWORD}).to_string();
    let r = Conn::new(addr).request("POST", "/api/v1/session", None, Some(&body)).await.unwrap();
    assert_eq!(r.status, 200, "sign-in of {username}: {}", String::from_utf8_lossy(&r.body));
    r.json()["token"].as_str().unwrap().to_owned()
}

/// CPU time used by this whole process so far (user + system, all threads), from /proc.
pub fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name in parentheses; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// Context switches of all live threads of this process so far (voluntary + involuntary).
pub fn process_switches() -> u64 {
    let mut total = 0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            for line in status.lines() {
                if line.starts_with("voluntary_ctxt_switches") || line.starts_with("nonvoluntary_ctxt_switches") {
                    total += line.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                }
            }
        }
    }
    total
}

/// CPU time of this process's live threads so far, summed by thread name (e.g. `tokio-rt-worker`,
/// `sqlx-sqlite-wor…`, the sqlx SQLite connection threads).
pub fn thread_cpu() -> std::collections::BTreeMap<String, Duration> {
    let mut out = std::collections::BTreeMap::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
            let name = stat[open + 1..close].trim_end_matches(|c: char| c.is_ascii_digit() || c == '-').to_owned();
            let f: Vec<u64> = stat[close + 1..].split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
            let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
            *out.entry(name).or_insert(Duration::ZERO) += Duration::from_millis(ticks * 10);
        }
    }
    out
}

/// Cores used per thread name between two `thread_cpu` snapshots taken `elapsed` apart.
pub fn thread_cores(
    before: &std::collections::BTreeMap<String, Duration>,
    after: &std::collections::BTreeMap<String, Duration>,
    elapsed: Duration,
) -> String {
    let mut parts: Vec<(String, f64)> = after
        .iter()
        .map(|(k, v)| {
            let b = before.get(k).copied().unwrap_or(Duration::ZERO);
            (k.clone(), v.saturating_sub(b).as_secs_f64() / elapsed.as_secs_f64())
        })
        .filter(|(_, c)| *c >= 0.01)
        .collect();
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    parts.iter().map(|(k, c)| format!("{k} {c:.2}")).collect::<Vec<_>>().join(", ")
}

/// Latencies of one measured run, sorted, with its wall time and the process's CPU time.
#[derive(Debug, Clone)]
pub struct Stats {
    pub latencies: Vec<Duration>,
    pub elapsed: Duration,
    pub errors: usize,
    pub cpu: Duration,
    pub switches: u64,
}

impl Stats {
    pub fn new(mut latencies: Vec<Duration>, elapsed: Duration, errors: usize) -> Self {
        latencies.sort_unstable();
        Self { latencies, elapsed, errors, cpu: Duration::ZERO, switches: 0 }
    }
    pub fn with_cpu(mut self, cpu: Duration) -> Self {
        self.cpu = cpu;
        self
    }
    pub fn with_switches(mut self, switches: u64) -> Self {
        self.switches = switches;
        self
    }
    /// Context switches per request (all threads of the process, the load driver included).
    pub fn switches_per(&self) -> f64 {
        self.switches as f64 / self.n().max(1) as f64
    }
    /// Cores kept busy on average (of the machine's 2), the load driver included.
    pub fn cores(&self) -> f64 {
        self.cpu.as_secs_f64() / self.elapsed.as_secs_f64()
    }
    /// CPU time per request, in milliseconds, the load driver included.
    pub fn cpu_ms(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e3 / self.n().max(1) as f64
    }
    pub fn n(&self) -> usize {
        self.latencies.len()
    }
    pub fn rate(&self) -> f64 {
        self.n() as f64 / self.elapsed.as_secs_f64()
    }
    /// Nearest-rank percentile, in milliseconds.
    pub fn ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let rank = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[rank.min(self.latencies.len() - 1)].as_secs_f64() * 1e3
    }
    pub fn p50(&self) -> f64 {
        self.ms(0.50)
    }
    pub fn p99(&self) -> f64 {
        self.ms(0.99)
    }
}

/// `n` sequential small writes, each followed by `sync_data`, on a file in `dir`: the cost of
/// one disk sync, as a commit pays it.
pub fn sync_probe(dir: &Path, n: usize) -> Stats {
    let path = dir.join(format!("nhiguard-bench-sync-{}.tmp", std::process::id()));
    let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).open(&path).unwrap();
    let mut lat = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        f.write_all(format!("{i:08}\n").as_bytes()).unwrap();
        f.sync_data().unwrap();
        lat.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    drop(f);
    std::fs::remove_file(&path).ok();
    Stats::new(lat, elapsed, 0)
}

/// The load average and whether a compiler was running, for the note beside each figure.
pub fn machine_note() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let (mut compilers, mut others) = (0, 0);
    let me = std::process::id().to_string();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            if e.file_name().to_string_lossy() == me {
                continue;
            }
            if let Ok(comm) = std::fs::read_to_string(e.path().join("comm")) {
                match comm.trim() {
                    "rustc" | "clippy-driver" | "cc1" | "ld" => compilers += 1,
                    "cargo-nextest" | "nhiguard" | "chromium" | "node" => others += 1,
                    _ => {}
                }
            }
        }
    }
    format!(
        "load average {} ; compilers running: {compilers} ; other test processes (nextest, nhiguard servers, \
         chromium, node): {others}{}",
        load.join(" "),
        if compilers > 0 { " (LOADED: something compiled)" } else { "" }
    )
}

/// What else used the CPUs while a benchmark ran: busy time of the whole machine (from /proc/stat)
/// minus this process's own CPU time, per second of wall time.
pub struct OthersLoad {
    started: Instant,
    machine_busy: Duration,
    own: Duration,
}

fn machine_busy() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> =
        stat.lines().next().unwrap_or("").split_whitespace().skip(1).map(|x| x.parse().unwrap_or(0)).collect();
    // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    let busy: u64 = f.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, v)| v).sum();
    Duration::from_millis(busy * 10)
}

impl OthersLoad {
    pub fn start() -> Self {
        Self { started: Instant::now(), machine_busy: machine_busy(), own: process_cpu() }
    }
    /// Cores (of 2) used by other processes on average since `start`.
    pub fn cores(&self) -> f64 {
        let busy = machine_busy().saturating_sub(self.machine_busy);
        let own = process_cpu().saturating_sub(self.own);
        busy.saturating_sub(own).as_secs_f64() / self.started.elapsed().as_secs_f64()
    }
    pub fn note(&self) -> String {
        let c = self.cores();
        format!(
            "other processes (the PostgreSQL server included, when it is the database) used {c:.2} cores on \
             average during this run{}",
            if c > 0.2 { " (LOADED, or PostgreSQL at work)" } else { " (quiet)" }
        )
    }
}

/// `--name value` from the command line, or `default`.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.replace(['_', ','], "").parse().unwrap_or_else(|_| panic!("{name}: not a number: {v}")))
        .unwrap_or(default)
}

/// `--name 1,64,200` from the command line, or `default`.
pub fn arg_list(name: &str, default: &[usize]) -> Vec<usize> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)) {
        Some(v) => v.split(',').map(|x| x.trim().parse().unwrap_or_else(|_| panic!("{name}: {v}"))).collect(),
        None => default.to_vec(),
    }
}

/// Where the database time of a request goes, by SQL statement: sqlx reports every statement it
/// ran (target `sqlx::query`, with its first words, the rows it returned and the time it took on
/// the connection). sqlx does not report `BEGIN` and `COMMIT`, so the wait for SQLite's write lock
/// and the commit's sync are not in these figures; neither is the wait for a pooled connection.
/// Installed only on request (`--sql`), since recording costs a little.
#[derive(Clone, Default)]
pub struct SqlTally {
    inner: Arc<std::sync::Mutex<Tally>>,
}

/// Statement shape → (how many ran, seconds on the connection, rows returned).
type Tally = std::collections::HashMap<String, (u64, f64, u64)>;

struct StatementVisit {
    summary: String,
    secs: f64,
    rows: u64,
}

impl tracing::field::Visit for StatementVisit {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "summary" {
            value.clone_into(&mut self.summary);
        }
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.secs = value;
        }
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "rows_returned" {
            self.rows = value;
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.summary = format!("{value:?}").trim_matches('"').to_owned();
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SqlTally {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut v = StatementVisit { summary: String::new(), secs: 0.0, rows: 0 };
        event.record(&mut v);
        // Placeholders and value lists vary with the batch size; keep the statement's shape.
        let key: String = v.summary.trim_end_matches(" …").chars().take(60).collect();
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let e = map.entry(key).or_insert((0, 0.0, 0));
        e.0 += 1;
        e.1 += v.secs;
        e.2 += v.rows;
    }
}

impl SqlTally {
    /// Installs the tally as the global subscriber (statements only).
    pub fn install() -> Self {
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        let tally = SqlTally::default();
        let filter = tracing_subscriber::EnvFilter::new("sqlx::query=debug");
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(tally.clone().with_filter(filter)))
            .unwrap();
        tally
    }

    /// How many statements starting with `prefix` ran.
    pub fn count(&self, prefix: &str) -> u64 {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v.0).sum()
    }

    pub fn reset(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Prints statements per request and time per request, largest first.
    pub fn print(&self, requests: usize, context: &str) {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<(&String, &(u64, f64, u64))> = map.iter().collect();
        rows.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
        let r = requests.max(1) as f64;
        let (mut count, mut total, mut returned) = (0.0, 0.0, 0.0);
        println!(
            "| statement (first words) | per request | rows returned per request | mean time on the connection | time per request |"
        );
        println!("|---|---|---|---|---|");
        for (k, (n, secs, rws)) in rows {
            println!(
                "| `{k}` | {:.2} | {:.1} | {:.3} ms | {:.3} ms |",
                *n as f64 / r,
                *rws as f64 / r,
                secs * 1e3 / (*n).max(1) as f64,
                secs * 1e3 / r
            );
            count += *n as f64 / r;
            total += secs * 1e3 / r;
            returned += *rws as f64 / r;
        }
        println!("| **all statements** | {count:.1} | {returned:.1} | | **{total:.2} ms** ({context}) |");
    }
}

/// The whole database's size on disk: SQLite pages (after a WAL checkpoint), or PostgreSQL's
/// `pg_database_size`.
pub async fn db_bytes(url: &str) -> i64 {
    use sqlx::Row;
    let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(url).await.unwrap();
    if url.starts_with("sqlite") {
        sqlx::Executor::execute(&mut c, "PRAGMA wal_checkpoint(TRUNCATE)").await.unwrap();
        let pages: i64 =
            sqlx::query("PRAGMA page_count").fetch_one(&mut c).await.unwrap().try_get::<i64, _>(0).unwrap();
        let size: i64 = sqlx::query("PRAGMA page_size").fetch_one(&mut c).await.unwrap().try_get::<i64, _>(0).unwrap();
        pages * size
    } else {
        sqlx::query("SELECT pg_database_size(current_database())::BIGINT")
            .fetch_one(&mut c)
            .await
            .unwrap()
            .try_get::<i64, _>(0)
            .unwrap()
    }
}
