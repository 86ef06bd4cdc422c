//! The API's own numbers: requests answered, refused (4xx) and failed (5xx), counted by a
//! layer every request goes through. They are served on `/metrics` and published into the
//! stream under `api.self_metrics_prefix` like the other services' (see
//! `abacus_proto::self_metrics`), so the Status page shows them.

use abacus_proto::exposition::{Exposition, Metrics};
use abacus_proto::self_metrics::{Reading, Readings};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Default)]
pub(crate) struct ApiMetrics {
    requests: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
}

impl Readings for ApiMetrics {
    fn readings(&self) -> Vec<Reading> {
        vec![
            Reading::counter(
                "requests",
                "HTTP requests answered.",
                self.requests.load(Ordering::Relaxed),
            ),
            Reading::counter(
                "refused",
                "Requests answered with a 4xx: the request's fault.",
                self.refused.load(Ordering::Relaxed),
            ),
            Reading::counter(
                "failed",
                "Requests answered with a 5xx: the database, the stream or the API failed.",
                self.failed.load(Ordering::Relaxed),
            ),
        ]
    }
}

impl Metrics for ApiMetrics {
    fn expose(&self, exposition: &mut Exposition<'_, '_>) -> std::fmt::Result {
        abacus_proto::self_metrics::expose(self.readings(), exposition)
    }
}

/// The layer: counts each answer by its status class.
pub(crate) async fn count_answers(
    State(metrics): State<Arc<ApiMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    metrics.requests.fetch_add(1, Ordering::Relaxed);
    if response.status().is_client_error() {
        metrics.refused.fetch_add(1, Ordering::Relaxed);
    } else if response.status().is_server_error() {
        metrics.failed.fetch_add(1, Ordering::Relaxed);
    }
    response
}

/// `GET /metrics`: the OpenMetrics text Prometheus scrapes.
pub(crate) async fn metrics_text(State(state): State<crate::state::AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, abacus_proto::exposition::CONTENT_TYPE)],
        abacus_proto::exposition::render(state.metrics.clone(), "abacus_api"),
    )
}
