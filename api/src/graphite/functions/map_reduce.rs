//! graphite-web's `group`, `mapSeries` and `reduceSeries` (group "Combine").
//!
//! `mapSeries` splits a list into groups by some nodes; graphite-web returns a list of lists,
//! which only `reduceSeries` consumes. Here a series list is flat, so `mapSeries` returns its
//! groups one after another, in the order graphite-web gives them: `reduceSeries` collects
//! series by name, not by group, so it reduces the flattened groups exactly as graphite-web
//! reduces the lists. (A `mapSeries` left at the top of a target, which graphite-web cannot
//! render, here draws its series.)

use super::alias::aggregation_key;
use super::arguments::{bind, Arguments, Bound, Value};
use super::combine::group_by_key;
use super::context::EvaluationContext;
use super::registry::{self, Implementation};
use super::series::TimeSeries;
use super::SeriesResult;

/// `group(*seriesLists)`: the lists as one.
pub(crate) fn group(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    Ok(arguments
        .repeated_series_lists(0)?
        .into_iter()
        .flatten()
        .collect())
}

/// `mapSeries(seriesList, *mapNodes)`: the series grouped by the given nodes (or tags), each
/// group after the other.
pub(crate) fn map_series(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let nodes = arguments.repeated_nodes_or_tags(1)?;
    Ok(group_by_key(series, |one| aggregation_key(one, &nodes))
        .into_iter()
        .flat_map(|(_, group)| group)
        .collect())
}

fn cannot_reduce(arguments: &Arguments, function_name: &str) -> super::EvaluationError {
    arguments.invalid(format!(
        "\"{function_name}\" is not a function that can reduce series"
    ))
}

/// `reduceSeries(seriesLists, reduceFunction, reduceNode, *reduceMatchers)`: the series are
/// collected by their name up to `reduceNode`; within each, the series whose node
/// `reduceNode` is the i-th matcher becomes the i-th argument of `reduceFunction`, and the
/// first series it returns is named `<prefix>.reduce.<reduceFunction>`.
pub(crate) fn reduce_series(
    arguments: &mut Arguments,
    context: &EvaluationContext,
) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let function_name = arguments.string(1)?;
    let reduce_node = arguments.integer(2)?;
    let matchers = arguments.repeated_strings(3)?;
    // Only a function of its evaluated arguments can be given the groups' series.
    let (definition, reduce) = match registry::find(&function_name) {
        Some(definition) => match definition.implementation {
            Implementation::Pure(reduce) => (definition, reduce),
            _ => return Err(cannot_reduce(arguments, &function_name)),
        },
        None => return Err(cannot_reduce(arguments, &function_name)),
    };
    let mut keys: Vec<String> = Vec::new();
    let mut members: Vec<Vec<Option<TimeSeries>>> = Vec::new();
    for one in series {
        let nodes: Vec<&str> = one.name.split('.').collect();
        let index = if reduce_node < 0 {
            (nodes.len() as i64).checked_add(reduce_node)
        } else {
            Some(reduce_node)
        };
        let Some(index) = index
            .and_then(|index| usize::try_from(index).ok())
            .filter(|index| *index < nodes.len())
        else {
            return Err(arguments.invalid(format!("\"{}\" has no node {reduce_node}", one.name)));
        };
        let Some(matcher) = matchers.iter().position(|matcher| matcher == nodes[index]) else {
            continue;
        };
        let key = format!("{}.reduce.{function_name}", nodes[..index].join("."));
        let slot = match keys.iter().position(|known| *known == key) {
            Some(slot) => slot,
            None => {
                keys.push(key);
                members.push(vec![None; matchers.len()]);
                keys.len() - 1
            }
        };
        members[slot][matcher] = Some(one);
    }
    let mut results = Vec::new();
    for (key, group) in keys.into_iter().zip(members) {
        let mut positional = Vec::with_capacity(group.len());
        for (matcher, member) in matchers.iter().zip(group) {
            let Some(member) = member else {
                return Err(arguments.invalid(format!("{key} has no series for \"{matcher}\"")));
            };
            positional.push(Value::SeriesList(vec![member]));
        }
        let bound: Bound<Value> = bind(
            definition.name,
            definition.parameters,
            positional,
            Vec::new(),
        )?;
        let mut reduce_arguments = Arguments {
            function: definition.name,
            bound,
        };
        if let Some(mut reduced) = reduce(&mut reduce_arguments, context)?.into_iter().next() {
            reduced.name = key;
            results.push(reduced);
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{evaluate_error, evaluate_names, evaluate_values, series};

    #[tokio::test]
    async fn map_reduce_table() {
        let stored = vec![
            series("srv.a.used", &[Some(1.0), Some(3.0)]),
            series("srv.a.total", &[Some(4.0), Some(4.0)]),
            series("srv.b.used", &[Some(2.0), None]),
            series("srv.b.total", &[Some(8.0), Some(2.0)]),
            series("srv.b.free", &[Some(6.0), Some(2.0)]),
        ];
        assert_eq!(
            evaluate_names("mapSeries(srv.*.*,1)", &stored).await,
            [
                "srv.a.used",
                "srv.a.total",
                "srv.b.used",
                "srv.b.total",
                "srv.b.free"
            ]
        );
        assert_eq!(
            evaluate_names("group(srv.a.*,srv.b.free)", &stored).await,
            ["srv.a.used", "srv.a.total", "srv.b.free"]
        );
        assert_eq!(
            evaluate_values(
                "reduceSeries(mapSeries(srv.*.*,1),'asPercent',2,'used','total')",
                &stored
            )
            .await,
            vec![
                (
                    "srv.a.reduce.asPercent".to_owned(),
                    vec![Some(25.0), Some(75.0)]
                ),
                ("srv.b.reduce.asPercent".to_owned(), vec![Some(25.0), None]),
            ]
        );
        assert_eq!(
            evaluate_values(
                "reduce(map(srv.*.*,1),'diffSeries',-1,'total','used')",
                &stored
            )
            .await,
            vec![
                (
                    "srv.a.reduce.diffSeries".to_owned(),
                    vec![Some(3.0), Some(1.0)]
                ),
                (
                    "srv.b.reduce.diffSeries".to_owned(),
                    vec![Some(6.0), Some(2.0)]
                ),
            ]
        );
        assert!(
            evaluate_error("reduceSeries(srv.*.*,'nope',2,'used')", &stored)
                .await
                .contains("\"nope\" is not a function that can reduce series")
        );
        assert!(
            evaluate_error("reduceSeries(srv.*.*,'sumSeries',2,'used','free')", &stored)
                .await
                .contains("srv.a.reduce.sumSeries has no series for \"free\"")
        );
    }
}
