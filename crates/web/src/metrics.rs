//! `/healthz` and `/metrics` (Prometheus text format): request counts by status class and the
//! time spent, kept in atomics so that counting costs nothing measurable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

#[derive(Debug, Default, Clone)]
pub struct Metrics(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    by_class: [AtomicU64; 5],
    micros_total: AtomicU64,
}

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let res = next.run(req).await;
    let class = usize::from(res.status().as_u16() / 100).clamp(1, 5) - 1;
    let m = &state.metrics.0;
    m.by_class[class].fetch_add(1, Ordering::Relaxed);
    m.micros_total.fetch_add(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    res
}

pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.app.health().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let m = &state.metrics.0;
    let db_up = u8::from(state.app.health().await.is_ok());
    let mut out = String::new();
    out.push_str("# HELP nhiguard_http_requests_total HTTP requests answered, by status class.\n");
    out.push_str("# TYPE nhiguard_http_requests_total counter\n");
    for (i, c) in m.by_class.iter().enumerate() {
        out.push_str(&format!("nhiguard_http_requests_total{{class=\"{}xx\"}} {}\n", i + 1, c.load(Ordering::Relaxed)));
    }
    out.push_str("# HELP nhiguard_http_request_seconds_total Time spent answering HTTP requests.\n");
    out.push_str("# TYPE nhiguard_http_request_seconds_total counter\n");
    out.push_str(&format!(
        "nhiguard_http_request_seconds_total {:.6}\n",
        m.micros_total.load(Ordering::Relaxed) as f64 / 1e6
    ));
    out.push_str("# HELP nhiguard_database_up Whether the database answered the last check.\n");
    out.push_str("# TYPE nhiguard_database_up gauge\n");
    out.push_str(&format!("nhiguard_database_up{{backend=\"{}\"}} {db_up}\n", state.app.db().backend().name()));
    out.push_str("# HELP nhiguard_build_info Version of this binary.\n# TYPE nhiguard_build_info gauge\n");
    out.push_str(&format!("nhiguard_build_info{{version=\"{}\"}} 1\n", env!("CARGO_PKG_VERSION")));
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
}
