//! What is kept of a series, and how: the one definition the storage worker (which writes and
//! rolls up) and the API (which reads the right resolution and consolidates) share.
//!
//! * [`Retentions`]: resolutions and how long each is kept, written like Graphite's
//!   storage-schemas (`10s:7d,1m:90d,1h:5y`). The first entry is the raw data; each further
//!   one a rollup.
//! * Retention rules, like `storage-schemas.conf`: an ordered list of `{ pattern, retentions }`;
//!   the first rule whose pattern matches a series' name decides its retentions, and
//!   `storage_worker.retentions` is the default.
//! * Aggregation rules, like `storage-aggregation.conf`: an ordered list of
//!   `{ pattern, aggregation, x_files_factor }` deciding how the buckets of timestamped points
//!   (Graphite plaintext, HTTP ingest, whisper imports) are rolled up, first match wins, then
//!   Abacus's defaults (`\.count$` and `\.sum$` sum, `\.min$` min, `\.max$` max, everything else
//!   average).
//!
//! A pattern is a regular expression (`pattern = "^servers\\."`), searched anywhere in the name
//! as carbon does, or a Graphite glob (`glob = "servers.*.load"`) matching the whole name.

use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// One `resolution:retention` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub seconds: u32,
    pub retention: Duration,
}

/// A parsed retentions list: the raw entry, then the rollup resolutions, finest first.
///
/// Rules, checked when parsed:
/// * resolutions strictly increase and each is a multiple of the one before;
/// * a rollup resolution divides a day, so a rollup bucket never straddles two day partitions
///   (retention drops a bucket's finer rows all at once or not at all);
/// * the raw retention is at least twice the largest resolution, because rollups of statsd
///   series are always recomputed from raw rows, including when a late batch arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retentions {
    pub raw: Resolution,
    pub rollups: Vec<Resolution>,
}

/// The default: 10-second raw data for a week, minutes for 90 days, hours for five years.
pub const DEFAULT_RETENTIONS: &str = "10s:7d,1m:90d,1h:5y";

const SECONDS_PER_DAY: u64 = 86_400;

impl Retentions {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for entry in text.split(',') {
            let entry = entry.trim();
            let Some((resolution, retention)) = entry.split_once(':') else {
                return Err(format!(
                    "{entry:?} is not resolution:retention (e.g. 1m:90d)"
                ));
            };
            let resolution = parse_span(resolution)?;
            let retention = parse_span(retention)?;
            let seconds = u32::try_from(resolution)
                .map_err(|_| format!("resolution {resolution}s is too large"))?;
            if retention < resolution {
                return Err(format!("{entry:?}: retention is shorter than resolution"));
            }
            entries.push(Resolution {
                seconds,
                retention: Duration::from_secs(retention),
            });
        }
        for pair in entries.windows(2) {
            let (finer, coarser) = (pair[0].seconds, pair[1].seconds);
            if coarser <= finer || !coarser.is_multiple_of(finer) {
                return Err(format!(
                    "resolution {coarser}s must be a larger multiple of the one before ({finer}s)"
                ));
            }
        }
        let raw = entries[0];
        let rollups = entries[1..].to_vec();
        for rollup in &rollups {
            if !SECONDS_PER_DAY.is_multiple_of(u64::from(rollup.seconds)) {
                return Err(format!(
                    "rollup resolution {}s must divide a day",
                    rollup.seconds
                ));
            }
        }
        if let Some(coarsest) = rollups.last() {
            if raw.retention.as_secs() < 2 * u64::from(coarsest.seconds) {
                return Err(format!(
                    "the raw retention must be at least twice the coarsest resolution ({}s): rollups are computed from raw rows",
                    coarsest.seconds
                ));
            }
        }
        Ok(Self { raw, rollups })
    }

    /// The rollup resolutions in seconds, finest first.
    pub fn rollup_seconds(&self) -> Vec<i32> {
        self.rollups
            .iter()
            .map(|rollup| rollup.seconds as i32)
            .collect()
    }

    /// Every entry, the raw one first.
    pub fn levels(&self) -> impl Iterator<Item = &Resolution> {
        std::iter::once(&self.raw).chain(&self.rollups)
    }

    /// The rollup resolution finer than `seconds` in this list (`None` when `seconds` is the
    /// finest rollup, whose finer data is the raw one, or is not in the list).
    pub fn finer_rollup(&self, seconds: u32) -> Option<&Resolution> {
        let position = self
            .rollups
            .iter()
            .position(|rollup| rollup.seconds == seconds)?;
        position.checked_sub(1).map(|finer| &self.rollups[finer])
    }

    /// The rollup resolution coarser than `seconds` (raw or a rollup) in this list.
    pub fn coarser_rollup(&self, seconds: u32) -> Option<&Resolution> {
        self.rollups.iter().find(|rollup| rollup.seconds > seconds)
    }

    /// Whether `seconds` is one of this list's rollup resolutions.
    pub fn has_rollup(&self, seconds: u32) -> bool {
        self.rollups.iter().any(|rollup| rollup.seconds == seconds)
    }

    /// Where a timestamped point of age `age` lands, as carbon writes it: the finest level
    /// whose retention covers its age (`Some(None)`: the raw data; `Some(Some(r))`: rollup
    /// `r`), or `None` when it is older than every retention.
    pub fn landing(&self, age: Duration) -> Option<Option<&Resolution>> {
        if age <= self.raw.retention {
            return Some(None);
        }
        self.rollups
            .iter()
            .find(|rollup| age <= rollup.retention)
            .map(Some)
    }

    /// The longest retention of any level: a point older than that is kept nowhere.
    pub fn longest_retention(&self) -> Duration {
        self.levels()
            .map(|level| level.retention)
            .max()
            .unwrap_or_default()
    }
}

