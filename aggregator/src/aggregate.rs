//! The aggregation state of one flush window: counters summed, gauges kept at their last value.
//!
//! Series are keyed by a canonical string — the name, then `|#` and the sorted, de-duplicated
//! tags when there are any — so the same tags in any order are one series. Looking up a known
//! series that has no tags allocates nothing.

use crate::parse::{Sample, SampleValue};
use abacus_proto::v1::{
    series_aggregate::Aggregate, CounterAggregate, GaugeAggregate, SeriesAggregate, Tag,
};
use std::collections::HashMap;

const TAGS_SEPARATOR: &str = "|#";

#[derive(Debug, Default)]
pub struct Aggregates {
    counters: HashMap<String, f64>,
    gauges: HashMap<String, GaugeState>,
}

#[derive(Debug)]
struct GaugeState {
    value: f64,
    updated_in_window: bool,
}

impl Aggregates {
    /// Folds one sample into the current window.
    pub fn record(&mut self, sample: &Sample<'_>) {
        let canonical_tags = canonical_tags(sample.tags);
        let owned_key;
        let key: &str = if canonical_tags.is_empty() {
            &sample.name
        } else {
            owned_key = format!("{}{TAGS_SEPARATOR}{canonical_tags}", sample.name);
            &owned_key
        };
        match sample.value {
            SampleValue::Counter { value, sample_rate } => {
                let increment = value / sample_rate;
                match self.counters.get_mut(key) {
                    Some(count) => *count += increment,
                    None => {
                        self.counters.insert(key.to_owned(), increment);
                    }
                }
            }
            SampleValue::Gauge { value, is_delta } => match self.gauges.get_mut(key) {
                // etsy statsd: a signed value changes an existing gauge and sets a new one.
                Some(gauge) => {
                    gauge.value = if is_delta { gauge.value + value } else { value };
                    gauge.updated_in_window = true;
                }
                None => {
                    self.gauges.insert(
                        key.to_owned(),
                        GaugeState {
                            value,
                            updated_in_window: true,
                        },
                    );
                }
            },
        }
    }

    /// Ends the window: returns every series that received samples in it, resets counters and
    /// keeps gauge values so later deltas apply to them.
    pub fn take_window(&mut self) -> Vec<SeriesAggregate> {
        let mut series = Vec::with_capacity(self.counters.len());
        for (key, count) in self.counters.drain() {
            series.push(series_aggregate(
                &key,
                Aggregate::Counter(CounterAggregate { count }),
            ));
        }
        for (key, gauge) in &mut self.gauges {
            if !std::mem::take(&mut gauge.updated_in_window) {
                continue;
            }
            series.push(series_aggregate(
                key,
                Aggregate::Gauge(GaugeAggregate { value: gauge.value }),
            ));
        }
        series
    }
}

/// Sorts and de-duplicates a DogStatsD tag list (`b:2,a:1,a:1` → `a:1,b:2`).
fn canonical_tags(tags: &str) -> String {
    if tags.is_empty() {
        return String::new();
    }
    let mut parts: Vec<&str> = tags.split(',').filter(|tag| !tag.is_empty()).collect();
    parts.sort_unstable();
    parts.dedup();
    parts.join(",")
}

fn series_aggregate(key: &str, aggregate: Aggregate) -> SeriesAggregate {
    let (name, tags) = key.split_once(TAGS_SEPARATOR).unwrap_or((key, ""));
    SeriesAggregate {
        name: name.to_owned(),
        tags: tags
            .split(',')
            .filter(|tag| !tag.is_empty())
            .map(|tag| {
                let (key, value) = tag.split_once(':').unwrap_or((tag, ""));
                Tag {
                    key: key.to_owned(),
                    value: value.to_owned(),
                }
            })
            .collect(),
        aggregate: Some(aggregate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_line;

    fn aggregate_lines(aggregates: &mut Aggregates, lines: &[&str]) {
        for line in lines {
            aggregates.record(&parse_line(line.as_bytes()).unwrap());
        }
    }

    fn values(mut series: Vec<SeriesAggregate>) -> Vec<(String, Vec<String>, Aggregate)> {
        series.sort_by(|left, right| left.name.cmp(&right.name));
        series
            .into_iter()
            .map(|series| {
                let tags = series
                    .tags
                    .iter()
                    .map(|tag| format!("{}={}", tag.key, tag.value))
                    .collect();
                (series.name, tags, series.aggregate.unwrap())
            })
            .collect()
    }

    fn counter(count: f64) -> Aggregate {
        Aggregate::Counter(CounterAggregate { count })
    }

    fn gauge(value: f64) -> Aggregate {
        Aggregate::Gauge(GaugeAggregate { value })
    }

    #[test]
    fn counters_sum_value_over_sample_rate_and_reset_each_window() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(&mut aggregates, &["a:1|c|@0.1", "a:1|c|@0.1", "a:1|c|@0.1"]);
        let window = values(aggregates.take_window());
        assert_eq!(window.len(), 1);
        let Aggregate::Counter(CounterAggregate { count }) = window[0].2 else {
            panic!("expected a counter");
        };
        assert!((count - 30.0).abs() < 1e-9, "count was {count}");
        assert!(aggregates.take_window().is_empty());
    }

    #[test]
    fn gauges_take_the_last_value_and_apply_deltas_across_windows() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(&mut aggregates, &["temp:-5|g", "temp:50|g"]);
        assert_eq!(
            values(aggregates.take_window()),
            vec![("temp".into(), vec![], gauge(50.0))]
        );
        aggregate_lines(&mut aggregates, &["temp:-3|g"]);
        assert_eq!(
            values(aggregates.take_window()),
            vec![("temp".into(), vec![], gauge(47.0))]
        );
        assert!(
            aggregates.take_window().is_empty(),
            "an idle gauge is not re-sent"
        );
    }

    #[test]
    fn a_delta_on_an_unknown_gauge_sets_it() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(&mut aggregates, &["temp:-3|g"]);
        assert_eq!(
            values(aggregates.take_window()),
            vec![("temp".into(), vec![], gauge(-3.0))]
        );
    }

    #[test]
    fn the_same_tags_in_any_order_are_one_series() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(
            &mut aggregates,
            &[
                "req:1|c|#b:2,a:1",
                "req:1|c|#a:1,b:2,a:1",
                "req:1|c|#canary",
            ],
        );
        let mut window = values(aggregates.take_window());
        window.sort_by(|left, right| left.1.cmp(&right.1));
        assert_eq!(
            window,
            vec![
                ("req".into(), vec!["a=1".into(), "b=2".into()], counter(2.0)),
                ("req".into(), vec!["canary=".into()], counter(1.0)),
            ]
        );
    }

    #[test]
    fn a_counter_and_a_gauge_with_one_name_are_two_series() {
        let mut aggregates = Aggregates::default();
        aggregate_lines(&mut aggregates, &["x:1|c", "x:5|g"]);
        assert_eq!(aggregates.take_window().len(), 2);
    }
}
