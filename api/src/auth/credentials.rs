//! What a request presents to say who it is, and the [`Caller`] that stands for.
//!
//! In order: a user a trusted sign-in proxy names (`proxy_sign_in`, when configured), then an
//! `Authorization` header (`Bearer <token>`, or HTTP Basic whose password is a
//! token, as Grafana's Graphite data source sends it; the Basic user name is not checked, the
//! token says whose it is), else the session cookie [`SESSION_COOKIE`]. A presented credential
//! that is wrong is refused with 401 and what is wrong with it (unknown, revoked, expired, a
//! session that ended); none at all is a different 401, naming what the route needs. Neither
//! says whether any user exists.

use super::client_origin::peer_address;
use super::proxy_sign_in::{proxy_says, ProxyIdentity, ProxySays};
use super::{secrets, store, Scope};
use crate::http::error::ApiError;
use crate::state::AppState;
use axum::http::{header, HeaderMap};
use base64::Engine;
use chrono::{DateTime, Utc};

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "abacus_session";

/// What a request carries, before it is checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Presented {
    Nothing,
    Token(String),
    SessionCookie(String),
    /// An `Authorization` header that is neither Bearer nor Basic with a password.
    Malformed,
    /// A user a trusted sign-in proxy names.
    ProxyUser(ProxyIdentity),
    /// A trusted sign-in proxy's header that names no possible user (why, for the 401).
    ProxyUnusable(String),
}

/// Who is calling, once their credential checked out.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user_id: i64,
    pub user_name: String,
    pub user_is_admin: bool,
    pub credential: Credential,
}

#[derive(Debug, Clone)]
pub(crate) enum Credential {
    Session {
        id_hash: Vec<u8>,
        csrf_token: String,
        expires_at: DateTime<Utc>,
    },
    Token {
        id: i64,
        scope: Scope,
    },
    /// Signed in by a trusted proxy's header, on every request; no session or cookie.
    Proxy {
        csrf_token: String,
    },
}

impl Caller {
    /// What the caller may do: a token's scope, a session's user's rights (never more than
    /// the user may do, whatever a token says).
    pub(crate) fn scope(&self) -> Scope {
        let most = Scope::most_for_user(self.user_is_admin);
        match &self.credential {
            Credential::Session { .. } | Credential::Proxy { .. } => most,
            Credential::Token { scope, .. } => (*scope).min(most),
        }
    }

    /// Whether a person signed in (with a session, or through the sign-in proxy) rather than
    /// a token: they act with all their user's rights, and a browser may carry the credential
    /// into requests other sites make (hence CSRF).
    pub(crate) fn is_signed_in(&self) -> bool {
        matches!(
            self.credential,
            Credential::Session { .. } | Credential::Proxy { .. }
        )
    }

    /// The CSRF token a state-changing request must repeat, for a signed-in caller.
    pub(crate) fn csrf_token(&self) -> Option<&str> {
        match &self.credential {
            Credential::Session { csrf_token, .. } | Credential::Proxy { csrf_token } => {
                Some(csrf_token)
            }
            Credential::Token { .. } => None,
        }
    }
}

/// The one "refuse unless identified" of every handler that needs to know who calls: the guard
/// (`policy`) put the checked [`Caller`] in the request; a handler takes `caller: Caller` as an
/// argument and runs only when there is one. A route whose policy left it open has none, and
/// such a handler answers the same 401 the guard would.
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::Unauthorized(
                "no credential: this needs a signed-in session or a token (Authorization: Bearer <token>)".into(),
            )
        })
    }
}

/// `Option<Caller>`: the caller when the guard identified one; none on a route the policy
/// leaves open.
impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Caller>().cloned())
    }
}

/// Reads the credential a request presents, without checking it: the user a trusted sign-in
/// proxy names, else what [`presented`] finds.
pub(crate) fn presented_by(
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
    settings: &crate::config::AuthSettings,
) -> Presented {
    match proxy_says(headers, peer_address(extensions), settings) {
        ProxySays::User(identity) => Presented::ProxyUser(identity),
        ProxySays::Unusable(reason) => Presented::ProxyUnusable(reason),
        ProxySays::Nothing => presented(headers),
    }
}

/// Reads the credential a request's own headers present (a token or the session cookie).
pub(crate) fn presented(headers: &HeaderMap) -> Presented {
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        return authorization
            .to_str()
            .ok()
            .and_then(token_from_authorization)
            .map_or(Presented::Malformed, Presented::Token);
    }
    session_cookie(headers).map_or(Presented::Nothing, Presented::SessionCookie)
}

/// The session id in the `Cookie` header(s), if one is there.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_owned())
        })
}

