//! The table of functions: name, group, description and parameters of each, and what
//! implements it. `evaluate` looks calls up here and `GET /functions` describes it.

use super::arguments::{optional, repeated, required, Arguments, Parameter, ParameterType as T};
use super::context::EvaluationContext;
use super::requery::Requery;
use super::series::Aggregation;
use super::{
    aggregates, alias, calculate, combine, filter, filter_series, map_reduce, series_lists, sort,
    special, transform, SeriesResult,
};
use serde_json::{json, Map, Value as Json};

/// A function of its evaluated arguments.
pub(crate) type PureFunction = fn(&mut Arguments, &EvaluationContext) -> SeriesResult;

/// How a function is evaluated.
#[derive(Clone, Copy)]
pub(crate) enum Implementation {
    /// Its series arguments are evaluated over the request's range, then it runs.
    Pure(PureFunction),
    /// These read series themselves, with ranges of their own; `evaluate` implements them.
    SeriesByTag,
    TimeShift,
    MovingAverage,
    Hitcount,
    /// These evaluate targets they build from their series' names (`requery`).
    Requery(Requery),
}

pub(crate) struct FunctionDefinition {
    pub name: &'static str,
    pub group: &'static str,
    pub description: &'static str,
    pub parameters: &'static [Parameter],
    pub implementation: Implementation,
}

const SERIES_LIST: Parameter = required("seriesList", T::SeriesList);
const SERIES_LISTS: Parameter = repeated("seriesLists", T::SeriesList, true);
const AGGREGATE_PARAMETERS: &[Parameter] = &[SERIES_LISTS];
const ONE_SERIES_LIST: &[Parameter] = &[SERIES_LIST];
const COUNT: &[Parameter] = &[SERIES_LIST, required("n", T::Integer)];
const THRESHOLD: &[Parameter] = &[SERIES_LIST, required("n", T::Float)];
const NAME_PATTERN: &[Parameter] = &[SERIES_LIST, required("pattern", T::String)];
const BOUNDS: &[Parameter] = &[
    SERIES_LIST,
    optional("maxValue", T::Float),
    optional("minValue", T::Float),
];
const WILDCARD_POSITIONS: &[Parameter] = &[SERIES_LIST, repeated("position", T::Node, false)];
const TWO_SERIES_LISTS: &[Parameter] = &[
    required("seriesListFirstPos", T::SeriesList),
    required("seriesListSecondPos", T::SeriesList),
];
const FLOAT_THRESHOLD: &[Parameter] = &[SERIES_LIST, required("n", T::Float)];
const MAP_NODES: &[Parameter] = &[SERIES_LIST, repeated("mapNodes", T::NodeOrTag, true)];
const REDUCE_PARAMETERS: &[Parameter] = &[
    required("seriesLists", T::SeriesLists),
    required("reduceFunction", T::String),
    required("reduceNode", T::Node),
    repeated("reduceMatchers", T::String, true),
];
const AS_PERCENT_PARAMETERS: &[Parameter] = &[
    SERIES_LIST,
    optional("total", T::Any),
    repeated("nodes", T::NodeOrTag, false),
];
const CASE_POSITIONS: &[Parameter] = &[SERIES_LIST, repeated("pos", T::Integer, false)];

macro_rules! function {
    ($name:literal, $group:literal, $description:literal, $parameters:expr, $implementation:expr) => {
        FunctionDefinition {
            name: $name,
            group: $group,
            description: $description,
            parameters: $parameters,
            implementation: $implementation,
        }
    };
}

use Implementation::Pure;

