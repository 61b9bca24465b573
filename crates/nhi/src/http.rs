//! The real NHIA connector over HTTP(S): validated settings, the documented wire format, timeouts,
//! retries only where the request certainly did not reach NHIA, a circuit breaker, and TLS with
//! the county's client certificate.
//!
//! A lookup is a disclosure of personal data: it is sent again only after a connection failure
//! (nothing was sent) or a 503/429 (NHIA said it did not process it) — never after a read timeout
//! or a dropped connection, where NHIA may have answered. This module logs request ids, operation
//! codes, status codes and timings; never the subject, the answer, or the credential.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::NhiError;
use crate::breaker::{Breaker, BreakerState};
use crate::connector::{BoxFuture, Connector, LookupAnswer, LookupRequest, Secret};
use crate::transport::{self, ConnectTimeout, Transport};
use crate::wire::{self, LOOKUP_PATH, MAX_REQUEST_ID, WireAnswer, WireErrorBody, WireRequest, WireSubject};

/// Largest answer body read (a visit list of one person is a few KiB).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// Longest single back-off wait.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The settings of the HTTP connector. Error messages name the fields as written here.
#[derive(Debug, Clone)]
pub struct HttpConnectorConfig {
    /// `https://host[:port][/prefix]` (or `http://` for a local sandbox); the lookup is posted to
    /// `{endpoint}/nhi/v1/lookup`.
    pub endpoint: String,
    /// The bearer credential NHIA issued to the county.
    pub credential: Secret,
    /// The county's client certificate (PEM, leaf first) for https endpoints.
    pub client_cert_pem: Option<PathBuf>,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub client_key_pem: Option<PathBuf>,
    /// CA certificates to trust for NHIA's server certificate (PEM); default: the system bundle.
    pub ca_pem: Option<PathBuf>,
    /// Time to open the connection (TCP and TLS handshake).
    pub connect_timeout: Duration,
    /// Time for one whole attempt: connect, send, and read the answer.
    pub request_timeout: Duration,
    /// Further attempts after a failure that certainly sent nothing (0–10).
    pub retries: u32,
    /// First back-off wait; doubled per retry, with jitter.
    pub backoff_base: Duration,
    /// Consecutive Unavailable/Timeout attempts that open the breaker (0: no breaker).
    pub breaker_threshold: u32,
    /// How long the open breaker fails fast before one trial goes through.
    pub breaker_cool_down: Duration,
}

impl HttpConnectorConfig {
    /// The endpoint and credential with default timeouts (connect 3 s, request 10 s), 2 retries
    /// from 200 ms, and a breaker of 5 failures / 30 s.
    pub fn new(endpoint: impl Into<String>, credential: impl Into<Secret>) -> Self {
        Self {
            endpoint: endpoint.into(),
            credential: credential.into(),
            client_cert_pem: None,
            client_key_pem: None,
            ca_pem: None,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            retries: 2,
            backoff_base: Duration::from_millis(200),
            breaker_threshold: 5,
            breaker_cool_down: Duration::from_secs(30),
        }
    }
}

/// The NHIA connector over HTTP(S).
pub struct HttpConnector {
    lookup_uri: Uri,
    authorization: HeaderValue,
    tls: bool,
    client: Client<Transport, Full<Bytes>>,
    request_timeout: Duration,
    retries: u32,
    backoff_base: Duration,
    breaker: Breaker,
}

impl fmt::Debug for HttpConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConnector")
            .field("lookup_uri", &self.lookup_uri.to_string())
            .field("tls", &self.tls)
            .field("request_timeout", &self.request_timeout)
            .field("retries", &self.retries)
            .field("breaker", &self.breaker.state())
            .finish_non_exhaustive()
    }
}

fn check_duration(setting: &str, d: Duration, max: Duration) -> Result<(), NhiError> {
    if d.is_zero() || d > max {
        return Err(NhiError::config(setting, format!("must be more than 0 and at most {} s", max.as_secs())));
    }
    Ok(())
}

