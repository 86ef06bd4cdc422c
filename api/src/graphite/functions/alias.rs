//! Functions that rename series (graphite-web's group "Alias"), and the node/tag keys that
//! `aliasByNode`, `groupByNode` and `asPercent` share. Renaming changes only the display name:
//! the path expression, and so the name of an enclosing aggregate, stays.

use super::arguments::{Arguments, NodeOrTag};
use super::context::EvaluationContext;
use super::expression::{parse_target, Argument, Expression};
use super::series::{format_python_float, Aggregation, TimeSeries};
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

/// A Python `re.sub` replacement (`\1`, `\g<1>`, `\g<name>`, `\\`) in the `regex` crate's
/// syntax (`${1}`, `${name}`, `$$` for a dollar).
pub(crate) fn python_replacement(replacement: &str) -> String {
    let mut translated = String::with_capacity(replacement.len());
    let mut characters = replacement.chars().peekable();
    while let Some(character) = characters.next() {
        match character {
            '$' => translated.push_str("$$"),
            '\\' => match characters.next() {
                Some(digit) if digit.is_ascii_digit() => {
                    let mut group = String::from(digit);
                    if let Some(second) = characters.next_if(char::is_ascii_digit) {
                        group.push(second);
                    }
                    translated.push_str(&format!("${{{group}}}"));
                }
                Some('g') if characters.peek() == Some(&'<') => {
                    characters.next();
                    let group: String = characters.by_ref().take_while(|c| *c != '>').collect();
                    translated.push_str(&format!("${{{group}}}"));
                }
                Some('n') => translated.push('\n'),
                Some('t') => translated.push('\t'),
                Some('\\') => translated.push('\\'),
                Some(other) => {
                    translated.push('\\');
                    translated.push(other);
                }
                None => translated.push('\\'),
            },
            other => translated.push(other),
        }
    }
    translated
}

/// Python's `re.sub(search, replace, text)`.
pub(crate) fn regex_substitute(
    arguments: &Arguments,
    search: &str,
    replace: &str,
) -> Result<impl Fn(&str) -> String, super::EvaluationError> {
    let regex = regex::Regex::new(search).map_err(|error| {
        arguments.invalid(format!("invalid regular expression \"{search}\": {error}"))
    })?;
    let replacement = python_replacement(replace);
    Ok(move |text: &str| regex.replace_all(text, replacement.as_str()).into_owned())
}

/// `aliasSub(seriesList, search, replace)`: each name with every match of the regular
/// expression replaced (`\1` refers to a group, as in Python).
pub(crate) fn alias_sub(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let search = arguments.string(1)?;
    let replace = arguments.string(2)?;
    let substitute = regex_substitute(arguments, &search, &replace)?;
    Ok(series
        .into_iter()
        .map(|one| TimeSeries {
            name: substitute(&one.name),
            ..one
        })
        .collect())
}

/// Changes the case of the whole name, or of the characters at the given positions
/// (negative from the end; positions past the end are ignored).
fn change_case(arguments: &mut Arguments, change: fn(char) -> String) -> SeriesResult {
    let series = arguments.series_list(0)?;
    let positions = arguments.repeated_integers(1)?;
    Ok(series
        .into_iter()
        .map(|one| {
            let mut characters: Vec<String> = one.name.chars().map(String::from).collect();
            let length = characters.len() as i64;
            if positions.is_empty() {
                for character in &mut characters {
                    *character = character.chars().map(change).collect();
                }
            }
            for position in &positions {
                let index = if *position < 0 {
                    length + position
                } else {
                    *position
                };
                if let Some(character) = usize::try_from(index)
                    .ok()
                    .and_then(|index| characters.get_mut(index))
                {
                    *character = character.chars().map(change).collect();
                }
            }
            TimeSeries {
                name: characters.concat(),
                ..one
            }
        })
        .collect())
}

/// `upper(seriesList, *pos)` (graphite-web's `toUpperCase`).
pub(crate) fn upper(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    change_case(arguments, |character| character.to_uppercase().collect())
}

/// `lower(seriesList, *pos)` (graphite-web's `toLowerCase`).
pub(crate) fn lower(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    change_case(arguments, |character| character.to_lowercase().collect())
}

