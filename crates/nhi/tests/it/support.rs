//! Shared helpers: a sandbox on a free port with a fault handle, connector settings with short
//! timeouts, and requests with unique ids.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::NaiveDate;
use nhiguard_nhi::{
    HttpConnector, HttpConnectorConfig, LookupRequest, SandboxConfig, SandboxData, SandboxFaults, SandboxHandle,
    Subject, spawn_sandbox,
};

use tracing::field::{Field, Visit};
use tracing::span;

pub const CREDENTIAL: &str = "test-credential-7f3a9c";

pub fn local() -> SocketAddr {
    capture();
    "127.0.0.1:0".parse().unwrap()
}

/// One small population for all tests (generating it is cheap, but once is enough).
pub fn data() -> Arc<SandboxData> {
    capture();
    static DATA: OnceLock<Arc<SandboxData>> = OnceLock::new();
    DATA.get_or_init(|| Arc::new(SandboxData::generate(20240730, 400, NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())))
        .clone()
}

pub struct Sandbox {
    pub handle: SandboxHandle,
    pub faults: SandboxFaults,
    pub data: Arc<SandboxData>,
}

pub async fn start() -> Sandbox {
    let faults = SandboxFaults::new();
    let data = data();
    let config = SandboxConfig::new(data.clone(), CREDENTIAL).with_faults(faults.clone());
    let handle = spawn_sandbox(local(), config).await.unwrap();
    Sandbox { handle, faults, data }
}

/// Short timeouts, no retries and no breaker unless a test sets them.
pub fn config(endpoint: &str) -> HttpConnectorConfig {
    capture();
    HttpConnectorConfig {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(1500),
        retries: 0,
        backoff_base: Duration::from_millis(10),
        breaker_threshold: 0,
        ..HttpConnectorConfig::new(endpoint, CREDENTIAL)
    }
}

pub fn connector(config: HttpConnectorConfig) -> HttpConnector {
    HttpConnector::new(config).unwrap()
}

pub fn req(operation: &str, subject: Subject) -> LookupRequest {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    LookupRequest {
        operation_code: operation.to_owned(),
        subject,
        request_id: format!("it-{}", NEXT.fetch_add(1, Ordering::Relaxed)),
    }
}

/// A lookup of someone who exists.
pub fn known(data: &SandboxData) -> Subject {
    Subject::NationalId(data.sample_ids(1).remove(0))
}

/// A port nothing listens on.
pub async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(local()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// A minimal subscriber that writes every event and span field of every test into one string.
/// Installed globally before any test's first lookup (a scoped subscriber races with other test
/// threads over tracing's per-callsite interest cache), so that the redaction test can check the
/// log lines of the whole run.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<String>>);

struct Writer<'a>(&'a mut String);

impl Visit for Writer<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &span::Attributes<'_>) -> span::Id {
        span.record(&mut Writer(&mut self.0.lock().unwrap()));
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, values: &span::Record<'_>) {
        values.record(&mut Writer(&mut self.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut out = self.0.lock().unwrap();
        event.record(&mut Writer(&mut out));
        out.push('\n');
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

impl Capture {
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

pub fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c = Capture::default();
        let _ = tracing::subscriber::set_global_default(c.clone());
        c
    })
}
