//! The series the function library works on, and the arithmetic shared by its functions:
//! consolidation (`maxDataPoints`, `consolidateBy`), normalization of several series onto one
//! time grid, and graphite-web's null-tolerant aggregation functions (`safeSum`, `safeAvg`, …).
//!
//! Everything here is a pure function of its input and never panics on odd input (empty series,
//! zero or negative steps): series come from a database and from users' expressions.

use std::collections::BTreeMap;

/// One series as the function library sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeries {
    /// The display name (Graphite's `target`); alias functions change it.
    pub name: String,
    /// The path or expression that produced it (Graphite's `pathExpression`).
    pub path_expression: String,
    /// Graphite tags; always includes "name".
    pub tags: BTreeMap<String, String>,
    /// Unix seconds of values[0]; values[i] is at start + i*step.
    pub start: i64,
    pub step: i64,
    pub values: Vec<Option<f64>>,
    /// How points merge when the series is consolidated (maxDataPoints, consolidateBy).
    pub consolidation: Consolidation,
    /// The share of a consolidated bucket that must have values for it to have one
    /// (graphite-web's `xFilesFactor`, set by `setXFilesFactor`); 0 keeps every bucket with a
    /// value.
    pub x_files_factor: f64,
    /// Where the series ends when that is not just after its last point, which decides its
    /// `maxDataPoints` buckets: graphite-web ends a series generated over the range
    /// (`timeFunction`, `sinFunction`, `identity`, `randomWalk`) at `until`, and
    /// `exponentialMovingAverage`'s at its input's end, on its last point.
    pub ends_at: Option<i64>,
    /// How `/render?format=svg|png` draws it (graphite-web's `series.color` and
    /// `series.options`); the Graph functions set it, JSON ignores it.
    pub drawing: Drawing,
}

/// The per-series drawing options of graphite-web's Graph functions (`color`, `alpha`,
/// `dashed`, `lineWidth`, `secondYAxis`, `stacked`, `drawAsInfinite`, `areaBetween`).
/// `None`/`false` means the picture's defaults.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Drawing {
    /// A graphite colour name or `#rrggbb`, checked when drawn.
    pub color: Option<String>,
    /// Opacity from 0 to 1.
    pub alpha: Option<f64>,
    /// Dash length in pixels: the line is drawn dashed.
    pub dash_length: Option<f64>,
    /// Line width in pixels, overriding the request's `lineWidth`.
    pub line_width: Option<f64>,
    /// Drawn against a second y axis on the right.
    pub second_y_axis: bool,
    /// Filled down to the series below it (its values are already stacked).
    pub stacked: bool,
    /// Not drawn (the lower bound of `areaBetween`).
    pub invisible: bool,
    /// Every non-zero value drawn as a vertical line across the whole graph.
    pub draw_as_infinite: bool,
}

/// How several points become one when a series is consolidated (graphite-web's
/// `consolidationFunc`). Nulls are skipped; a bucket of nulls only is null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consolidation {
    #[default]
    Average,
    Sum,
    Min,
    Max,
    First,
    Last,
}

impl Consolidation {
    /// The names `consolidateBy` accepts, as in graphite-web (`avg` is `average`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "average" | "avg" => Some(Self::Average),
            "sum" => Some(Self::Sum),
            "min" => Some(Self::Min),
            "max" => Some(Self::Max),
            "first" => Some(Self::First),
            "last" => Some(Self::Last),
            _ => None,
        }
    }

    /// Merges one bucket of points.
    pub fn merge(self, bucket: &[Option<f64>]) -> Option<f64> {
        let mut present = bucket.iter().flatten().copied();
        match self {
            Self::Average => {
                let (sum, count) = present.fold((0.0, 0usize), |(sum, count), value| {
                    (sum + value, count + 1)
                });
                (count > 0).then(|| sum / count as f64)
            }
            Self::Sum => present.reduce(|sum, value| sum + value),
            Self::Min => present.reduce(f64::min),
            Self::Max => present.reduce(f64::max),
            Self::First => present.next(),
            Self::Last => present.last(),
        }
    }
}

