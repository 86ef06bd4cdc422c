//! Saved graphs and dashboards: what users build in the web app, kept per user in PostgreSQL
//! (the `saved_graphs` and `dashboards` tables of the one migration history).
//!
//! * [`graphs`]: `/api/v1/graphs`: every graph a signed-in user views lands in their history
//!   (the last 100); one of theirs can be named and starred; everyone who may read sees
//!   everyone's named graphs, browsable by user (`?user=`).
//! * [`dashboards`]: `/api/v1/dashboards`: created, replaced, duplicated and deleted by their
//!   owner, viewed by everyone who may read; the JSON is the web app's export file.
//! * [`documents`]: what a graph and a dashboard are and the rules they keep (pure).
//! * [`store`]: all SQL over these tables.
//!
//! Who may do what is the router's (`auth::policy`): reading follows `auth.reads`; saving and
//! changing needs a signed-in session or a `write` token ([`crate::auth::policy::Access::Own`])
//! and, here, being the owner: another user's graph or dashboard is a 403 naming its owner.

pub(crate) mod dashboards;
pub(crate) mod documents;
pub(crate) mod graphs;
pub(crate) mod store;

use crate::http::error::ApiError;

/// The `?user=` of the listings: one user's graphs or dashboards.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct OwnerFilter {
    /// Only this user's; everyone's when absent.
    user: Option<String>,
}

impl From<documents::InvalidDocument> for ApiError {
    fn from(error: documents::InvalidDocument) -> Self {
        ApiError::BadRequest(error.0)
    }
}

/// The answer to a change that did not happen: someone else's (403), or nothing there (404).
fn not_changed<T>(what: &str, id: i64, ownership: store::Ownership<T>) -> Result<T, ApiError> {
    match ownership {
        store::Ownership::Done(done) => Ok(done),
        store::Ownership::NotYours { owner } => Err(ApiError::Forbidden(format!(
            "{what} {id} belongs to {owner:?}: only its owner may change it"
        ))),
        store::Ownership::Missing => Err(ApiError::NotFound(format!("no {what} {id}"))),
    }
}
