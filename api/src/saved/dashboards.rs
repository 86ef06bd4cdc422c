//! `/api/v1/dashboards`: dashboards, kept as the web app's export JSON.
//!
//! Everyone who may read lists (`?user=`) and views them; their owner replaces (`PUT`) and
//! deletes them; any signed-in user duplicates one (theirs or another's) into a new dashboard
//! of their own. The body of `POST` and `PUT` is the dashboard file the web app exports; the
//! answers are the same JSON with `id`, `owner` and times added, which can be posted back.

use super::documents::DashboardDocument;
use super::graphs::Deleted;
use super::store::{self, DashboardRow};
use super::{not_changed, OwnerFilter};
use crate::auth::store::StoreError;
use crate::auth::Caller;
use crate::http::documented_refusals::CallerRefusals;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::json_body::json_body_text;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};

/// A saved dashboard: the web app's dashboard JSON with who owns it and when it changed.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SavedDashboard {
    id: i64,
    /// The user whose dashboard it is; only they change it.
    owner: String,
    #[serde(flatten)]
    dashboard: DashboardDocument,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<DashboardRow> for SavedDashboard {
    type Error = StoreError;

    fn try_from(row: DashboardRow) -> Result<Self, StoreError> {
        Ok(Self {
            dashboard: row.document()?,
            id: row.id,
            owner: row.owner,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn saved(row: DashboardRow) -> Result<Json<SavedDashboard>, ApiError> {
    Ok(Json(SavedDashboard::try_from(row)?))
}

/// The dashboard a `POST` or `PUT` body holds, checked.
fn dashboard_from_body(headers: &HeaderMap, body: &[u8]) -> Result<DashboardDocument, ApiError> {
    let document: DashboardDocument = serde_json::from_str(json_body_text(headers, body)?)
        .map_err(|error| ApiError::BadRequest(format!("invalid dashboard: {error}")))?;
    Ok(document.checked()?)
}

/// `GET /api/v1/dashboards`: everyone's dashboards.
#[utoipa::path(
    get,
    path = "/api/v1/dashboards",
    tag = "saved",
    params(OwnerFilter),
    responses(
        (status = 200, description = "dashboards, by owner and title", body = [SavedDashboard]),
        (status = 400, description = "the query string is not valid (a NUL byte, `user` given twice)", body = ErrorBody),
        CallerRefusals,
    )
)]
pub(crate) async fn list_dashboards(
    State(state): State<AppState>,
    Query(filter): Query<OwnerFilter>,
) -> Result<Json<Vec<SavedDashboard>>, ApiError> {
    let rows = store::dashboards(&state.pool, filter.user.as_deref()).await?;
    let dashboards = rows
        .into_iter()
        .map(SavedDashboard::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Json(dashboards))
}

/// `POST /api/v1/dashboards`: saves a new dashboard of the caller's.
#[utoipa::path(
    post,
    path = "/api/v1/dashboards",
    tag = "saved",
    params(("X-Abacus-CSRF" = Option<String>, Header, description = "with a session: its CSRF token")),
    request_body(content = DashboardDocument, content_type = "application/json"),
    responses(
        (status = 201, description = "saved", body = SavedDashboard),
        (status = 400, description = "the body is not a valid dashboard", body = ErrorBody),
        (status = 413, description = "the body is larger than api.max_body_bytes", body = ErrorBody),
        (status = 415, description = "the body is not sent as application/json", body = ErrorBody),
        CallerRefusals,
    )
)]
pub(crate) async fn create_dashboard(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<SavedDashboard>), ApiError> {
    let document = dashboard_from_body(&headers, &body)?;
    let row = store::create_dashboard(&state.pool, caller.user_id, &document).await?;
    tracing::info!(user = %caller.user_name, dashboard_id = row.id, "dashboard created");
    Ok((StatusCode::CREATED, saved(row)?))
}