impl fmt::Display for Retentions {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries: Vec<String> = self
            .levels()
            .map(|entry| format!("{}s:{}s", entry.seconds, entry.retention.as_secs()))
            .collect();
        formatter.write_str(&entries.join(","))
    }
}

/// `10s`, `1m`/`1min`, `1h`, `7d`, `2w`, `5y` (365 days) into seconds; a bare number is seconds.
fn parse_span(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits_end = text
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a number followed by s, m, h, d, w or y"))?;
    let unit_seconds = match unit {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3_600,
        "d" => SECONDS_PER_DAY,
        "w" => 7 * SECONDS_PER_DAY,
        "y" => 365 * SECONDS_PER_DAY,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (s, m, h, d, w or y)"
            ))
        }
    };
    if number == 0 {
        return Err(format!("{text:?} must be longer than 0"));
    }
    number
        .checked_mul(unit_seconds)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// How the points of a bucket become its value, as whisper's aggregation methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    Average,
    Sum,
    Min,
    Max,
    Last,
}

impl Aggregation {
    /// The value of `values` (in time order); `None` for none.
    pub fn apply(self, values: &[f64]) -> Option<f64> {
        let (&first, rest) = values.split_first()?;
        Some(match self {
            Aggregation::Average => values.iter().sum::<f64>() / values.len() as f64,
            Aggregation::Sum => values.iter().sum(),
            Aggregation::Min => rest.iter().fold(first, |min, value| min.min(*value)),
            Aggregation::Max => rest.iter().fold(first, |max, value| max.max(*value)),
            Aggregation::Last => *values.last().unwrap_or(&first),
        })
    }

    /// Whisper's number for the method (its header's `aggregationType`).
    pub fn from_whisper(code: u32) -> Option<Self> {
        match code {
            1 => Some(Aggregation::Average),
            2 => Some(Aggregation::Sum),
            3 => Some(Aggregation::Last),
            4 => Some(Aggregation::Max),
            5 => Some(Aggregation::Min),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Aggregation::Average => "average",
            Aggregation::Sum => "sum",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            Aggregation::Last => "last",
        }
    }
}

/// How a bucket of points is rolled up: the method and the fraction of the finer slots it
/// covers that must hold a value for the bucket to have one (whisper's `xFilesFactor`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AggregationRule {
    pub aggregation: Aggregation,
    pub x_files_factor: f64,
}

impl AggregationRule {
    /// The bucket's value from the values of the `known` finer slots it holds, out of `slots`
    /// finer slots it covers; `None` when fewer than `x_files_factor` of them are known.
    pub fn bucket_value(&self, values: &[f64], slots: u32) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        let known = values.len() as f64 / f64::from(slots.max(1));
        if known < self.x_files_factor {
            return None;
        }
        self.aggregation.apply(values)
    }
}

/// A metric name pattern: a regular expression searched in the name, or a Graphite glob
/// matching the whole name.
#[derive(Debug, Clone)]
pub struct Pattern {
    shown: String,
    regex: regex::Regex,
}

