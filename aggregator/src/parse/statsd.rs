//! Metric lines, etsy statsd's format with the DogStatsD extensions: the one parser of the
//! common case, a key, a value and a type in one pass.
//!
//! `name[;k=v...]:value[:value...]|type[|@rate][|#tags][|T<unix seconds>][|c:id]`
//!
//! * Types: counter `c`, gauge `g`, timer `ms`, histogram `h`, distribution `d`, set `s`.
//! * Validation follows etsy statsd's `lib/helpers.js` `is_valid_packet`: a type is required; a
//!   sample rate is `@` followed by a number that does not start with `-`; a set member is
//!   anything; gauges are signed numbers; timers are numbers `>= 0`; every other type a number.
//!   Deliberate differences, each a refusal of something etsy would turn into garbage:
//!   - `@0` is refused ([`ParseError::ZeroSampleRate`]): etsy accepts it and then divides by
//!     it, making the counter `Infinity`, which no backend can store.
//!   - Numbers are decimal only: JavaScript's `isNaN` also lets through hex (`0x10`),
//!     `Infinity` and surrounding spaces, none of which a statsd client sends on purpose.
//!   - Names, tags, set members, event fields and timestamps are held to the limits of every
//!     record on the stream (`abacus_proto::limits`: no NUL byte, names up to 1,024 bytes, 64
//!     tags, times from 1970 to 9999), refused as [`ParseError::OverLimit`]: PostgreSQL would
//!     refuse them later, and etsy passes them on to a backend that chokes on them.
//!   - Histograms and distributions must be `>= 0` like timers: DogStatsD allows negative ones,
//!     but the histogram encoding contract (`abacus_proto::histogram`) holds only values >= 0,
//!     and refusing is better than silently clamping.
//! * etsy semantics kept: a sample rate is accepted on every type but only weighs counters and
//!   timers (etsy ignores it for gauges and sets); an empty set member counts as `"0"`, as
//!   etsy's `fields[0] || '0'` does; a gauge value with a leading sign is a delta.
//! * DogStatsD extensions: `#` tags; packed values (`name:1:2:3|ms`, several samples in one
//!   line); `|T<unix seconds>` on counters and gauges; `|c:<container id>`, `|e:<external
//!   data>` and `|card:<cardinality>` (origin detection, accepted and ignored). Fields after the
//!   type come in any order, each at most once.
//! * Packed values and sets: like the Datadog agent, a set's value is never split, so
//!   `ids:b:c|s` adds the one member `b:c`. Members may legitimately contain `:` (URNs,
//!   `host:port`), while "several members in one line" is not something any client sends.
//! * etsy / Graphite style tags in the name, `name;k=v;k2=v2`, are split off the name (etsy's key
//!   sanitizing keeps `;` and `=` for exactly this) and later merged with the `#` tags into one
//!   sorted set, where `k=v` and `#k:v` are the same tag.

use super::line_fields::{set_once, split_ascii, split_at_byte};
use super::numbers::{parse_number, parse_unix_seconds, short_decimal_prefix};
use super::ParseError;
use abacus_proto::limits::{self, LimitError};
use std::borrow::Cow;

/// One parsed metric line (possibly carrying several packed values).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The metric name without etsy-style tags, sanitized the way etsy statsd does it.
    pub name: Cow<'a, str>,
    /// The etsy-style tags that followed the name, `k=v;k2=v2` (sanitized like the name, without
    /// the leading `;`); empty when the name had none.
    pub name_tags: Cow<'a, str>,
    /// The raw DogStatsD tag list (`k:v,flag`), unsorted; empty when the line has none.
    pub tags: &'a str,
    pub value: SampleValue<'a>,
    /// The DogStatsD `|T` timestamp, in unix seconds (counters and gauges only).
    pub timestamp_unix_seconds: Option<i64>,
}

impl<'a> Sample<'a> {
    /// Every tag of the sample as `(key, value)`, from the name (`k=v`) then from `#` (`k:v`);
    /// flags have an empty value. Not sorted or de-duplicated; the aggregator does that.
    pub fn tag_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        let from_name = split_ascii(&self.name_tags, b';')
            .filter(|tag| !tag.is_empty())
            .map(|tag| split_at_byte(tag, b'=').unwrap_or((tag, "")));
        let from_dogstatsd = split_ascii(self.tags, b',')
            .filter(|tag| !tag.is_empty())
            .map(|tag| split_at_byte(tag, b':').unwrap_or((tag, "")));
        from_name.chain(from_dogstatsd)
    }
}

