//! `POST /api/v1/tokens` (create), `GET /api/v1/tokens` (list) and
//! `DELETE /api/v1/tokens/{id}` (revoke): a signed-in user manages their own tokens; an
//! `admin` (token, or an admin's session) anyone's. The token itself is in the creation's
//! answer only; the API keeps its SHA-256.

use super::accounts::{self, NewToken};
use super::store::{self, TokenRow};
use super::{Caller, Scope};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::json_body::json_body_text;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What creating a token takes.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    /// What the token is for, e.g. `grafana`.
    name: String,
    scope: Scope,
    /// How long it lasts, e.g. `90d` or `12h`; never expires when absent.
    #[serde(default, with = "humantime_serde")]
    #[schema(value_type = Option<String>, example = "90d")]
    expires_in: Option<Duration>,
    /// Whose token it is: the caller's own when absent; another user's needs `admin`.
    user: Option<String>,
}

/// A token, without its secret.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct TokenAnswer {
    id: i64,
    name: String,
    /// `read`, `write` or `admin`.
    scope: String,
    /// The user it belongs to.
    user: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
}

impl From<TokenRow> for TokenAnswer {
    fn from(row: TokenRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            scope: row.scope,
            user: row.user_name,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
        }
    }
}

/// A new token, with its secret: shown this once.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedToken {
    /// The secret, for `Authorization: Bearer <token>` (or as a Basic password).
    token: String,
    #[serde(flatten)]
    details: TokenAnswer,
}

/// The answer to a revocation.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct RevokedToken {
    /// The id of the revoked token.
    revoked: i64,
}

/// `POST /api/v1/tokens`: creates a token.
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "auth",
    params(("X-Abacus-CSRF" = Option<String>, Header, description = "with a session: its CSRF token")),
    request_body(content = CreateToken, content_type = "application/json"),
    responses(
        (status = 201, description = "created; `token` is shown only here", body = CreatedToken),
        (status = 400, description = "the body is not a valid token request", body = ErrorBody),
        (status = 404, description = "no such user", body = ErrorBody),
        (status = 413, description = "the body is larger than api.max_body_bytes", body = ErrorBody),
        (status = 415, description = "the body is not sent as application/json", body = ErrorBody),
        crate::http::documented_refusals::CallerRefusals,
    )
)]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let request: CreateToken = serde_json::from_str(json_body_text(&headers, &body)?)
        .map_err(|error| ApiError::BadRequest(format!("invalid token request: {error}")))?;
    let owner_name = request.user.as_deref().unwrap_or(&caller.user_name);
    if owner_name != caller.user_name && caller.scope() < Scope::Admin {
        return Err(ApiError::Forbidden(
            "creating a token for another user needs `admin`".into(),
        ));
    }
    if accounts::check_user_name(owner_name).is_err() {
        return Err(ApiError::NotFound(format!("no user {owner_name:?}")));
    }
    let owner = store::user_by_name(&state.pool, owner_name).await?;
    let new_token = NewToken {
        name: request.name,
        scope: request.scope,
        expires_in: request.expires_in,
    };
    let (row, token) = accounts::create_token(&state.pool, &owner, &new_token, Utc::now()).await?;
    tracing::info!(by = %caller.user_name, owner = %row.user_name, token_id = row.id, scope = %row.scope, "token created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token,
            details: row.into(),
        }),
    ))
}

/// `GET /api/v1/tokens`: the caller's tokens (an admin's: everyone's), not revoked.
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "auth",
    responses(
        (status = 200, description = "tokens, newest first, without their secrets", body = [TokenAnswer]),
        crate::http::documented_refusals::CallerRefusals,
    )
)]
pub(crate) async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TokenAnswer>>, ApiError> {
    let only_of = (caller.scope() < Scope::Admin).then_some(caller.user_id);
    let rows = store::list_tokens(&state.pool, only_of).await?;
    Ok(Json(rows.into_iter().map(TokenAnswer::from).collect()))
}

/// `DELETE /api/v1/tokens/{id}`: revokes a token (one's own; an admin any).
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    tag = "auth",
    params(
        ("id" = i64, Path, description = "The token's id"),
        ("X-Abacus-CSRF" = Option<String>, Header, description = "with a session: its CSRF token"),
    ),
    responses(
        (status = 200, description = "revoked", body = RevokedToken),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 404, description = "no such token that the caller may revoke, or revoked already", body = ErrorBody),
        crate::http::documented_refusals::CallerRefusals,
    )
)]
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<RevokedToken>, ApiError> {
    let only_of = (caller.scope() < Scope::Admin).then_some(caller.user_id);
    if !store::revoke_token(&state.pool, id, only_of).await? {
        return Err(ApiError::NotFound(format!(
            "no token {id} that you may revoke (or it was revoked already)"
        )));
    }
    tracing::info!(by = %caller.user_name, token_id = id, "token revoked");
    Ok(Json(RevokedToken { revoked: id }))
}