impl Pattern {
    pub fn regex(pattern: &str) -> Result<Self, String> {
        let regex = regex::Regex::new(pattern).map_err(|error| one_line(&error.to_string()))?;
        Ok(Self {
            shown: format!("pattern {pattern:?}"),
            regex,
        })
    }

    pub fn glob(glob: &str) -> Result<Self, String> {
        let regex = regex::Regex::new(&glob_to_regex(glob)?)
            .map_err(|error| one_line(&error.to_string()))?;
        Ok(Self {
            shown: format!("glob {glob:?}"),
            regex,
        })
    }

    pub fn matches(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.shown)
    }
}

/// A regex error's lines joined into one (the settings error is one line).
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.chars().all(|c| c == '^' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A Graphite glob as an anchored regular expression: `*` and `?` never cross a `.`,
/// `[...]`/`[!...]` are character classes, `{a,b}` alternatives.
fn glob_to_regex(glob: &str) -> Result<String, String> {
    let mut regex = String::from("^");
    let mut characters = glob.chars();
    let mut in_alternatives = false;
    while let Some(character) = characters.next() {
        match character {
            '*' => regex.push_str("[^.]*"),
            '?' => regex.push_str("[^.]"),
            '[' => {
                regex.push('[');
                let mut first = true;
                loop {
                    let Some(inner) = characters.next() else {
                        return Err(format!("glob {glob:?}: unclosed ["));
                    };
                    match inner {
                        ']' if !first => break,
                        '!' if first => regex.push('^'),
                        '\\' | '[' | '&' | '~' | '^' => {
                            regex.push('\\');
                            regex.push(inner);
                        }
                        _ => regex.push(inner),
                    }
                    first = false;
                }
                regex.push(']');
            }
            '{' if !in_alternatives => {
                in_alternatives = true;
                regex.push_str("(?:");
            }
            ',' if in_alternatives => regex.push('|'),
            '}' if in_alternatives => {
                in_alternatives = false;
                regex.push(')');
            }
            _ => regex.push_str(&regex::escape(&character.to_string())),
        }
    }
    if in_alternatives {
        return Err(format!("glob {glob:?}: unclosed {{"));
    }
    regex.push('$');
    Ok(regex)
}

/// One retention rule as written in the settings.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetentionRuleSetting {
    /// A regular expression searched in the metric name.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Or a Graphite glob matching the whole name.
    #[serde(default)]
    pub glob: Option<String>,
    pub retentions: String,
}

/// One aggregation rule as written in the settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AggregationRuleSetting {
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub glob: Option<String>,
    pub aggregation: Aggregation,
    #[serde(default)]
    pub x_files_factor: f64,
}

/// The settings the schema is built from: `storage_worker.retentions`,
/// `storage_worker.retention_rules` and `storage_worker.aggregation_rules`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct SchemaSettings {
    pub retentions: String,
    pub retention_rules: Vec<RetentionRuleSetting>,
    pub aggregation_rules: Vec<AggregationRuleSetting>,
}

impl Default for SchemaSettings {
    fn default() -> Self {
        Self {
            retentions: DEFAULT_RETENTIONS.into(),
            retention_rules: Vec::new(),
            aggregation_rules: Vec::new(),
        }
    }
}

/// Why the schema settings were refused: the key, and one line naming the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub key: &'static str,
    pub reason: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "`{}` {}", self.key, self.reason)
    }
}

/// The compiled rules: which retentions and which aggregation a series name gets.
#[derive(Debug, Clone)]
pub struct StorageSchema {
    pub default_retentions: Retentions,
    retention_rules: Vec<(Pattern, Retentions)>,
    aggregation_rules: Vec<(Pattern, AggregationRule)>,
}

/// Abacus's default aggregation rules, after the configured ones. The methods are carbon's
/// (its example file; `\.sum$` added); the xFilesFactor is 0, not carbon's 0.5 (0.1 for min
/// and max), so that a sparse series — one point a day — keeps its points in every coarser
/// resolution instead of losing them when the finest one expires.
const DEFAULT_AGGREGATION_RULES: [(&str, Aggregation); 4] = [
    (r"\.count$", Aggregation::Sum),
    (r"\.sum$", Aggregation::Sum),
    (r"\.min$", Aggregation::Min),
    (r"\.max$", Aggregation::Max),
];

const DEFAULT_AGGREGATION: AggregationRule = AggregationRule {
    aggregation: Aggregation::Average,
    x_files_factor: 0.0,
};