fn token_from_authorization(value: &str) -> Option<String> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return (!rest.is_empty()).then(|| rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (_user, password) = decoded.split_once(':')?;
        return (!password.is_empty()).then(|| password.to_owned());
    }
    None
}

/// Checks a presented credential: `Ok(None)` when there is none, the caller when it holds,
/// 401 naming what is wrong with it otherwise (503 while the identity tables are missing).
pub(crate) async fn resolve(
    state: &AppState,
    presented: Presented,
) -> Result<Option<Caller>, ApiError> {
    match presented {
        Presented::Nothing => Ok(None),
        Presented::Malformed => Err(ApiError::Unauthorized(
            "the Authorization header is neither `Bearer <token>` nor Basic with a token as the password".into(),
        )),
        Presented::ProxyUnusable(reason) => Err(ApiError::Unauthorized(reason)),
        Presented::ProxyUser(identity) => resolve_proxy_user(state, &identity).await.map(Some),
        Presented::Token(token) => resolve_token(state, &token).await.map(Some),
        Presented::SessionCookie(session_id) => {
            let id_hash = secrets::sha256(&session_id);
            let session = store::live_session(&state.pool, &id_hash)
                .await?
                .ok_or_else(|| {
                    ApiError::Unauthorized(
                        "the session expired or was signed out: sign in again".into(),
                    )
                })?;
            Ok(Some(Caller {
                user_id: session.user_id,
                user_name: session.user_name,
                user_is_admin: session.user_is_admin,
                credential: Credential::Session {
                    id_hash,
                    csrf_token: session.csrf_token,
                    expires_at: session.expires_at,
                },
            }))
        }
    }
}

async fn resolve_proxy_user(
    state: &AppState,
    identity: &ProxyIdentity,
) -> Result<Caller, ApiError> {
    let user = store::proxy_user(
        &state.pool,
        &identity.user_name,
        identity.email.as_deref(),
        &secrets::random_hex(),
    )
    .await?;
    if user.created {
        tracing::info!(user = %user.name, "user created by the sign-in proxy");
    }
    Ok(Caller {
        user_id: user.id,
        user_name: user.name,
        user_is_admin: user.is_admin,
        credential: Credential::Proxy {
            csrf_token: user
                .proxy_csrf_token
                .expect("proxy_user always gives the user a proxy CSRF token"),
        },
    })
}

async fn resolve_token(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let unknown = || ApiError::Unauthorized("the token is not valid".into());
    if !token.starts_with(secrets::TOKEN_PREFIX) {
        return Err(unknown());
    }
    let row = store::token_by_hash(&state.pool, &secrets::sha256(token))
        .await?
        .ok_or_else(unknown)?;
    if let Some(revoked_at) = row.revoked_at {
        return Err(ApiError::Unauthorized(format!(
            "the token was revoked at {}",
            revoked_at.to_rfc3339()
        )));
    }
    if let Some(expires_at) = row
        .expires_at
        .filter(|expires_at| *expires_at <= Utc::now())
    {
        return Err(ApiError::Unauthorized(format!(
            "the token expired at {}",
            expires_at.to_rfc3339()
        )));
    }
    let scope = Scope::from_stored(&row.scope).ok_or_else(unknown)?;
    store::record_token_use(&state.pool, row.id).await?;
    Ok(Caller {
        user_id: row.user_id,
        user_name: row.user_name,
        user_is_admin: row.user_is_admin,
        credential: Credential::Token { id: row.id, scope },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn credentials_are_read_from_bearer_basic_and_the_cookie() {
        assert_eq!(presented(&headers(&[])), Presented::Nothing);
        assert_eq!(
            presented(&headers(&[("authorization", "Bearer abacus_x")])),
            Presented::Token("abacus_x".into())
        );
        // "grafana:abacus_y", as Grafana's Basic auth sends it.
        assert_eq!(
            presented(&headers(&[(
                "authorization",
                "Basic Z3JhZmFuYTphYmFjdXNfeQ=="
            )])),
            Presented::Token("abacus_y".into())
        );
        assert_eq!(
            presented(&headers(&[("authorization", "Digest x")])),
            Presented::Malformed
        );
        assert_eq!(
            presented(&headers(&[("authorization", "Basic !!")])),
            Presented::Malformed
        );
        assert_eq!(
            presented(&headers(&[("cookie", "a=b; abacus_session=s1; c=d")])),
            Presented::SessionCookie("s1".into())
        );
        // The Authorization header wins over a cookie.
        assert_eq!(
            presented(&headers(&[
                ("cookie", "abacus_session=s1"),
                ("authorization", "Bearer t")
            ])),
            Presented::Token("t".into())
        );
    }
}