static FUNCTIONS: &[FunctionDefinition] = &[
    // Combine
    function!("sumSeries", "Combine", "Adds the series together point by point (nulls skipped; null where all are null).", AGGREGATE_PARAMETERS, Pure(combine::sum_series)),
    function!("sum", "Combine", "Short form of sumSeries.", AGGREGATE_PARAMETERS, Pure(combine::sum_series)),
    function!("averageSeries", "Combine", "Averages the series point by point, ignoring nulls.", AGGREGATE_PARAMETERS, Pure(combine::average_series)),
    function!("avg", "Combine", "Short form of averageSeries.", AGGREGATE_PARAMETERS, Pure(combine::average_series)),
    function!("minSeries", "Combine", "The lowest value of the series at each point.", AGGREGATE_PARAMETERS, Pure(combine::min_series)),
    function!("maxSeries", "Combine", "The highest value of the series at each point.", AGGREGATE_PARAMETERS, Pure(combine::max_series)),
    function!("diffSeries", "Combine", "Subtracts series 2 through n from series 1 at each point.", AGGREGATE_PARAMETERS, Pure(combine::diff_series)),
    function!("multiplySeries", "Combine", "Multiplies the series point by point; any null makes the point null.", AGGREGATE_PARAMETERS, Pure(combine::multiply_series)),
    function!("aggregate", "Combine", "Combines the series point by point with an aggregation function (sum, average, min, max, diff, multiply, median, stddev, count, range, last, avg_zero).", &[SERIES_LIST, required("func", T::AggregationFunction), optional("xFilesFactor", T::Float)], Pure(combine::aggregate_function)),
    function!("divideSeries", "Combine", "Divides each series by the single divisor series; division by null or zero is null.", &[required("dividendSeriesList", T::SeriesList), required("divisorSeries", T::SeriesList)], Pure(combine::divide_series)),
    function!("asPercent", "Combine", "Each series as a percentage of a total: the sum of the list, a number, one series, a list of the same length, or the total of the same node group.", AS_PERCENT_PARAMETERS, Pure(combine::as_percent)),
    function!("percentileOfSeries", "Combine", "At each point, the n-th percentile of the values of all the series.", &[SERIES_LIST, required("n", T::Float), optional("interpolate", T::Boolean)], Pure(combine::percentile_of_series)),
    function!("groupByNode", "Combine", "Aggregates the series grouped by one node (or tag) of their names; each result is named after the node.", &[SERIES_LIST, required("nodeNum", T::NodeOrTag), optional("callback", T::AggregationOrSeriesFunction)], Pure(combine::group_by_node)),
    function!("groupByNodes", "Combine", "Aggregates the series grouped by several nodes (or tags) of their names.", &[SERIES_LIST, required("callback", T::AggregationOrSeriesFunction), repeated("nodes", T::NodeOrTag, false)], Pure(combine::group_by_nodes)),
    function!("groupByTags", "Combine", "Aggregates the series grouped by the values of some tags; results are named name;tag=value.", &[SERIES_LIST, required("callback", T::AggregationOrSeriesFunction), repeated("tags", T::Tag, true)], Pure(combine::group_by_tags)),
    function!("sumSeriesWithWildcards", "Combine", "Sums the series grouped by their names without the given node positions.", WILDCARD_POSITIONS, Pure(combine::sum_series_with_wildcards)),
    function!("averageSeriesWithWildcards", "Combine", "Averages the series grouped by their names without the given node positions.", WILDCARD_POSITIONS, Pure(combine::average_series_with_wildcards)),
    // Combine (issue 16)
    function!("pct", "Combine", "Short form of asPercent.", AS_PERCENT_PARAMETERS, Pure(combine::as_percent)),
    function!("countSeries", "Combine", "The number of series, at every point (constantLine(0) without series).", &[repeated("seriesLists", T::SeriesList, false)], Pure(aggregates::count_series)),
    function!("rangeOfSeries", "Combine", "The highest less the lowest value of the series at each point.", AGGREGATE_PARAMETERS, Pure(aggregates::range_of_series)),
    function!("stddevSeries", "Combine", "The population standard deviation of the series' values at each point.", AGGREGATE_PARAMETERS, Pure(aggregates::stddev_series)),
    function!("powSeries", "Combine", "The first series to the power of the second, that to the power of the third, … at each point.", AGGREGATE_PARAMETERS, Pure(aggregates::pow_series)),
    function!("aggregateWithWildcards", "Combine", "Aggregates the series grouped by their names without the given node positions.", &[SERIES_LIST, required("func", T::AggregationFunction), repeated("position", T::Node, false)], Pure(aggregates::aggregate_with_wildcards)),
    function!("multiplySeriesWithWildcards", "Combine", "Multiplies the series grouped by their names without the given node positions.", WILDCARD_POSITIONS, Pure(aggregates::multiply_series_with_wildcards)),
    function!("aggregateSeriesLists", "Combine", "Aggregates the i-th series of the first list with the i-th of the second.", &[required("seriesListFirstPos", T::SeriesList), required("seriesListSecondPos", T::SeriesList), required("func", T::AggregationFunction), optional("xFilesFactor", T::Float)], Pure(series_lists::aggregate_series_lists)),
    function!("sumSeriesLists", "Combine", "Adds the i-th series of the first list to the i-th of the second.", TWO_SERIES_LISTS, Pure(series_lists::sum_series_lists)),
    function!("diffSeriesLists", "Combine", "Subtracts the i-th series of the second list from the i-th of the first.", TWO_SERIES_LISTS, Pure(series_lists::diff_series_lists)),
    function!("multiplySeriesLists", "Combine", "Multiplies the i-th series of the first list by the i-th of the second.", TWO_SERIES_LISTS, Pure(series_lists::multiply_series_lists)),
    function!("divideSeriesLists", "Combine", "Divides the i-th series of the first list by the i-th of the second; division by null or zero is null.", &[required("dividendSeriesList", T::SeriesList), required("divisorSeriesList", T::SeriesList)], Pure(series_lists::divide_series_lists)),
    function!("weightedAverage", "Combine", "The average of the first list weighted by the second, series paired by the given nodes.", &[required("seriesListAvg", T::SeriesList), required("seriesListWeight", T::SeriesList), repeated("nodes", T::NodeOrTag, false)], Pure(series_lists::weighted_average)),
    function!("group", "Combine", "The series lists as one list.", &[repeated("seriesLists", T::SeriesList, false)], Pure(map_reduce::group)),
    function!("mapSeries", "Combine", "The series grouped by some nodes, for reduceSeries.", MAP_NODES, Pure(map_reduce::map_series)),
    function!("map", "Combine", "Short form of mapSeries.", MAP_NODES, Pure(map_reduce::map_series)),
    function!("reduceSeries", "Combine", "Applies a function to the series of each group whose reduceNode matches the matchers, in the matchers' order; named <prefix>.reduce.<function>.", REDUCE_PARAMETERS, Pure(map_reduce::reduce_series)),
    function!("reduce", "Combine", "Short form of reduceSeries.", REDUCE_PARAMETERS, Pure(map_reduce::reduce_series)),
    function!("applyByNode", "Combine", "For each distinct prefix of the names up to nodeNum, evaluates the template with % replaced by the prefix.", &[SERIES_LIST, required("nodeNum", T::Node), required("templateFunction", T::String), optional("newName", T::String)], Implementation::Requery(Requery::ApplyByNode)),
    // Transform
    function!("scale", "Transform", "Multiplies every value by a constant.", &[SERIES_LIST, required("factor", T::Float)], Pure(transform::scale)),
    function!("offset", "Transform", "Adds a constant to every value.", &[SERIES_LIST, required("factor", T::Float)], Pure(transform::offset)),
    function!("absolute", "Transform", "The absolute value of every value.", ONE_SERIES_LIST, Pure(transform::absolute)),
    function!("integral", "Transform", "The running sum of the values; nulls stay null.", ONE_SERIES_LIST, Pure(transform::integral)),
    function!("derivative", "Transform", "The difference between each value and the previous one.", ONE_SERIES_LIST, Pure(transform::derivative)),
    function!("nonNegativeDerivative", "Transform", "Like derivative, but a decrease is null, or a counter wrap at maxValue / reset to minValue when given.", BOUNDS, Pure(transform::non_negative_derivative)),
    function!("perSecond", "Transform", "The non-negative derivative divided by the step in seconds.", BOUNDS, Pure(transform::per_second)),
    function!("keepLastValue", "Transform", "Fills runs of at most limit nulls with the value before them.", &[SERIES_LIST, optional("limit", T::IntOrInf)], Pure(transform::keep_last_value)),
    function!("transformNull", "Transform", "Replaces nulls with a default (0); with referenceSeries, only where one of them has a value.", &[SERIES_LIST, optional("default", T::Float), optional("referenceSeries", T::SeriesList)], Pure(transform::transform_null)),
    function!("summarize", "Transform", "One point per interval, merging the points in it with func (sum by default); buckets aligned to the interval unless alignToFrom.", &[SERIES_LIST, required("intervalString", T::Interval), optional("func", T::AggregationFunction), optional("alignToFrom", T::Boolean)], Pure(transform::summarize)),
    function!("hitcount", "Transform", "Reads values as hits per second and counts the hits in each interval.", &[SERIES_LIST, required("intervalString", T::Interval), optional("alignToInterval", T::Boolean)], Implementation::Hitcount),
    function!("timeShift", "Transform", "The series as it was a time span ago ('1d' means '-1d'; '+1h' shifts forward), drawn over the requested range.", &[SERIES_LIST, required("timeShift", T::Interval), optional("resetEnd", T::Boolean), optional("alignDst", T::Boolean)], Implementation::TimeShift),
    // Calculate
    function!("movingAverage", "Calculate", "The average of the windowSize points (or time span like '5min') before each point.", &[SERIES_LIST, required("windowSize", T::IntOrInterval), optional("xFilesFactor", T::Float)], Implementation::MovingAverage),
    function!("nPercentile", "Calculate", "A flat line at the n-th percentile of each series.", THRESHOLD, Pure(calculate::n_percentile)),
    // Filter series
    function!("highestCurrent", "Filter Series", "The n series with the highest last value.", COUNT, Pure(filter::highest_current)),
    function!("highestAverage", "Filter Series", "The n series with the highest average.", COUNT, Pure(filter::highest_average)),
    function!("highestMax", "Filter Series", "The n series with the highest maximum.", COUNT, Pure(filter::highest_max)),
    function!("lowestCurrent", "Filter Series", "The n series with the lowest last value.", COUNT, Pure(filter::lowest_current)),
    function!("highest", "Filter Series", "The n series with the highest value of an aggregation function (average by default).", &[SERIES_LIST, optional("n", T::Integer), optional("func", T::AggregationFunction)], Pure(filter::highest)),
    function!("lowest", "Filter Series", "The n series with the lowest value of an aggregation function (average by default).", &[SERIES_LIST, optional("n", T::Integer), optional("func", T::AggregationFunction)], Pure(filter::lowest)),
    function!("limit", "Filter Series", "The first n series.", COUNT, Pure(filter::limit)),
    function!("exclude", "Filter Series", "Drops the series whose name matches a regular expression.", NAME_PATTERN, Pure(filter::exclude)),
    function!("grep", "Filter Series", "Keeps the series whose name matches a regular expression.", NAME_PATTERN, Pure(filter::grep)),
    // Filter Series (issue 16)
    function!("lowestAverage", "Filter Series", "The n series with the lowest average.", COUNT, Pure(filter::lowest_average)),
    function!("filterSeries", "Filter Series", "Keeps the series whose aggregate (func) compares to the threshold with the operator (=, !=, >, >=, <, <=).", &[SERIES_LIST, required("func", T::AggregationFunction), required("operator", T::String), required("threshold", T::Float)], Pure(filter_series::filter_series)),
    function!("averageAbove", "Filter Series", "The series whose average is above n.", FLOAT_THRESHOLD, Pure(filter_series::average_above)),
    function!("averageBelow", "Filter Series", "The series whose average is at most n.", FLOAT_THRESHOLD, Pure(filter_series::average_below)),
    function!("currentAbove", "Filter Series", "The series whose last value is above n.", FLOAT_THRESHOLD, Pure(filter_series::current_above)),
    function!("currentBelow", "Filter Series", "The series whose last value is at most n.", FLOAT_THRESHOLD, Pure(filter_series::current_below)),
    function!("maximumAbove", "Filter Series", "The series whose maximum is above n.", FLOAT_THRESHOLD, Pure(filter_series::maximum_above)),
    function!("maximumBelow", "Filter Series", "The series whose maximum is at most n.", FLOAT_THRESHOLD, Pure(filter_series::maximum_below)),
    function!("minimumAbove", "Filter Series", "The series whose minimum is above n.", FLOAT_THRESHOLD, Pure(filter_series::minimum_above)),
    function!("minimumBelow", "Filter Series", "The series whose minimum is at most n.", FLOAT_THRESHOLD, Pure(filter_series::minimum_below)),
    function!("mostDeviant", "Filter Series", "The n series with the largest standard deviation.", COUNT, Pure(filter_series::most_deviant)),
    function!("averageOutsidePercentile", "Filter Series", "The series whose average is outside the band between the (100-n)th and the nth percentile of the averages.", FLOAT_THRESHOLD, Pure(filter_series::average_outside_percentile)),
    function!("removeBetweenPercentile", "Filter Series", "The series with a point outside the band between the (100-n)th and the nth percentile of all the series there.", FLOAT_THRESHOLD, Pure(filter_series::remove_between_percentile)),
    function!("removeEmptySeries", "Filter Series", "Drops the series without values (or with a share of values below xFilesFactor).", &[SERIES_LIST, optional("xFilesFactor", T::Float)], Pure(filter_series::remove_empty_series)),
    function!("unique", "Filter Series", "The first series of each name.", AGGREGATE_PARAMETERS, Pure(filter_series::unique)),
    function!("useSeriesAbove", "Filter Series", "For each series whose maximum is above value, the series named like it with search replaced by replace.", &[SERIES_LIST, required("value", T::Float), required("search", T::String), required("replace", T::String)], Implementation::Requery(Requery::UseSeriesAbove)),
    // Filter data
    function!("removeBelowValue", "Filter Data", "Values below n become null.", THRESHOLD, Pure(filter::remove_below_value)),
    function!("removeAboveValue", "Filter Data", "Values above n become null.", THRESHOLD, Pure(filter::remove_above_value)),
    function!("removeAbovePercentile", "Filter Data", "Values above the series' n-th percentile become null.", THRESHOLD, Pure(filter::remove_above_percentile)),
    function!("removeBelowPercentile", "Filter Data", "Values below the series' n-th percentile become null.", THRESHOLD, Pure(filter::remove_below_percentile)),
    // Sorting
    function!("sortByMaxima", "Sorting", "Sorts the series by their maximum, highest first.", ONE_SERIES_LIST, Pure(filter::sort_by_maxima)),
    function!("sortBy", "Sorting", "Sorts the series by an aggregation function (average by default), lowest first unless reverse.", &[SERIES_LIST, optional("func", T::AggregationFunction), optional("reverse", T::Boolean)], Pure(sort::sort_by)),
    function!("sortByTotal", "Sorting", "Sorts the series by their sum, highest first.", ONE_SERIES_LIST, Pure(sort::sort_by_total)),
    function!("sortByMinima", "Sorting", "Sorts the series with a value above 0 by their minimum, lowest first; drops the others.", ONE_SERIES_LIST, Pure(sort::sort_by_minima)),
    function!("sortByName", "Sorting", "Sorts the series by name, alphabetically or naturally (server2 before server11).", &[SERIES_LIST, optional("natural", T::Boolean), optional("reverse", T::Boolean)], Pure(filter::sort_by_name)),
    // Alias
    function!("alias", "Alias", "Names every series newName.", &[SERIES_LIST, required("newName", T::String)], Pure(alias::alias)),
    function!("aliasByNode", "Alias", "Names each series by some nodes (0-based, negative from the end) or tags of its name.", &[SERIES_LIST, repeated("nodes", T::NodeOrTag, true)], Pure(alias::alias_by_node)),
    function!("aliasByMetric", "Alias", "Names each series by the last node of its metric path.", ONE_SERIES_LIST, Pure(alias::alias_by_metric)),
    function!("aliasSub", "Alias", "Names each series by its name with the regular expression search replaced by replace (\\1 for a group).", &[SERIES_LIST, required("search", T::String), required("replace", T::String)], Pure(alias::alias_sub)),
    function!("aliasQuery", "Alias", "Names each series newName % (the last value of the series found by its name with search replaced by replace).", &[SERIES_LIST, required("search", T::String), required("replace", T::String), required("newName", T::String)], Implementation::Requery(Requery::AliasQuery)),
    function!("legendValue", "Alias", "Appends aggregates of each series to its name (avg, max, …; si or binary last for units).", &[SERIES_LIST, repeated("valuesTypes", T::String, false)], Pure(alias::legend_value)),
    function!("upper", "Alias", "The name in upper case, or the characters at the given positions.", CASE_POSITIONS, Pure(alias::upper)),
    function!("lower", "Alias", "The name in lower case, or the characters at the given positions.", CASE_POSITIONS, Pure(alias::lower)),
    function!("aliasByTags", "Alias", "Names each series by some tags (or nodes) of its name.", &[SERIES_LIST, repeated("tags", T::NodeOrTag, true)], Pure(alias::alias_by_tags)),
    // Special
    function!("consolidateBy", "Special", "How points merge when the series is consolidated: sum, average, min, max, first or last.", &[SERIES_LIST, required("consolidationFunc", T::String)], Pure(transform::consolidate_by)),
    function!("constantLine", "Special", "A horizontal line at a value across the range.", &[required("value", T::Float)], Pure(special::constant_line)),
    function!("seriesByTag", "Special", "The series matching every tag expression: tag=value, tag!=value, tag=~regex, tag!=~regex.", &[repeated("tagExpressions", T::String, true)], Implementation::SeriesByTag),
];

