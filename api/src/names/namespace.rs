//! The etsy statsd namespace, so dashboards built on statsd + Graphite keep working unchanged.
//!
//! etsy statsd's Graphite backend (with `legacyNamespace: false`) writes a counter `api.hits` as
//! `stats.counters.api.hits.count` and `.rate`, a gauge as `stats.gauges.<name>`, a set as
//! `stats.sets.<name>.count`, and a timer as `stats.timers.<name>.<field>` with the fields
//! `count`, `count_ps`, `lower`, `upper`, `mean`, `median`, `std`, `sum`, `sum_squares` and, for
//! each percentile threshold P, `upper_P`, `mean_P`, `sum_P`, `sum_squares_P` and `count_P`
//! (`99_9` for 99.9), as etsy's graphite backend writes them.
//! Abacus stores the series once, under its statsd name, and this module maps such paths to the
//! series and the value to compute. The bare name resolves too: a counter to its count, a gauge to
//! its value, a timer to its mean, a set to its count, a raw (Graphite plaintext) series to its
//! points. Any percentile can be asked for by name; a glob over the field segment expands to the
//! fixed fields plus the configured percentiles.
//!
//! Everything here is a pure function of the path.

use crate::names::glob::{GlobError, PathGlob};

pub(crate) use abacus_proto::catalog::SeriesKind;

/// Where each kind lives in the etsy namespace.
pub(crate) trait NamespaceKind {
    fn namespace_segment(self) -> Option<&'static str>;
    fn namespace_prefix(self) -> Option<&'static str>;
    fn namespace_fields(self, percentiles: &[f64]) -> Vec<Field>;
}

impl NamespaceKind for SeriesKind {
    /// The second segment of the kind's etsy namespace (`stats.<segment>.…`); raw series have
    /// none, they are only reachable by their own path.
    fn namespace_segment(self) -> Option<&'static str> {
        match self {
            SeriesKind::Counter => Some("counters"),
            SeriesKind::Gauge => Some("gauges"),
            SeriesKind::Timer => Some("timers"),
            SeriesKind::Set => Some("sets"),
            SeriesKind::Raw => None,
        }
    }

    /// Everything before the name in the kind's etsy namespace (`stats.counters.` for a
    /// counter); raw series have none.
    fn namespace_prefix(self) -> Option<&'static str> {
        match self {
            SeriesKind::Counter => Some("stats.counters."),
            SeriesKind::Gauge => Some("stats.gauges."),
            SeriesKind::Timer => Some("stats.timers."),
            SeriesKind::Set => Some("stats.sets."),
            SeriesKind::Raw => None,
        }
    }

    /// The field segments that follow the name in the namespace (none for gauges, whose name
    /// is the leaf), with the percentile fields for `percentiles`.
    fn namespace_fields(self, percentiles: &[f64]) -> Vec<Field> {
        match self {
            SeriesKind::Counter => vec![Field::Count, Field::Rate],
            SeriesKind::Gauge | SeriesKind::Raw => vec![],
            SeriesKind::Set => vec![Field::Count],
            SeriesKind::Timer => {
                let mut fields: Vec<Field> =
                    TimerField::FIXED.into_iter().map(Field::Timer).collect();
                for &percentile in percentiles {
                    for threshold_field in [
                        TimerField::CountPercentile,
                        TimerField::MeanPercentile,
                        TimerField::SumPercentile,
                        TimerField::SumOfSquaresPercentile,
                        TimerField::UpperPercentile,
                    ] {
                        fields.push(Field::Timer(threshold_field(Percentile(percentile))));
                    }
                }
                fields
            }
        }
    }
}

/// A percentile threshold, 0 < P ≤ 100.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub(crate) struct Percentile(pub f64);

impl Percentile {
    /// `90` → 90, `99_9` → 99.9, as etsy writes them.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (whole, fraction) = text.split_once('_').unwrap_or((text, ""));
        let digits_only = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) {
            return None;
        }
        if text.ends_with('_') {
            return None;
        }
        let value: f64 = if fraction.is_empty() {
            whole.parse().ok()?
        } else {
            format!("{whole}.{fraction}").parse().ok()?
        };
        (value > 0.0 && value <= 100.0).then_some(Percentile(value))
    }

    /// 99.9 → `99_9`, 90 → `90`.
    pub(crate) fn segment(self) -> String {
        let text = format!("{}", self.0);
        text.replace('.', "_")
    }
}

/// What to compute from a timer's interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TimerField {
    Count,
    CountPerSecond,
    Lower,
    Upper,
    Mean,
    Median,
    StandardDeviation,
    Sum,
    SumOfSquares,
    UpperPercentile(Percentile),
    MeanPercentile(Percentile),
    SumPercentile(Percentile),
    SumOfSquaresPercentile(Percentile),
    CountPercentile(Percentile),
}