/// What a sample contributes, by metric type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SampleValue<'a> {
    /// Add `value / sample_rate` to the counter, for every value.
    Counter {
        values: PackedValues<'a>,
        sample_rate: f64,
    },
    /// For every value in order: set the gauge, or add to it when the value is signed
    /// ([`NumericValue::is_delta`]) and the gauge exists.
    Gauge { values: PackedValues<'a> },
    /// Record every value (milliseconds for timers; any unit for histograms and distributions),
    /// each standing for `1 / sample_rate` samples.
    Timer {
        kind: TimerKind,
        values: PackedValues<'a>,
        sample_rate: f64,
    },
    /// Add `member` to the set.
    Set { member: &'a str },
}

/// Which of the three timer-like types a line used. They aggregate identically and share one
/// series per name and tags (the wire has a single timer aggregate); the kind is kept for
/// whoever wants to tell them apart later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// `ms`
    Timer,
    /// `h`
    Histogram,
    /// `d`
    Distribution,
}

/// The validated value text of a metric line: one number, or several separated by `:`. The
/// first value is kept parsed (one number is what nearly every line has); further values are
/// parsed again when iterated instead of being stored, so parsing allocates nothing.
///
/// Every field is a whole word, with no flag: a `bool` here would leave its spare values for
/// the enums around a sample ([`SampleValue`], [`Line`], `Result`) to keep their tags in,
/// and each move of a sample then went byte by byte through that one word.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PackedValues<'a> {
    first: f64,
    /// The whole value text; its first character tells whether the first value is a delta.
    text: &'a str,
    /// Where the first value's text ends: at the end of `text`, or at the `:` before the
    /// next value.
    first_length: usize,
}

/// One value of a metric line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumericValue {
    pub value: f64,
    /// The text started with `+` or `-`: for gauges, a change rather than a new value.
    pub is_delta: bool,
}

impl NumericValue {
    fn parse(text: &str) -> Result<Self, ParseError> {
        Ok(Self {
            value: parse_number(text)?,
            is_delta: starts_with_sign(text),
        })
    }
}

/// Whether a value's text starts with `+` or `-`, which makes a gauge value a change.
fn starts_with_sign(text: &str) -> bool {
    matches!(text.as_bytes().first(), Some(b'+' | b'-'))
}

impl<'a> PackedValues<'a> {
    /// The text after the first value's `:`, when the line packed several.
    fn rest(&self) -> Option<&'a str> {
        self.text.get(self.first_length + 1..)
    }

    /// The values in line order. The text was validated by the parser, so nothing is skipped.
    pub fn iter(&self) -> impl Iterator<Item = NumericValue> + 'a {
        let first = NumericValue {
            value: self.first,
            is_delta: starts_with_sign(self.text),
        };
        let rest = self
            .rest()
            .into_iter()
            .flat_map(|rest| rest.split(':'))
            .filter_map(|text| NumericValue::parse(text).ok());
        std::iter::once(first).chain(rest)
    }

    /// What a counter line adds: every value over the sample rate.
    pub fn counter_increment(&self, sample_rate: f64) -> f64 {
        if self.first_length == self.text.len() {
            return self.first / sample_rate;
        }
        self.iter().map(|number| number.value / sample_rate).sum()
    }

    /// How many values the line packed.
    pub fn len(&self) -> usize {
        1 + self.rest().map_or(0, |rest| rest.split(':').count())
    }

    /// Never true for a parsed line; present for API completeness.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Parses a line that must be a metric sample. Inlined into [`parse_line`], its one caller on