impl TimeSeries {
    /// A series whose path expression is its name and whose tags are read from the name
    /// (`a.b;dc=x` → `{name: a.b, dc: x}`), as graphite-web's `TimeSeries` constructor does.
    pub fn new(name: impl Into<String>, start: i64, step: i64, values: Vec<Option<f64>>) -> Self {
        let name = name.into();
        Self {
            path_expression: name.clone(),
            tags: tags_from_name(&name),
            name,
            start,
            step,
            values,
            consolidation: Consolidation::default(),
            x_files_factor: 0.0,
            ends_at: None,
            drawing: Drawing::default(),
        }
    }

    /// Unix seconds just after the last point.
    pub fn end(&self) -> i64 {
        self.start
            .saturating_add((self.values.len() as i64).saturating_mul(self.step))
    }

    /// Where graphite-web ends the series: [`ends_at`](Self::ends_at), else [`end`](Self::end).
    pub fn graphite_end(&self) -> i64 {
        self.ends_at.unwrap_or_else(|| self.end())
    }

    /// Renames the series the way most graphite-web transforms do: the name and the path
    /// expression both become `name`, so an enclosing aggregate shows the whole chain.
    pub(crate) fn renamed(mut self, name: String) -> Self {
        self.path_expression = name.clone();
        self.name = name;
        self
    }

    /// Adds one of the tags graphite-web records for the function applied (e.g. `scale=2`).
    pub(crate) fn tagged(mut self, key: &str, value: impl Into<String>) -> Self {
        self.tags.insert(key.to_owned(), value.into());
        self
    }
}

/// Graphite's tags of a series name: the part before the first `;` is `name`, each further
/// `key=value` a tag. Names of function results (with parentheses) are not split.
pub(crate) fn tags_from_name(name: &str) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    if name.contains('(') {
        tags.insert("name".to_owned(), name.to_owned());
        return tags;
    }
    let mut parts = name.split(';');
    let metric = parts.next().unwrap_or_default();
    for part in parts {
        if let Some((key, value)) = part.split_once('=') {
            tags.insert(key.to_owned(), value.to_owned());
        }
    }
    tags.insert("name".to_owned(), metric.to_owned());
    tags
}

/// Graphite's `maxDataPoints` consolidation, as graphite-web's JSON renderer does it: when
/// `time_range` (the latest end less the earliest start of all the answer's series) holds
/// more than `max_data_points` of the series' steps, every `ceil(points / max)` points become
/// one, merged by the series' consolidation function. The buckets are aligned to multiples of
/// the widened step, so they stay put from one refresh to the next: the start is nudged on to
/// the next multiple, and the point labelled `t` merges the points from `t - step` on (the
/// first point of each bucket is the one before its label, as in graphite-web). With
/// `max_data_points` 1 the whole series is one point.
pub fn consolidate(series: &TimeSeries, max_data_points: usize, time_range: i64) -> TimeSeries {
    let step = series.step.max(1);
    let length = series.values.len();
    if max_data_points == 0 || length == 0 {
        return series.clone();
    }
    if max_data_points == 1 {
        return TimeSeries {
            step: step.saturating_mul(length as i64),
            values: vec![merge_bucket(series, &series.values, length)],
            ..series.clone()
        };
    }
    let number_of_points = time_range as f64 / step as f64;
    if max_data_points as f64 >= number_of_points {
        return series.clone();
    }
    let values_per_point = (number_of_points / max_data_points as f64).ceil().max(1.0) as i64;
    let seconds_per_point = values_per_point.saturating_mul(step);
    let nudge = seconds_per_point + series.start.rem_euclid(step)
        - series.start.rem_euclid(seconds_per_point);
    let start = series.start + nudge;
    // graphite-web deletes one point fewer than the nudge covers.
    let skipped = usize::try_from(nudge / step - 1).unwrap_or(0).min(length);
    let end = series.graphite_end();
    // As many points as graphite-web has timestamps for: `range(start, end + 1, seconds)`.
    let timestamps = if end >= start {
        usize::try_from((end - start) / seconds_per_point + 1).unwrap_or(0)
    } else {
        0
    };
    let values = series.values[skipped..]
        .chunks(values_per_point as usize)
        .map(|bucket| merge_bucket(series, bucket, values_per_point as usize))
        .take(timestamps)
        .collect();
    TimeSeries {
        start,
        step: seconds_per_point,
        values,
        ..series.clone()
    }
}

