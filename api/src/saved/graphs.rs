//! `/api/v1/graphs`: graphs users viewed, named and starred.
//!
//! * `POST /api/v1/graphs` records that the caller viewed a graph (the web app sends each graph
//!   a signed-in user draws): a new entry at the top of their history, or the same graph moved
//!   there.
//! * `GET /api/v1/graphs/history`: the caller's history, the last 100, newest first.
//! * `GET /api/v1/graphs` (`?user=`): everyone's named graphs ("Users' graphs"), and
//!   `GET /api/v1/graphs/{id}` one of them (or one of the caller's own).
//! * `PATCH /api/v1/graphs/{id}` names (shows to every reader) and stars one of the caller's
//!   graphs; `DELETE` forgets it.

use super::documents::{self, GraphView};
use super::store::{self, GraphRow};
use super::{not_changed, OwnerFilter};
use crate::auth::Caller;
use crate::http::documented_refusals::CallerRefusals;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::json_body::json_body_text;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, Utc};

/// A saved graph.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SavedGraph {
    id: i64,
    /// The user whose graph it is.
    owner: String,
    /// Set: everyone who may read sees it. Absent: only in its owner's history.
    name: Option<String>,
    starred: bool,
    #[serde(flatten)]
    view: GraphView,
    created_at: DateTime<Utc>,
    /// When its owner last viewed it.
    viewed_at: DateTime<Utc>,
}

impl From<GraphRow> for SavedGraph {
    fn from(row: GraphRow) -> Self {
        Self {
            id: row.id,
            owner: row.owner,
            name: row.name,
            starred: row.starred,
            view: GraphView {
                targets: row.targets,
                from: row.from_time,
                until: row.until_time,
            },
            created_at: row.created_at,
            viewed_at: row.viewed_at,
        }
    }
}

/// What `PATCH` changes; what is absent stays.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GraphChange {
    /// A name (1 to 200 characters) shows the graph to everyone who may read; `""` removes it.
    name: Option<String>,
    starred: Option<bool>,
}

fn saved_graphs(rows: Vec<GraphRow>) -> Json<Vec<SavedGraph>> {
    Json(rows.into_iter().map(SavedGraph::from).collect())
}

/// `POST /api/v1/graphs`: records that the caller viewed a graph.
#[utoipa::path(
    post,
    path = "/api/v1/graphs",
    tag = "saved",
    params(("X-Abacus-CSRF" = Option<String>, Header, description = "with a session: its CSRF token")),
    request_body(content = GraphView, content_type = "application/json"),
    responses(
        (status = 200, description = "the graph, now at the top of the caller's history", body = SavedGraph),
        (status = 400, description = "the body is not a valid graph (targets, from, until)", body = ErrorBody),
        (status = 413, description = "the body is larger than api.max_body_bytes", body = ErrorBody),
        (status = 415, description = "the body is not sent as application/json", body = ErrorBody),
        CallerRefusals,
    )
)]
pub(crate) async fn record_view(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<SavedGraph>, ApiError> {
    let view: GraphView = serde_json::from_str(json_body_text(&headers, &body)?)
        .map_err(|error| ApiError::BadRequest(format!("invalid graph: {error}")))?;
    let row = store::record_graph_view(&state.pool, caller.user_id, &view.checked()?).await?;
    Ok(Json(row.into()))
}

/// `GET /api/v1/graphs/history`: the caller's history.
#[utoipa::path(
    get,
    path = "/api/v1/graphs/history",
    tag = "saved",
    responses(
        (status = 200, description = "the caller's last 100 graphs, most recently viewed first", body = [SavedGraph]),
        CallerRefusals,
    )
)]
pub(crate) async fn history(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<SavedGraph>>, ApiError> {
    Ok(saved_graphs(
        store::graph_history(&state.pool, caller.user_id).await?,
    ))
}

/// `GET /api/v1/graphs`: everyone's named graphs.
#[utoipa::path(
    get,
    path = "/api/v1/graphs",
    tag = "saved",
    params(OwnerFilter),
    responses(
        (status = 200, description = "named graphs, by owner and name", body = [SavedGraph]),
        (status = 400, description = "the query string is not valid (a NUL byte, `user` given twice)", body = ErrorBody),
        CallerRefusals,
    )
)]
pub(crate) async fn named_graphs(
    State(state): State<AppState>,
    Query(filter): Query<OwnerFilter>,
) -> Result<Json<Vec<SavedGraph>>, ApiError> {
    Ok(saved_graphs(
        store::named_graphs(&state.pool, filter.user.as_deref()).await?,
    ))
}

