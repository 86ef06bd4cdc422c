//! Where a request came from, as far as the API can believe it: the client's address (for
//! the sign-in limits) and whether it reached the world over TLS (the session cookie is then
//! marked `Secure`).
//!
//! The API itself serves plain HTTP. When it sits behind a reverse proxy that terminates TLS,
//! the proxy's address goes in `auth.trusted_proxies`; from those addresses only, the last
//! entry of `X-Forwarded-For` (the address the proxy saw) is the client and
//! `X-Forwarded-Proto: https` means TLS. From anyone else both headers are ignored, so a
//! client cannot spread its failed sign-ins over made-up addresses.

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientOrigin {
    pub address: IpAddr,
    pub over_tls: bool,
}

/// The origin of a request, given the trusted proxies. The connection's peer is put into the
/// request by `http::serve`; a request without it (a unit test calling the router directly)
/// counts as coming from 0.0.0.0.
pub(crate) fn client_origin(request: &Parts, trusted_proxies: &[IpAddr]) -> ClientOrigin {
    let peer = peer_address(&request.extensions);
    if !trusted_proxies.contains(&peer) {
        return ClientOrigin {
            address: peer,
            over_tls: false,
        };
    }
    let header = |name: &str| {
        request
            .headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    let forwarded_for = header("x-forwarded-for");
    let address = forwarded_for
        .rsplit(',')
        .next()
        .and_then(|last| last.trim().parse().ok())
        .unwrap_or(peer);
    let over_tls = header("x-forwarded-proto")
        .rsplit(',')
        .next()
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    ClientOrigin { address, over_tls }
}

/// The address of the connection's other end (a proxy's, when one is in between); 0.0.0.0
/// without one, as in a unit test calling the router directly.
pub(crate) fn peer_address(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(peer: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = axum::http::Request::builder();
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let (mut parts, ()) = builder.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        parts
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let forwarded = [
            ("x-forwarded-for", "6.6.6.6, 192.0.2.7"),
            ("x-forwarded-proto", "https"),
        ];
        assert_eq!(
            client_origin(&parts("10.0.0.1:5000", &forwarded), &[proxy]),
            ClientOrigin {
                address: "192.0.2.7".parse().unwrap(),
                over_tls: true
            }
        );
        assert_eq!(
            client_origin(&parts("10.0.0.2:5000", &forwarded), &[proxy]),
            ClientOrigin {
                address: "10.0.0.2".parse().unwrap(),
                over_tls: false
            }
        );
        assert_eq!(
            client_origin(&parts("10.0.0.1:5000", &[]), &[proxy]),
            ClientOrigin {
                address: proxy,
                over_tls: false
            }
        );
    }
}
