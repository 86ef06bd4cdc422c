//! Gauge lines apply in the order they arrive, whichever socket they come from and whichever
//! receive worker reads them: `temp:50|g` from one client socket and, 50 ms later,
//! `temp:-3|g` from another leave `temp` at 47, as in etsy statsd.
//!
//! The harness runs two receive workers on one port; the kernel spreads senders over them by
//! their address, and every line here is sent from a fresh socket, so about half the pairs
//! cross workers. Forty gauges in each of several rounds, in both orders (value then delta,
//! delta then value), so that an ordering bug cannot pass by luck.

use abacus_proto::v1::{series_aggregate::Aggregate, FlushBatch};
use abacus_tests::AggregatorUnderTest;
use std::time::Duration;

const GAUGES: usize = 40;
const ROUNDS: usize = 3;
/// Between the two lines of a pair: far more than a receive call, far less than a window.
const APART: Duration = Duration::from_millis(50);

/// The gauge's value in the last batch (by sequence) that has it.
fn latest_gauge(batches: &[FlushBatch], name: &str) -> Option<f64> {
    batches
        .iter()
        .filter_map(|batch| {
            batch
                .series
                .iter()
                .find_map(|series| match &series.aggregate {
                    Some(Aggregate::Gauge(gauge)) if series.name == name => {
                        Some((batch.sequence, gauge.value))
                    }
                    _ => None,
                })
        })
        .max_by_key(|(sequence, _)| *sequence)
        .map(|(_, value)| value)
}

#[tokio::test]
async fn gauge_lines_from_different_sockets_apply_in_arrival_order() -> anyhow::Result<()> {
    let aggregator = AggregatorUnderTest::start(Duration::from_secs(1), |_| {}).await?;
    let mut reader = aggregator.batch_reader().await?;
    for round in 0..ROUNDS {
        // A base value for the delta-first gauges, a window before.
        for index in 0..GAUGES {
            aggregator
                .send_statsd(&format!("later.r{round}.g{index}:10|g"))
                .await?;
        }
        let base = format!("later.r{round}.g{}", GAUGES - 1);
        reader
            .wait_for("the base values", |batches| {
                latest_gauge(batches, &base) == Some(10.0)
            })
            .await?;
        // Value first, then a delta from another socket: 50 - 3.
        // Delta first, then a value from another socket: the value, 50.
        for index in 0..GAUGES {
            aggregator
                .send_statsd(&format!("sooner.r{round}.g{index}:50|g"))
                .await?;
            aggregator
                .send_statsd(&format!("later.r{round}.g{index}:-3|g"))
                .await?;
        }
        tokio::time::sleep(APART).await;
        for index in 0..GAUGES {
            aggregator
                .send_statsd(&format!("sooner.r{round}.g{index}:-3|g"))
                .await?;
            aggregator
                .send_statsd(&format!("later.r{round}.g{index}:50|g"))
                .await?;
        }
    }
    let last_round = ROUNDS - 1;
    let batches = reader
        .wait_for("every gauge of the last round", |batches| {
            (0..GAUGES).all(|index| {
                latest_gauge(batches, &format!("sooner.r{last_round}.g{index}")).is_some()
                    && latest_gauge(batches, &format!("later.r{last_round}.g{index}")) == Some(50.0)
            })
        })
        .await?;
    let mut wrong = Vec::new();
    for round in 0..ROUNDS {
        for index in 0..GAUGES {
            for (name, expected) in [
                (format!("sooner.r{round}.g{index}"), 47.0),
                (format!("later.r{round}.g{index}"), 50.0),
            ] {
                let value = latest_gauge(&batches, &name);
                if value != Some(expected) {
                    wrong.push((name, value, expected));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} gauges not as applied in arrival order: {wrong:?}",
        wrong.len(),
        2 * GAUGES * ROUNDS
    );
    aggregator.stop().await
}