/// graphite's `format_units`: the value in the unit system's largest unit it reaches.
fn format_units(value: f64, system: &str) -> (f64, &'static str) {
    const SI: &[(&str, f64)] = &[("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)];
    const BINARY: &[(&str, f64)] = &[
        ("Pi", 1_125_899_906_842_624.0),
        ("Ti", 1_099_511_627_776.0),
        ("Gi", 1_073_741_824.0),
        ("Mi", 1_048_576.0),
        ("Ki", 1024.0),
    ];
    let units = if system == "binary" { BINARY } else { SI };
    let whole = |number: f64| {
        if number - number.floor() < 0.000_000_000_01 && value > 1.0 {
            number.floor()
        } else {
            number
        }
    };
    for (prefix, size) in units {
        if value.abs() >= *size {
            return (whole(value / size), prefix);
        }
    }
    (whole(value), "")
}

/// `legendValue(seriesList, *valueTypes)`: each name followed by the series' aggregates, e.g.
/// `a.b (avg: 4.0)`; with a last value type `si` or `binary`, in the padded columns with
/// units graphite draws in legends (`a.b                avg  4.00k     `).
pub(crate) fn legend_value(arguments: &mut Arguments, _: &EvaluationContext) -> SeriesResult {
    let mut series = arguments.series_list(0)?;
    let mut value_types = arguments.repeated_strings(1)?;
    let system = match value_types.last().map(String::as_str) {
        Some(system @ ("si" | "binary")) => {
            let system = system.to_owned();
            value_types.pop();
            Some(system)
        }
        _ => None,
    };
    for value_type in &value_types {
        let aggregation = Aggregation::from_name(value_type);
        for one in &mut series {
            let value = aggregation.map(|aggregation| aggregation.apply(&one.values));
            // graphite-web prints the aggregate with Python's str(): `count` is an integer.
            let text = |value: f64| match aggregation {
                Some(Aggregation::Count) => format!("{}", value as i64),
                _ => format_python_float(value),
            };
            one.name = match (&system, value) {
                (None, None) => format!("{} ({value_type}: (?))", one.name),
                (None, Some(None)) => format!("{} ({value_type}: None)", one.name),
                (None, Some(Some(value))) => {
                    format!("{} ({value_type}: {})", one.name, text(value))
                }
                (Some(system), value) => {
                    let formatted = match value {
                        None => "(?)".to_owned(),
                        Some(None) => "None".to_owned(),
                        Some(Some(value)) => {
                            let (scaled, prefix) = format_units(value, system);
                            format!("{scaled:.2}{prefix}")
                        }
                    };
                    format!("{:<20}{value_type:<5}{formatted:<10}", one.name)
                }
            };
        }
    }
    Ok(series)
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

    #[test]
    fn python_replacements() {
        let cases = [
            (r"\1-x", "${1}-x"),
            (r"\g<2>\g<name>", "${2}${name}"),
            ("cost $5", "cost $$5"),
            (r"a\\b", r"a\b"),
        ];
        for (python, expected) in cases {
            assert_eq!(python_replacement(python), expected, "{python}");
        }
    }

    #[tokio::test]
    async fn renaming_table() {
        let source = vec![
            series("servers.web01.cpu", &[Some(1.0), Some(4.0), None]),
            series("servers.Web02.cpu", &[Some(2500.0), Some(1500.0), None]),
        ];
        let cases: &[(&str, &[&str])] = &[
            (
                r"aliasSub(servers.*.cpu,'^servers\.(\w+)\.cpu$','\1 cpu')",
                &["web01 cpu", "Web02 cpu"],
            ),
            (
                "aliasSub(servers.*.cpu,'e','E')",
                &["sErvErs.wEb01.cpu", "sErvErs.WEb02.cpu"],
            ),
            (
                "upper(servers.*.cpu)",
                &["SERVERS.WEB01.CPU", "SERVERS.WEB02.CPU"],
            ),
            (
                "upper(servers.*.cpu,0,-1,99)",
                &["Servers.web01.cpU", "Servers.Web02.cpU"],
            ),
            (
                "lower(servers.*.cpu,8)",
                &["servers.web01.cpu", "servers.web02.cpu"],
            ),
            (
                "legendValue(servers.*.cpu,'avg','count','nope')",
                &[
                    "servers.web01.cpu (avg: 2.5) (count: 2) (nope: (?))",
                    "servers.Web02.cpu (avg: 2000.0) (count: 2) (nope: (?))",
                ],
            ),
            (
                "legendValue(servers.*.cpu,'max','si')",
                &[
                    "servers.web01.cpu   max  4.00      ",
                    "servers.Web02.cpu   max  2.50k     ",
                ],
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
