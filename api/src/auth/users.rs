//! `GET /api/v1/users`: the users, for admins. Users are added, changed and removed with
//! `abacus-api user add|passwd|remove` (the `cli` module), which needs access to the database
//! rather than to the API.

use super::store;
use crate::http::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};

/// A user, as admins see them.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct UserAnswer {
    name: String,
    admin: bool,
    created_at: DateTime<Utc>,
    /// As the sign-in proxy last said it (`auth.proxy_email_header`), if it did.
    email: Option<String>,
}

/// `GET /api/v1/users`: every user, by name.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "auth",
    responses(
        (status = 200, description = "every user, by name", body = [UserAnswer]),
        crate::http::documented_refusals::CallerRefusals,
    )
)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
) -> Result<Json<Vec<UserAnswer>>, ApiError> {
    let users = store::list_users(&state.pool).await?;
    Ok(Json(
        users
            .into_iter()
            .map(|user| UserAnswer {
                name: user.name,
                admin: user.is_admin,
                created_at: user.created_at,
                email: user.email,
            })
            .collect(),
    ))
}