fn rule_pattern(
    index: usize,
    pattern: &Option<String>,
    glob: &Option<String>,
) -> Result<Pattern, String> {
    let number = index + 1;
    match (pattern, glob) {
        (Some(pattern), None) => Pattern::regex(pattern)
            .map_err(|error| format!("rule {number} (pattern {pattern:?}): {error}")),
        (None, Some(glob)) => {
            Pattern::glob(glob).map_err(|error| format!("rule {number} (glob {glob:?}): {error}"))
        }
        _ => Err(format!(
            "rule {number}: give exactly one of `pattern` (a regular expression) and `glob`"
        )),
    }
}

impl From<Retentions> for StorageSchema {
    /// `retentions` for every series, and the default aggregation rules.
    fn from(retentions: Retentions) -> Self {
        let mut schema = Self::from_settings(&SchemaSettings::default())
            .unwrap_or_else(|error| unreachable!("the default settings are valid: {error}"));
        schema.default_retentions = retentions;
        schema
    }
}

impl StorageSchema {
    pub fn from_settings(settings: &SchemaSettings) -> Result<Self, SchemaError> {
        let default_retentions =
            Retentions::parse(&settings.retentions).map_err(|reason| SchemaError {
                key: "storage_worker.retentions",
                reason,
            })?;
        let retention_error = |reason| SchemaError {
            key: "storage_worker.retention_rules",
            reason,
        };
        let mut retention_rules = Vec::new();
        for (index, rule) in settings.retention_rules.iter().enumerate() {
            let pattern =
                rule_pattern(index, &rule.pattern, &rule.glob).map_err(retention_error)?;
            let retentions = Retentions::parse(&rule.retentions).map_err(|reason| {
                retention_error(format!("rule {} ({pattern}): {reason}", index + 1))
            })?;
            retention_rules.push((pattern, retentions));
        }
        let aggregation_error = |reason| SchemaError {
            key: "storage_worker.aggregation_rules",
            reason,
        };
        let mut aggregation_rules = Vec::new();
        for (index, rule) in settings.aggregation_rules.iter().enumerate() {
            let pattern =
                rule_pattern(index, &rule.pattern, &rule.glob).map_err(aggregation_error)?;
            if !(0.0..=1.0).contains(&rule.x_files_factor) {
                return Err(aggregation_error(format!(
                    "rule {} ({pattern}): x_files_factor {} is not between 0 and 1",
                    index + 1,
                    rule.x_files_factor
                )));
            }
            aggregation_rules.push((
                pattern,
                AggregationRule {
                    aggregation: rule.aggregation,
                    x_files_factor: rule.x_files_factor,
                },
            ));
        }
        for (pattern, aggregation) in DEFAULT_AGGREGATION_RULES {
            let pattern = Pattern::regex(pattern).map_err(aggregation_error)?;
            aggregation_rules.push((
                pattern,
                AggregationRule {
                    aggregation,
                    x_files_factor: 0.0,
                },
            ));
        }
        Ok(Self {
            default_retentions,
            retention_rules,
            aggregation_rules,
        })
    }

    /// The retentions of the series named `name`: the first matching rule's, else the default.
    pub fn retentions_for(&self, name: &str) -> &Retentions {
        self.retention_rules
            .iter()
            .find(|(pattern, _)| pattern.matches(name))
            .map_or(&self.default_retentions, |(_, retentions)| retentions)
    }

    /// How the points of the series named `name` are rolled up: the first matching rule.
    pub fn aggregation_for(&self, name: &str) -> AggregationRule {
        self.aggregation_rules
            .iter()
            .find(|(pattern, _)| pattern.matches(name))
            .map_or(DEFAULT_AGGREGATION, |(_, rule)| *rule)
    }

    /// Every retentions list in use: the default, then each rule's.
    pub fn all_retentions(&self) -> impl Iterator<Item = &Retentions> {
        std::iter::once(&self.default_retentions).chain(
            self.retention_rules
                .iter()
                .map(|(_, retentions)| retentions),
        )
    }

    /// Every rollup resolution of any retentions list, finest first, once each.
    pub fn rollup_resolutions(&self) -> Vec<u32> {
        let mut seconds: Vec<u32> = self
            .all_retentions()
            .flat_map(|retentions| retentions.rollups.iter().map(|rollup| rollup.seconds))
            .collect();
        seconds.sort_unstable();
        seconds.dedup();
        seconds
    }

