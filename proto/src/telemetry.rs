//! Logging for every service: `tracing` events written by `tracing-subscriber`, as human-readable
//! text or as one JSON object per line, filtered by `log.filter` (which `RUST_LOG` overrides).

use crate::settings::{LogFormat, LogSettings};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Call once, from `main`, before anything logs.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|error| {
        eprintln!(
            "warning: log.filter {:?} is invalid ({error}), using \"info\"",
            settings.filter
        );
        EnvFilter::new("info")
    });
    // Colours only for a person at a terminal: `make run` and log collectors read a pipe.
    let stderr_is_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(stderr_is_terminal)
        .with_writer(std::io::stderr);
    match settings.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
