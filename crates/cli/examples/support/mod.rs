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

/// Starts the demo county on its own two-worker runtime. The NHIA side is what
/// `nhiguard_app::gateway::sandbox_nhi` builds (the sandbox over loopback HTTP, the real connector
/// with its default timeouts, retries and breaker), built here so that the benchmark holds the
/// sandbox's credential for the direct baseline.
pub fn start() -> Server {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (addr, app, direct, db, sandbox, shutdown) = runtime.block_on(async {
        let db = TestDb::new().await.unwrap();
        let store = db.open().await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let settings = Settings { listen: addr, ..Settings::default() };
        let keys = nhiguard_app::Keys {
            ledger: nhiguard_app::ledger::LedgerKeys {
                deployment_id: "bench".into(),
                signing: nhiguard_ledger::SigningKey::generate("nhiguard.bench").unwrap(),
                export_dir: None,
            },
            results: nhiguard_app::vault::ResultsKey::generate().unwrap(),
        };
        let today = chrono::Utc::now().date_naive();
        let data = Arc::new(SandboxData::generate(7, 5000, today));
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

/// Latencies of one measured run, sorted, with its wall time and the process's CPU time.
#[derive(Debug, Clone)]
pub struct Stats {
    pub latencies: Vec<Duration>,
    pub elapsed: Duration,
    pub errors: usize,
    pub cpu: Duration,
}

impl Stats {
    pub fn new(mut latencies: Vec<Duration>, elapsed: Duration, errors: usize) -> Self {
        latencies.sort_unstable();
        Self { latencies, elapsed, errors, cpu: Duration::ZERO }
    }
    pub fn with_cpu(mut self, cpu: Duration) -> Self {
        self.cpu = cpu;
        self
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
    let mut rustc = 0;
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            if let Ok(comm) = std::fs::read_to_string(e.path().join("comm"))
                && comm.trim() == "rustc"
            {
                rustc += 1;
            }
        }
    }
    format!(
        "load average {} ; rustc processes running: {rustc}{}",
        load.join(" "),
        if rustc > 0 { " (LOADED: figures taken while something compiled)" } else { "" }
    )
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