/// `{endpoint}/nhi/v1/lookup`, after checking the endpoint.
fn lookup_uri(endpoint: &str) -> Result<(Uri, bool), NhiError> {
    let endpoint = endpoint.trim();
    let bad = |why: &str| NhiError::config("endpoint", format!("{why} (e.g. https://nhi.example.gov.tw:443)"));
    let uri: Uri = endpoint.parse().map_err(|_| bad("not a URL"))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(bad("must start with https:// or http://")),
    };
    let Some(authority) = uri.authority() else { return Err(bad("has no host")) };
    if authority.as_str().contains('@') {
        return Err(bad("must not contain a user name or password: use the credential setting"));
    }
    if authority.host().is_empty() {
        return Err(bad("has no host"));
    }
    if uri.query().is_some() {
        return Err(bad("must not have a query string"));
    }
    let prefix = uri.path().trim_end_matches('/');
    let full = format!("{}://{}{prefix}{LOOKUP_PATH}", if tls { "https" } else { "http" }, authority);
    let uri = full.parse().map_err(|_| bad("not a URL"))?;
    Ok((uri, tls))
}

impl HttpConnector {
    /// Checks the settings and reads the certificate files; each error names its setting.
    pub fn new(config: HttpConnectorConfig) -> Result<Self, NhiError> {
        let (lookup_uri, tls) = lookup_uri(&config.endpoint)?;
        let credential = config.credential.expose();
        if credential.trim().is_empty() {
            return Err(NhiError::config("credential", "is empty"));
        }
        if !credential.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(NhiError::config("credential", "must be printable ASCII without spaces"));
        }
        let authorization = HeaderValue::from_str(&format!("Bearer {credential}"))
            .map_err(|_| NhiError::config("credential", "must be printable ASCII without spaces"))?;
        let mut authorization = authorization;
        authorization.set_sensitive(true);

        check_duration("connect_timeout", config.connect_timeout, Duration::from_secs(600))?;
        check_duration("request_timeout", config.request_timeout, Duration::from_secs(600))?;
        if config.connect_timeout > config.request_timeout {
            // The request timeout bounds the whole attempt, connecting included.
            return Err(NhiError::config("connect_timeout", "must not be longer than request_timeout"));
        }
        if config.retries > 10 {
            return Err(NhiError::config("retries", "must be at most 10"));
        }
        if config.retries > 0 {
            check_duration("backoff_base", config.backoff_base, Duration::from_secs(60))?;
        }
        if config.breaker_threshold > 0 {
            check_duration("breaker_cool_down", config.breaker_cool_down, Duration::from_secs(3600))?;
        }