/// the receive path, so the sample is built where the caller keeps it instead of being
/// copied out of a returned value (a 128-byte copy a line, measurable at millions of lines).
#[inline(always)]
pub(crate) fn parse_metric(line: &str) -> Result<Sample<'_>, ParseError> {
    // One pass over the key finds where it ends (`:`), where its etsy tags start (the first
    // `;`) and whether sanitizing would change it. The separators are ASCII, so their byte
    // positions are char boundaries; a byte loop over a class table is several times cheaper
    // than `str::split_once` and a separate sanitizing scan on lines this short. Plain bytes
    // (kept as they are, not a separator) are skipped four at a time with one test; from the
    // first group holding anything else, byte by byte.
    let bytes = line.as_bytes();
    let mut plain_prefix = 0;
    for group in bytes.chunks_exact(4) {
        let classes = group.iter().fold(0, |classes, &byte| {
            classes | KEY_BYTE_CLASS[usize::from(byte)]
        });
        if classes != PLAIN {
            break;
        }
        plain_prefix += 4;
    }
    let mut key_end = None;
    let mut name_end = None;
    let mut clean = true;
    for (offset, &byte) in bytes[plain_prefix..].iter().enumerate() {
        match KEY_BYTE_CLASS[usize::from(byte)] {
            PLAIN => {}
            COLON => {
                key_end = Some(plain_prefix + offset);
                break;
            }
            SEMICOLON => name_end = name_end.or(Some(plain_prefix + offset)),
            _ => clean = false,
        }
    }
    let key_end = key_end.ok_or(ParseError::MissingValue)?;
    let (raw_key, rest) = (&line[..key_end], &line[key_end + 1..]);
    let (raw_name, raw_name_tags) = match name_end {
        Some(name_end) => (&raw_key[..name_end], &raw_key[name_end + 1..]),
        None => (raw_key, ""),
    };
    // Sanitizing the two halves apart equals sanitizing the whole key: `;` is kept by the
    // sanitizer and ends any run of whitespace.
    let (name, name_tags) = if clean {
        (Cow::Borrowed(raw_name), Cow::Borrowed(raw_name_tags))
    } else {
        (sanitize_key(raw_name), sanitize_key(raw_name_tags))
    };
    if name.is_empty() {
        return Err(ParseError::EmptyName);
    }
    if name.len() > limits::MAX_NAME_BYTES {
        return Err(LimitError::TooLong {
            field: "metric name",
            bytes: name.len(),
            limit: limits::MAX_NAME_BYTES,
        }
        .into());
    }

    // Nearly every value is one short decimal ended by the type's `|` (`1|c`, `-3|g`,
    // `12.5|ms`): it is parsed in the pass that finds that `|`. Anything else (packed values,
    // an exponent, a set member, a malformed number) is found and checked the general way.
    let short_value = short_decimal_prefix(rest.as_bytes())
        .filter(|&(_, length)| rest.as_bytes().get(length) == Some(&b'|'));
    let (raw_value, after_value) = match short_value {
        // The prefix is ASCII, so `length` and the `|` after it are char boundaries.
        Some((_, length)) => (&rest[..length], &rest[length + 1..]),
        None => split_at_byte(rest, b'|').ok_or(ParseError::MissingType)?,
    };
    let short_value = short_value.map(|(value, _)| value);
    let (metric_type, more_fields) = match split_at_byte(after_value, b'|') {
        Some((metric_type, more_fields)) => (metric_type, Some(more_fields)),
        None => (after_value, None),
    };
    // Decided once, as bytes: matching the string against each name again costs more than
    // the rest of a short line.
    let metric_type = match metric_type.as_bytes() {
        b"c" => MetricType::Counter,
        b"g" => MetricType::Gauge,
        b"ms" => MetricType::Timer(TimerKind::Timer),
        b"h" => MetricType::Timer(TimerKind::Histogram),
        b"d" => MetricType::Timer(TimerKind::Distribution),
        b"s" => MetricType::Set,
        b"" => return Err(ParseError::MissingType),
        _ => return Err(ParseError::UnknownType),
    };

    let mut sample_rate = None;
    let mut tags = None;
    let mut timestamp = None;
    let mut origin_fields_seen = [false; 3];
    for field in more_fields
        .into_iter()
        .flat_map(|fields| split_ascii(fields, b'|'))
    {
        if let Some(rate) = field.strip_prefix('@') {
            set_once(&mut sample_rate, parse_sample_rate(rate)?)?;
        } else if let Some(tag_list) = field.strip_prefix('#') {
            set_once(&mut tags, tag_list)?;
        } else if let Some(seconds) = field.strip_prefix('T') {
            set_once(&mut timestamp, parse_unix_seconds(seconds)?)?;
        } else if let Some(index) = ["c:", "e:", "card:"]
            .iter()
            .position(|prefix| field.starts_with(prefix))
        {
            // Origin detection (container id, external data, tag cardinality): a DogStatsD
            // agent feature for enriching tags from the container runtime, which Abacus has
            // no use for. Accepted so such clients work, then ignored.
            if std::mem::replace(&mut origin_fields_seen[index], true) {
                return Err(ParseError::DuplicateField);
            }
        } else {
            return Err(ParseError::UnknownField);
        }
    }
    let sample_rate = sample_rate.unwrap_or(1.0);

    // Both ways give the first value and the length of its text as plain numbers, and the
    // values are built from them here: a `Result<PackedValues, _>` from either way went
    // through memory, byte by byte, on every line.
    let first_value = |must_not_be_negative: bool| match short_value {
        Some(value) if must_not_be_negative && value < 0.0 => Err(ParseError::NegativeTimerValue),
        Some(value) => Ok((value, raw_value.len())),
        None => packed_values(raw_value, must_not_be_negative),
    };
    let values = |(first, first_length): (f64, usize)| PackedValues {
        first,
        text: raw_value,
        first_length,
    };
    let value = match metric_type {
        MetricType::Counter => SampleValue::Counter {
            values: values(first_value(false)?),
            sample_rate,
        },
        MetricType::Gauge => SampleValue::Gauge {
            values: values(first_value(false)?),
        },
        MetricType::Timer(kind) => SampleValue::Timer {
            kind,
            values: values(first_value(true)?),
            sample_rate,
        },
        MetricType::Set => {
            // A member is only hashed, never stored, but a NUL byte in it is no more a
            // member than it is a name.
            if memchr::memchr(0, raw_value.as_bytes()).is_some() {
                return Err(LimitError::NulByte {
                    field: "set member",
                }
                .into());
            }
            SampleValue::Set {
                member: if raw_value.is_empty() { "0" } else { raw_value },
            }
        }
    };
    let takes_timestamp = matches!(
        value,
        SampleValue::Counter { .. } | SampleValue::Gauge { .. }
    );
    if timestamp.is_some() && !takes_timestamp {
        return Err(ParseError::TimestampNotAllowed);
    }
    let sample = Sample {
        name,
        name_tags,
        tags: tags.unwrap_or_default(),
        value,
        timestamp_unix_seconds: timestamp,
    };
    if !sample.tags.is_empty() || !sample.name_tags.is_empty() {
        check_sample_tags(&sample)?;
    }
    Ok(sample)
}

