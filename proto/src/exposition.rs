//! Every service's `/metrics`, in the OpenMetrics text format that Prometheus scrapes,
//! written by the maintained `prometheus-client` crate rather than by hand: the format's
//! escaping, `# TYPE`/`# HELP` lines, the `_total` suffix of counters and the closing `# EOF`
//! are its business.
//!
//! The services keep counting in their own lock-free atomics, because the aggregator's receive
//! workers batch their counts per thread before adding them (an atomic add per line from
//! several cores would contend for one cache line, and the client's counters are single
//! atomics). At each scrape a service hands its current values to [`Exposition`], which the
//! client encodes.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::fmt;

/// The `Content-Type` of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What a service's metrics look like at one scrape: it writes each value into the exposition.
pub trait Metrics: fmt::Debug + Send + Sync + 'static {
    fn expose(&self, exposition: &mut Exposition<'_, '_>) -> fmt::Result;
}

/// One scrape's encoder. A counter's name is given without `_total`, which the format adds.
pub struct Exposition<'encoder, 'scrape> {
    encoder: &'scrape mut DescriptorEncoder<'encoder>,
}

impl Exposition<'_, '_> {
    pub fn counter(&mut self, name: &str, help: &str, value: u64) -> fmt::Result {
        let counter = ConstCounter::new(value);
        let metric = self
            .encoder
            .encode_descriptor(name, help, None, counter.metric_type())?;
        counter.encode(metric)
    }

    pub fn gauge(&mut self, name: &str, help: &str, value: f64) -> fmt::Result {
        let gauge = ConstGauge::new(value);
        let metric = self
            .encoder
            .encode_descriptor(name, help, None, gauge.metric_type())?;
        gauge.encode(metric)
    }

    /// A gauge with one sample per label value, e.g. a lag per resolution.
    pub fn labelled_gauges(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        samples: &[(String, f64)],
    ) -> fmt::Result {
        let mut metric = self.encoder.encode_descriptor(
            name,
            help,
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (label_value, value) in samples {
            let labels = [(label, label_value.as_str())];
            let family = metric.encode_family(&labels)?;
            ConstGauge::new(*value).encode(family)?;
        }
        Ok(())
    }
}

/// Adapts a service's [`Metrics`] to the client's collector.
#[derive(Debug)]
struct Collected<M>(std::sync::Arc<M>);

impl<M: Metrics> Collector for Collected<M> {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        self.0.expose(&mut Exposition {
            encoder: &mut encoder,
        })
    }
}

/// The OpenMetrics text of `metrics` now, names prefixed with `namespace_` (when not empty).
pub fn render<M: Metrics>(metrics: std::sync::Arc<M>, namespace: &str) -> String {
    let mut registry = if namespace.is_empty() {
        Registry::default()
    } else {
        Registry::with_prefix(namespace)
    };
    registry.register_collector(Box::new(Collected(metrics)));
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Example;

    impl Metrics for Example {
        fn expose(&self, exposition: &mut Exposition<'_, '_>) -> fmt::Result {
            exposition.counter("batches_stored", "Batches stored.", 3)?;
            exposition.gauge("database_failing", "1 while failing.", 0.0)?;
            exposition.labelled_gauges(
                "rollup_lag_seconds",
                "Lag \"per\" resolution.",
                "resolution",
                &[("10s".into(), 2.5), ("1h".into(), 30.0)],
            )
        }
    }

    #[test]
    fn renders_openmetrics_text_with_the_namespace() {
        let text = render(std::sync::Arc::new(Example), "abacus_storage");
        assert!(
            text.contains("# TYPE abacus_storage_batches_stored counter\n"),
            "{text}"
        );
        assert!(
            text.contains("\nabacus_storage_batches_stored_total 3\n"),
            "{text}"
        );
        assert!(
            text.contains("\nabacus_storage_database_failing 0.0\n"),
            "{text}"
        );
        assert!(
            text.contains("abacus_storage_rollup_lag_seconds{resolution=\"1h\"} 30.0\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP abacus_storage_rollup_lag_seconds Lag"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
