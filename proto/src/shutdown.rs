//! The process-wide shutdown signal.
//!
//! Every service's `run` takes a shutdown future rather than listening for signals itself, so
//! tests can stop a service without signals. The binaries pass [`signal`], which resolves on the
//! first SIGTERM or SIGINT.

/// Resolves when the process receives SIGTERM or SIGINT (Ctrl-C).
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = match signal(SignalKind::terminate()) {
            Ok(terminate) => terminate,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for sigterm, only ctrl-c will stop");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = terminate.recv() => tracing::info!("sigterm received, shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("sigint received, shutting down"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Turns a shutdown future into a cancellation token that every task of a service can watch.
///
/// The future is awaited on its own task; when it resolves the token is cancelled.
pub fn token_from(
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let cancel_on_shutdown = token.clone();
    tokio::spawn(async move {
        shutdown.await;
        cancel_on_shutdown.cancel();
    });
    token
}