    /// The longest retention any list gives the raw data: raw partitions are kept that long.
    pub fn longest_raw_retention(&self) -> Duration {
        self.all_retentions()
            .map(|retentions| retentions.raw.retention)
            .max()
            .unwrap_or_default()
    }

    /// The shortest retention any list gives the raw data: a point younger than that lands in
    /// the raw data whichever rule its series matches.
    pub fn shortest_raw_retention(&self) -> Duration {
        self.all_retentions()
            .map(|retentions| retentions.raw.retention)
            .min()
            .unwrap_or_default()
    }

    /// The longest retention any list gives rollup resolution `seconds`.
    pub fn longest_rollup_retention(&self, seconds: u32) -> Option<Duration> {
        self.all_retentions()
            .flat_map(|retentions| &retentions.rollups)
            .filter(|rollup| rollup.seconds == seconds)
            .map(|rollup| rollup.retention)
            .max()
    }

    /// Whether any retention rule is configured.
    pub fn has_retention_rules(&self) -> bool {
        !self.retention_rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_parses_into_raw_and_two_rollups() {
        let retentions = Retentions::parse(DEFAULT_RETENTIONS).unwrap();
        assert_eq!(
            retentions.raw,
            Resolution {
                seconds: 10,
                retention: Duration::from_secs(7 * 86_400)
            }
        );
        assert_eq!(retentions.rollup_seconds(), vec![60, 3_600]);
        assert_eq!(
            retentions.rollups[1].retention,
            Duration::from_secs(5 * 365 * 86_400)
        );
    }

    #[test]
    fn only_raw_data_is_allowed() {
        let retentions = Retentions::parse("10s:30d").unwrap();
        assert!(retentions.rollups.is_empty());
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        let cases = [
            ("", "resolution:retention"),
            ("10s", "resolution:retention"),
            ("10x:7d", "unknown unit"),
            ("0s:7d", "longer than 0"),
            ("1m:30s", "shorter than resolution"),
            ("10s:7d,7s:90d", "larger multiple"),
            ("10s:7d,15s:90d", "larger multiple"),
            ("10s:7d,10s:90d", "larger multiple"),
            ("10s:7d,7h:90d", "divide a day"),
            ("10s:1h,1h:5y", "twice the coarsest"),
        ];
        for (text, expected) in cases {
            let error = Retentions::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn points_land_in_the_finest_level_whose_retention_covers_their_age() {
        let retentions = Retentions::parse(DEFAULT_RETENTIONS).unwrap();
        let days = |days: u64| Duration::from_secs(days * 86_400);
        assert_eq!(retentions.landing(days(3)), Some(None));
        assert_eq!(retentions.landing(days(7)), Some(None));
        assert_eq!(retentions.landing(days(30)).unwrap().unwrap().seconds, 60);
        assert_eq!(retentions.landing(days(60)).unwrap().unwrap().seconds, 60);
        assert_eq!(
            retentions.landing(days(200)).unwrap().unwrap().seconds,
            3_600
        );
        assert_eq!(retentions.landing(days(6 * 365)), None);
    }

    #[test]
    fn aggregations_are_whispers() {
        let values = [3.0, 1.0, 2.0];
        assert_eq!(Aggregation::Average.apply(&values), Some(2.0));
        assert_eq!(Aggregation::Sum.apply(&values), Some(6.0));
        assert_eq!(Aggregation::Min.apply(&values), Some(1.0));
        assert_eq!(Aggregation::Max.apply(&values), Some(3.0));
        assert_eq!(Aggregation::Last.apply(&values), Some(2.0));
        assert_eq!(Aggregation::Sum.apply(&[]), None);
        let half = AggregationRule {
            aggregation: Aggregation::Sum,
            x_files_factor: 0.5,
        };
        assert_eq!(half.bucket_value(&[1.0, 2.0], 4), Some(3.0));
        assert_eq!(half.bucket_value(&[1.0], 4), None);
    }

    fn settings(
        retention_rules: &[(&str, &str)],
        aggregation_rules: &[(&str, Aggregation, f64)],
    ) -> SchemaSettings {
        SchemaSettings {
            retentions: DEFAULT_RETENTIONS.into(),
            retention_rules: retention_rules
                .iter()
                .map(|(pattern, retentions)| RetentionRuleSetting {
                    pattern: (!pattern.starts_with("glob:")).then(|| pattern.to_string()),
                    glob: pattern.strip_prefix("glob:").map(str::to_owned),
                    retentions: retentions.to_string(),
                })
                .collect(),
            aggregation_rules: aggregation_rules
                .iter()
                .map(
                    |(pattern, aggregation, x_files_factor)| AggregationRuleSetting {
                        pattern: Some(pattern.to_string()),
                        glob: None,
                        aggregation: *aggregation,
                        x_files_factor: *x_files_factor,
                    },
                )
                .collect(),
        }
    }

    #[test]
    fn the_first_matching_rule_wins_then_the_default() {
        let schema = StorageSchema::from_settings(&settings(
            &[
                ("^business\\.", "1m:30d,1h:10y"),
                ("glob:servers.*.load", "10s:1d,1m:30d"),
                ("business", "10s:1d"),
            ],
            &[
                ("^latency\\.", Aggregation::Max, 0.2),
                ("\\.p99$", Aggregation::Last, 0.0),
            ],
        ))
        .unwrap();
        assert_eq!(
            schema.retentions_for("business.signups").to_string(),
            "60s:2592000s,3600s:315360000s"
        );
        assert_eq!(
            schema.retentions_for("servers.web1.load").raw.retention,
            Duration::from_secs(86_400)
        );
        // A glob matches the whole name and never crosses a dot.
        assert_eq!(
            schema.retentions_for("servers.web1.load.avg"),
            &schema.default_retentions
        );
        assert_eq!(
            schema.retentions_for("servers.a.b.load"),
            &schema.default_retentions
        );
        assert_eq!(
            schema.retentions_for("old.business.x").raw.retention,
            Duration::from_secs(86_400)
        );
        assert_eq!(schema.retentions_for("other"), &schema.default_retentions);
        assert_eq!(schema.rollup_resolutions(), vec![60, 3_600]);
        assert_eq!(
            schema.longest_rollup_retention(3_600),
            Some(Duration::from_secs(10 * 365 * 86_400))
        );

        // Configured rules first, in order; then the defaults.
        assert_eq!(
            schema.aggregation_for("latency.p99").aggregation,
            Aggregation::Max
        );
        assert_eq!(
            schema.aggregation_for("api.p99").aggregation,
            Aggregation::Last
        );
        assert_eq!(
            schema.aggregation_for("api.hits.count").aggregation,
            Aggregation::Sum
        );
        assert_eq!(
            schema.aggregation_for("api.bytes.sum").aggregation,
            Aggregation::Sum
        );
        assert_eq!(
            schema.aggregation_for("api.latency.min").aggregation,
            Aggregation::Min
        );
        assert_eq!(
            schema.aggregation_for("api.latency.max").aggregation,
            Aggregation::Max
        );
        assert_eq!(
            schema.aggregation_for("api.latency.maximum"),
            DEFAULT_AGGREGATION
        );
        assert_eq!(schema.aggregation_for("latency.x").x_files_factor, 0.2);
    }

    #[test]
    fn a_bad_rule_is_refused_in_one_line_naming_it() {
        let cases: [(SchemaSettings, &str, &str); 5] = [
            (
                settings(&[("^ok", "1m:1d"), ("^broken(", "1m:1d")], &[]),
                "storage_worker.retention_rules",
                "rule 2 (pattern \"^broken(\")",
            ),
            (
                settings(&[("^ok", "1m:1d,7s:2d")], &[]),
                "storage_worker.retention_rules",
                "rule 1 (pattern \"^ok\"): resolution 7s",
            ),
            (
                settings(&[("glob:a.{b", "1m:1d")], &[]),
                "storage_worker.retention_rules",
                "rule 1 (glob \"a.{b\")",
            ),
            (
                settings(&[], &[("^x", Aggregation::Sum, 1.5)]),
                "storage_worker.aggregation_rules",
                "rule 1 (pattern \"^x\"): x_files_factor 1.5",
            ),
            (
                SchemaSettings {
                    retention_rules: vec![RetentionRuleSetting {
                        pattern: None,
                        glob: None,
                        retentions: "1m:1d".into(),
                    }],
                    ..SchemaSettings::default()
                },
                "storage_worker.retention_rules",
                "rule 1: give exactly one",
            ),
        ];
        for (settings, key, expected) in cases {
            let error = StorageSchema::from_settings(&settings).unwrap_err();
            assert_eq!(error.key, key);
            assert!(error.reason.contains(expected), "{}", error.reason);
            assert!(!error.to_string().contains('\n'), "{error}");
        }
    }
}