/// The tags of a tagged sample against [`limits::check_tags`]. The etsy tags in the name are
/// sanitized (no NUL can be left in them), so a short tag list needs only its `#` part
/// searched for a NUL byte: under `2 * MAX_TAGS` bytes it cannot hold more tags, or a longer
/// tag, or more bytes in all, than the limits allow. Only a long list is walked tag by tag.
#[inline(never)]
fn check_sample_tags(sample: &Sample<'_>) -> Result<(), LimitError> {
    if sample.tags.len() + sample.name_tags.len() < 2 * limits::MAX_TAGS {
        if memchr::memchr(0, sample.tags.as_bytes()).is_some() {
            return Err(LimitError::NulByte { field: "tags" });
        }
        return Ok(());
    }
    limits::check_tags("tags", sample.tag_pairs())
}

/// The `|type` of a metric line.
#[derive(Clone, Copy)]
enum MetricType {
    Counter,
    Gauge,
    Timer(TimerKind),
    Set,
}

/// Checks every `:`-separated value of a metric line; returns the first, parsed, and the
/// length of its text. The general case, for anything but one short decimal; kept out of line
/// so the common path stays small.
#[inline(never)]
fn packed_values(text: &str, must_not_be_negative: bool) -> Result<(f64, usize), ParseError> {
    let (first_text, rest) = match split_at_byte(text, b':') {
        Some((first, rest)) => (first, Some(rest)),
        None => (text, None),
    };
    let first = parse_number(first_text)?;
    // `-0` is allowed, as etsy's `Number("-0") >= 0` is true.
    if must_not_be_negative && first < 0.0 {
        return Err(ParseError::NegativeTimerValue);
    }
    for value_text in rest.into_iter().flat_map(|rest| rest.split(':')) {
        let value = parse_number(value_text)?;
        if must_not_be_negative && value < 0.0 {
            return Err(ParseError::NegativeTimerValue);
        }
    }
    Ok((first, first_text.len()))
}

/// What a byte of a metric key means to [`parse_metric`]'s scan, as bits, so the classes of
/// several bytes can be or-ed and tested at once. A plain byte is kept as it is by
/// [`sanitize_key`] and is not a separator.
const PLAIN: u8 = 0;
/// Ends the key.
const COLON: u8 = 1;
/// Starts etsy-style tags (the first one does); kept by the sanitizer.
const SEMICOLON: u8 = 2;
/// Changed or dropped by [`sanitize_key`].
const SANITIZED: u8 = 4;

