//! `GET /healthz` (the process answers) and `GET /readyz` (it can serve: PostgreSQL answers
//! and NATS is connected). Both answer JSON.

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::time::Duration;

const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses(
        (status = 200, description = "`{\"status\": \"ok\"}`", body = Object),
        crate::http::documented_refusals::HeaderRefusal,
    )
)]
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: PostgreSQL answers and NATS is connected.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "ready: `status`, `database` and `nats` are `ok`", body = Object),
        crate::http::documented_refusals::HeaderRefusal,
        (status = 503, description = "not ready: `database` or `nats` is `unavailable`", body = Object),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database_check = crate::read::query::database_answers(&state.pool);
    let database_ready = matches!(
        tokio::time::timeout(DATABASE_CHECK_TIMEOUT, database_check).await,
        Ok(true)
    );
    let nats_ready = state.nats.connection_state() == async_nats::connection::State::Connected;
    let status = if database_ready && nats_ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ready: bool| if ready { "ok" } else { "unavailable" };
    (
        status,
        Json(json!({
            "status": word(database_ready && nats_ready),
            "database": word(database_ready),
            "nats": word(nats_ready),
        })),
    )
}
