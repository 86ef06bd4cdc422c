//! `POST /api/v1/session` (sign in), `GET /api/v1/session` (who am I) and
//! `DELETE /api/v1/session` (sign out).
//!
//! Signing in takes `{"user", "password"}` as JSON and answers with a new session: a random
//! id in the cookie [`SESSION_COOKIE`] (stored as its SHA-256; a fresh id at every sign-in,
//! and the session the browser held before is ended, so an id planted before sign-in is
//! worthless after it), and a CSRF token in the body for the `X-Abacus-CSRF` header (see
//! `policy`). The cookie is `HttpOnly` (no script reads it), `SameSite=Lax` (not sent with
//! other sites' posts), `Path=/`, lives `auth.session_lifetime`, and is `Secure` when the
//! request came over TLS through a trusted proxy (`client_origin`).
//!
//! A wrong password and an unknown user get the same 401 and take as long (the password is
//! checked against a dummy hash), and failures are limited per user name and per address
//! (`sign_in_limits`, 429 with `Retry-After`).

use super::client_origin::{client_origin, peer_address};
use super::credentials::{session_cookie, Caller, Credential, SESSION_COOKIE};
use super::proxy_sign_in::{proxy_says, ProxySays};
use super::{accounts, secrets, store};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::json_body::json_body_text;
use crate::state::AppState;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use std::time::Instant;

/// What sign-in takes.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignIn {
    /// The user name.
    user: String,
    password: String,
}

/// Who is calling, and with what.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SessionAnswer {
    /// The user name.
    user: String,
    /// Whether the user is an admin.
    admin: bool,
    /// `session`, `proxy` (signed in by a trusted sign-in proxy's header) or `token`.
    credential: String,
    /// What the credential allows: `read`, `write` or `admin`.
    scope: String,
    /// With a session or the sign-in proxy: the value every state-changing request must repeat
    /// in `X-Abacus-CSRF`.
    csrf_token: Option<String>,
    /// With a session: when it ends.
    expires_at: Option<DateTime<Utc>>,
    /// With a token: its id (as `GET /api/v1/tokens` lists it).
    token_id: Option<i64>,
}

/// The answer to a sign-out.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SignedOut {
    /// Always `signed out`.
    status: String,
}

/// `POST /api/v1/session`: signs a user in.
#[utoipa::path(
    post,
    path = "/api/v1/session",
    tag = "auth",
    request_body(content = SignIn, content_type = "application/json"),
    responses(
        (status = 200, description = "signed in; the session cookie is set", body = SessionAnswer),
        (status = 400, description = "the body is not `{\"user\", \"password\"}`", body = ErrorBody),
        (status = 401, description = "wrong user name or password (the same answer for both)", body = ErrorBody),
        (status = 413, description = "the body is larger than api.max_body_bytes", body = ErrorBody),
        (status = 415, description = "the body is not sent as application/json", body = ErrorBody),
        (status = 429, description = "too many failed sign-ins for this user name or from this address, or this address is over api.requests_per_second_per_caller or api.concurrent_requests_per_caller; see Retry-After", body = ErrorBody, headers(("Retry-After" = u64, description = "whole seconds to wait before trying again, at least 1"))),
        (status = 431, description = "the headers are too large", body = ErrorBody),
        (status = 503, description = "the identity tables or the database are unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    parts: Parts,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let origin = client_origin(&parts, &state.auth.trusted_proxies);
    let sign_in: SignIn = serde_json::from_str(json_body_text(&parts.headers, &body)?)
        .map_err(|error| ApiError::BadRequest(format!("invalid sign-in: {error}")))?;
    if let Err(wait) = state
        .sign_in_limits
        .check(&sign_in.user, origin.address, Instant::now())
    {
        return Err(ApiError::TooManyRequests {
            message: format!(
                "too many failed sign-ins for this user name or from this address; try again in {}s",
                wait.as_secs().max(1)
            ),
            retry_after: wait,
        });
    }
    // A name no user can have (a NUL byte, say, which PostgreSQL's text cannot even hold) is
    // not looked up: it is an unknown user, answered like every other.
    let found = if accounts::check_user_name(&sign_in.user).is_ok() {
        store::user_with_password_hash(&state.pool, &sign_in.user).await?
    } else {
        None
    };
    let (user, stored_hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let matches = accounts::verify_password(sign_in.password, stored_hash).await;
    let Some(user) = user.filter(|_| matches) else {
        state
            .sign_in_limits
            .record_failure(&sign_in.user, origin.address, Instant::now());
        tracing::info!(address = %origin.address, "sign-in refused");
        return Err(ApiError::Unauthorized("wrong user name or password".into()));
    };
    state.sign_in_limits.record_success(&sign_in.user);

    let session_id = secrets::new_session_id();
    let csrf_token = secrets::random_hex();
    let lifetime = state.auth.session_lifetime;
    let expires_at = Utc::now()
        + chrono::Duration::from_std(lifetime).expect("a validated session lifetime fits");
    let replaced = session_cookie(&parts.headers).map(|old| secrets::sha256(&old));
    store::start_session(
        &state.pool,
        user.id,
        &secrets::sha256(&session_id),
        &csrf_token,
        expires_at,
        replaced.as_deref(),
    )
    .await?;
    tracing::info!(user = %user.name, address = %origin.address, "signed in");
    let cookie = format!(
        "{SESSION_COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        lifetime.as_secs(),
        if origin.over_tls { "; Secure" } else { "" }
    );
    let answer = SessionAnswer {
        scope: super::Scope::most_for_user(user.is_admin).as_str().into(),
        user: user.name,
        admin: user.is_admin,
        credential: "session".into(),
        csrf_token: Some(csrf_token),
        expires_at: Some(expires_at),
        token_id: None,
    };
    Ok((
        [(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("hex and attributes are a valid header"),
        )],
        Json(answer),
    )
        .into_response())
}

/// `GET /api/v1/session`: who is calling.
#[utoipa::path(
    get,
    path = "/api/v1/session",
    tag = "auth",
    responses(
        (status = 200, description = "the caller, and with a session its CSRF token", body = SessionAnswer),
        crate::http::documented_refusals::CallerRefusals,
    )
)]
pub(crate) async fn who_am_i(caller: Caller) -> Json<SessionAnswer> {
    let scope = caller.scope().as_str().to_owned();
    let (credential, csrf_token, expires_at, token_id) = match caller.credential {
        Credential::Session {
            csrf_token,
            expires_at,
            ..
        } => ("session", Some(csrf_token), Some(expires_at), None),
        Credential::Proxy { csrf_token } => ("proxy", Some(csrf_token), None, None),
        Credential::Token { id, .. } => ("token", None, None, Some(id)),
    };
    Json(SessionAnswer {
        user: caller.user_name,
        admin: caller.user_is_admin,
        credential: credential.into(),
        scope,
        csrf_token,
        expires_at,
        token_id,
    })
}