/// `GET /api/v1/dashboards/{id}`: one dashboard.
#[utoipa::path(
    get,
    path = "/api/v1/dashboards/{id}",
    tag = "saved",
    params(("id" = i64, Path, description = "The dashboard's id")),
    responses(
        (status = 200, description = "the dashboard", body = SavedDashboard),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 404, description = "no dashboard with this id", body = ErrorBody),
        CallerRefusals,
    )
)]
pub(crate) async fn dashboard(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<SavedDashboard>, ApiError> {
    let row = store::dashboard(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no dashboard {id}")))?;
    saved(row)
}

/// `PUT /api/v1/dashboards/{id}`: replaces one of the caller's dashboards.
#[utoipa::path(
    put,
    path = "/api/v1/dashboards/{id}",
    tag = "saved",
    params(
        ("id" = i64, Path, description = "The dashboard's id"),
        ("X-Abacus-CSRF" = Option<String>, Header, description = "with a session: its CSRF token"),
    ),
    request_body(content = DashboardDocument, content_type = "application/json"),
    responses(
        (status = 200, description = "replaced", body = SavedDashboard),
        (status = 400, description = "the id is not a number, or the body is not a valid dashboard", body = ErrorBody),
        (status = 404, description = "no dashboard with this id", body = ErrorBody),
        (status = 413, description = "the body is larger than api.max_body_bytes", body = ErrorBody),
        (status = 415, description = "the body is not sent as application/json", body = ErrorBody),
        CallerRefusals,
    )
)]
pub(crate) async fn replace_dashboard(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<SavedDashboard>, ApiError> {
    let document = dashboard_from_body(&headers, &body)?;
    let replaced = store::replace_dashboard(&state.pool, id, caller.user_id, &document).await?;
    saved(not_changed("dashboard", id, replaced)?)
}

/// `POST /api/v1/dashboards/{id}/duplicate`: copies a dashboard into a new one of the caller's.
#[utoipa::path(
    post,
    path = "/api/v1/dashboards/{id}/duplicate",
    tag = "saved",
    params(
        ("id" = i64, Path, description = "The id of the dashboard to copy"),
        ("X-Abacus-CSRF" = Option<String>, Header, description = "with a session: its CSRF token"),
    ),
    responses(
        (status = 201, description = "the copy, titled \"Copy of …\"", body = SavedDashboard),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 404, description = "no dashboard with this id", body = ErrorBody),
        CallerRefusals,
    )
)]
pub(crate) async fn duplicate_dashboard(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<SavedDashboard>), ApiError> {
    let original = store::dashboard(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no dashboard {id}")))?;
    let mut copy = original.document()?;
    copy.title = copy_title(&copy.title);
    let row = store::create_dashboard(&state.pool, caller.user_id, &copy).await?;
    tracing::info!(user = %caller.user_name, from = id, dashboard_id = row.id, "dashboard duplicated");
    Ok((StatusCode::CREATED, saved(row)?))
}

/// "Copy of <title>", cut to the 200 characters a title may have.
fn copy_title(title: &str) -> String {
    format!("Copy of {title}").chars().take(200).collect()
}

/// `DELETE /api/v1/dashboards/{id}`: deletes one of the caller's dashboards.
#[utoipa::path(
    delete,
    path = "/api/v1/dashboards/{id}",
    tag = "saved",
    params(
        ("id" = i64, Path, description = "The dashboard's id"),
        ("X-Abacus-CSRF" = Option<String>, Header, description = "with a session: its CSRF token"),
    ),
    responses(
        (status = 200, description = "deleted", body = Deleted),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 404, description = "no dashboard with this id", body = ErrorBody),
        CallerRefusals,
    )
)]
pub(crate) async fn delete_dashboard(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Deleted>, ApiError> {
    let deleted = store::delete_dashboard(&state.pool, id, caller.user_id).await?;
    not_changed("dashboard", id, deleted)?;
    Ok(Deleted::of(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_titled_within_the_limit() {
        assert_eq!(copy_title("Checkout"), "Copy of Checkout");
        assert_eq!(copy_title(&"x".repeat(200)).chars().count(), 200);
    }
}