impl TimerField {
    const FIXED: [TimerField; 9] = [
        TimerField::Count,
        TimerField::CountPerSecond,
        TimerField::Lower,
        TimerField::Mean,
        TimerField::Median,
        TimerField::StandardDeviation,
        TimerField::Sum,
        TimerField::SumOfSquares,
        TimerField::Upper,
    ];

    fn parse(segment: &str) -> Option<Self> {
        let fixed = match segment {
            "count" => Some(TimerField::Count),
            "count_ps" => Some(TimerField::CountPerSecond),
            "lower" => Some(TimerField::Lower),
            "upper" => Some(TimerField::Upper),
            "mean" => Some(TimerField::Mean),
            "median" => Some(TimerField::Median),
            "std" => Some(TimerField::StandardDeviation),
            "sum" => Some(TimerField::Sum),
            "sum_squares" => Some(TimerField::SumOfSquares),
            _ => None,
        };
        if fixed.is_some() {
            return fixed;
        }
        // The one prefix with a `_` of its own.
        if let Some(percentile) = segment.strip_prefix("sum_squares_") {
            return Percentile::parse(percentile).map(TimerField::SumOfSquaresPercentile);
        }
        let (prefix, percentile) = segment.split_once('_')?;
        let percentile = Percentile::parse(percentile)?;
        match prefix {
            "upper" => Some(TimerField::UpperPercentile(percentile)),
            "mean" => Some(TimerField::MeanPercentile(percentile)),
            "sum" => Some(TimerField::SumPercentile(percentile)),
            "count" => Some(TimerField::CountPercentile(percentile)),
            _ => None,
        }
    }

    fn segment(self) -> String {
        match self {
            TimerField::Count => "count".into(),
            TimerField::CountPerSecond => "count_ps".into(),
            TimerField::Lower => "lower".into(),
            TimerField::Upper => "upper".into(),
            TimerField::Mean => "mean".into(),
            TimerField::Median => "median".into(),
            TimerField::StandardDeviation => "std".into(),
            TimerField::Sum => "sum".into(),
            TimerField::SumOfSquares => "sum_squares".into(),
            TimerField::UpperPercentile(percentile) => format!("upper_{}", percentile.segment()),
            TimerField::MeanPercentile(percentile) => format!("mean_{}", percentile.segment()),
            TimerField::SumPercentile(percentile) => format!("sum_{}", percentile.segment()),
            TimerField::SumOfSquaresPercentile(percentile) => {
                format!("sum_squares_{}", percentile.segment())
            }
            TimerField::CountPercentile(percentile) => format!("count_{}", percentile.segment()),
        }
    }
}

/// The value a rendered series shows for each interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Field {
    /// Counter: the interval's count. Set: the interval's distinct members.
    Count,
    /// Counter: count per second of the interval.
    Rate,
    /// Gauge: its value. Raw: its points.
    Value,
    Timer(TimerField),
}

impl Field {
    fn segment(self) -> String {
        match self {
            Field::Count => "count".into(),
            Field::Rate => "rate".into(),
            Field::Value => String::new(),
            Field::Timer(timer_field) => timer_field.segment(),
        }
    }

    /// The field's name in the native API: its namespace segment, or `value`.
    pub(crate) fn name(self) -> String {
        match self {
            Field::Value => "value".into(),
            other => other.segment(),
        }
    }

    /// A field of `kind` by its native-API name (`count`, `rate`, `value`, `upper_99`, ...).
    pub(crate) fn parse(kind: SeriesKind, name: &str) -> Option<Self> {
        match (kind, name) {
            (SeriesKind::Counter, "count") | (SeriesKind::Set, "count") => Some(Field::Count),
            (SeriesKind::Counter, "rate") => Some(Field::Rate),
            (SeriesKind::Gauge | SeriesKind::Raw, "value") => Some(Field::Value),
            (SeriesKind::Timer, name) => TimerField::parse(name).map(Field::Timer),
            _ => None,
        }
    }

    /// The unit of the field's values, for the native API.
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Field::Count => "count",
            Field::Rate => "per_second",
            Field::Value => "value",
            Field::Timer(TimerField::Count | TimerField::CountPercentile(_)) => "count",
            Field::Timer(TimerField::CountPerSecond) => "per_second",
            Field::Timer(TimerField::SumOfSquares) => "milliseconds_squared",
            Field::Timer(_) => "milliseconds",
        }
    }

    /// What the bare name of a series of `kind` shows.
    pub(crate) fn default_for(kind: SeriesKind) -> Self {
        match kind {
            SeriesKind::Counter | SeriesKind::Set => Field::Count,
            SeriesKind::Gauge | SeriesKind::Raw => Field::Value,
            SeriesKind::Timer => Field::Timer(TimerField::Mean),
        }
    }
}

