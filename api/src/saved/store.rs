//! All SQL over the saved graphs and dashboards (`saved_graphs`, `dashboards`; created by the
//! storage worker's migrations). With `auth::store` the only place the API writes PostgreSQL,
//! and only its own application tables: metric data stays the storage worker's.
//!
//! Ownership is decided in the statements themselves (`where ... and user_id = $owner`), so a
//! change to another user's graph or dashboard touches nothing; the routes then tell "not
//! there" from "not yours" with [`Ownership`].

use super::documents::{DashboardDocument, GraphView};
use crate::auth::store::StoreError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// How many graphs of a user's history are kept; named and starred ones are kept beyond it.
pub(crate) const HISTORY_LENGTH: i64 = 100;

/// A saved graph with its owner's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct GraphRow {
    pub id: i64,
    pub owner: String,
    pub targets: Vec<String>,
    pub from_time: String,
    pub until_time: String,
    pub name: Option<String>,
    pub starred: bool,
    pub created_at: DateTime<Utc>,
    pub viewed_at: DateTime<Utc>,
}

/// A dashboard with its owner's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct DashboardRow {
    pub id: i64,
    pub owner: String,
    /// The dashboard's JSON as stored (`jsonb`, read back as text; see [`DashboardRow::document`]).
    pub document_text: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Whether a change to a graph or dashboard happened, and if not, why.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ownership<T> {
    Done(T),
    /// It exists but belongs to someone else.
    NotYours {
        owner: String,
    },
    Missing,
}

const GRAPH_COLUMNS: &str = "g.id, u.name as owner, g.targets, g.from_time, g.until_time, g.name,
    g.starred, g.created_at, g.viewed_at";
// The document travels as text (`::text`, `::jsonb`), so the API needs no JSON support in
// sqlx: it is checked and serialized by serde on the way in and out.
const DASHBOARD_COLUMNS: &str =
    "d.id, u.name as owner, d.document::text as document_text, d.created_at, d.updated_at";

impl DashboardRow {
    /// The stored document; only checked documents are stored, so one that does not read back
    /// is a database that was changed by hand, reported as a database error.
    pub(crate) fn document(&self) -> Result<DashboardDocument, StoreError> {
        serde_json::from_str(&self.document_text)
            .map_err(|error| StoreError::Database(sqlx::Error::Decode(Box::new(error))))
    }
}

fn document_json(document: &DashboardDocument) -> String {
    serde_json::to_string(document).expect("a dashboard serializes")
}

/// What tells one graph from another in a user's history: the SHA-256 of its JSON.
fn view_key(view: &GraphView) -> Vec<u8> {
    crate::auth::secrets::sha256(&serde_json::to_string(view).expect("a graph serializes"))
}

/// Records that `user_id` viewed a graph: a new history entry, or the same graph moved to the
/// top. Entries beyond the newest [`HISTORY_LENGTH`] that are neither named nor starred are
/// forgotten.
pub(crate) async fn record_graph_view(
    pool: &PgPool,
    user_id: i64,
    view: &GraphView,
) -> Result<GraphRow, StoreError> {
    let mut transaction = pool.begin().await?;
    let row: GraphRow = sqlx::query_as(&format!(
        "with g as (
             insert into saved_graphs (user_id, targets, from_time, until_time, view_key)
             values ($1, $2, $3, $4, $5)
             on conflict (user_id, view_key)
             do update set viewed_at = now()
             returning *
         )
         select {GRAPH_COLUMNS} from g join users u on u.id = g.user_id"
    ))
    .bind(user_id)
    .bind(&view.targets)
    .bind(&view.from)
    .bind(&view.until)
    .bind(view_key(view))
    .fetch_one(&mut *transaction)
    .await?;
    sqlx::query(
        "delete from saved_graphs where id in (
             select id from saved_graphs where user_id = $1
             order by viewed_at desc, id desc offset $2
         ) and name is null and not starred",
    )
    .bind(user_id)
    .bind(HISTORY_LENGTH)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(row)
}

/// A user's history (named and starred graphs included), most recently viewed first.
pub(crate) async fn graph_history(
    pool: &PgPool,
    user_id: i64,
) -> Result<Vec<GraphRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {GRAPH_COLUMNS} from saved_graphs g join users u on u.id = g.user_id
         where g.user_id = $1 order by g.viewed_at desc, g.id desc limit $2"
    ))
    .bind(user_id)
    .bind(HISTORY_LENGTH)
    .fetch_all(pool)
    .await?)
}

/// Everyone's named graphs (one user's, when given), by owner and name.
pub(crate) async fn named_graphs(
    pool: &PgPool,
    owner: Option<&str>,
) -> Result<Vec<GraphRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {GRAPH_COLUMNS} from saved_graphs g join users u on u.id = g.user_id
         where g.name is not null and ($1::text is null or u.name = $1)
         order by u.name, g.name, g.id"
    ))
    .bind(owner)
    .fetch_all(pool)
    .await?)
}