        let tls_config = if tls {
            Some(transport::client_tls_config(
                config.client_cert_pem.as_deref(),
                config.client_key_pem.as_deref(),
                config.ca_pem.as_deref(),
            )?)
        } else {
            for (setting, value) in [
                ("client_cert_pem", &config.client_cert_pem),
                ("client_key_pem", &config.client_key_pem),
                ("ca_pem", &config.ca_pem),
            ] {
                if value.is_some() {
                    return Err(NhiError::config(setting, "is set but the endpoint is http://: use https://"));
                }
            }
            None
        };

        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build(Transport::new(config.connect_timeout, tls_config));
        Ok(Self {
            lookup_uri,
            authorization,
            tls,
            client,
            request_timeout: config.request_timeout,
            retries: config.retries,
            backoff_base: config.backoff_base,
            breaker: Breaker::new(config.breaker_threshold, config.breaker_cool_down),
        })
    }

    /// The circuit breaker's state, for health pages and metrics.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    async fn lookup_inner(&self, req: &LookupRequest) -> Result<LookupAnswer, NhiError> {
        if req.request_id.trim().is_empty() || req.request_id.len() > MAX_REQUEST_ID {
            return Err(NhiError::rejected("LOCAL_REQUEST_ID", "request_id must be 1 to 128 bytes"));
        }
        let body = WireRequest {
            request_id: req.request_id.clone(),
            operation: req.operation_code.clone(),
            subject: WireSubject::from_subject(&req.subject),
        };
        let body = Bytes::from(
            serde_json::to_vec(&body)
                .map_err(|_| NhiError::rejected("LOCAL_ENCODE", "request could not be encoded"))?,
        );
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            let permit = self.breaker.admit()?;
            let result = self.attempt(body.clone()).await;
            // Only an outage counts against the breaker: any answer, even a refusal, shows NHIA is up.
            let outage = result
                .as_ref()
                .is_err_and(|f| matches!(f.error, NhiError::Timeout { .. } | NhiError::Unavailable { .. }));
            permit.record(outage);
            let failure = match result {
                Ok(answer) => {
                    tracing::debug!(
                        request_id = %req.request_id,
                        operation = %req.operation_code,
                        attempts = attempt + 1,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "NHIA lookup answered"
                    );
                    return Ok(answer);
                }
                Err(failure) => failure,
            };
            tracing::warn!(
                request_id = %req.request_id,
                operation = %req.operation_code,
                attempt = attempt + 1,
                code = failure.error.code(),
                detail = %failure.error.detail(),
                "NHIA lookup attempt failed"
            );
            let Some(min_wait) = failure.retry else { return Err(failure.error) };
            if attempt >= self.retries {
                return Err(failure.error);
            }
            let wait = self.backoff(attempt).max(min_wait);
            if min_wait > self.request_timeout {
                // NHIA asks us to come back later than a clerk can wait.
                return Err(failure.error);
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// `base · 2^attempt`, capped, with "equal jitter": between half and all of it.
    fn backoff(&self, attempt: u32) -> Duration {
        let full = self.backoff_base.saturating_mul(1u32 << attempt.min(16)).min(MAX_BACKOFF);
        let half = full / 2;
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(attempt);
        let nanos = half.as_nanos() as u64;
        half + Duration::from_nanos(if nanos == 0 { 0 } else { h.finish() % (nanos + 1) })
    }

    async fn attempt(&self, body: Bytes) -> Result<LookupAnswer, Failure> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.lookup_uri.clone())
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, concat!("nhiguard/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(body))
            .map_err(|_| Failure::final_(NhiError::config("endpoint", "cannot build a request for it")))?;
        let exchange = async {
            let resp = self.client.request(request).await.map_err(classify_send_error)?;
            let (parts, body) = resp.into_parts();
            let bytes = Limited::new(body, MAX_ANSWER_BYTES).collect().await.map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                    Failure::final_(NhiError::bad_answer(format!("answer larger than {MAX_ANSWER_BYTES} bytes")))
                } else {
                    Failure::final_(NhiError::unavailable("connection broke while reading the answer", true))
                }
            })?;
            Ok::<_, Failure>((parts, bytes.to_bytes()))
        };
        let (parts, bytes) = match tokio::time::timeout(self.request_timeout, exchange).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(Failure::final_(NhiError::Timeout { after_ms: self.request_timeout.as_millis() as u64 }));
            }
        };
        interpret(parts.status, &parts.headers, &bytes)
    }
}

impl Connector for HttpConnector {
    fn lookup<'a>(&'a self, req: &'a LookupRequest) -> BoxFuture<'a, Result<LookupAnswer, NhiError>> {
        Box::pin(self.lookup_inner(req))
    }

    fn kind(&self) -> &'static str {
        "http"
    }
}

/// A failed attempt, and whether another may be made (after at least the given wait).
#[derive(Debug)]
struct Failure {
    error: NhiError,
    retry: Option<Duration>,
}

impl Failure {
    fn final_(error: NhiError) -> Self {
        Self { error, retry: None }
    }
}

