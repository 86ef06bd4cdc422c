//! A point series is consolidated by its aggregation rule (issue 17): when `maxDataPoints`
//! widens the step of a bare path, each widened bucket is the sum of its slots for a sum rule
//! (the default for `\.count$`) and their average for the default rule; a function's result is
//! consolidated the same way; and `consolidateBy` still chooses otherwise. The buckets are
//! graphite-web's (aligned to multiples of the widened step, each starting one slot before its
//! label), which `compat_graphite.rs` holds against graphite-web itself.

use abacus_tests::Pipeline;
use serde_json::{json, Value};
use std::time::Duration;

/// (value, time) pairs of the first series of a render answer; nulls left out.
fn datapoints(answer: &Value) -> Vec<(f64, i64)> {
    answer[0]["datapoints"]
        .as_array()
        .map(|points| {
            points
                .iter()
                .filter_map(|point| Some((point[0].as_f64()?, point[1].as_i64()?)))
                .collect()
        })
        .unwrap_or_default()
}

async fn render(pipeline: &Pipeline, target: &str, from: i64, until: i64, points: u32) -> Value {
    let path = format!(
        "/render?target={target}&from={from}&until={until}&maxDataPoints={points}&format=json"
    );
    let (status, answer) = pipeline.get_json(&path).await.expect("render answers");
    assert_eq!(status, 200, "{path}: {answer}");
    answer
}

#[tokio::test]
async fn point_series_consolidate_by_their_aggregation_rule() -> anyhow::Result<()> {
    let pipeline = Pipeline::start(Duration::from_secs(1)).await?;
    // Two minutes an hour ago, a point in each 10-second slot: 1, 2, ..., 12.
    let base = (chrono::Utc::now().timestamp() - 3_600).div_euclid(120) * 120;
    let values: Vec<(i64, f64)> = (0..12).map(|i| (base + 10 * i, (i + 1) as f64)).collect();
    let mut body = Vec::new();
    for metric in ["widen.requests.count", "widen.load"] {
        for (time, value) in &values {
            body.push(json!({"metric": metric, "value": value, "timestamp": time}));
        }
    }
    let (status, answer) = pipeline.post_json("/api/v1/data", &json!(body)).await?;
    assert_eq!(status, 200, "{answer}");
    pipeline.wait_until_worker_is_idle(1).await?;

    // What the buckets of `points` hold when each merges its slots by `merge`: graphite-web's
    // bucket labelled `t` holds the slots from `t - 10` (one slot before its label) to
    // `t - 10 + step`, of those up to `until`.
    let merged = |points: &[(f64, i64)], step: i64, until: i64, merge: &dyn Fn(&[f64]) -> f64| {
        points
            .iter()
            .map(|(_, label)| {
                let start = label - 10;
                let slots: Vec<f64> = values
                    .iter()
                    .filter(|(time, _)| (start..start + step).contains(time) && *time <= until)
                    .map(|(_, value)| *value)
                    .collect();
                (merge(&slots), *label)
            })
            .collect::<Vec<_>>()
    };
    let sum = |slots: &[f64]| slots.iter().sum::<f64>();
    let average = |slots: &[f64]| slots.iter().sum::<f64>() / slots.len() as f64;
    let step_of = |answer: &Value, fallback: i64| {
        answer[0]["datapoints"]
            .as_array()
            .and_then(|all| Some(all.get(1)?[1].as_i64()? - all.first()?[1].as_i64()?))
            .unwrap_or(fallback)
    };

    // maxDataPoints widening a bare path: 30-second buckets, and the whole range as one point
    // labelled with its first slot.
    for (metric, rule, total) in [
        ("widen.requests.count", &sum as &dyn Fn(&[f64]) -> f64, 78.0),
        ("widen.load", &average, 6.5),
    ] {
        for (from, until, points) in [(base - 30, base + 90, 4), (base - 120, base + 120, 1)] {
            let deadline = tokio::time::Instant::now() + abacus_tests::PATIENCE;
            loop {
                let answer = render(&pipeline, metric, from, until, points).await;
                let got = datapoints(&answer);
                let step = step_of(&answer, until - from);
                let wanted = if points == 1 {
                    vec![(total, from + 10)]
                } else {
                    merged(&got, step, until, rule)
                };
                if step > 10 && got.len() == 4usize.min(points as usize) && got == wanted {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{metric} from {from} until {until} at {points} points: {got:?} (step {step}), expected {wanted:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    // A function's result is consolidated by the rule too, unless consolidateBy says otherwise.
    let (from, until) = (base - 60, base + 180);
    for (metric, rule, other) in [
        ("widen.requests.count", "sum", "average"),
        ("widen.load", "average", "sum"),
    ] {
        let implicit = render(&pipeline, &format!("scale({metric},1)"), from, until, 3).await;
        let by_rule = format!("consolidateBy(scale({metric},1),'{rule}')");
        let by_other = format!("consolidateBy(scale({metric},1),'{other}')");
        let by_rule = datapoints(&render(&pipeline, &by_rule, from, until, 3).await);
        let by_other = datapoints(&render(&pipeline, &by_other, from, until, 3).await);
        let implicit_points = datapoints(&implicit);
        assert!(!implicit_points.is_empty(), "{metric}");
        assert_eq!(implicit_points, by_rule, "{metric}");
        assert_ne!(implicit_points, by_other, "{metric}");
        if rule == "sum" {
            // Summed buckets keep the total of the points.
            let total: f64 = implicit_points.iter().map(|(value, _)| value).sum();
            assert_eq!(total, 78.0, "{metric}: {implicit_points:?}");
        }

        // On a bare path too, consolidateBy chooses: the buckets' largest points.
        let bare_max = format!("consolidateBy({metric},'max')");
        let bare_max = datapoints(&render(&pipeline, &bare_max, from, until, 3).await);
        let function_max = format!("consolidateBy(scale({metric},1),'max')");
        let function_max = datapoints(&render(&pipeline, &function_max, from, until, 3).await);
        assert_eq!(bare_max, function_max, "{metric}");
        assert_ne!(bare_max, implicit_points, "{metric}");
        assert!(
            bare_max
                .iter()
                .all(|(value, _)| values.iter().any(|(_, point)| point == value)),
            "{metric}: a max is one of the points: {bare_max:?}"
        );
    }
    pipeline.stop().await?;
    Ok(())
}
