//! The sandbox NHIA as an HTTP service, in the wire format of `SANDBOX-WIRE.md`: `sandbox_router`
//! (an axum `Router`), and `spawn_sandbox` / `spawn_sandbox_tls` to serve it on a socket.
//!
//! Fault injection (`SandboxFaults`) exists only when the caller passes a handle in
//! `SandboxConfig::faults`; it is driven from that handle in-process and never through HTTP.
//! This module must never log a request body, a subject or an answer; it logs nothing at all
//! except accept and TLS handshake failures, which carry no personal data.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::TokioIo;
use nhiguard_domain::national_id::NationalId;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use super::codes;
use super::data::SandboxData;
use crate::NhiError;
use crate::connector::{Secret, Subject};
use crate::wire::{self, LOOKUP_PATH, MAX_REQUEST_ID, WireAnswer, WireError, WireErrorBody, WireRequest};

/// What the sandbox serves and how it checks callers.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub data: Arc<SandboxData>,
    /// The bearer credential callers must present.
    pub credential: Secret,
    /// Fault injection for tests; `None` in demos (then no fault code runs at all).
    pub faults: Option<SandboxFaults>,
}

impl SandboxConfig {
    pub fn new(data: Arc<SandboxData>, credential: impl Into<Secret>) -> Self {
        Self { data, credential: credential.into(), faults: None }
    }

    pub fn with_faults(mut self, faults: SandboxFaults) -> Self {
        self.faults = Some(faults);
        self
    }
}

/// A shared handle to inject faults into a running sandbox and count the requests it saw.
#[derive(Debug, Clone, Default)]
pub struct SandboxFaults {
    plan: Arc<Mutex<FaultPlan>>,
    seen: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct FaultPlan {
    delay: Option<Duration>,
    unavailable: u32,
    retry_after_secs: u64,
    garbage: u32,
    empty: u32,
    drop: u32,
}

enum FaultAction {
    Drop,
    Unavailable(u64),
    Garbage,
    EmptyFound,
    Answer,
}

impl SandboxFaults {
    pub fn new() -> Self {
        Self::default()
    }

    fn with_plan<T>(&self, f: impl FnOnce(&mut FaultPlan) -> T) -> T {
        f(&mut self.plan.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Delays every answer (including faulty ones) by `delay`; `None` to stop.
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.with_plan(|p| p.delay = delay);
    }

    /// Answers the next `n` requests with 503 and `Retry-After: 0`.
    pub fn unavailable_next(&self, n: u32) {
        self.with_plan(|p| p.unavailable = n);
    }

    /// The `Retry-After` seconds sent with injected 503s (default 0).
    pub fn set_retry_after(&self, secs: u64) {
        self.with_plan(|p| p.retry_after_secs = secs);
    }

    /// Answers the next `n` requests with 200 and a body that is not the wire format.
    pub fn garbage_next(&self, n: u32) {
        self.with_plan(|p| p.garbage = n);
    }

    /// Answers the next `n` requests "found" with no record at all (well-formed, but no answer to
    /// a lookup of a person).
    pub fn empty_found_next(&self, n: u32) {
        self.with_plan(|p| p.empty = n);
    }

    /// Closes the connection without answering for the next `n` requests (only when served by
    /// `spawn_sandbox*`; a bare `sandbox_router` answers 500 instead).
    pub fn drop_next(&self, n: u32) {
        self.with_plan(|p| p.drop = n);
    }

    /// Removes every fault (the request count stays).
    pub fn clear(&self) {
        self.with_plan(|p| *p = FaultPlan::default());
    }

    /// Requests that reached the sandbox so far (including those answered with a fault).
    pub fn requests_seen(&self) -> u64 {
        self.seen.load(Ordering::SeqCst)
    }

    fn next_action(&self) -> (Option<Duration>, FaultAction) {
        self.seen.fetch_add(1, Ordering::SeqCst);
        self.with_plan(|p| {
            let action = if p.drop > 0 {
                p.drop -= 1;
                FaultAction::Drop
            } else if p.unavailable > 0 {
                p.unavailable -= 1;
                FaultAction::Unavailable(p.retry_after_secs)
            } else if p.garbage > 0 {
                p.garbage -= 1;
                FaultAction::Garbage
            } else if p.empty > 0 {
                p.empty -= 1;
                FaultAction::EmptyFound
            } else {
                FaultAction::Answer
            };
            (p.delay, action)
        })
    }
}

/// Marks a response that the connection server turns into a closed connection.
#[derive(Debug, Clone, Copy)]
struct DropConnection;

#[derive(Debug)]
struct DroppedOnPurpose;

impl std::fmt::Display for DroppedOnPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by fault injection")
    }
}

impl std::error::Error for DroppedOnPurpose {}

struct Inner {
    data: Arc<SandboxData>,
    credential: Secret,
}

/// The sandbox NHIA as an axum router: `POST /nhi/v1/lookup`, `GET /nhi/v1/health`.
pub fn sandbox_router(config: SandboxConfig) -> Router {
    let inner = Arc::new(Inner { data: config.data, credential: config.credential });
    let router = Router::new()
        .route(LOOKUP_PATH, post(lookup))
        .route("/nhi/v1/health", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
        .with_state(inner);
    match config.faults {
        Some(faults) => router.layer(middleware::from_fn_with_state(faults, inject_faults)),
        None => router,
    }
}

async fn inject_faults(State(faults): State<SandboxFaults>, req: Request, next: Next) -> Response {
    let (delay, action) = faults.next_action();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    match action {
        FaultAction::Answer => next.run(req).await,
        FaultAction::Drop => {
            let mut resp = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            resp.extensions_mut().insert(DropConnection);
            resp
        }
        FaultAction::Unavailable(secs) => {
            let mut resp = error(StatusCode::SERVICE_UNAVAILABLE, codes::UNAVAILABLE, "service unavailable");
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            resp
        }
        FaultAction::Garbage => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], "<html><body>系統維護中 maintenance</body></html>")
                .into_response()
        }
        FaultAction::EmptyFound => Json(WireAnswer::Found { records: Vec::new() }).into_response(),
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = WireErrorBody { error: WireError { code: code.to_owned(), message: message.to_owned() } };
    (status, Json(body)).into_response()
}