fn classify_send_error(e: hyper_util::client::legacy::Error) -> Failure {
    if let Some(tls) = transport::find_tls_error(&e) {
        return Failure::final_(tls_config_error(tls));
    }
    if transport::find_in_chain::<ConnectTimeout>(&e).is_some() {
        return Failure { error: NhiError::unavailable("connect timeout", false), retry: Some(Duration::ZERO) };
    }
    if e.is_connect() {
        let why = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| "connect error".into());
        return Failure {
            error: NhiError::unavailable(format!("could not connect: {}", crate::error::safe_text(&why, 200)), false),
            retry: Some(Duration::ZERO),
        };
    }
    // The request may have been written: never sent again.
    Failure::final_(NhiError::unavailable("connection closed before an answer", true))
}

fn tls_config_error(e: &rustls::Error) -> NhiError {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::InvalidCertificate(_) => {
            NhiError::config("ca_pem", format!("NHIA's server certificate is not trusted: {e}"))
        }
        rustls::Error::AlertReceived(
            A::CertificateRequired
            | A::BadCertificate
            | A::UnknownCA
            | A::CertificateUnknown
            | A::AccessDenied
            | A::CertificateExpired
            | A::CertificateRevoked
            | A::UnsupportedCertificate,
        ) => NhiError::config(
            "client_cert_pem",
            format!("NHIA refused the TLS connection: a valid client certificate is required ({e})"),
        ),
        _ => NhiError::config("endpoint", format!("TLS failed: {e}")),
    }
}

fn retry_after(headers: &hyper::HeaderMap) -> Duration {
    headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::ZERO)
}