const KEY_BYTE_CLASS: [u8; 256] = {
    let mut classes = [SANITIZED; 256];
    let mut byte = 0;
    while byte < 256 {
        classes[byte] = match byte as u8 {
            b':' => COLON,
            b';' => SEMICOLON,
            _ if KEPT_KEY_BYTES[byte] => PLAIN,
            _ => SANITIZED,
        };
        byte += 1;
    }
    classes
};

/// The bytes [`sanitize_key`] keeps as they are: `[A-Za-z0-9_.;=-]`.
const KEPT_KEY_BYTES: [bool; 256] = {
    let mut kept = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let character = byte as u8;
        kept[byte] = character.is_ascii_alphanumeric()
            || matches!(character, b'_' | b'-' | b'.' | b';' | b'=');
        byte += 1;
    }
    kept
};

/// Sanitizes a key exactly like etsy statsd: runs of whitespace become `_`, `/` becomes `-`,
/// and any character outside `[A-Za-z0-9_.;=-]` is dropped. Borrows when nothing changes.
pub fn sanitize_key(key: &str) -> Cow<'_, str> {
    let is_kept = |character: char| {
        character.is_ascii_alphanumeric() || matches!(character, '_' | '-' | '.' | ';' | '=')
    };
    // Every kept character is ASCII, so a byte scan decides the common clean case (one table
    // look-up per byte); any other byte (including each byte of a multi-byte character) sends
    // the key to the slow path.
    if key.bytes().all(|byte| KEPT_KEY_BYTES[usize::from(byte)]) {
        return Cow::Borrowed(key);
    }
    let mut sanitized = String::with_capacity(key.len());
    let mut previous_was_whitespace = false;
    for character in key.chars() {
        if character.is_whitespace() {
            if !previous_was_whitespace {
                sanitized.push('_');
            }
            previous_was_whitespace = true;
            continue;
        }
        previous_was_whitespace = false;
        if character == '/' {
            sanitized.push('-');
        } else if is_kept(character) {
            sanitized.push(character);
        }
    }
    Cow::Owned(sanitized)
}

