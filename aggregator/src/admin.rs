//! The admin HTTP server: `GET /metrics` (the self-metrics in the Prometheus text format) and
//! `GET /healthz`. It only reads the shared [`SelfMetrics`], so a scrape never touches the
//! receive loop.

use crate::stats::SelfMetrics;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
#[error("admin http server failed: {0}")]
pub(crate) struct AdminError(#[from] std::io::Error);

#[derive(Clone)]
struct AdminState {
    metrics: Arc<SelfMetrics>,
    prefix: Arc<str>,
}

/// Serves until `shutdown` is cancelled.
pub(crate) async fn serve(
    listener: TcpListener,
    metrics: Arc<SelfMetrics>,
    self_metrics_prefix: String,
    shutdown: CancellationToken,
) -> Result<(), AdminError> {
    let state = AdminState {
        metrics,
        prefix: self_metrics_prefix.into(),
    };
    let router = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(state);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

async fn metrics_text(State(state): State<AdminState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, abacus_proto::exposition::CONTENT_TYPE)],
        state.metrics.prometheus_text(&state.prefix),
    )
}