pub(crate) fn find(name: &str) -> Option<&'static FunctionDefinition> {
    FUNCTIONS.iter().find(|definition| definition.name == name)
}

/// The body of `GET /functions`, shaped like graphite-web's:
/// `{name: {name, group, description, params: [{name, type, required, multiple?}]}}`.
pub fn function_descriptions() -> Json {
    let mut functions = Map::new();
    for definition in FUNCTIONS {
        let parameters: Vec<Json> = definition
            .parameters
            .iter()
            .map(|parameter| {
                let mut description = json!({
                    "name": parameter.name,
                    "type": parameter.kind.graphite_name(),
                    "required": parameter.required,
                });
                if parameter.multiple {
                    description["multiple"] = json!(true);
                }
                if matches!(
                    parameter.kind,
                    T::AggregationFunction | T::AggregationOrSeriesFunction
                ) {
                    description["options"] = json!(Aggregation::NAMES);
                }
                description
            })
            .collect();
        functions.insert(
            definition.name.to_owned(),
            json!({
                "name": definition.name,
                "group": definition.group,
                "description": definition.description,
                "params": parameters,
            }),
        );
    }
    Json::Object(functions)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The functions issue 5 requires, each of which must be in the table.
    const REQUIRED: &[&str] = &[
        "sumSeries",
        "averageSeries",
        "minSeries",
        "maxSeries",
        "diffSeries",
        "divideSeries",
        "multiplySeries",
        "asPercent",
        "scale",
        "offset",
        "absolute",
        "timeShift",
        "integral",
        "derivative",
        "nonNegativeDerivative",
        "perSecond",
        "movingAverage",
        "summarize",
        "hitcount",
        "alias",
        "aliasByNode",
        "aliasByMetric",
        "aliasByTags",
        "highestCurrent",
        "highestAverage",
        "highestMax",
        "lowestCurrent",
        "limit",
        "sortByMaxima",
        "sortByName",
        "keepLastValue",
        "transformNull",
        "groupByNode",
        "groupByTags",
        "nPercentile",
        "percentileOfSeries",
        "consolidateBy",
        "removeBelowValue",
        "removeAboveValue",
        "exclude",
        "grep",
        "seriesByTag",
        "constantLine",
        "sumSeriesWithWildcards",
        "averageSeriesWithWildcards",
    ];

    #[test]
    fn every_required_function_is_described() {
        let descriptions = function_descriptions();
        for name in REQUIRED {
            let description = &descriptions[*name];
            assert_eq!(description["name"], *name, "{name}");
            assert!(description["group"].is_string(), "{name}");
            assert!(description["params"].is_array(), "{name}");
        }
        assert_eq!(
            descriptions["scale"]["params"],
            json!([
                {"name": "seriesList", "type": "seriesList", "required": true},
                {"name": "factor", "type": "float", "required": true},
            ])
        );
        assert_eq!(
            descriptions["sumSeries"]["params"][0]["multiple"],
            json!(true)
        );
    }

    /// Every function of graphite-web 1.1.10's groups Combine, Filter Series, Filter Data,
    /// Sorting and Alias (`.group` in graphite/render/functions.py), each of which must be
    /// here in its group, with graphite's parameter names in graphite's order.
    const GRAPHITE_GROUPS: &[(&str, &str, &[&str])] = &[
        (
            "Alias",
            "aliasQuery",
            &["seriesList", "search", "replace", "newName"],
        ),
        ("Alias", "aliasSub", &["seriesList", "search", "replace"]),
        ("Alias", "legendValue", &["seriesList", "valuesTypes"]),
        ("Alias", "upper", &["seriesList", "pos"]),
        ("Alias", "lower", &["seriesList", "pos"]),
        (
            "Combine",
            "aggregateSeriesLists",
            &[
                "seriesListFirstPos",
                "seriesListSecondPos",
                "func",
                "xFilesFactor",
            ],
        ),
        (
            "Combine",
            "aggregateWithWildcards",
            &["seriesList", "func", "position"],
        ),
        (
            "Combine",
            "applyByNode",
            &["seriesList", "nodeNum", "templateFunction", "newName"],
        ),
        ("Combine", "countSeries", &["seriesLists"]),
        (
            "Combine",
            "diffSeriesLists",
            &["seriesListFirstPos", "seriesListSecondPos"],
        ),
        (
            "Combine",
            "divideSeriesLists",
            &["dividendSeriesList", "divisorSeriesList"],
        ),
        ("Combine", "group", &["seriesLists"]),
        ("Combine", "map", &["seriesList", "mapNodes"]),
        ("Combine", "mapSeries", &["seriesList", "mapNodes"]),
        (
            "Combine",
            "multiplySeriesLists",
            &["seriesListFirstPos", "seriesListSecondPos"],
        ),
        (
            "Combine",
            "multiplySeriesWithWildcards",
            &["seriesList", "position"],
        ),
        ("Combine", "pct", &["seriesList", "total", "nodes"]),
        ("Combine", "rangeOfSeries", &["seriesLists"]),
        (
            "Combine",
            "reduce",
            &[
                "seriesLists",
                "reduceFunction",
                "reduceNode",
                "reduceMatchers",
            ],
        ),
        (
            "Combine",
            "reduceSeries",
            &[
                "seriesLists",
                "reduceFunction",
                "reduceNode",
                "reduceMatchers",
            ],
        ),
        ("Combine", "stddevSeries", &["seriesLists"]),
        (
            "Combine",
            "sumSeriesLists",
            &["seriesListFirstPos", "seriesListSecondPos"],
        ),
        (
            "Combine",
            "weightedAverage",
            &["seriesListAvg", "seriesListWeight", "nodes"],
        ),
        ("Combine", "powSeries", &["seriesLists"]),
        ("Filter Series", "averageAbove", &["seriesList", "n"]),
        ("Filter Series", "averageBelow", &["seriesList", "n"]),
        (
            "Filter Series",
            "averageOutsidePercentile",
            &["seriesList", "n"],
        ),
        ("Filter Series", "currentAbove", &["seriesList", "n"]),
        ("Filter Series", "currentBelow", &["seriesList", "n"]),
        (
            "Filter Series",
            "filterSeries",
            &["seriesList", "func", "operator", "threshold"],
        ),
        ("Filter Series", "lowestAverage", &["seriesList", "n"]),
        ("Filter Series", "maximumAbove", &["seriesList", "n"]),
        ("Filter Series", "maximumBelow", &["seriesList", "n"]),
        ("Filter Series", "minimumAbove", &["seriesList", "n"]),
        ("Filter Series", "minimumBelow", &["seriesList", "n"]),
        ("Filter Series", "mostDeviant", &["seriesList", "n"]),
        (
            "Filter Series",
            "removeBetweenPercentile",
            &["seriesList", "n"],
        ),
        (
            "Filter Series",
            "removeEmptySeries",
            &["seriesList", "xFilesFactor"],
        ),
        ("Filter Series", "unique", &["seriesLists"]),
        (
            "Filter Series",
            "useSeriesAbove",
            &["seriesList", "value", "search", "replace"],
        ),
        ("Filter Data", "removeAbovePercentile", &["seriesList", "n"]),
        ("Filter Data", "removeBelowPercentile", &["seriesList", "n"]),
        ("Sorting", "sortBy", &["seriesList", "func", "reverse"]),
        ("Sorting", "sortByMinima", &["seriesList"]),
        ("Sorting", "sortByTotal", &["seriesList"]),
    ];

    #[test]
    fn graphite_groups_are_complete() {
        let descriptions = function_descriptions();
        for (group, name, parameters) in GRAPHITE_GROUPS {
            let description = &descriptions[*name];
            assert_eq!(description["group"], *group, "{name}");
            let names: Vec<&str> = description["params"]
                .as_array()
                .unwrap_or_else(|| panic!("{name} is not described"))
                .iter()
                .filter_map(|parameter| parameter["name"].as_str())
                .collect();
            assert_eq!(names, *parameters, "{name}");
        }
        assert_eq!(
            descriptions["reduceSeries"]["params"][0]["type"],
            json!("seriesLists")
        );
    }

    #[test]
    fn names_are_unique_and_multiple_parameters_come_last() {
        for (index, definition) in FUNCTIONS.iter().enumerate() {
            assert!(
                FUNCTIONS[index + 1..]
                    .iter()
                    .all(|other| other.name != definition.name),
                "{} twice",
                definition.name
            );
            let parameters = definition.parameters;
            for parameter in parameters.iter().take(parameters.len().saturating_sub(1)) {
                assert!(!parameter.multiple, "{}", definition.name);
            }
        }
    }
}
