//! Functions that rename series (graphite-web's group "Alias"), and the node/tag keys that
//! `aliasByNode`, `groupByNode` and `asPercent` share. Renaming changes only the display name:
//! the path expression, and so the name of an enclosing aggregate, stays.

use super::arguments::{Arguments, NodeOrTag};
use super::context::EvaluationContext;
use super::expression::{parse_target, Argument, Expression};
use super::series::TimeSeries;
use super::SeriesResult;

/// The first metric path inside a function-result name: `scale(a.b.c,2)` → `a.b.c`
/// (graphite-web's `_getFirstPathExpression`, which follows first arguments).
fn first_path_expression(name: &str) -> Option<String> {
    let mut expression = parse_target(name).ok()?;
    loop {
        match expression {
            Expression::Path(path) => return Some(path),
            Expression::Call(call) => match call.arguments.into_iter().next() {
                Some(Argument::Expression(inner)) => expression = inner,
                _ => return None,
            },
        }
    }
}

/// One node of the path (Python indexing: negative counts from the end) or, when that node
/// does not exist or a tag name is given, the tag's value ("" when absent).
fn node_or_tag_value(series: &TimeSeries, path: &str, node_or_tag: &NodeOrTag) -> String {
    let tag_name = match node_or_tag {
        NodeOrTag::Node(index) => {
            let untagged = path.split(';').next().unwrap_or_default();
            let nodes: Vec<&str> = untagged.split('.').collect();
            let resolved = if *index < 0 {
                (nodes.len() as i64).checked_add(*index)
            } else {
                Some(*index)
            };
            if let Some(node) = resolved
                .and_then(|index| usize::try_from(index).ok())
                .and_then(|index| nodes.get(index))
            {
                return (*node).to_owned();
            }
            index.to_string()
        }
        NodeOrTag::Tag(tag) => tag.clone(),
    };
    series.tags.get(&tag_name).cloned().unwrap_or_default()
}

/// graphite-web's `aggKey`: the chosen nodes/tags joined by dots. For a function result the
/// nodes come from the first path inside its name.
pub(crate) fn aggregation_key(series: &TimeSeries, nodes: &[NodeOrTag]) -> String {
    let path = if series.name.ends_with(')') {
        first_path_expression(&series.name).unwrap_or_else(|| series.name.clone())
    } else {
        series.name.clone()
    };
    nodes
        .iter()
        .map(|node| node_or_tag_value(series, &path, node))
        .collect::<Vec<_>>()
        .join(".")
}

/// `alias(seriesList, newName)`.
pub(crate) fn alias(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let new_name = arguments.string(1)?;
    Ok(series
        .into_iter()
        .map(|one| TimeSeries {
            name: new_name.clone(),
            ..one
        })
        .collect())
}

/// `aliasByNode(seriesList, *nodes)`: nodes are 0-based indexes (negative from the end) or tag
/// names.
pub(crate) fn alias_by_node(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let nodes = arguments.repeated_nodes_or_tags(1)?;
    Ok(series
        .into_iter()
        .map(|one| TimeSeries {
            name: aggregation_key(&one, &nodes),
            ..one
        })
        .collect())
}

/// `aliasByTags(seriesList, *tags)`: the same as `aliasByNode`.
pub(crate) fn alias_by_tags(
    arguments: &mut Arguments,
    context: &EvaluationContext,
) -> SeriesResult {
    alias_by_node(arguments, context)
}

/// `aliasByMetric(seriesList)`: the last node of the innermost path (graphite-web's
/// `substr(seriesList, -1)`), e.g. `scale(a.b.c,2)` → `c`.
pub(crate) fn alias_by_metric(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    Ok(series
        .into_iter()
        .map(|one| {
            let name = &one.name;
            let left = name.rfind('(').map_or(0, |index| index + 1);
            let right = name.find(')').unwrap_or(name.len());
            let inner = if left <= right {
                &name[left..right]
            } else {
                ""
            };
            let last = inner.rsplit('.').next().unwrap_or_default();
            // `substr` drops any further arguments: `f(a.b,'c')` gives `b`.
            let metric = last.split(',').next().unwrap_or_default().to_owned();
            TimeSeries {
                name: metric,
                ..one
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{evaluate_names, series};
    use super::*;

    #[test]
    fn first_paths() {
        let cases = [
            ("scale(a.b.c,2)", Some("a.b.c")),
            ("alias(sumSeries(x.*),'y')", Some("x.*")),
            ("a.b", Some("a.b")),
            ("constantLine(5)", None),
            ("not(parsable", None),
        ];
        for (name, expected) in cases {
            assert_eq!(first_path_expression(name).as_deref(), expected, "{name}");
        }
    }

    #[tokio::test]
    async fn alias_table() {
        let source = vec![
            series("servers.web01.cpu.load5", &[Some(1.0)]),
            series("servers.web02.cpu.load5;dc=west", &[Some(2.0)]),
        ];
        let cases: &[(&str, &[&str])] = &[
            ("alias(servers.*.cpu.load5,'load')", &["load", "load"]),
            ("servers.web01.cpu.load5|alias(\"x\")", &["x"]),
            ("aliasByNode(servers.*.cpu.load5,1)", &["web01", "web02"]),
            (
                "aliasByNode(servers.*.cpu.load5,1,-1)",
                &["web01.load5", "web02.load5"],
            ),
            (
                "aliasByNode(servers.*.cpu.load5,'dc',1)",
                &[".web01", "west.web02"],
            ),
            (
                "aliasByNode(scale(servers.*.cpu.load5,2),1)",
                &["web01", "web02"],
            ),
            ("aliasByNode(servers.*.cpu.load5,9)", &["", ""]),
            (
                "aliasByTags(servers.*.cpu.load5,'name','dc')",
                &["servers.web01.cpu.load5.", "servers.web02.cpu.load5.west"],
            ),
            (
                "aliasByMetric(servers.*.cpu.load5)",
                &["load5", "load5;dc=west"],
            ),
            (
                "aliasByMetric(scale(servers.web01.cpu.load5,2))",
                &["load5"],
            ),
            (
                "aliasByMetric(summarize(servers.web01.cpu.load5,'1h'))",
                &["load5"],
            ),
        ];
        for (target, expected) in cases {
            assert_eq!(evaluate_names(target, &source).await, *expected, "{target}");
        }
    }

    #[tokio::test]
    async fn aliases_keep_the_path_expression() {
        let source = vec![series("a.b", &[Some(1.0)]), series("a.c", &[Some(2.0)])];
        let names = evaluate_names("sumSeries(alias(a.*,'x'))", &source).await;
        assert_eq!(names, vec!["sumSeries(a.*)"]);
    }
}