/// Compares without stopping at the first difference, so timing does not reveal the credential.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = given.len() ^ expected.len();
    for (i, b) in expected.iter().enumerate() {
        diff |= usize::from(given.get(i).copied().unwrap_or(0) ^ b);
    }
    diff == 0
}

async fn lookup(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if inner.credential.is_empty() || !same_secret(token.as_bytes(), inner.credential.expose().as_bytes()) {
        return error(StatusCode::UNAUTHORIZED, codes::AUTH, "credential refused");
    }
    let req: WireRequest = match wire::decode(&body) {
        Ok(r) => r,
        Err(fault) => return error(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, &format!("request body: {fault}")),
    };
    if req.request_id.trim().is_empty() || req.request_id.len() > MAX_REQUEST_ID {
        return error(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, "request_id must be 1 to 128 bytes");
    }
    let subject = match (req.subject.national_id, req.subject.name, req.subject.birth_date) {
        (Some(id), None, None) => match NationalId::parse(&id) {
            Ok(id) => Subject::NationalId(id),
            Err(_) => return error(StatusCode::BAD_REQUEST, codes::BAD_SUBJECT, "national_id is not valid"),
        },
        (None, Some(name), Some(birth)) => {
            let Some(birth_date) = wire::parse_birth_date(&birth) else {
                return error(StatusCode::BAD_REQUEST, codes::BAD_SUBJECT, "birth_date must be YYYY-MM-DD");
            };
            if name.trim().is_empty() || name.chars().count() > 50 {
                return error(StatusCode::BAD_REQUEST, codes::BAD_SUBJECT, "name must be 1 to 50 characters");
            }
            Subject::NameBirthDate { name, birth_date }
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                codes::BAD_SUBJECT,
                "subject is either {national_id} or {name, birth_date}",
            );
        }
    };
    match super::answer(&inner.data, &req.operation, &subject) {
        Ok(answer) => Json(WireAnswer::from_answer(&answer)).into_response(),
        Err(NhiError::Rejected { code, message }) => error(StatusCode::BAD_REQUEST, &code, &message),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "E_INTERNAL", "internal error"),
    }
}

/// A running sandbox. Dropping it stops the server too; `shutdown` also waits for it.
#[derive(Debug)]
pub struct SandboxHandle {
    addr: SocketAddr,
    scheme: &'static str,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SandboxHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (or `https://…`): the endpoint to give `HttpConnectorConfig`.
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Stops accepting, closes open connections and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves the sandbox over plain HTTP on `addr` (port 0 for a free port).
pub async fn spawn_sandbox(addr: SocketAddr, config: SandboxConfig) -> std::io::Result<SandboxHandle> {
    spawn(addr, config, None).await
}

/// Serves the sandbox over HTTPS on `addr` with the given rustls server configuration (which
/// decides whether a client certificate is required).
pub async fn spawn_sandbox_tls(
    addr: SocketAddr,
    config: SandboxConfig,
    tls: Arc<rustls::ServerConfig>,
) -> std::io::Result<SandboxHandle> {
    spawn(addr, config, Some(tokio_rustls::TlsAcceptor::from(tls))).await
}

async fn spawn(
    addr: SocketAddr,
    config: SandboxConfig,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<SandboxHandle> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let router = sandbox_router(config);
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(accept_loop(listener, router, tls, stopped));
    Ok(SandboxHandle { addr, scheme, stop: Some(stop), task: Some(task) })
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stopped: oneshot::Receiver<()>,
) {
    // Dropping the set at the end aborts the connections still open.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "sandbox NHIA: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    match tls {
                        None => serve_connection(TokioIo::new(stream), router).await,
                        Some(acceptor) => {
                            match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => serve_connection(TokioIo::new(stream), router).await,
                                Ok(Err(e)) => tracing::debug!(error = %e, "sandbox NHIA: TLS handshake failed"),
                                Err(_) => tracing::debug!("sandbox NHIA: TLS handshake timed out"),
                            }
                        }
                    }
                });
            }
        }
    }
}

async fn serve_connection<I>(io: I, router: Router)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let mut router = router.clone();
        async move {
            let resp: Response<Body> = match tower_service::Service::call(&mut router, req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
            if resp.extensions().get::<DropConnection>().is_some() {
                // An error from the service makes hyper close the connection without answering.
                return Err(DroppedOnPurpose);
            }
            Ok(resp)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(io, service).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abd", b"abc"));
        assert!(!same_secret(b"ab", b"abc"));
        assert!(!same_secret(b"abcd", b"abc"));
        assert!(!same_secret(b"", b"abc"));
    }

    #[test]
    fn faults_count_down_in_order() {
        let f = SandboxFaults::new();
        f.drop_next(1);
        f.unavailable_next(1);
        f.garbage_next(1);
        let kinds: Vec<&str> = (0..4)
            .map(|_| match f.next_action().1 {
                FaultAction::Drop => "drop",
                FaultAction::Unavailable(_) => "503",
                FaultAction::Garbage => "garbage",
                FaultAction::EmptyFound => "empty",
                FaultAction::Answer => "answer",
            })
            .collect();
        assert_eq!(kinds, ["drop", "503", "garbage", "answer"]);
        assert_eq!(f.requests_seen(), 4);
    }
}
