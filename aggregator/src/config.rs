//! The aggregator's settings: the shared `nats` and `log` sections plus its own `aggregator`
//! section. See `abacus_proto::settings` for how they are layered.

use abacus_proto::settings::{invalid, LogSettings, NatsSettings, SettingsError, Validate};
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    pub nats: NatsSettings,
    pub log: LogSettings,
    pub aggregator: AggregatorSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AggregatorSettings {
    /// Stable name of this aggregator; part of every batch id. Defaults to the host name.
    pub id: String,
    /// Where statsd datagrams are received.
    pub udp_address: SocketAddr,
    /// Where statsd is received over TCP, newline-delimited (the statsd port by default).
    pub tcp_address: SocketAddr,
    /// Where Graphite plaintext (`path value timestamp`) is received over UDP.
    pub graphite_udp_address: SocketAddr,
    /// Where Graphite plaintext is received over TCP.
    pub graphite_tcp_address: SocketAddr,
    /// A TCP connection that sends nothing for this long is closed.
    #[serde(with = "humantime_serde")]
    pub tcp_idle_timeout: Duration,
    /// A TCP line longer than this is skipped and counted as a bad line.
    pub max_line_bytes: usize,
    /// Length of a flush interval. Windows are aligned to wall-clock multiples of it.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// How many threads receive statsd over UDP, each on its own socket of `udp_address`
    /// (`SO_REUSEPORT`) aggregating its own shard. Defaults to the number of cores.
    pub receive_workers: usize,
    /// The receive buffer asked for on each statsd UDP socket (`SO_RCVBUF`). The kernel caps
    /// it at `net.core.rmem_max` unless the process has `CAP_NET_ADMIN`; the size granted is
    /// logged at start-up.
    pub udp_receive_buffer_bytes: usize,
    /// Datagrams longer than this are cut to this length and counted (`datagrams_truncated`);
    /// the line the cut goes through is skipped as a bad line, the whole lines before it are
    /// used.
    pub max_datagram_bytes: usize,
    /// How many finished batches may wait for NATS; when full, the oldest is dropped.
    pub publish_buffer_batches: usize,
    /// After shutdown is requested, how long to keep trying to publish what is buffered.
    #[serde(with = "humantime_serde")]
    pub shutdown_publish_timeout: Duration,
    /// Precision of timer histograms in significant decimal digits, 1 to 5. 3 keeps every
    /// percentile within 0.1%; each extra digit costs about ten times the histogram memory.
    pub histogram_significant_digits: u8,
    /// A gauge not updated for this long is forgotten (and a later delta starts from zero).
    #[serde(with = "humantime_serde")]
    pub idle_series_expiry: Duration,
    /// At start-up, how long to wait for the gauge checkpoints of the previous run (in the
    /// NATS key-value bucket) before receiving without them; deltas then start from zero.
    #[serde(with = "humantime_serde")]
    pub gauge_recovery_timeout: Duration,
    /// A DogStatsD `|T` sample older than this (before the current window) is dropped and
    /// counted; younger ones land in the window of their timestamp. Bounds the late windows
    /// kept to this divided by the flush interval.
    #[serde(with = "humantime_serde")]
    pub max_timestamp_lag: Duration,
    /// The aggregator's own metrics are named `<prefix>.<name>` in batches (and
    /// `<prefix with _>_<name>` on the admin port), etsy statsd style.
    pub self_metrics_prefix: String,
    /// Whether each flush batch carries the self-metrics. They make every window publish a
    /// batch, as etsy statsd does; turn off to keep quiet intervals free.
    pub publish_self_metrics: bool,
    /// At most this many TCP connections (statsd and Graphite together) are served at once;
    /// more are closed at once and counted, so a connection flood cannot exhaust memory or
    /// file descriptors.
    pub max_tcp_connections: usize,
    /// Where the admin HTTP server (`/metrics`, `/healthz`) listens.
    pub admin_address: SocketAddr,
}