/// How one signs in here.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SignInMethods {
    /// `POST /api/v1/session` with a user name and password; always there.
    password: bool,
    /// Whether a trusted sign-in proxy signs users in (`auth.proxy_user_header`).
    proxy: bool,
    /// Whether this very request came from a trusted sign-in proxy naming a user: the browser
    /// is then signed in without posting anything, and `GET /api/v1/session` says as whom.
    proxy_names_caller: bool,
}

/// `GET /api/v1/session/methods`: how one signs in here. Open and without a database lookup,
/// so that the web app can learn without a 401 whether to ask `GET /api/v1/session` for a
/// user the proxy signed in.
#[utoipa::path(
    get,
    path = "/api/v1/session/methods",
    tag = "auth",
    responses(
        (status = 200, description = "the sign-in methods this API offers", body = SignInMethods),
        crate::http::documented_refusals::HeaderRefusal,
    )
)]
pub(crate) async fn sign_in_methods(
    State(state): State<AppState>,
    parts: Parts,
) -> Json<SignInMethods> {
    let says = proxy_says(&parts.headers, peer_address(&parts.extensions), &state.auth);
    Json(SignInMethods {
        password: true,
        proxy: state.auth.proxy_user_header.is_some(),
        proxy_names_caller: matches!(says, ProxySays::User(_)),
    })
}

/// `DELETE /api/v1/session`: signs out.
#[utoipa::path(
    delete,
    path = "/api/v1/session",
    tag = "auth",
    params(("X-Abacus-CSRF" = Option<String>, Header, description = "the session's CSRF token")),
    responses(
        (status = 200, description = "the session ended; the cookie is cleared", body = SignedOut),
        (status = 400, description = "the request carries a token or is signed in by the sign-in proxy, not a session", body = ErrorBody),
        crate::http::documented_refusals::CallerRefusals,
    )
)]
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let id_hash = match &caller.credential {
        Credential::Session { id_hash, .. } => id_hash,
        Credential::Proxy { .. } => {
            return Err(ApiError::BadRequest(
                "there is no session to end: the sign-in proxy authenticates this request; sign out at the proxy".into(),
            ))
        }
        Credential::Token { .. } => {
            return Err(ApiError::BadRequest(
                "there is no session to end: the request is authenticated by a token".into(),
            ))
        }
    };
    store::end_session(&state.pool, id_hash).await?;
    tracing::info!(user = %caller.user_name, "signed out");
    let cleared = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok((
        [(
            header::SET_COOKIE,
            HeaderValue::from_str(&cleared).expect("a valid header"),
        )],
        Json(SignedOut {
            status: "signed out".into(),
        }),
    )
        .into_response())
}