/// One bucket of `bucket_size` points merged, or null when fewer than the series'
/// `x_files_factor` of them have values (graphite-web's `__consolidatingGenerator`, which
/// measures a short last bucket against the full size too).
fn merge_bucket(series: &TimeSeries, bucket: &[Option<f64>], bucket_size: usize) -> Option<f64> {
    let present = bucket.iter().filter(|value| value.is_some()).count();
    if present == 0 || (present as f64 / bucket_size.max(1) as f64) < series.x_files_factor {
        return None;
    }
    series.consolidation.merge(bucket)
}

/// Several series laid on one grid: `rows()` yields, for each slot, the value of every
/// series at that slot (graphite-web's `normalize` followed by `izip_longest`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NormalizedSeries {
    pub start: i64,
    pub step: i64,
    /// One column per input series, all of the same length.
    pub columns: Vec<Vec<Option<f64>>>,
}

impl NormalizedSeries {
    pub(crate) fn len(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    /// The values of every series at slot `index`.
    pub(crate) fn row(&self, index: usize) -> Vec<Option<f64>> {
        self.columns
            .iter()
            .map(|column| column.get(index).copied().flatten())
            .collect()
    }
}

/// Graphite-web's `normalize`: the common step is the least common multiple of the steps; a
/// series with a finer step is consolidated to it by its own consolidation function.
///
/// Unlike graphite-web, which zips consolidated series by index, points are placed by
/// timestamp: with different steps the grid starts at the earliest start rounded down to the
/// common step and each point lands in the bucket holding its timestamp, so a 10 s series and a
/// 60 s series line up in time. With equal steps and starts (the usual case) both agree.
/// Returns `None` for an empty list.
pub(crate) fn normalize(series: &[&TimeSeries]) -> Option<NormalizedSeries> {
    let first = series.first()?;
    let step = series
        .iter()
        .map(|one| one.step.max(1))
        .try_fold(first.step.max(1), least_common_multiple)?;
    let steps_differ = series.iter().any(|one| one.step.max(1) != step);
    let earliest_start = series.iter().map(|one| one.start).min()?;
    let start = if steps_differ {
        earliest_start.div_euclid(step).saturating_mul(step)
    } else {
        earliest_start
    };
    let end = series.iter().map(|one| one.end()).max()?;
    let length =
        usize::try_from((end.saturating_sub(start).saturating_add(step - 1)).div_euclid(step))
            .ok()?;
    let columns = series
        .iter()
        .map(|one| {
            let mut buckets: Vec<Vec<Option<f64>>> = vec![Vec::new(); length];
            let own_step = one.step.max(1);
            for (index, value) in one.values.iter().enumerate() {
                let timestamp = one
                    .start
                    .saturating_add((index as i64).saturating_mul(own_step));
                let slot = timestamp.saturating_sub(start).div_euclid(step);
                if let Some(bucket) = usize::try_from(slot)
                    .ok()
                    .and_then(|slot| buckets.get_mut(slot))
                {
                    bucket.push(*value);
                }
            }
            buckets
                .iter()
                .map(|bucket| match bucket.as_slice() {
                    [] => None,
                    [single] => *single,
                    several => one.consolidation.merge(several),
                })
                .collect()
        })
        .collect();
    Some(NormalizedSeries {
        start,
        step,
        columns,
    })
}

fn greatest_common_divisor(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs()
}

/// `None` on overflow, which only absurd steps can cause.
fn least_common_multiple(a: i64, b: i64) -> Option<i64> {
    if a == b {
        return Some(a);
    }
    (a / greatest_common_divisor(a, b)).checked_mul(b)
}

/// graphite-web's aggregation functions (`aggFuncs` in `graphite/functions/aggfuncs.py`), each
/// applied to a row or window of points that may hold nulls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aggregation {
    Average,
    AverageZero,
    Median,
    Sum,
    Min,
    Max,
    Diff,
    StandardDeviation,
    Count,
    Range,
    Multiply,
    Last,
}