/// etsy's `isValidSampleRate`: `@` then a number whose first character is not `-` (so `@+0.5`
/// passes, as it does in etsy).
fn parse_sample_rate(text: &str) -> Result<f64, ParseError> {
    if text.starts_with('-') {
        return Err(ParseError::InvalidSampleRate);
    }
    let rate = parse_number(text).map_err(|_| ParseError::InvalidSampleRate)?;
    // etsy accepts 0 and then computes value * (1 / 0) = Infinity. Every use of the rate here
    // divides by it too (counter increments, timer counts and weights), so 0 is refused at the
    // door rather than poisoning the series with an infinity no backend can store.
    if rate == 0.0 {
        return Err(ParseError::ZeroSampleRate);
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::test_errors::nul;
    use crate::parse::{parse_line, Line};

    /// A compact, comparable view of a parsed metric for the tables below.
    #[derive(Debug, PartialEq)]
    struct View {
        name: String,
        tags: Vec<(String, String)>,
        kind: &'static str,
        values: Vec<f64>,
        deltas: Vec<bool>,
        sample_rate: f64,
        member: String,
        timestamp: Option<i64>,
    }

    fn view(name: &str, kind: &'static str, values: &[f64]) -> View {
        View {
            name: name.to_owned(),
            tags: vec![],
            kind,
            values: values.to_vec(),
            deltas: vec![false; values.len()],
            sample_rate: 1.0,
            member: String::new(),
            timestamp: None,
        }
    }

    fn with(mut view: View, change: impl FnOnce(&mut View)) -> View {
        change(&mut view);
        view
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    fn observe(sample: &Sample<'_>) -> View {
        let (kind, values, sample_rate, member) = match sample.value {
            SampleValue::Counter {
                values,
                sample_rate,
            } => ("c", Some(values), sample_rate, ""),
            SampleValue::Gauge { values } => ("g", Some(values), 1.0, ""),
            SampleValue::Timer {
                kind,
                values,
                sample_rate,
            } => {
                let kind = match kind {
                    TimerKind::Timer => "ms",
                    TimerKind::Histogram => "h",
                    TimerKind::Distribution => "d",
                };
                (kind, Some(values), sample_rate, "")
            }
            SampleValue::Set { member } => ("s", None, 1.0, member),
        };
        let numbers: Vec<NumericValue> = values
            .map(|values| values.iter().collect())
            .unwrap_or_default();
        View {
            name: sample.name.to_string(),
            tags: sample
                .tag_pairs()
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect(),
            kind,
            values: numbers.iter().map(|number| number.value).collect(),
            deltas: numbers.iter().map(|number| number.is_delta).collect(),
            sample_rate,
            member: member.to_owned(),
            timestamp: sample.timestamp_unix_seconds,
        }
    }

    fn metric(line: &str) -> Sample<'_> {
        match parse_line(line.as_bytes()) {
            Ok(Line::Metric(sample)) => sample,
            other => panic!("{line:?} should parse as a metric, got {other:?}"),
        }
    }

    #[test]
    fn well_formed_metric_lines() {
        let rate = |sample_rate: f64| move |view: &mut View| view.sample_rate = sample_rate;
        let deltas = |deltas: &'static [bool]| move |view: &mut View| view.deltas = deltas.to_vec();
        let member = |member: &'static str| move |view: &mut View| view.member = member.into();
        let cases: Vec<(&str, View)> = vec![
            ("deploys:1|c", view("deploys", "c", &[1.0])),
            ("a:1|c|@0.1", with(view("a", "c", &[1.0]), rate(0.1))),
            ("a:1|c|@.2", with(view("a", "c", &[1.0]), rate(0.2))),
            ("a:1|c|@2e-1", with(view("a", "c", &[1.0]), rate(0.2))),
            ("a:1|c|@+0.5", with(view("a", "c", &[1.0]), rate(0.5))),
            ("a:1|c|@2", with(view("a", "c", &[1.0]), rate(2.0))),
            ("a:-4|c", with(view("a", "c", &[-4.0]), deltas(&[true]))),
            ("a.b-c_d:2.5|c", view("a.b-c_d", "c", &[2.5])),
            ("a:1:2:3|c", view("a", "c", &[1.0, 2.0, 3.0])),
            ("temp:50|g", view("temp", "g", &[50.0])),
            (
                "temp:-3|g",
                with(view("temp", "g", &[-3.0]), deltas(&[true])),
            ),
            (
                "temp:+3|g",
                with(view("temp", "g", &[3.0]), deltas(&[true])),
            ),
            ("temp:1e3|g", view("temp", "g", &[1000.0])),
            (
                "temp:1:+2|g",
                with(view("temp", "g", &[1.0, 2.0]), deltas(&[false, true])),
            ),
            // etsy accepts a sample rate on gauges and ignores it.
            ("temp:1|g|@0.5", view("temp", "g", &[1.0])),
            ("glork:320|ms", view("glork", "ms", &[320.0])),
            (
                "glork:0.25|ms|@0.1",
                with(view("glork", "ms", &[0.25]), rate(0.1)),
            ),
            (
                "glork:-0|ms",
                with(view("glork", "ms", &[-0.0]), deltas(&[true])),
            ),
            ("glork:1:2:3|ms", view("glork", "ms", &[1.0, 2.0, 3.0])),
            ("size:512|h", view("size", "h", &[512.0])),
            ("latency:7.5:8|d", view("latency", "d", &[7.5, 8.0])),
            (
                "users:alice|s",
                with(view("users", "s", &[]), member("alice")),
            ),
            (
                "users:42|s|@0.5",
                with(view("users", "s", &[]), member("42")),
            ),
            ("ids:b:c|s", with(view("ids", "s", &[]), member("b:c"))),
            ("users:|s", with(view("users", "s", &[]), member("0"))),
            (
                "req:1|c|#env:prod,canary",
                with(view("req", "c", &[1.0]), |view| {
                    view.tags = tags(&[("env", "prod"), ("canary", "")])
                }),
            ),
            (
                "req:1|c|#env:prod|@0.5|c:83c0a99c0a54c0c187f461c7980e9b57",
                with(view("req", "c", &[1.0]), |view| {
                    view.tags = tags(&[("env", "prod")]);
                    view.sample_rate = 0.5;
                }),
            ),
            (
                "req:1|c|T1700000000|#env:prod|e:it-false,cn-x|card:high",
                with(view("req", "c", &[1.0]), |view| {
                    view.tags = tags(&[("env", "prod")]);
                    view.timestamp = Some(1_700_000_000);
                }),
            ),
            (
                "temp:3|g|T1700000000",
                with(view("temp", "g", &[3.0]), |view| {
                    view.timestamp = Some(1_700_000_000)
                }),
            ),
            (
                "cpu;host=a;env=prod:1|c|#env:prod,zone:z1",
                with(view("cpu", "c", &[1.0]), |view| {
                    view.tags = tags(&[
                        ("host", "a"),
                        ("env", "prod"),
                        ("env", "prod"),
                        ("zone", "z1"),
                    ]);
                }),
            ),
            (
                "cpu;;flag:1|c",
                with(view("cpu", "c", &[1.0]), |view| {
                    view.tags = tags(&[("flag", "")])
                }),
            ),
            ("my key/x:1|c", view("my_key-x", "c", &[1.0])),
            ("a\t \tb:1|c", view("a_b", "c", &[1.0])),
            ("a$%b:1|c", view("ab", "c", &[1.0])),
            (
                "a b;k=v w:1|c",
                with(view("a_b", "c", &[1.0]), |view| {
                    view.tags = tags(&[("k", "v_w")])
                }),
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(observe(&metric(line)), expected, "{line:?}");
        }
    }

    #[test]
    fn malformed_metric_lines() {
        let cases: &[(&[u8], ParseError)] = &[
            (b"", ParseError::MissingValue),
            (b"deploys", ParseError::MissingValue),
            (b"deploys:1", ParseError::MissingType),
            (b"deploys:1|", ParseError::MissingType),
            (b":1|c", ParseError::EmptyName),
            (b"$$:1|c", ParseError::EmptyName),
            (b";env=prod:1|c", ParseError::EmptyName),
            (b"a:1|x", ParseError::UnknownType),
            (b"a:1|C", ParseError::UnknownType),
            // The type must come right after the value; only the fields after it are free.
            (b"req:1|#env:prod|c", ParseError::UnknownType),
            (b"a:abc|c", ParseError::InvalidValue),
            (b"a:|c", ParseError::InvalidValue),
            (b"a:|g", ParseError::InvalidValue),
            (b"a:|ms", ParseError::InvalidValue),
            (b"a:NaN|g", ParseError::InvalidValue),
            (b"a:inf|c", ParseError::InvalidValue),
            (b"a:0x10|c", ParseError::InvalidValue),
            (b"a: 1|c", ParseError::InvalidValue),
            (b"a:1e999|c", ParseError::InvalidValue),
            (b"a:1::2|c", ParseError::InvalidValue),
            (b"a:1:|ms", ParseError::InvalidValue),
            (b"a:1:x|g", ParseError::InvalidValue),
            (b"a:-1|ms", ParseError::NegativeTimerValue),
            (b"a:1:-1|ms", ParseError::NegativeTimerValue),
            (b"a:-0.5|h", ParseError::NegativeTimerValue),
            (b"a:-2|d", ParseError::NegativeTimerValue),
            (b"a:1|c|@", ParseError::InvalidSampleRate),
            (b"a:1|c|@-1", ParseError::InvalidSampleRate),
            (b"a:1|c|@-0", ParseError::InvalidSampleRate),
            (b"a:1|c|@.1.", ParseError::InvalidSampleRate),
            (b"a:1|c|@abc", ParseError::InvalidSampleRate),
            (b"a:1|ms|@", ParseError::InvalidSampleRate),
            (b"a:1|s|@x", ParseError::InvalidSampleRate),
            (b"a:1|c|@0", ParseError::ZeroSampleRate),
            (b"a:1|c|@0.0", ParseError::ZeroSampleRate),
            (b"a:1|c|foo", ParseError::UnknownField),
            (b"a:1|c|", ParseError::UnknownField),
            (b"a:1|c|x:y", ParseError::UnknownField),
            (b"a:1|c|@0.5|@0.1", ParseError::DuplicateField),
            (b"a:1|c|#a|#b", ParseError::DuplicateField),
            (b"a:1|c|c:x|c:y", ParseError::DuplicateField),
            (b"a:1|c|T1|T2", ParseError::DuplicateField),
            (b"a:1|c|T", ParseError::InvalidTimestamp),
            (b"a:1|c|T-5", ParseError::InvalidTimestamp),
            (b"a:1|c|T1.5", ParseError::InvalidTimestamp),
            (b"a:1|c|T99999999999999999999", ParseError::InvalidTimestamp),
            (b"a:1|ms|T1700000000", ParseError::TimestampNotAllowed),
            (b"a:x|s|T1700000000", ParseError::TimestampNotAllowed),
            (b"a:\xff|c", ParseError::NotUtf8),
            (b"a:1|c|#env:pr\0d", nul("tags")),
            (b"a;k=v:1|c|#\0", nul("tags")),
            (b"ids:us\0er|s", nul("set member")),
        ];
        for (line, expected) in cases {
            assert_eq!(
                parse_line(line),
                Err(*expected),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    /// Lines at and just past each limit: the largest allowed parses, one byte or tag more is
    /// refused with the limit named.
    #[test]
    fn metric_lines_at_and_past_the_limits() {
        let longest_name = "n".repeat(limits::MAX_NAME_BYTES);
        assert!(parse_line(format!("{longest_name}:1|c").as_bytes()).is_ok());
        assert_eq!(
            parse_line(format!("{longest_name}x:1|c").as_bytes()),
            Err(ParseError::OverLimit(LimitError::TooLong {
                field: "metric name",
                bytes: limits::MAX_NAME_BYTES + 1,
                limit: limits::MAX_NAME_BYTES,
            }))
        );
        // A 60,000-byte name, as a careless client sent it.
        let huge = format!("{}:1|c", "x".repeat(60_000));
        assert!(matches!(
            parse_line(huge.as_bytes()),
            Err(ParseError::OverLimit(LimitError::TooLong { .. }))
        ));

        let tags = |count: usize| {
            (0..count)
                .map(|index| format!("t{index}:v"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let most_tags = format!("a:1|c|#{}", tags(limits::MAX_TAGS));
        assert!(parse_line(most_tags.as_bytes()).is_ok());
        let too_many = format!("a:1|c|#{}", tags(limits::MAX_TAGS + 1));
        assert_eq!(
            parse_line(too_many.as_bytes()),
            Err(ParseError::OverLimit(LimitError::TooManyTags {
                field: "tags",
                count: limits::MAX_TAGS + 1,
                limit: limits::MAX_TAGS,
            }))
        );
        // 10,000 tags, half of them etsy style in the name.
        let etsy_tags: String = (0..5_000).map(|index| format!(";e{index}=v")).collect();
        let flood = format!("a{etsy_tags}:1|c|#{}", tags(5_000));
        assert!(matches!(
            parse_line(flood.as_bytes()),
            Err(ParseError::OverLimit(LimitError::TooManyTags {
                count: 10_000,
                ..
            }))
        ));
        let long_tag = format!("a:1|c|#k:{}", "v".repeat(limits::MAX_TAG_BYTES));
        assert!(matches!(
            parse_line(long_tag.as_bytes()),
            Err(ParseError::OverLimit(LimitError::TooLong {
                field: "tags",
                ..
            }))
        ));
        // A NUL byte past the short-list fast path is found by the walk.
        let long_list_with_nul = format!("a:1|c|#{},k:\0", tags(30));
        assert_eq!(parse_line(long_list_with_nul.as_bytes()), Err(nul("tags")));
    }

    #[test]
    fn a_clean_line_borrows_instead_of_copying() {
        assert!(matches!(sanitize_key("api.requests"), Cow::Borrowed(_)));
        assert!(matches!(sanitize_key("api requests"), Cow::Owned(_)));
        let sample = metric("api.requests;env=prod:1|c|#zone:a");
        assert!(matches!(sample.name, Cow::Borrowed(_)));
        assert!(matches!(sample.name_tags, Cow::Borrowed(_)));
    }

    proptest::proptest! {
        /// A value read in the pass that finds its `|` gives the same sample, or the same
        /// error, as checking the value text on its own does.
        #[test]
        fn a_value_read_with_its_separator_equals_the_general_check(
            text in "[+-]?[0-9.]{0,18}(e[+-]?[0-9]{1,2})?(:[0-9]{1,3})?",
            metric_type in proptest::sample::select(vec!["c", "g", "ms"]),
        ) {
            let line = format!("k:{text}|{metric_type}");
            let must_not_be_negative = metric_type == "ms";
            let expected = packed_values(&text, must_not_be_negative).map(|(first, first_length)| {
                PackedValues { first, text: &text, first_length }.iter().collect::<Vec<_>>()
            });
            let parsed = parse_metric(&line).map(|sample| match sample.value {
                SampleValue::Counter { values, .. }
                | SampleValue::Gauge { values }
                | SampleValue::Timer { values, .. } => values.iter().collect::<Vec<_>>(),
                SampleValue::Set { .. } => unreachable!("not a set line"),
            });
            proptest::prop_assert_eq!(parsed, expected, "{}", line);
        }
    }
}