/// One way a path pattern can be read: the series of `kinds` whose name matches `name_glob`,
/// each shown as the values of one of `fields`.
#[derive(Debug, Clone)]
pub(crate) struct Resolution {
    pub kinds: Vec<SeriesKind>,
    pub name_glob: PathGlob,
    /// Empty for a bare name: then each series shows its kind's default field.
    pub fields: Vec<Field>,
    /// Whether the result is named in the etsy namespace (`stats.<kind>.<name>[.<field>]`).
    pub namespaced: bool,
}

/// The path under which a series' field is shown.
pub(crate) fn display_path(kind: SeriesKind, name: &str, field: Field, namespaced: bool) -> String {
    let Some(segment) = kind.namespace_segment().filter(|_| namespaced) else {
        return name.to_owned();
    };
    match field {
        Field::Value => format!("stats.{segment}.{name}"),
        other => format!("stats.{segment}.{name}.{}", other.segment()),
    }
}

/// Every reading of a path pattern: the bare name always, and the etsy namespace when the
/// pattern starts with `stats.<kind>`.
pub(crate) fn resolve(pattern: &str, percentiles: &[f64]) -> Result<Vec<Resolution>, GlobError> {
    let mut resolutions = vec![Resolution {
        kinds: SeriesKind::ALL.to_vec(),
        name_glob: PathGlob::new(pattern)?,
        fields: vec![],
        namespaced: false,
    }];
    let segments: Vec<&str> = pattern.split('.').collect();
    if segments.len() < 3 || !PathGlob::new(segments[0])?.matches("stats") {
        return Ok(resolutions);
    }
    let kind_glob = PathGlob::new(segments[1])?;
    for kind in SeriesKind::ALL {
        let Some(kind_segment) = kind.namespace_segment() else {
            continue;
        };
        if !kind_glob.matches(kind_segment) {
            continue;
        }
        if kind == SeriesKind::Gauge {
            resolutions.push(Resolution {
                kinds: vec![kind],
                name_glob: PathGlob::new(&segments[2..].join("."))?,
                fields: vec![Field::Value],
                namespaced: true,
            });
            continue;
        }
        if segments.len() < 4 {
            continue;
        }
        let field_segment = segments[segments.len() - 1];
        let fields = fields_matching(kind, field_segment, percentiles)?;
        if fields.is_empty() {
            continue;
        }
        resolutions.push(Resolution {
            kinds: vec![kind],
            name_glob: PathGlob::new(&segments[2..segments.len() - 1].join("."))?,
            fields,
            namespaced: true,
        });
    }
    Ok(resolutions)
}

