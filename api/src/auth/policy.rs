//! The guard in front of every route that may need a credential. `router` wraps each such
//! route in [`guard`] with the [`Access`] it needs; the guard decides from the policy
//! (`auth.reads`, `auth.writes`) whether a credential is needed at all, checks it
//! (`credentials`), and hands the handler the [`Caller`] as a request extension.
//!
//! A route the policy leaves open does not look at credentials at all (no database lookup, so
//! it serves before the identity tables exist). Otherwise: no credential is a 401 naming what
//! the route needs; a wrong, revoked or expired one a 401 saying so; one that does not reach
//! far enough a 403 naming the scope it lacks.
//!
//! **CSRF.** A request a session cookie authenticates that changes something (any method but
//! GET, HEAD and OPTIONS on a route that is not a query) must carry the header
//! [`CSRF_HEADER`] with the token sign-in returned for that session, else 403. A browser sends
//! a cookie with requests other sites make it send, but lets no other site set a custom header
//! without a CORS preflight, which the API grants no origin for this header and never with
//! credentials; and the value is a per-session secret other sites cannot read. JSON-only
//! bodies (ingest, events, sign-in) already keep HTML forms from posting, and the session
//! cookie is `SameSite=Lax`; the header is the one defence that does not depend on browser
//! defaults or a route's body type. Requests with a token in `Authorization` need no CSRF
//! token: a browser never adds that header by itself. A request a trusted sign-in proxy
//! authenticates (`proxy_sign_in`) is treated like a session's, with the user's proxy CSRF
//! token: the proxy vouches for every request the browser sends through it, forged ones too.

use super::credentials::{self, Caller, Credential};
use super::{secrets, Scope};
use crate::config::AccessPolicy;
use crate::http::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The header that repeats a session's CSRF token.
pub(crate) const CSRF_HEADER: &str = "x-abacus-csrf";

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// A query: open, or a `read` token or a session when `auth.reads = "token"`.
    Read,
    /// A query whose answer depends on who asks (one's own saved graphs besides everyone's
    /// named ones): like [`Access::Read`], but when reads are open a credential that checks out
    /// is still handed to the handler (one that does not is ignored, as on any open route).
    ReadKnowingCaller,
    /// Ingest and events: a `write` token or a session, unless `auth.writes = "open"`.
    Write,
    /// Any valid credential (who am I, sign out).
    Identified,
    /// Managing one's own tokens: a signed-in session, or an `admin` token.
    Account,
    /// Managing others: an admin's session or an `admin` token.
    Admin,
    /// One's own saved graphs and dashboards: a signed-in session or a `write` token, whatever
    /// the policy (what is saved belongs to someone).
    Own,
}

/// Lets a request through to its handler, with its [`Caller`] when it presented one the
/// route checked, or answers the refusal.
pub(crate) async fn guard(
    State((state, access)): State<(AppState, Access)>,
    mut request: Request,
    next: Next,
) -> Response {
    let open = match access {
        Access::Read | Access::ReadKnowingCaller => state.auth.reads == AccessPolicy::Open,
        Access::Write => state.auth.writes == AccessPolicy::Open,
        Access::Identified | Access::Account | Access::Admin | Access::Own => false,
    };
    if open {
        if access == Access::ReadKnowingCaller {
            let presented =
                credentials::presented_by(request.headers(), request.extensions(), &state.auth);
            if let Ok(Some(caller)) = credentials::resolve(&state, presented).await {
                request.extensions_mut().insert(caller);
            }
        }
        return next.run(request).await;
    }
    let presented = credentials::presented_by(request.headers(), request.extensions(), &state.auth);
    let caller = match credentials::resolve(&state, presented).await {
        Ok(Some(caller)) => caller,
        Ok(None) => return ApiError::Unauthorized(missing_credential(access)).into_response(),
        Err(refusal) => return refusal.into_response(),
    };
    if let Err(refusal) = check_reach(&caller, access) {
        return refusal.into_response();
    }
    if let Err(refusal) = check_csrf(&caller, access, &request) {
        return refusal.into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

fn missing_credential(access: Access) -> String {
    let needs = match access {
        Access::Read | Access::ReadKnowingCaller => "a `read` token or a signed-in session",
        Access::Write => "a `write` token or a signed-in session",
        Access::Identified => "a token or a signed-in session",
        Access::Account => "a signed-in session or an `admin` token",
        Access::Admin => "an `admin` token or an admin's signed-in session",
        Access::Own => "a signed-in session or a `write` token",
    };
    format!(
        "no credential: this route needs {needs} (Authorization: Bearer <token>, Basic with the token as the password, or the session cookie of POST /api/v1/session)"
    )
}

/// Whether the caller's credential reaches as far as the route needs (403 if not).
fn check_reach(caller: &Caller, access: Access) -> Result<(), ApiError> {
    let scope = caller.scope();
    let needed = match access {
        Access::Read | Access::ReadKnowingCaller => Scope::Read,
        Access::Write | Access::Own => Scope::Write,
        Access::Identified => return Ok(()),
        Access::Account if caller.is_signed_in() => return Ok(()),
        Access::Account | Access::Admin => Scope::Admin,
    };
    if scope >= needed {
        return Ok(());
    }
    Err(ApiError::Forbidden(match (&caller.credential, access) {
        (Credential::Token { .. }, Access::Account) => format!(
            "managing tokens needs a signed-in session or an `admin` token; this token's scope is `{}`",
            scope.as_str()
        ),
        (Credential::Token { .. }, _) => format!(
            "this route needs `{}`; the token's scope is `{}`",
            needed.as_str(),
            scope.as_str()
        ),
        (Credential::Session { .. } | Credential::Proxy { .. }, _) => format!(
            "this route needs `{}`; user {:?} is not an admin",
            needed.as_str(),
            caller.user_name
        ),
    }))
}

fn check_csrf(caller: &Caller, access: Access, request: &Request) -> Result<(), ApiError> {
    let Some(csrf_token) = caller.csrf_token() else {
        return Ok(());
    };
    let changes_state = !matches!(access, Access::Read | Access::ReadKnowingCaller)
        && ![Method::GET, Method::HEAD, Method::OPTIONS].contains(request.method());
    if !changes_state {
        return Ok(());
    }
    let given = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok());
    match given {
        Some(given) if secrets::same_secret(given, csrf_token) => Ok(()),
        Some(_) => Err(ApiError::Forbidden(
            "the X-Abacus-CSRF header does not match this session's CSRF token (GET /api/v1/session returns it)".into(),
        )),
        None => Err(ApiError::Forbidden(
            "missing X-Abacus-CSRF header: a request a session cookie or the sign-in proxy authenticates that changes something must repeat the session's CSRF token (returned by POST and GET /api/v1/session)".into(),
        )),
    }
}