impl Default for AggregatorSettings {
    fn default() -> Self {
        Self {
            id: gethostname::gethostname().to_string_lossy().into_owned(),
            udp_address: SocketAddr::from(([0, 0, 0, 0], 8125)),
            tcp_address: SocketAddr::from(([0, 0, 0, 0], 8125)),
            graphite_udp_address: SocketAddr::from(([0, 0, 0, 0], 2003)),
            graphite_tcp_address: SocketAddr::from(([0, 0, 0, 0], 2003)),
            tcp_idle_timeout: Duration::from_secs(60),
            max_line_bytes: 65_536,
            flush_interval: Duration::from_secs(10),
            receive_workers: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1),
            udp_receive_buffer_bytes: 8 << 20,
            max_datagram_bytes: 65_535,
            publish_buffer_batches: 360,
            shutdown_publish_timeout: Duration::from_secs(10),
            histogram_significant_digits: abacus_proto::histogram::DEFAULT_SIGNIFICANT_DIGITS,
            idle_series_expiry: Duration::from_secs(3600),
            gauge_recovery_timeout: Duration::from_secs(10),
            max_timestamp_lag: Duration::from_secs(3600),
            self_metrics_prefix: "abacus.aggregator".into(),
            publish_self_metrics: true,
            max_tcp_connections: 10_000,
            admin_address: SocketAddr::from(([0, 0, 0, 0], 8126)),
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), SettingsError> {
        self.nats.validate()?;
        let settings = &self.aggregator;
        if settings.id.trim().is_empty() {
            return Err(invalid("aggregator.id", "must not be empty"));
        }
        // Graphite timestamps are whole seconds, so windows are too.
        if settings.flush_interval < Duration::from_secs(1)
            || settings.flush_interval.subsec_nanos() != 0
        {
            return Err(invalid(
                "aggregator.flush_interval",
                "must be a whole number of seconds, at least 1s",
            ));
        }
        if settings.flush_interval.as_millis() > u128::from(u32::MAX) {
            return Err(invalid("aggregator.flush_interval", "is too long"));
        }
        if settings.max_datagram_bytes == 0 {
            return Err(invalid(
                "aggregator.max_datagram_bytes",
                "must be at least 1",
            ));
        }
        if !(1..=MAX_RECEIVE_WORKERS).contains(&settings.receive_workers) {
            return Err(invalid(
                "aggregator.receive_workers",
                format!("must be 1 to {MAX_RECEIVE_WORKERS}"),
            ));
        }
        // setsockopt takes a C int.
        if !(1..=i32::MAX as usize).contains(&settings.udp_receive_buffer_bytes) {
            return Err(invalid(
                "aggregator.udp_receive_buffer_bytes",
                "must be 1 to 2147483647",
            ));
        }
        if settings.max_line_bytes == 0 {
            return Err(invalid("aggregator.max_line_bytes", "must be at least 1"));
        }
        if settings.tcp_idle_timeout.is_zero() {
            return Err(invalid(
                "aggregator.tcp_idle_timeout",
                "must be longer than 0s",
            ));
        }
        if settings.max_tcp_connections == 0 {
            return Err(invalid(
                "aggregator.max_tcp_connections",
                "must be at least 1",
            ));
        }
        if settings.publish_buffer_batches == 0 {
            return Err(invalid(
                "aggregator.publish_buffer_batches",
                "must be at least 1",
            ));
        }
        if !abacus_proto::histogram::SIGNIFICANT_DIGITS_RANGE
            .contains(&settings.histogram_significant_digits)
        {
            return Err(invalid(
                "aggregator.histogram_significant_digits",
                "must be 1 to 5",
            ));
        }
        // Expiry is checked once per window, so anything shorter than a window would forget
        // gauges between two updates that are a window apart.
        if settings.idle_series_expiry < settings.flush_interval {
            return Err(invalid(
                "aggregator.idle_series_expiry",
                "must be at least the flush interval",
            ));
        }
        // Each late window is a batch per flush; this keeps a misconfiguration from letting one
        // client clock open millions of them.
        if settings.max_timestamp_lag.as_millis() / settings.flush_interval.as_millis().max(1)
            > MAX_LATE_WINDOWS
        {
            return Err(invalid(
                "aggregator.max_timestamp_lag",
                format!("must be at most {MAX_LATE_WINDOWS} flush intervals"),
            ));
        }
        // The prefix becomes part of series names, so it must be a name the parser would keep.
        let prefix_is_a_clean_name = settings.self_metrics_prefix.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
        });
        if !prefix_is_a_clean_name {
            return Err(invalid(
                "aggregator.self_metrics_prefix",
                "must be dot-separated words of letters, digits, _ and -",
            ));
        }
        Ok(())
    }
}