impl Aggregation {
    /// Every name graphite-web accepts, aliases included.
    pub(crate) const NAMES: &'static [&'static str] = &[
        "average", "avg_zero", "median", "sum", "min", "max", "diff", "stddev", "count", "range",
        "multiply", "last", "rangeOf", "avg", "total", "current",
    ];

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "average" | "avg" => Self::Average,
            "avg_zero" => Self::AverageZero,
            "median" => Self::Median,
            "sum" | "total" => Self::Sum,
            "min" => Self::Min,
            "max" => Self::Max,
            "diff" => Self::Diff,
            "stddev" => Self::StandardDeviation,
            "count" => Self::Count,
            "range" | "rangeOf" => Self::Range,
            "multiply" => Self::Multiply,
            "last" | "current" => Self::Last,
            _ => return None,
        })
    }

    /// The function applied as graphite-web's `safe*` helpers do: nulls are skipped and a
    /// row without values gives null, except `count` (0), `avg_zero` (nulls count as 0) and
    /// `multiply` (any null makes the product null).
    pub(crate) fn apply(self, values: &[Option<f64>]) -> Option<f64> {
        let present: Vec<f64> = values.iter().flatten().copied().collect();
        let count = present.len() as f64;
        match self {
            Self::Average => (!present.is_empty()).then(|| present.iter().sum::<f64>() / count),
            Self::AverageZero => {
                (!values.is_empty()).then(|| present.iter().sum::<f64>() / values.len() as f64)
            }
            Self::Median => {
                let mut sorted = present;
                sorted.sort_by(f64::total_cmp);
                let middle = sorted.len() / 2;
                match sorted.len() {
                    0 => None,
                    length if length % 2 == 0 => Some((sorted[middle - 1] + sorted[middle]) / 2.0),
                    _ => Some(sorted[middle]),
                }
            }
            Self::Sum => (!present.is_empty()).then(|| present.iter().sum()),
            Self::Min => present.into_iter().reduce(f64::min),
            Self::Max => present.into_iter().reduce(f64::max),
            // graphite-web's safeDiff drops nulls first, so the first non-null value is the
            // minuend even when the first series is null at that point.
            Self::Diff => {
                let (first, rest) = present.split_first()?;
                Some(first - rest.iter().sum::<f64>())
            }
            Self::StandardDeviation => {
                if present.is_empty() {
                    return None;
                }
                let mean = present.iter().sum::<f64>() / count;
                let squares: f64 = present.iter().map(|value| (value - mean).powi(2)).sum();
                Some((squares / count).sqrt())
            }
            Self::Count => Some(count),
            Self::Range => {
                let max = present.iter().copied().reduce(f64::max)?;
                let min = present.iter().copied().reduce(f64::min)?;
                Some(max - min)
            }
            Self::Multiply => {
                if values.is_empty() || values.iter().any(Option::is_none) {
                    return None;
                }
                Some(present.iter().product())
            }
            Self::Last => present.last().copied(),
        }
    }
}

