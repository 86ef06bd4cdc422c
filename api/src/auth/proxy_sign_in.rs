//! Single sign-on behind a proxy: oauth2-proxy, Authelia and their kind authenticate the
//! person in front of the API and name them in a header (`auth.proxy_user_header`, e.g.
//! `X-Forwarded-User`; optionally their email in `auth.proxy_email_header`). A request from
//! one of `auth.trusted_proxies` carrying that header is signed in as that user, who is
//! created on first sight: not an admin, without a password (so they cannot sign in with one
//! until `abacus-api user passwd` sets it). The header from any other address is ignored, as
//! if absent: anyone can send it, only the proxy's word counts.
//!
//! The proxy's word also wins over an `Authorization` header or a session cookie the request
//! carries: the proxy has just authenticated the person, and some proxies put a credential of
//! their own in `Authorization` (oauth2-proxy's `pass_authorization_header`).
//!
//! **CSRF.** A browser behind the proxy is authenticated like one with a cookie: the proxy
//! adds the header to every request it passes on, those another site's form makes the browser
//! send included. So a state-changing request the proxy authenticates must repeat the user's
//! proxy CSRF token in `X-Abacus-CSRF` exactly as a session's (`policy`); the token is random,
//! one per user, made when the proxy first names them, and `GET /api/v1/session` returns it.

use super::accounts::check_user_name;
use crate::config::AuthSettings;
use axum::http::HeaderMap;
use std::net::IpAddr;

/// Whom a trusted proxy names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProxyIdentity {
    pub user_name: String,
    pub email: Option<String>,
}

/// What the proxy's headers say, if they count at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProxySays {
    /// Proxy sign-in is off, the request did not come from a trusted proxy, or the proxy did
    /// not name anyone: other credentials decide.
    Nothing,
    User(ProxyIdentity),
    /// A trusted proxy sent something that cannot be a user (the reason, for the 401).
    Unusable(String),
}

/// Reads the proxy's headers of a request from `peer`, believing them only from a trusted
/// proxy and only when proxy sign-in is configured.
pub(crate) fn proxy_says(headers: &HeaderMap, peer: IpAddr, settings: &AuthSettings) -> ProxySays {
    let Some(user_header) = &settings.proxy_user_header else {
        return ProxySays::Nothing;
    };
    if !settings.trusted_proxies.contains(&peer) {
        return ProxySays::Nothing;
    }
    let Some(user_value) = headers.get(user_header.as_str()) else {
        return ProxySays::Nothing;
    };
    let Some(user_name) = user_value.to_str().ok().map(str::trim) else {
        return ProxySays::Unusable(format!(
            "the sign-in proxy's {user_header} header is not plain text"
        ));
    };
    if check_user_name(user_name).is_err() {
        return ProxySays::Unusable(format!(
            "the sign-in proxy's {user_header} header is not a valid user name (1 to 64 letters, digits, '.', '_', '-' or '@')"
        ));
    }
    let email = match &settings.proxy_email_header {
        None => None,
        Some(email_header) => match headers.get(email_header.as_str()) {
            None => None,
            Some(value) => match value.to_str().ok().map(str::trim) {
                Some("") => None,
                Some(email) if is_plausible_email(email) => Some(email.to_owned()),
                _ => {
                    return ProxySays::Unusable(format!(
                        "the sign-in proxy's {email_header} header is not an email address"
                    ))
                }
            },
        },
    };
    ProxySays::User(ProxyIdentity {
        user_name: user_name.to_owned(),
        email,
    })
}

/// An address that can be stored and shown: 3 to 254 characters, an `@` between a local
/// part and a domain, no spaces or control characters. Whether it delivers is the proxy's
/// business.
fn is_plausible_email(email: &str) -> bool {
    (3..=254).contains(&email.chars().count())
        && !email
            .chars()
            .any(|character| character.is_whitespace() || character.is_control())
        && email
            .rsplit_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn settings(user_header: Option<&str>, email_header: Option<&str>) -> AuthSettings {
        AuthSettings {
            trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
            proxy_user_header: user_header.map(str::to_owned),
            proxy_email_header: email_header.map(str::to_owned),
            ..Default::default()
        }
    }

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    fn user(name: &str, email: Option<&str>) -> ProxySays {
        ProxySays::User(ProxyIdentity {
            user_name: name.into(),
            email: email.map(str::to_owned),
        })
    }

    #[test]
    fn only_a_configured_trusted_proxy_names_a_user() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "10.0.0.2".parse().unwrap();
        let both = Some("X-Forwarded-Email");
        let named = headers(&[
            ("x-forwarded-user", b"alice"),
            ("x-forwarded-email", b"alice@example.org"),
        ]);
        let cases: [(&str, HeaderMap, IpAddr, AuthSettings, ProxySays); 10] = [
            (
                "user and email from the proxy",
                named.clone(),
                proxy,
                settings(Some("X-Forwarded-User"), both),
                user("alice", Some("alice@example.org")),
            ),
            (
                "the email header is not configured",
                named.clone(),
                proxy,
                settings(Some("X-Forwarded-User"), None),
                user("alice", None),
            ),
            (
                "from another address",
                named.clone(),
                stranger,
                settings(Some("X-Forwarded-User"), both),
                ProxySays::Nothing,
            ),
            (
                "proxy sign-in is off",
                named.clone(),
                proxy,
                AuthSettings {
                    trusted_proxies: vec![proxy],
                    ..Default::default()
                },
                ProxySays::Nothing,
            ),
            (
                "the proxy names no one",
                headers(&[("x-forwarded-email", b"alice@example.org")]),
                proxy,
                settings(Some("X-Forwarded-User"), both),
                ProxySays::Nothing,
            ),
            (
                "another header name",
                headers(&[("remote-user", b" bob ")]),
                proxy,
                settings(Some("Remote-User"), None),
                user("bob", None),
            ),
            (
                "an empty email header",
                headers(&[("x-forwarded-user", b"bob"), ("x-forwarded-email", b"")]),
                proxy,
                settings(Some("X-Forwarded-User"), both),
                user("bob", None),
            ),
            (
                "not a user name",
                headers(&[("x-forwarded-user", b"a/b")]),
                proxy,
                settings(Some("X-Forwarded-User"), both),
                ProxySays::Unusable("the sign-in proxy's X-Forwarded-User header is not a valid user name (1 to 64 letters, digits, '.', '_', '-' or '@')".into()),
            ),
            (
                "not text",
                headers(&[("x-forwarded-user", b"\xff")]),
                proxy,
                settings(Some("X-Forwarded-User"), both),
                ProxySays::Unusable(
                    "the sign-in proxy's X-Forwarded-User header is not plain text".into(),
                ),
            ),
            (
                "not an email address",
                headers(&[("x-forwarded-user", b"bob"), ("x-forwarded-email", b"bob")]),
                proxy,
                settings(Some("X-Forwarded-User"), both),
                ProxySays::Unusable(
                    "the sign-in proxy's X-Forwarded-Email header is not an email address".into(),
                ),
            ),
        ];
        for (case, headers, peer, settings, expected) in cases {
            assert_eq!(proxy_says(&headers, peer, &settings), expected, "{case}");
        }
    }
}
