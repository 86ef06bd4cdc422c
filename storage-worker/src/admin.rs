//! The admin HTTP server: `GET /healthz` (the process answers), `GET /readyz` (200 only while
//! batches can be stored: PostgreSQL is not failing and NATS is connected, 503 otherwise) and
//! `GET /metrics` (Prometheus text, see [`crate::metrics`]).
//!
//! Readiness comes from what the consume loop last saw rather than from a probe of its own,
//! so it reports exactly the state in which the worker holds acknowledgements back.

use crate::metrics::WorkerMetrics;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct AdminState {
    metrics: Arc<WorkerMetrics>,
    nats: async_nats::Client,
}

impl AdminState {
    fn nats_connected(&self) -> bool {
        self.nats.connection_state() == async_nats::connection::State::Connected
    }
}

/// Serves the admin endpoints on `listener` until `shutdown`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<WorkerMetrics>,
    nats: async_nats::Client,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(AdminState { metrics, nats });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, String) {
    let database_ok = !state.metrics.database_failing();
    let nats_ok = state.nats_connected();
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let status = if database_ok && nats_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // Dead letters do not make the worker unready (it goes on storing), but an operator
    // looking at readiness should see them.
    (
        status,
        format!(
            "database: {}\nnats: {}\ndead-lettered messages: {}\ndead-lettered records: {}\n",
            word(database_ok),
            word(nats_ok),
            state.metrics.dead_lettered(),
            state.metrics.records_dead_lettered(),
        ),
    )
}

async fn metrics_text(
    State(state): State<AdminState>,
) -> ([(header::HeaderName, &'static str); 1], String) {
    (
        [(header::CONTENT_TYPE, abacus_proto::exposition::CONTENT_TYPE)],
        state.metrics.render(state.nats_connected()),
    )
}