fn interpret(status: StatusCode, headers: &hyper::HeaderMap, body: &[u8]) -> Result<LookupAnswer, Failure> {
    let error_body = || wire::decode::<WireErrorBody>(body).ok().map(|b| b.error);
    match status.as_u16() {
        200 => {
            let answer: WireAnswer = wire::decode(body)
                .map_err(|fault| Failure::final_(NhiError::bad_answer(format!("HTTP 200 with {fault}"))))?;
            let (answer, unknown) = answer.into_answer().map_err(Failure::final_)?;
            if !unknown.is_empty() {
                tracing::warn!(fields = ?unknown, "NHIA answer has fields this gateway does not know; dropped");
            }
            Ok(answer)
        }
        401 => Err(Failure::final_(NhiError::config("credential", "credential refused by NHIA (HTTP 401)"))),
        // Busy or down for maintenance: NHIA says it did not process the lookup.
        429 | 503 => Err(Failure {
            error: NhiError::unavailable(format!("NHIA answered HTTP {}", status.as_u16()), false),
            retry: Some(retry_after(headers)),
        }),
        500..=599 => {
            let code = error_body().map(|e| format!(", code {}", crate::error::safe_text(&e.code, 40)));
            Err(Failure::final_(NhiError::unavailable(
                format!("NHIA answered HTTP {}{}", status.as_u16(), code.unwrap_or_default()),
                true,
            )))
        }
        400..=499 => match error_body() {
            Some(e) => Err(Failure::final_(NhiError::rejected(e.code, e.message))),
            None if status == StatusCode::NOT_FOUND => {
                Err(Failure::final_(NhiError::config("endpoint", "no NHIA lookup service at this address (HTTP 404)")))
            }
            None => {
                Err(Failure::final_(NhiError::bad_answer(format!("HTTP {} without an error body", status.as_u16()))))
            }
        },
        other => Err(Failure::final_(NhiError::bad_answer(format!("unexpected HTTP status {other}")))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked_and_joined() {
        let (u, tls) = lookup_uri("https://nhi.example.gov.tw/api/").unwrap();
        assert_eq!(u.to_string(), "https://nhi.example.gov.tw/api/nhi/v1/lookup");
        assert!(tls);
        let (u, tls) = lookup_uri("http://127.0.0.1:9000").unwrap();
        assert_eq!(u.to_string(), "http://127.0.0.1:9000/nhi/v1/lookup");
        assert!(!tls);
        for bad in ["", "nhi.example", "ftp://x", "https://u:p@x", "https://x/?a=1", "http://"] {
            let err = lookup_uri(bad).unwrap_err();
            assert!(matches!(&err, NhiError::Config { setting, .. } if setting == "endpoint"), "{bad}: {err:?}");
        }
    }

    #[test]
    fn statuses_map_to_errors() {
        let h = hyper::HeaderMap::new();
        let e = interpret(StatusCode::UNAUTHORIZED, &h, b"").unwrap_err();
        assert!(matches!(e.error, NhiError::Config { .. }) && e.retry.is_none());
        let e = interpret(StatusCode::SERVICE_UNAVAILABLE, &h, b"").unwrap_err();
        assert!(matches!(e.error, NhiError::Unavailable { .. }) && e.retry.is_some());
        let e = interpret(StatusCode::BAD_GATEWAY, &h, b"").unwrap_err();
        assert!(matches!(e.error, NhiError::Unavailable { .. }) && e.retry.is_none());
        let e = interpret(StatusCode::BAD_REQUEST, &h, br#"{"error":{"code":"E_X","message":"m"}}"#).unwrap_err();
        assert!(matches!(&e.error, NhiError::Rejected { code, .. } if code == "E_X"));
        let e = interpret(StatusCode::NOT_FOUND, &h, b"").unwrap_err();
        assert!(matches!(e.error, NhiError::Config { .. }));
        let e = interpret(StatusCode::OK, &h, b"<html>").unwrap_err();
        assert!(matches!(e.error, NhiError::BadAnswer { .. }));
        let e = interpret(StatusCode::MOVED_PERMANENTLY, &h, b"").unwrap_err();
        assert!(matches!(e.error, NhiError::BadAnswer { .. }));
        assert_eq!(interpret(StatusCode::OK, &h, br#"{"status":"not_found"}"#).unwrap(), LookupAnswer::NotFound);
    }

    #[test]
    fn settings_are_checked_by_name() {
        let base = || HttpConnectorConfig::new("http://127.0.0.1:1", "token");
        let setting_of = |c: HttpConnectorConfig| match HttpConnector::new(c) {
            Err(NhiError::Config { setting, .. }) => setting,
            other => panic!("{other:?}"),
        };
        assert_eq!(setting_of(HttpConnectorConfig { credential: Secret::new(""), ..base() }), "credential");
        assert_eq!(setting_of(HttpConnectorConfig { credential: Secret::new("a b"), ..base() }), "credential");
        assert_eq!(setting_of(HttpConnectorConfig { request_timeout: Duration::ZERO, ..base() }), "request_timeout");
        assert_eq!(setting_of(HttpConnectorConfig { connect_timeout: Duration::ZERO, ..base() }), "connect_timeout");
        assert_eq!(setting_of(HttpConnectorConfig { retries: 11, ..base() }), "retries");
        assert_eq!(
            setting_of(HttpConnectorConfig { connect_timeout: Duration::from_secs(20), ..base() }),
            "connect_timeout"
        );
        assert_eq!(
            setting_of(HttpConnectorConfig { client_cert_pem: Some("/x.pem".into()), ..base() }),
            "client_cert_pem"
        );
        let https = || HttpConnectorConfig { endpoint: "https://127.0.0.1:1".into(), ..base() };
        assert_eq!(setting_of(HttpConnectorConfig { ca_pem: Some("/nonexistent/ca.pem".into()), ..https() }), "ca_pem");
    }

    #[tokio::test]
    async fn backoff_grows_with_jitter_within_bounds() {
        let c = HttpConnector::new(HttpConnectorConfig {
            backoff_base: Duration::from_millis(100),
            ..HttpConnectorConfig::new("http://127.0.0.1:1", "t")
        })
        .unwrap();
        for attempt in 0..5 {
            let full = Duration::from_millis(100) * (1 << attempt);
            let d = c.backoff(attempt);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
        assert!(c.backoff(40) <= MAX_BACKOFF);
    }
}
