//! The web face of nhiguard: HTML pages (Traditional Chinese first, English second; compile-time
//! checked templates; assets embedded in the binary) and the JSON API under `/api/v1/` with its
//! OpenAPI document. Handlers are thin: they extract, call one use case in `app`, and render. This
//! crate holds no SQL and no rules, and must never render or log a secret.

mod account_review;
mod api;
mod batch;
mod calendar;
mod ctx;
mod dashboard;
mod error;
mod governance;
mod integrity;
mod investigation;
mod metrics;
mod pages;
mod query;
mod querylog;
mod review;
mod view;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use nhiguard_app::App;

pub use metrics::Metrics;

/// Shared state of every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    pub app: App,
    pub metrics: Metrics,
}

/// The whole HTTP surface.
pub fn router(app: App) -> Router {
    let state = AppState { app, metrics: Metrics::default() };
    Router::new()
        .merge(pages::routes())
        .merge(integrity::routes())
        .merge(query::routes())
        .merge(review::routes())
        .merge(investigation::routes())
        .merge(account_review::routes())
        .merge(dashboard::routes())
        .merge(calendar::routes())
        .merge(batch::routes())
        .merge(governance::routes())
        .merge(querylog::routes())
        .nest("/api/v1", api::routes())
        .route("/healthz", axum::routing::get(metrics::healthz))
        .route("/metrics", axum::routing::get(metrics::metrics))
        .fallback(pages::not_found)
        // Forms and API bodies are small; batch uploads set their own, larger limit.
        .layer(DefaultBodyLimit::max(256 * 1024))
        .layer(middleware::from_fn(ctx::unreadable_request))
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(middleware::from_fn(ctx::security_headers))
        .with_state(state)
}

/// Serves until the future `shutdown` completes.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
