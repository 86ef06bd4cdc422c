//! The table of functions: name, group, description and parameters of each, and what
//! implements it. `evaluate` looks calls up here and `GET /functions` describes it.

use super::arguments::{optional, repeated, required, Arguments, Parameter, ParameterType as T};
use super::context::EvaluationContext;
use super::evaluate::HoltWintersKind;
use super::requery::Requery;
use super::series::Aggregation;
use super::{
    aggregates, alias, calculate, combine, filter, filter_series, generated, graph, map_reduce,
    moving, series_lists, sort, special, special_series, transform, transform_values, SeriesResult,
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
    Events,
    TimeShift,
    /// `movingWindow` (function from its arguments) or one of its short forms.
    MovingWindow(Option<&'static str>),
    ExponentialMovingAverage,
    HoltWinters(HoltWintersKind),
    LinearRegression,
    TimeStack,
    SmartSummarize,
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
const MOVING_WINDOW: &[Parameter] = &[
    SERIES_LIST,
    required("windowSize", T::IntOrInterval),
    optional("xFilesFactor", T::Float),
];
const LOGARITHM: &[Parameter] = &[SERIES_LIST, optional("base", T::Integer)];
const TIME_FUNCTION: &[Parameter] = &[required("name", T::String), optional("step", T::Integer)];
const SIN_FUNCTION: &[Parameter] = &[
    required("name", T::String),
    optional("amplitude", T::Integer),
    optional("step", T::Integer),
];
const RANDOM_WALK: &[Parameter] = TIME_FUNCTION;
const HOLT_WINTERS: &[Parameter] = &[
    SERIES_LIST,
    optional("delta", T::Integer),
    optional("bootstrapInterval", T::Interval),
    optional("seasonality", T::Interval),
];
const X_FILES_FACTOR: &[Parameter] = &[SERIES_LIST, required("xFilesFactor", T::Float)];

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
    function!("movingAverage", "Calculate", "The average of the windowSize points (or time span like '5min') up to each point.", MOVING_WINDOW, Implementation::MovingWindow(Some("average"))),
    function!("nPercentile", "Calculate", "A flat line at the n-th percentile of each series.", THRESHOLD, Pure(calculate::n_percentile)),
    // Transform (issue 16)
    function!("add", "Transform", "Adds a constant to every value (named with the constant as an integer).", &[SERIES_LIST, required("constant", T::Float)], Pure(transform_values::add)),
    function!("exp", "Transform", "e raised to each value.", ONE_SERIES_LIST, Pure(transform_values::exp)),
    function!("invert", "Transform", "1 divided by each value; null at zero.", ONE_SERIES_LIST, Pure(transform_values::invert)),
    function!("isNonNull", "Transform", "1 where the series has a value, 0 where it has none.", ONE_SERIES_LIST, Pure(transform_values::is_non_null)),
    function!("log", "Transform", "The logarithm of each value in a base (10); null for values not above zero.", LOGARITHM, Pure(transform_values::logarithm)),
    function!("logit", "Transform", "log(v / (1 - v)) of each value; null outside (0, 1).", ONE_SERIES_LIST, Pure(transform_values::logit)),
    function!("sigmoid", "Transform", "1 / (1 + e^-v) of each value.", ONE_SERIES_LIST, Pure(transform_values::sigmoid)),
    function!("minMax", "Transform", "Each value scaled to 0..1 between the series' minimum and maximum.", ONE_SERIES_LIST, Pure(transform_values::min_max)),
    function!("offsetToZero", "Transform", "Subtracts the series' minimum from every value.", ONE_SERIES_LIST, Pure(transform_values::offset_to_zero)),
    function!("pow", "Transform", "Each value raised to a power.", &[SERIES_LIST, required("factor", T::Float)], Pure(transform_values::pow)),
    function!("squareRoot", "Transform", "The square root of each value; null for negative values.", ONE_SERIES_LIST, Pure(transform_values::square_root)),
    function!("round", "Transform", "Each value rounded to a number of decimals (0), halves to even as Python does.", &[SERIES_LIST, optional("precision", T::Integer)], Pure(transform_values::round)),
    function!("scaleToSeconds", "Transform", "Each value as a rate per the given seconds instead of per step.", &[SERIES_LIST, required("seconds", T::Float)], Pure(transform_values::scale_to_seconds)),
    function!("delay", "Transform", "The values moved a number of steps later (earlier when negative).", &[SERIES_LIST, required("steps", T::Integer)], Pure(transform_values::delay)),
    function!("interpolate", "Transform", "Fills runs of at most limit nulls between two values on the line between them.", &[SERIES_LIST, optional("limit", T::IntOrInf)], Pure(transform_values::interpolate)),
    function!("integralByInterval", "Transform", "The running sum, back to 0 at every multiple of intervalUnit from the start of the range.", &[SERIES_LIST, required("intervalUnit", T::String)], Pure(transform_values::integral_by_interval)),
    function!("compressPeriodicGaps", "Transform", "Resamples a series that has a value only every n-th step to that period.", ONE_SERIES_LIST, Pure(transform_values::compress_periodic_gaps)),
    function!("timeSlice", "Transform", "Values outside [startSliceAt, endSliceAt] become null.", &[SERIES_LIST, required("startSliceAt", T::Date), optional("endSliceAt", T::Date)], Pure(transform_values::time_slice)),
    function!("timeStack", "Transform", "The series shifted by each of timeShiftStart..timeShiftEnd units, drawn over the range.", &[SERIES_LIST, optional("timeShiftUnit", T::Interval), optional("timeShiftStart", T::Integer), optional("timeShiftEnd", T::Integer)], Implementation::TimeStack),
    function!("smartSummarize", "Transform", "Like summarize with buckets from the start of the range, optionally aligned to a unit ('1d', '1h', …).", &[SERIES_LIST, required("intervalString", T::Interval), optional("func", T::AggregationFunction), optional("alignTo", T::String)], Implementation::SmartSummarize),
    function!("timeFunction", "Transform", "A series whose value is its timestamp, every step (60) seconds.", TIME_FUNCTION, Pure(generated::time_function)),
    function!("time", "Transform", "Short form of timeFunction.", TIME_FUNCTION, Pure(generated::time_function)),
    function!("sinFunction", "Transform", "sin(timestamp) × amplitude, every step (60) seconds.", SIN_FUNCTION, Pure(generated::sin_function)),
    function!("sin", "Transform", "Short form of sinFunction.", SIN_FUNCTION, Pure(generated::sin_function)),
    // Calculate (issue 16)
    function!("movingWindow", "Calculate", "An aggregation (average) of the windowSize points (or time span) up to each point.", &[SERIES_LIST, required("windowSize", T::IntOrInterval), optional("func", T::AggregationFunction), optional("xFilesFactor", T::Float)], Implementation::MovingWindow(None)),
    function!("movingSum", "Calculate", "The sum of the windowSize points (or time span) up to each point.", MOVING_WINDOW, Implementation::MovingWindow(Some("sum"))),
    function!("movingMin", "Calculate", "The minimum of the windowSize points (or time span) up to each point.", MOVING_WINDOW, Implementation::MovingWindow(Some("min"))),
    function!("movingMax", "Calculate", "The maximum of the windowSize points (or time span) up to each point.", MOVING_WINDOW, Implementation::MovingWindow(Some("max"))),
    function!("movingMedian", "Calculate", "The median of the windowSize points (or time span) up to each point.", MOVING_WINDOW, Implementation::MovingWindow(Some("median"))),
    function!("exponentialMovingAverage", "Calculate", "The exponential moving average with constant 2 / (windowSize + 1).", &[SERIES_LIST, required("windowSize", T::IntOrInterval)], Implementation::ExponentialMovingAverage),
    function!("holtWintersForecast", "Calculate", "The Holt-Winters forecast, trained on bootstrapInterval (7d) before the range with a season (1d).", &[SERIES_LIST, optional("bootstrapInterval", T::Interval), optional("seasonality", T::Interval)], Implementation::HoltWinters(HoltWintersKind::Forecast)),
    function!("holtWintersConfidenceBands", "Calculate", "The upper and lower bands: the Holt-Winters forecast ± delta deviations.", HOLT_WINTERS, Implementation::HoltWinters(HoltWintersKind::ConfidenceBands)),
    function!("holtWintersConfidenceArea", "Calculate", "The Holt-Winters confidence bands drawn as the area between them.", HOLT_WINTERS, Implementation::HoltWinters(HoltWintersKind::ConfidenceArea)),
    function!("holtWintersAberration", "Calculate", "How far each value lies outside its Holt-Winters confidence bands (0 inside).", HOLT_WINTERS, Implementation::HoltWinters(HoltWintersKind::Aberration)),
    function!("linearRegression", "Calculate", "The least-squares line through the values between startSourceAt and endSourceAt (the range), over the range.", &[SERIES_LIST, optional("startSourceAt", T::Date), optional("endSourceAt", T::Date)], Implementation::LinearRegression),
    function!("stdev", "Calculate", "The standard deviation of the points values up to each point.", &[SERIES_LIST, required("points", T::Integer), optional("windowTolerance", T::Float)], Pure(moving::stdev)),
    function!("aggregateLine", "Calculate", "A flat line at an aggregation (average) of each series.", &[SERIES_LIST, optional("func", T::AggregationFunction), optional("keepStep", T::Boolean)], Pure(generated::aggregate_line)),
    function!("identity", "Calculate", "A series whose value is its timestamp, every minute.", &[required("name", T::String)], Pure(generated::identity)),
    // Graph (issue 16): drawn by /render?format=svg|png, the JSON keeps only their names.
    function!("color", "Graph", "Draws the series in a colour (a name or #rrggbb).", &[SERIES_LIST, required("theColor", T::String)], Pure(graph::color)),
    function!("alpha", "Graph", "Draws the series with an opacity from 0 to 1.", &[SERIES_LIST, required("alpha", T::Float)], Pure(graph::alpha)),
    function!("dashed", "Graph", "Draws the series dashed (dashes of dashLength pixels, 5).", &[SERIES_LIST, optional("dashLength", T::Integer)], Pure(graph::dashed)),
    function!("lineWidth", "Graph", "Draws the series with a line width in pixels.", &[SERIES_LIST, required("width", T::Float)], Pure(graph::line_width)),
    function!("secondYAxis", "Graph", "Draws the series against a second y axis on the right.", ONE_SERIES_LIST, Pure(graph::second_y_axis)),
    function!("stacked", "Graph", "Adds each series' values to those before it and draws them as filled areas.", &[SERIES_LIST, optional("stack", T::String)], Pure(graph::stacked)),
    function!("drawAsInfinite", "Graph", "Draws every non-zero value as a vertical line across the graph.", ONE_SERIES_LIST, Pure(graph::draw_as_infinite)),
    function!("areaBetween", "Graph", "Fills the area between exactly two series.", ONE_SERIES_LIST, Pure(graph::area_between)),
    function!("threshold", "Graph", "A horizontal line at a value, with an optional label and colour.", &[required("value", T::Float), optional("label", T::String), optional("color", T::String)], Pure(graph::threshold)),
    function!("verticalLine", "Graph", "A vertical line at a time in the range, with an optional label and colour.", &[required("ts", T::Date), optional("label", T::String), optional("color", T::String)], Pure(graph::vertical_line)),
    // Special (issue 16)
    function!("events", "Special", "How many Graphite events having every tag (\"*\": any event) happened in each second of the range; with drawAsInfinite, a mark per event.", &[repeated("tags", T::String, true)], Implementation::Events),
    function!("changed", "Special", "1 where the value changed since the last value, else 0.", ONE_SERIES_LIST, Pure(special_series::changed)),
    function!("cumulative", "Special", "Short for consolidateBy(seriesList, 'sum').", ONE_SERIES_LIST, Pure(special_series::cumulative)),
    function!("fallbackSeries", "Special", "The series, or the fallback series when there are none.", &[SERIES_LIST, required("fallback", T::SeriesList)], Pure(special_series::fallback_series)),
    function!("setXFilesFactor", "Special", "Records the share of a bucket that must have values (kept as a tag).", X_FILES_FACTOR, Pure(special_series::set_x_files_factor)),
    function!("xFilesFactor", "Special", "Short form of setXFilesFactor.", X_FILES_FACTOR, Pure(special_series::set_x_files_factor)),
    function!("substr", "Special", "Names each series by nodes start..stop of its innermost path.", &[SERIES_LIST, optional("start", T::Node), optional("stop", T::Node)], Pure(special_series::substr)),
    function!("cactiStyle", "Special", "Appends the current, maximum and minimum values to each name, in columns.", &[SERIES_LIST, optional("system", T::String), optional("units", T::String)], Pure(special_series::cacti_style)),
    function!("randomWalk", "Special", "A random walk from 0 by steps in [-0.5, 0.5), every step (60) seconds; the same request draws the same walk.", RANDOM_WALK, Pure(generated::random_walk)),
    function!("randomWalkFunction", "Special", "Long form of randomWalk.", RANDOM_WALK, Pure(generated::random_walk)),
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

    /// graphite-web 1.1.10's functions of the groups Transform, Calculate, Graph and Special
    /// that issue 16 added, each of which must be in the table under graphite-web's group.
    const ISSUE_16_TRANSFORM_CALCULATE_GRAPH_SPECIAL: &[(&str, &str)] = &[
        ("add", "Transform"),
        ("compressPeriodicGaps", "Transform"),
        ("delay", "Transform"),
        ("exp", "Transform"),
        ("integralByInterval", "Transform"),
        ("interpolate", "Transform"),
        ("invert", "Transform"),
        ("isNonNull", "Transform"),
        ("log", "Transform"),
        ("logit", "Transform"),
        ("minMax", "Transform"),
        ("offsetToZero", "Transform"),
        ("pow", "Transform"),
        ("round", "Transform"),
        ("scaleToSeconds", "Transform"),
        ("sigmoid", "Transform"),
        ("smartSummarize", "Transform"),
        ("squareRoot", "Transform"),
        ("time", "Transform"),
        ("timeFunction", "Transform"),
        ("sin", "Transform"),
        ("sinFunction", "Transform"),
        ("timeSlice", "Transform"),
        ("timeStack", "Transform"),
        ("aggregateLine", "Calculate"),
        ("exponentialMovingAverage", "Calculate"),
        ("holtWintersAberration", "Calculate"),
        ("holtWintersConfidenceArea", "Calculate"),
        ("holtWintersConfidenceBands", "Calculate"),
        ("holtWintersForecast", "Calculate"),
        ("identity", "Calculate"),
        ("linearRegression", "Calculate"),
        ("movingMax", "Calculate"),
        ("movingMedian", "Calculate"),
        ("movingMin", "Calculate"),
        ("movingSum", "Calculate"),
        ("movingWindow", "Calculate"),
        ("stdev", "Calculate"),
        ("alpha", "Graph"),
        ("areaBetween", "Graph"),
        ("color", "Graph"),
        ("dashed", "Graph"),
        ("drawAsInfinite", "Graph"),
        ("lineWidth", "Graph"),
        ("secondYAxis", "Graph"),
        ("stacked", "Graph"),
        ("threshold", "Graph"),
        ("verticalLine", "Graph"),
        ("cactiStyle", "Special"),
        ("changed", "Special"),
        ("cumulative", "Special"),
        ("fallbackSeries", "Special"),
        ("randomWalk", "Special"),
        ("randomWalkFunction", "Special"),
        ("setXFilesFactor", "Special"),
        ("xFilesFactor", "Special"),
        ("substr", "Special"),
    ];

    #[test]
    fn issue_16_functions_are_described_in_their_groups() {
        let descriptions = function_descriptions();
        for (name, group) in ISSUE_16_TRANSFORM_CALCULATE_GRAPH_SPECIAL {
            assert_eq!(descriptions[*name]["group"], *group, "{name}");
        }
        assert_eq!(
            descriptions["holtWintersConfidenceBands"]["params"],
            json!([
                {"name": "seriesList", "type": "seriesList", "required": true},
                {"name": "delta", "type": "integer", "required": false},
                {"name": "bootstrapInterval", "type": "interval", "required": false},
                {"name": "seasonality", "type": "interval", "required": false},
            ])
        );
        assert_eq!(descriptions["timeSlice"]["params"][1]["type"], "date");
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