/// `GET /api/v1/graphs/{id}`: a named graph, or one of the caller's own.
#[utoipa::path(
    get,
    path = "/api/v1/graphs/{id}",
    tag = "saved",
    params(("id" = i64, Path, description = "The graph's id")),
    responses(
        (status = 200, description = "the graph", body = SavedGraph),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 404, description = "no named graph, nor one of the caller's, with this id", body = ErrorBody),
        CallerRefusals,
    )
)]
pub(crate) async fn graph(
    State(state): State<AppState>,
    caller: Option<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<SavedGraph>, ApiError> {
    let viewer = caller.map(|caller| caller.user_id);
    store::visible_graph(&state.pool, id, viewer)
        .await?
        .map(|row| Json(row.into()))
        .ok_or_else(|| ApiError::NotFound(format!("no graph {id} that you may see")))
}

/// `PATCH /api/v1/graphs/{id}`: names or stars one of the caller's graphs.
#[utoipa::path(
    patch,
    path = "/api/v1/graphs/{id}",
    tag = "saved",
    params(
        ("id" = i64, Path, description = "The graph's id"),
        ("X-Abacus-CSRF" = Option<String>, Header, description = "with a session: its CSRF token"),
    ),
    request_body(content = GraphChange, content_type = "application/json"),
    responses(
        (status = 200, description = "the changed graph", body = SavedGraph),
        (status = 400, description = "the id is not a number, or the body is not a valid change", body = ErrorBody),
        (status = 404, description = "no graph with this id", body = ErrorBody),
        (status = 413, description = "the body is larger than api.max_body_bytes", body = ErrorBody),
        (status = 415, description = "the body is not sent as application/json", body = ErrorBody),
        CallerRefusals,
    )
)]
pub(crate) async fn change_graph(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<SavedGraph>, ApiError> {
    let change: GraphChange = serde_json::from_str(json_body_text(&headers, &body)?)
        .map_err(|error| ApiError::BadRequest(format!("invalid change: {error}")))?;
    let name = match change.name.as_deref() {
        None => None,
        Some(name) if name.trim().is_empty() => Some(None),
        Some(name) => Some(Some(documents::checked_title("a graph's name", name)?)),
    };
    let changed = store::update_graph(
        &state.pool,
        id,
        caller.user_id,
        name.as_ref().map(|name| name.as_deref()),
        change.starred,
    )
    .await?;
    Ok(Json(not_changed("graph", id, changed)?.into()))
}

/// The answer to a deletion.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Deleted {
    /// The id of what was deleted.
    deleted: i64,
}

impl Deleted {
    pub(crate) fn of(id: i64) -> Json<Deleted> {
        Json(Deleted { deleted: id })
    }
}

/// `DELETE /api/v1/graphs/{id}`: forgets one of the caller's graphs.
#[utoipa::path(
    delete,
    path = "/api/v1/graphs/{id}",
    tag = "saved",
    params(
        ("id" = i64, Path, description = "The graph's id"),
        ("X-Abacus-CSRF" = Option<String>, Header, description = "with a session: its CSRF token"),
    ),
    responses(
        (status = 200, description = "deleted", body = Deleted),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 404, description = "no graph with this id", body = ErrorBody),
        CallerRefusals,
    )
)]
pub(crate) async fn delete_graph(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Deleted>, ApiError> {
    let deleted = store::delete_graph(&state.pool, id, caller.user_id).await?;
    not_changed("graph", id, deleted)?;
    Ok(Deleted::of(id))
}