/// The most statsd UDP receive threads `aggregator.receive_workers` may ask for.
pub(crate) const MAX_RECEIVE_WORKERS: usize = 256;

/// The most late windows `aggregator.max_timestamp_lag` may allow for (a day of 10s windows).
pub(crate) const MAX_LATE_WINDOWS: u128 = 8640;

#[cfg(test)]
mod tests {
    use super::*;
    use abacus_proto::settings::load;

    fn load_file(contents: &str) -> Result<Config, SettingsError> {
        let path = std::env::temp_dir().join(format!(
            "abacus-aggregator-config-{}-{}.toml",
            std::process::id(),
            contents.len()
        ));
        std::fs::write(&path, contents).unwrap();
        let loaded = load::<Config>(Some(&path));
        std::fs::remove_file(&path).unwrap();
        loaded
    }

    #[test]
    fn a_file_overrides_the_defaults() {
        let config = load_file("[aggregator]\nflush_interval = \"2s\"\nid = \"edge-1\"\n").unwrap();
        assert_eq!(config.aggregator.flush_interval, Duration::from_secs(2));
        assert_eq!(config.aggregator.id, "edge-1");
        assert_eq!(config.aggregator.udp_address.port(), 8125);
        assert_eq!(config.aggregator.histogram_significant_digits, 3);
        assert_eq!(
            config.aggregator.idle_series_expiry,
            Duration::from_secs(3600)
        );
        assert_eq!(
            config.aggregator.max_timestamp_lag,
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn histogram_precision_and_idle_expiry_are_configurable() {
        let config = load_file(
            "[aggregator]\nhistogram_significant_digits = 2\nidle_series_expiry = \"15m\"\n",
        )
        .unwrap();
        assert_eq!(config.aggregator.histogram_significant_digits, 2);
        assert_eq!(
            config.aggregator.idle_series_expiry,
            Duration::from_secs(900)
        );
    }

    #[test]
    fn bad_values_are_reported_with_their_key() {
        let cases = [
            (
                "[aggregator]\nflush_interval = \"soon\"\n",
                "aggregator.flush_interval",
            ),
            (
                "[aggregator]\nflush_interval = \"1500ms\"\n",
                "aggregator.flush_interval",
            ),
            (
                "[aggregator]\nudp_address = \"nowhere\"\n",
                "aggregator.udp_address",
            ),
            (
                "[aggregator]\nflush_intervall = \"1s\"\n",
                "flush_intervall",
            ),
            (
                "[aggregator]\nhistogram_significant_digits = 6\n",
                "aggregator.histogram_significant_digits",
            ),
            (
                "[aggregator]\nhistogram_significant_digits = 0\n",
                "aggregator.histogram_significant_digits",
            ),
            (
                "[aggregator]\nidle_series_expiry = \"1s\"\n",
                "aggregator.idle_series_expiry",
            ),
            (
                "[aggregator]\nmax_line_bytes = 0\n",
                "aggregator.max_line_bytes",
            ),
            (
                "[aggregator]\ntcp_idle_timeout = \"0s\"\n",
                "aggregator.tcp_idle_timeout",
            ),
            (
                "[aggregator]\nmax_timestamp_lag = \"30d\"\n",
                "aggregator.max_timestamp_lag",
            ),
            (
                "[aggregator]\nself_metrics_prefix = \"a..b\"\n",
                "aggregator.self_metrics_prefix",
            ),
            (
                "[aggregator]\nmax_tcp_connections = 0\n",
                "aggregator.max_tcp_connections",
            ),
            (
                "[aggregator]\nreceive_workers = 0\n",
                "aggregator.receive_workers",
            ),
            (
                "[aggregator]\nudp_receive_buffer_bytes = 0\n",
                "aggregator.udp_receive_buffer_bytes",
            ),
            (
                "[aggregator]\nudp_receive_buffer_bytes = 4294967296\n",
                "aggregator.udp_receive_buffer_bytes",
            ),
            (
                "[aggregator]\nadmin_address = \"8126\"\n",
                "aggregator.admin_address",
            ),
            ("[nats]\nstream = \"a.b\"\n", "nats.stream"),
        ];
        for (contents, key) in cases {
            let error = load_file(contents).unwrap_err().to_string();
            assert!(error.contains(key), "{contents:?} gave {error:?}");
        }
    }
}