/// graphite-web's `_getPercentile` (the NIST method): without interpolation the result is one
/// of the values; nulls are ignored and no values give null.
pub(crate) fn percentile(values: &[Option<f64>], percent: f64, interpolate: bool) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().flatten().copied().collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let fractional_rank = (percent / 100.0) * (sorted.len() as f64 + 1.0);
    let mut rank = fractional_rank.trunc().max(0.0) as usize;
    let rank_fraction = fractional_rank - fractional_rank.trunc();
    if !interpolate {
        rank += rank_fraction.ceil() as usize;
    }
    let last = sorted.len() - 1;
    let mut result = if rank == 0 {
        sorted[0]
    } else {
        sorted[(rank - 1).min(last)]
    };
    if interpolate && rank != sorted.len() {
        if let Some(next) = sorted.get(rank) {
            result += rank_fraction * (next - result);
        }
    }
    Some(result)
}

/// Python's `'%g' % value`, which graphite-web uses to print numbers in series names
/// (`scale(a.b,2)`, `scale(a.b,0.5)`, `scale(a.b,1e+07)`).
pub(crate) fn format_g(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // Six significant digits, then decide between fixed and scientific notation on the
    // exponent after rounding, as C's printf does.
    let scientific = format!("{value:.5e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..6).contains(&exponent) {
        let mantissa = strip_fraction_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let decimals = usize::try_from(5 - exponent).unwrap_or(0);
    strip_fraction_zeros(&format!("{value:.decimals$}")).to_owned()
}

fn strip_fraction_zeros(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

/// Python's `str()` of a float (`100.0`, `0.5`, `1e+20`), used where graphite-web prints a
/// float argument with `%s`.
pub(crate) fn format_python_float(value: f64) -> String {
    if !value.is_finite() {
        return format_g(value);
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        let scientific = format!("{value:e}");
        return match scientific.split_once('e') {
            Some((mantissa, exponent)) if exponent.starts_with('-') => {
                format!("{mantissa}e-{:0>2}", &exponent[1..])
            }
            Some((mantissa, exponent)) => format!("{mantissa}e+{exponent:0>2}"),
            None => scientific,
        };
    }
    if value.fract() == 0.0 {
        format!("{value:.1}")
    } else {
        format!("{value}")
    }
}

/// Python's `round(value, 6)`, which perSecond applies.
pub(crate) fn round_to_six_decimals(value: f64) -> f64 {
    let rounded = (value * 1e6).round() / 1e6;
    if rounded.is_finite() {
        rounded
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(start: i64, step: i64, values: &[Option<f64>]) -> TimeSeries {
        TimeSeries::new("a.b", start, step, values.to_vec())
    }

    #[test]
    fn a_series_ending_at_until_has_no_bucket_after_it() {
        // Ten points from 0 every 10 s, generated over [0, 75): graphite-web ends it at 75,
        // so of the buckets at 30, 60 and 90 only two are before its end.
        let values: Vec<Option<f64>> = (0..10).map(|index| Some(f64::from(index))).collect();
        let generated = TimeSeries {
            ends_at: Some(75),
            ..series(0, 10, &values)
        };
        let consolidated = consolidate(&generated, 3, 75);
        assert_eq!((consolidated.start, consolidated.step), (30, 30));
        assert_eq!(consolidated.values, vec![Some(3.0), Some(6.0)]);
        assert_eq!(consolidate(&series(0, 10, &values), 3, 75).values.len(), 3);
    }

    #[test]
    fn consolidation_table() {
        // Points at 1000, 1010, ..., 1060. At most 3: 3 a bucket, 30 s, aligned to multiples
        // of 30: the start moves on to 1020, and the bucket labelled 1020 merges the points of
        // 1010, 1020 and 1030, the one labelled 1050 those of 1040 to 1060.
        let values = [Some(1.0), None, Some(3.0), Some(4.0), None, None, Some(7.0)];
        /// Function, maxDataPoints, then the start, step and values expected.
        type Case<'a> = (Consolidation, usize, i64, i64, &'a [Option<f64>]);
        let cases: &[Case] = &[
            (Consolidation::Average, 3, 1020, 30, &[Some(3.5), Some(7.0)]),
            (Consolidation::Sum, 3, 1020, 30, &[Some(7.0), Some(7.0)]),
            (Consolidation::Min, 3, 1020, 30, &[Some(3.0), Some(7.0)]),
            (Consolidation::Max, 3, 1020, 30, &[Some(4.0), Some(7.0)]),
            (Consolidation::First, 3, 1020, 30, &[Some(3.0), Some(7.0)]),
            (Consolidation::Last, 3, 1020, 30, &[Some(4.0), Some(7.0)]),
            // ceil(7/2) = 4 a bucket, 40 s: on to 1040, which merges 1030 to 1060.
            (Consolidation::Sum, 2, 1040, 40, &[Some(11.0)]),
            // One point of everything.
            (Consolidation::Average, 1, 1000, 70, &[Some(3.75)]),
            // Enough room, or no limit: unchanged.
            (Consolidation::Average, 7, 1000, 10, &values),
            (Consolidation::Average, 100, 1000, 10, &values),
            (Consolidation::Average, 0, 1000, 10, &values),
        ];
        for (consolidation, max_points, expected_start, expected_step, expected) in cases {
            let mut input = series(1_000, 10, &values);
            input.consolidation = *consolidation;
            let consolidated = consolidate(&input, *max_points, 70);
            let case = format!("{consolidation:?} {max_points}");
            assert_eq!(consolidated.values, *expected, "{case}");
            assert_eq!(consolidated.step, *expected_step, "{case}");
            assert_eq!(consolidated.start, *expected_start, "{case}");
            assert_eq!(consolidated.name, "a.b");
        }
        let all_null = series(0, 10, &[None, None, None, None]);
        assert_eq!(consolidate(&all_null, 2, 40).values, vec![None, None]);
        assert_eq!(consolidate(&series(0, 10, &[]), 5, 0).values, vec![]);
    }

    #[test]
    fn normalization_uses_the_least_common_multiple_step_and_timestamps() {
        let fine = series(960, 10, &[Some(1.0); 12]);
        let mut fine_sum = fine.clone();
        fine_sum.consolidation = Consolidation::Sum;
        let coarse = series(960, 60, &[Some(5.0), Some(6.0)]);
        let normalized = normalize(&[&fine_sum, &coarse]).unwrap();
        assert_eq!(normalized.step, 60);
        assert_eq!(normalized.start, 960);
        assert_eq!(normalized.columns[0], vec![Some(6.0), Some(6.0)]);
        assert_eq!(normalized.columns[1], vec![Some(5.0), Some(6.0)]);
        assert_eq!(normalized.row(1), vec![Some(6.0), Some(6.0)]);

        // Steps 20 and 30 meet at 60; the 20 s series starting at 1000 lands in the buckets
        // of its timestamps on a grid starting at 960.
        let twenty = series(1_000, 20, &[Some(1.0), Some(2.0), Some(3.0), Some(4.0)]);
        let thirty = series(990, 30, &[Some(9.0), Some(9.0), Some(9.0)]);
        let normalized = normalize(&[&twenty, &thirty]).unwrap();
        assert_eq!((normalized.start, normalized.step), (960, 60));
        // 1000 → [960,1020); 1020, 1040, 1060 → [1020,1080).
        assert_eq!(normalized.columns[0], vec![Some(1.0), Some(3.0)]);
        assert_eq!(normalized.columns[1], vec![Some(9.0), Some(9.0)]);

        // Same step, one series shorter: padded with nulls.
        let long = series(0, 10, &[Some(1.0), Some(2.0), Some(3.0)]);
        let short = series(0, 10, &[Some(1.0)]);
        let normalized = normalize(&[&long, &short]).unwrap();
        assert_eq!(normalized.columns[1], vec![Some(1.0), None, None]);
        assert_eq!(normalize(&[]), None);
    }

    /// Function name, row, expected result.
    type AggregationCase<'a> = (&'a str, &'a [Option<f64>], Option<f64>);

    #[test]
    fn aggregation_table() {
        let row = [Some(4.0), None, Some(1.0), Some(3.0)];
        let nulls = [None, None];
        let cases: &[AggregationCase] = &[
            ("sum", &row, Some(8.0)),
            ("total", &row, Some(8.0)),
            ("average", &row, Some(8.0 / 3.0)),
            ("avg", &row, Some(8.0 / 3.0)),
            ("avg_zero", &row, Some(2.0)),
            ("median", &row, Some(3.0)),
            ("median", &[Some(1.0), Some(2.0)], Some(1.5)),
            ("min", &row, Some(1.0)),
            ("max", &row, Some(4.0)),
            ("diff", &row, Some(0.0)),
            ("diff", &[None, Some(5.0), Some(2.0)], Some(3.0)),
            ("stddev", &[Some(2.0), Some(4.0)], Some(1.0)),
            ("count", &row, Some(3.0)),
            ("range", &row, Some(3.0)),
            ("rangeOf", &row, Some(3.0)),
            ("multiply", &[Some(2.0), Some(3.0)], Some(6.0)),
            ("multiply", &row, None),
            ("last", &row, Some(3.0)),
            ("current", &[Some(1.0), None], Some(1.0)),
            ("sum", &nulls, None),
            ("average", &nulls, None),
            ("count", &nulls, Some(0.0)),
            ("avg_zero", &nulls, Some(0.0)),
            ("median", &nulls, None),
        ];
        for (name, values, expected) in cases {
            let aggregation = Aggregation::from_name(name).unwrap();
            assert_eq!(aggregation.apply(values), *expected, "{name} {values:?}");
        }
        assert_eq!(Aggregation::from_name("nope"), None);
        for name in Aggregation::NAMES {
            assert!(Aggregation::from_name(name).is_some(), "{name}");
        }
    }

    #[test]
    fn percentile_table() {
        let values: Vec<Option<f64>> = [15.0, 20.0, 35.0, 40.0, 50.0]
            .into_iter()
            .map(Some)
            .collect();
        let cases = [
            (50.0, false, Some(35.0)),
            (30.0, false, Some(20.0)),
            (100.0, false, Some(50.0)),
            (1.0, false, Some(15.0)),
            (25.0, true, Some(17.5)),
            (95.0, true, Some(50.0)),
        ];
        for (percent, interpolate, expected) in cases {
            assert_eq!(
                percentile(&values, percent, interpolate),
                expected,
                "{percent} {interpolate}"
            );
        }
        assert_eq!(percentile(&[None], 50.0, false), None);
    }

    #[test]
    fn number_formatting_matches_python() {
        let cases = [
            (2.0, "2"),
            (0.5, "0.5"),
            (-3.25, "-3.25"),
            (100.0, "100"),
            (1e7, "1e+07"),
            (123456.0, "123456"),
            (1234567.0, "1.23457e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.0 / 3.0, "0.333333"),
        ];
        for (value, expected) in cases {
            assert_eq!(format_g(value), expected, "{value}");
        }
        let python = [
            (100.0, "100.0"),
            (0.5, "0.5"),
            (123.456, "123.456"),
            (1e20, "1e+20"),
            (1e-5, "1e-05"),
        ];
        for (value, expected) in python {
            assert_eq!(format_python_float(value), expected, "{value}");
        }
    }

    #[test]
    fn tags_come_from_the_name() {
        let tags = tags_from_name("cpu.load;dc=west;host=a");
        assert_eq!(tags.get("name").map(String::as_str), Some("cpu.load"));
        assert_eq!(tags.get("dc").map(String::as_str), Some("west"));
        let function = tags_from_name("sumSeries(a;b=c)");
        assert_eq!(function.len(), 1);
    }
}