/// The fields of `kind` a field segment names: itself when literal (any percentile may be
/// asked for), or the fixed fields and configured percentiles that a glob matches.
fn fields_matching(
    kind: SeriesKind,
    segment: &str,
    percentiles: &[f64],
) -> Result<Vec<Field>, GlobError> {
    let glob = PathGlob::new(segment)?;
    let mut fields: Vec<Field> = kind
        .namespace_fields(percentiles)
        .into_iter()
        .filter(|field| glob.matches(&field.segment()))
        .collect();
    if fields.is_empty() && kind == SeriesKind::Timer {
        if let Some(timer_field) = TimerField::parse(segment) {
            fields.push(Field::Timer(timer_field));
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kinds, name pattern and field segments of one namespaced reading.
    type Reading = (Vec<SeriesKind>, String, Vec<String>);
    type ExpectedReading = (Vec<SeriesKind>, &'static str, Vec<&'static str>);

    fn readings(pattern: &str) -> Vec<Reading> {
        resolve(pattern, &[90.0])
            .unwrap()
            .into_iter()
            .filter(|resolution| resolution.namespaced)
            .map(|resolution| {
                (
                    resolution.kinds,
                    resolution.name_glob.pattern().to_owned(),
                    resolution
                        .fields
                        .iter()
                        .map(|field| field.segment())
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn etsy_paths_resolve_to_the_series_and_field() {
        use SeriesKind::*;
        let cases: &[(&str, Vec<ExpectedReading>)] = &[
            (
                "stats.counters.api.hits.count",
                vec![(vec![Counter], "api.hits", vec!["count"])],
            ),
            (
                "stats.counters.api.hits.rate",
                vec![(vec![Counter], "api.hits", vec!["rate"])],
            ),
            (
                "stats.gauges.pool.size",
                vec![(vec![Gauge], "pool.size", vec![""])],
            ),
            (
                "stats.sets.users.count",
                vec![(vec![Set], "users", vec!["count"])],
            ),
            (
                "stats.timers.api.latency.mean",
                vec![(vec![Timer], "api.latency", vec!["mean"])],
            ),
            (
                "stats.timers.api.latency.upper_99_9",
                vec![(vec![Timer], "api.latency", vec!["upper_99_9"])],
            ),
            (
                "stats.timers.db.count_95",
                vec![(vec![Timer], "db", vec!["count_95"])],
            ),
            (
                "stats.timers.db.sum_squares_99_9",
                vec![(vec![Timer], "db", vec!["sum_squares_99_9"])],
            ),
            ("stats.timers.db.sum_squares_x", vec![]),
            (
                "stats.counters.web*.count",
                vec![(vec![Counter], "web*", vec!["count"])],
            ),
            (
                "stats.counters.api.hits.*",
                vec![(vec![Counter], "api.hits", vec!["count", "rate"])],
            ),
            (
                "stats.timers.t.{mean,upper_90}",
                vec![(vec![Timer], "t", vec!["mean", "upper_90"])],
            ),
            ("stats.timers.t.upper_0", vec![]),
            ("stats.timers.t.bogus", vec![]),
            ("stats.counters.x", vec![]),
            ("api.hits", vec![]),
        ];
        for (pattern, expected) in cases {
            let expected: Vec<Reading> = expected
                .iter()
                .map(|(kinds, name, fields)| {
                    (
                        kinds.clone(),
                        name.to_string(),
                        fields.iter().map(|field| field.to_string()).collect(),
                    )
                })
                .collect();
            assert_eq!(readings(pattern), expected, "{pattern}");
        }
    }

    #[test]
    fn a_kind_glob_reads_every_namespace() {
        let kinds: Vec<Vec<SeriesKind>> = readings("stats.*.x.count")
            .into_iter()
            .map(|reading| reading.0)
            .collect();
        assert_eq!(
            kinds,
            vec![
                vec![SeriesKind::Counter],
                vec![SeriesKind::Gauge],
                vec![SeriesKind::Timer],
                vec![SeriesKind::Set]
            ]
        );
    }

    #[test]
    fn the_bare_name_is_always_a_reading() {
        let resolutions = resolve("stats.counters.a.count", &[]).unwrap();
        assert!(!resolutions[0].namespaced);
        assert_eq!(resolutions[0].kinds, SeriesKind::ALL.to_vec());
        assert_eq!(resolutions[0].name_glob.pattern(), "stats.counters.a.count");
    }

    #[test]
    fn display_paths_follow_etsy() {
        let upper = Field::Timer(TimerField::UpperPercentile(Percentile(99.9)));
        assert_eq!(
            display_path(SeriesKind::Timer, "api.t", upper, true),
            "stats.timers.api.t.upper_99_9"
        );
        assert_eq!(
            display_path(SeriesKind::Gauge, "g", Field::Value, true),
            "stats.gauges.g"
        );
        assert_eq!(
            display_path(SeriesKind::Counter, "c", Field::Rate, true),
            "stats.counters.c.rate"
        );
        assert_eq!(
            display_path(SeriesKind::Counter, "c", Field::Count, false),
            "c"
        );
    }

    #[test]
    fn native_field_names_round_trip_and_carry_units() {
        let cases = [
            (SeriesKind::Counter, "count", "count"),
            (SeriesKind::Counter, "rate", "per_second"),
            (SeriesKind::Gauge, "value", "value"),
            (SeriesKind::Set, "count", "count"),
            (SeriesKind::Timer, "upper_99_9", "milliseconds"),
            (SeriesKind::Timer, "count_ps", "per_second"),
            (SeriesKind::Timer, "count_90", "count"),
            (SeriesKind::Raw, "value", "value"),
        ];
        for (kind, name, unit) in cases {
            let field = Field::parse(kind, name).unwrap_or_else(|| panic!("{kind:?} {name}"));
            assert_eq!((field.name().as_str(), field.unit()), (name, unit));
        }
        assert_eq!(Field::parse(SeriesKind::Gauge, "count"), None);
        assert_eq!(Field::parse(SeriesKind::Counter, "mean"), None);
    }

    #[test]
    fn percentiles_parse_as_etsy_writes_them() {
        let cases = [
            ("90", Some(90.0)),
            ("99_9", Some(99.9)),
            ("100", Some(100.0)),
            ("0", None),
            ("101", None),
            ("9_", None),
            ("_9", None),
            ("x", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                Percentile::parse(text).map(|percentile| percentile.0),
                expected,
                "{text}"
            );
        }
    }
}