/// A named graph, or one of `viewer`'s own.
pub(crate) async fn visible_graph(
    pool: &PgPool,
    id: i64,
    viewer: Option<i64>,
) -> Result<Option<GraphRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {GRAPH_COLUMNS} from saved_graphs g join users u on u.id = g.user_id
         where g.id = $1 and (g.name is not null or g.user_id = $2)"
    ))
    .bind(id)
    .bind(viewer)
    .fetch_optional(pool)
    .await?)
}

/// Who owns graph `id`, if it exists.
async fn graph_owner(pool: &PgPool, id: i64) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "select u.name from saved_graphs g join users u on u.id = g.user_id where g.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

async fn dashboard_owner(pool: &PgPool, id: i64) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "select u.name from dashboards d join users u on u.id = d.user_id where d.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// Why nothing changed: someone else's, or nothing there.
async fn refusal<T>(owner: Result<Option<String>, StoreError>) -> Result<Ownership<T>, StoreError> {
    Ok(match owner? {
        Some(owner) => Ownership::NotYours { owner },
        None => Ownership::Missing,
    })
}

/// Names (or, with `None` inside, unnames) and stars (or unstars) one of `owner`'s graphs;
/// what is not given stays.
pub(crate) async fn update_graph(
    pool: &PgPool,
    id: i64,
    owner: i64,
    name: Option<Option<&str>>,
    starred: Option<bool>,
) -> Result<Ownership<GraphRow>, StoreError> {
    let row: Option<GraphRow> = sqlx::query_as(&format!(
        "with g as (
             update saved_graphs set
                 name = case when $3 then $4 else name end,
                 starred = coalesce($5, starred)
             where id = $1 and user_id = $2
             returning *
         )
         select {GRAPH_COLUMNS} from g join users u on u.id = g.user_id"
    ))
    .bind(id)
    .bind(owner)
    .bind(name.is_some())
    .bind(name.flatten())
    .bind(starred)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => Ok(Ownership::Done(row)),
        None => refusal(graph_owner(pool, id).await).await,
    }
}

pub(crate) async fn delete_graph(
    pool: &PgPool,
    id: i64,
    owner: i64,
) -> Result<Ownership<()>, StoreError> {
    let deleted = sqlx::query("delete from saved_graphs where id = $1 and user_id = $2")
        .bind(id)
        .bind(owner)
        .execute(pool)
        .await?
        .rows_affected();
    if deleted == 1 {
        return Ok(Ownership::Done(()));
    }
    refusal(graph_owner(pool, id).await).await
}

/// Everyone's dashboards (one user's, when given), by owner and title.
pub(crate) async fn dashboards(
    pool: &PgPool,
    owner: Option<&str>,
) -> Result<Vec<DashboardRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {DASHBOARD_COLUMNS} from dashboards d join users u on u.id = d.user_id
         where ($1::text is null or u.name = $1)
         order by u.name, d.title, d.id"
    ))
    .bind(owner)
    .fetch_all(pool)
    .await?)
}

pub(crate) async fn dashboard(pool: &PgPool, id: i64) -> Result<Option<DashboardRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {DASHBOARD_COLUMNS} from dashboards d join users u on u.id = d.user_id
         where d.id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

pub(crate) async fn create_dashboard(
    pool: &PgPool,
    owner: i64,
    document: &DashboardDocument,
) -> Result<DashboardRow, StoreError> {
    Ok(sqlx::query_as(&format!(
        "with d as (
             insert into dashboards (user_id, title, document) values ($1, $2, $3::text::jsonb)
             returning *
         )
         select {DASHBOARD_COLUMNS} from d join users u on u.id = d.user_id"
    ))
    .bind(owner)
    .bind(&document.title)
    .bind(document_json(document))
    .fetch_one(pool)
    .await?)
}

/// Replaces one of `owner`'s dashboards.
pub(crate) async fn replace_dashboard(
    pool: &PgPool,
    id: i64,
    owner: i64,
    document: &DashboardDocument,
) -> Result<Ownership<DashboardRow>, StoreError> {
    let row: Option<DashboardRow> = sqlx::query_as(&format!(
        "with d as (
             update dashboards set title = $3, document = $4::text::jsonb, updated_at = now()
             where id = $1 and user_id = $2
             returning *
         )
         select {DASHBOARD_COLUMNS} from d join users u on u.id = d.user_id"
    ))
    .bind(id)
    .bind(owner)
    .bind(&document.title)
    .bind(document_json(document))
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => Ok(Ownership::Done(row)),
        None => refusal(dashboard_owner(pool, id).await).await,
    }
}

pub(crate) async fn delete_dashboard(
    pool: &PgPool,
    id: i64,
    owner: i64,
) -> Result<Ownership<()>, StoreError> {
    let deleted = sqlx::query("delete from dashboards where id = $1 and user_id = $2")
        .bind(id)
        .bind(owner)
        .execute(pool)
        .await?
        .rows_affected();
    if deleted == 1 {
        return Ok(Ownership::Done(()));
    }
    refusal(dashboard_owner(pool, id).await).await
}
