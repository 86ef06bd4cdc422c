//! The HTTP server under the router: hyper's HTTP/1 connections, configured against slow and
//! greedy clients, which `axum::serve` does not let one configure.
//!
//! * **A header-read timeout** (`api.header_read_timeout`): a connection that has not sent a
//!   whole request head within it is closed. hyper starts the clock whenever it waits for a
//!   head, so an idle keep-alive connection is closed after it too. Without it, 500 half-sent
//!   requests stayed open indefinitely, each holding a task and a socket.
//! * **A cap on concurrent connections** (`api.max_connections`): the accept loop takes a
//!   permit before accepting, so beyond the cap new connections wait in the kernel's backlog
//!   instead of each costing memory here.
//! * **A head buffer larger than the API's own header limit** ([`MAX_HEAD_BUFFER_BYTES`],
//!   [`MAX_HEADER_LINES`]), so that headers over `request_bounds`' limits reach the router and
//!   get its JSON 431; only a head beyond hyper's buffer gets hyper's own, empty, 431.
//! * Nagle's algorithm off (see below), and a graceful shutdown that lets requests in flight
//!   finish, as `axum::serve` did.
//! * The peer's address in every request (`axum::extract::ConnectInfo`), as `axum::serve`
//!   gives it, for the sign-in limits per address (`auth::client_origin`).

use crate::http::request_bounds::{MAX_HEADER_BYTES, MAX_HEADER_COUNT};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tracing::{debug, warn};

/// hyper's buffer for one request head: four times the API's header limit, so a head the API
/// refuses with JSON is read whole first.
pub(crate) const MAX_HEAD_BUFFER_BYTES: usize = 4 * MAX_HEADER_BYTES;
/// Header lines hyper parses before answering 431 itself: ten times the API's limit.
pub(crate) const MAX_HEADER_LINES: usize = 10 * MAX_HEADER_COUNT;

/// How the server treats connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits for the requests in
/// flight.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BUFFER_BYTES)
        .max_headers(MAX_HEADER_LINES);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept_within_cap(&listener, &permits) => accepted,
        };
        let Some((stream, peer, permit)) = accepted else {
            continue;
        };
        // Nagle's algorithm would hold the last small segment of an answer until the client
        // acknowledges the one before, and clients delay that acknowledgement by up to 40 ms:
        // a streamed answer stalled that long about one time in twenty.
        if let Err(error) = stream.set_nodelay(true) {
            warn!(%error, "cannot set tcp_nodelay on a connection");
        }
        let service = router.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        );
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(%error, "http connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// One connection, once fewer than the cap are open. An accept error (out of file descriptors,
/// a connection reset before it was accepted) is logged and retried after a pause, so that a
/// full descriptor table does not spin the loop.
async fn accept_within_cap(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> Option<(
    tokio::net::TcpStream,
    SocketAddr,
    tokio::sync::OwnedSemaphorePermit,
)> {
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .expect("the connection semaphore is never closed");
    match listener.accept().await {
        Ok((stream, peer)) => Some((stream, peer, permit)),
        Err(error) => {
            warn!(%error, "cannot accept a connection");
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}
