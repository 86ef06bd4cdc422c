//! `events(tag, ...)` (group "Special"): Graphite events as a series, how many events with
//! every given tag (`"*"`: any event) happened in each second of the range, as graphite-web
//! counts them; null where none did. Drawn with `drawAsInfinite` it marks deploys on a graph.
//!
//! The source counts (`SeriesSource::event_counts`): per second, or per a wider whole number
//! of seconds when the range would hold more buckets than the source allows.

use super::arguments::Bound;
use super::context::{EvaluationContext, SeriesSource};
use super::evaluate::{evaluate_arguments, Evaluated};
use super::expression::Argument;
use super::series::{Consolidation, TimeSeries};
use super::EvaluateError;

/// `events(*tags)`.
pub(super) async fn events<S: SeriesSource>(
    function: &'static str,
    bound: Bound<&Argument>,
    context: &EvaluationContext,
    source: &S,
) -> Evaluated<S> {
    let mut arguments = evaluate_arguments(function, bound, context, None, source).await?;
    let tags = arguments.repeated_strings(0)?;
    // graphite-web names the series after the tags it was asked for, in double quotes.
    let quoted: Vec<String> = tags.iter().map(|tag| format!("\"{tag}\"")).collect();
    let name = format!("events({})", quoted.join(", "));
    let wanted: &[String] = if tags == ["*"] { &[] } else { &tags };
    let counted = source
        .event_counts(wanted, context.from, context.until)
        .await
        .map_err(EvaluateError::Source)?;
    let step = counted.step.max(1);
    let length = (context.until.saturating_sub(context.from).max(0) + step - 1) / step;
    let mut values: Vec<Option<f64>> = vec![None; length as usize];
    for (bucket, count) in counted.counts {
        let slot = (bucket - context.from).div_euclid(step);
        if let Some(value) = usize::try_from(slot)
            .ok()
            .and_then(|slot| values.get_mut(slot))
        {
            *value = Some(value.unwrap_or(0.0) + count as f64);
        }
    }
    let mut series = TimeSeries::new(name, context.from, step, values);
    series.consolidation = Consolidation::Sum;
    Ok(vec![series])
}

#[cfg(test)]
mod tests {
    use super::super::testing::{InMemorySource, START};
    use super::super::{evaluate, parse_target, EvaluationContext, TimeSeries};

    async fn evaluate_with(
        target: &str,
        context: &EvaluationContext,
        source: &InMemorySource,
    ) -> Result<Vec<TimeSeries>, String> {
        let expression = parse_target(target).map_err(|error| error.to_string())?;
        evaluate(&expression, context, source)
            .await
            .map_err(|error| error.to_string())
    }

    fn source() -> InMemorySource {
        InMemorySource::new(Vec::new()).with_events(vec![
            (START + 1, vec!["deploy".into(), "web".into()]),
            (START + 1, vec!["deploy".into()]),
            (START + 4, vec!["deploy".into(), "web".into()]),
            (START + 7, vec!["alert".into()]),
            // At `until`: outside [from, until).
            (START + 10, vec!["deploy".into()]),
        ])
    }

    #[tokio::test]
    async fn events_count_per_second_those_with_every_tag() {
        let context = EvaluationContext {
            from: START,
            until: START + 10,
            now: START + 10,
        };
        let one = |at: usize, count: f64| {
            let mut values = vec![None; 10];
            values[at] = Some(count);
            values
        };
        let mut every = vec![None; 10];
        every[1] = Some(2.0);
        every[4] = Some(1.0);
        every[7] = Some(1.0);
        let mut deploys = every.clone();
        deploys[7] = None;
        let cases: Vec<(&str, &str, Vec<Option<f64>>)> = vec![
            ("events('*')", "events(\"*\")", every),
            ("events('deploy')", "events(\"deploy\")", deploys),
            ("events('web','deploy')", "events(\"web\", \"deploy\")", {
                let mut values = one(1, 1.0);
                values[4] = Some(1.0);
                values
            }),
            ("events('alert')", "events(\"alert\")", one(7, 1.0)),
            ("events('none')", "events(\"none\")", vec![None; 10]),
        ];
        for (target, name, expected) in cases {
            let series = evaluate_with(target, &context, &source())
                .await
                .unwrap_or_else(|error| panic!("{target}: {error}"));
            assert_eq!(series.len(), 1, "{target}");
            assert_eq!(series[0].name, name, "{target}");
            assert_eq!(series[0].tags["name"], name, "{target}");
            assert_eq!((series[0].start, series[0].step), (START, 1), "{target}");
            assert_eq!(series[0].values, expected, "{target}");
        }
    }

    #[tokio::test]
    async fn a_range_past_the_limit_counts_in_wider_buckets() {
        // The in-memory source allows a million buckets: two million seconds count in twos.
        let context = EvaluationContext {
            from: START,
            until: START + 2_000_000,
            now: START + 2_000_000,
        };
        let series = evaluate_with("events('deploy')", &context, &source())
            .await
            .unwrap();
        assert_eq!(series[0].step, 2);
        assert_eq!(series[0].values.len(), 1_000_000);
        assert_eq!(
            &series[0].values[..6],
            &[Some(2.0), None, Some(1.0), None, None, Some(1.0)]
        );
    }

    #[tokio::test]
    async fn events_needs_a_tag() {
        let context = EvaluationContext {
            from: START,
            until: START + 10,
            now: START + 10,
        };
        let error = evaluate_with("events()", &context, &source())
            .await
            .unwrap_err();
        assert!(error.contains("events"), "{error}");
    }
}
