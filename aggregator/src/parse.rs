//! The statsd / DogStatsD line parser: pure functions from bytes to a [`Line`], with no sockets,
//! clocks or allocation for the common case. Names and tags borrow from the input.
//!
//! # Metrics
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
//!
//! # Events and service checks (DogStatsD)
//!
//! `_e{title_length,text_length}:title|text|d:ts|h:host|k:key|p:priority|s:source|t:alert|#tags`
//! and `_sc|name|status|d:ts|h:host|#tags|m:message`, parsed into an [`Event`]. Lengths are
//! validated as the Datadog agent does (non-negative integers, non-empty title, the line at
//! least as long as declared), plus two checks it leaves out: the header must end with `}` and
//! the declared lengths must end exactly at `|` separators, so a wrong length is reported
//! rather than silently cutting the text. `\n` escapes in title and text become newlines. A
//! service check's `m:` message runs to the end of the line, as the DogStatsD docs require it
//! to be last, so it may contain `|`.
//!
//! # Graphite plaintext
//!
//! [`parse_graphite_line`] reads `path value timestamp`, the carbon plaintext protocol.

use abacus_proto::limits::{self, LimitError};
use std::borrow::Cow;

/// One parsed line: a metric sample or an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Line<'a> {
    Metric(Sample<'a>),
    Event(Event<'a>),
}

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

/// A DogStatsD event or service check.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    Event(EventMessage<'a>),
    ServiceCheck(ServiceCheck<'a>),
}

/// `_e{...}`: a DogStatsD event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventMessage<'a> {
    pub title: Cow<'a, str>,
    pub text: Cow<'a, str>,
    /// `d:`, unix seconds; absent means "when received".
    pub timestamp_unix_seconds: Option<i64>,
    /// `h:`
    pub host: Option<Cow<'a, str>>,
    /// `k:`, groups related events.
    pub aggregation_key: Option<Cow<'a, str>>,
    /// `p:`, `normal` unless given.
    pub priority: EventPriority,
    /// `s:`
    pub source_type: Option<Cow<'a, str>>,
    /// `t:`, `info` unless given.
    pub alert_type: EventAlertType,
    /// The raw `#` tag list.
    pub tags: Cow<'a, str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventPriority {
    Normal,
    Low,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAlertType {
    Info,
    Success,
    Warning,
    Error,
}

/// `_sc|...`: a DogStatsD service check.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceCheck<'a> {
    pub name: Cow<'a, str>,
    pub status: ServiceCheckStatus,
    /// `d:`, unix seconds.
    pub timestamp_unix_seconds: Option<i64>,
    /// `h:`
    pub host: Option<Cow<'a, str>>,
    /// The raw `#` tag list.
    pub tags: Cow<'a, str>,
    /// `m:`, the rest of the line.
    pub message: Option<Cow<'a, str>>,
}

/// The DogStatsD service check statuses, with their wire numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceCheckStatus {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl Event<'_> {
    /// A copy that no longer borrows the datagram, to be kept past the receive buffer's reuse.
    pub fn into_owned(self) -> Event<'static> {
        fn own(text: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(text.into_owned())
        }
        match self {
            Event::Event(event) => Event::Event(EventMessage {
                title: own(event.title),
                text: own(event.text),
                timestamp_unix_seconds: event.timestamp_unix_seconds,
                host: event.host.map(own),
                aggregation_key: event.aggregation_key.map(own),
                priority: event.priority,
                source_type: event.source_type.map(own),
                alert_type: event.alert_type,
                tags: own(event.tags),
            }),
            Event::ServiceCheck(check) => Event::ServiceCheck(ServiceCheck {
                name: own(check.name),
                status: check.status,
                timestamp_unix_seconds: check.timestamp_unix_seconds,
                host: check.host.map(own),
                tags: own(check.tags),
                message: check.message.map(own),
            }),
        }
    }
}

/// One Graphite plaintext data point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GraphitePoint<'a> {
    /// The path exactly as sent (Graphite paths are not statsd keys: no sanitizing).
    pub path: &'a str,
    pub value: f64,
    pub timestamp_unix_seconds: i64,
}

/// Why a line was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("line is not valid utf-8")]
    NotUtf8,
    #[error("missing ':' between name and value")]
    MissingValue,
    #[error("empty metric name")]
    EmptyName,
    #[error("missing '|type'")]
    MissingType,
    #[error("unknown metric type")]
    UnknownType,
    #[error("value is not a number")]
    InvalidValue,
    #[error("timer, histogram and distribution values must not be negative")]
    NegativeTimerValue,
    #[error("sample rate must be '@' followed by a non-negative number")]
    InvalidSampleRate,
    #[error("sample rate must not be 0")]
    ZeroSampleRate,
    #[error("unknown field after the type")]
    UnknownField,
    #[error("a field appears twice")]
    DuplicateField,
    #[error("timestamp must be whole unix seconds")]
    InvalidTimestamp,
    #[error("a '|T' timestamp is only allowed on counters and gauges")]
    TimestampNotAllowed,
    #[error("event header must be '_e{{title_length,text_length}}'")]
    InvalidEventHeader,
    #[error("event title must not be empty")]
    EmptyEventTitle,
    #[error("event is shorter than its declared title and text lengths")]
    EventShorterThanDeclared,
    #[error("event title and text lengths do not end at a '|'")]
    EventLengthMismatch,
    #[error("event priority must be 'normal' or 'low'")]
    InvalidEventPriority,
    #[error("event alert type must be 'error', 'warning', 'info' or 'success'")]
    InvalidEventAlertType,
    #[error("service check must be '_sc|name|status'")]
    InvalidServiceCheck,
    #[error("service check name must not be empty")]
    EmptyServiceCheckName,
    #[error("service check status must be 0, 1, 2 or 3")]
    InvalidServiceCheckStatus,
    #[error("graphite line must be 'path value timestamp'")]
    GraphiteFieldCount,
    /// A name, tag, set member, event field or timestamp breaks one of the limits every record
    /// on the stream keeps (`abacus_proto::limits`).
    #[error(transparent)]
    OverLimit(#[from] LimitError),
}

/// Parses one line (without its newline): a metric, an event (`_e{`) or a service check
/// (`_sc|`). Never panics, whatever the bytes.
#[inline]
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, ParseError> {
    let line = utf8(line)?;
    // One byte decides the common case: a metric name rarely starts with `_`.
    if line.as_bytes().first() == Some(&b'_') {
        if line.starts_with("_e{") {
            return parse_event(line).map(|event| Line::Event(Event::Event(event)));
        }
        // `_sc|` rather than the agent's bare `_sc` prefix, so a metric named `_sc.x` stays a
        // metric.
        if let Some(body) = line.strip_prefix("_sc|") {
            return parse_service_check(body).map(|check| Line::Event(Event::ServiceCheck(check)));
        }
    }
    parse_metric(line).map(Line::Metric)
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

/// `text` before and after the first `separator` (an ASCII byte), like `str::split_once`.
#[inline]
fn split_at_byte(text: &str, separator: u8) -> Option<(&str, &str)> {
    let position = text.bytes().position(|byte| byte == separator)?;
    // An ASCII byte is a char boundary, and so is the byte after it.
    Some((&text[..position], &text[position + 1..]))
}

/// `text` split at every `separator` (an ASCII byte), like `str::split` with a `char`, by a
/// plain byte loop: cheaper than the general searcher on the short fields of a line.
fn split_ascii(text: &str, separator: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match split_at_byte(current, separator) {
            Some((piece, after)) => {
                rest = Some(after);
                Some(piece)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// The line as a `str`: ASCII (what statsd clients send) is checked a word at a time, and
/// anything else by the full UTF-8 validation.
#[inline]
fn utf8(line: &[u8]) -> Result<&str, ParseError> {
    if line.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(line) });
    }
    std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)
}

/// The `|type` of a metric line.
#[derive(Clone, Copy)]
enum MetricType {
    Counter,
    Gauge,
    Timer(TimerKind),
    Set,
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), ParseError> {
    if slot.replace(value).is_some() {
        return Err(ParseError::DuplicateField);
    }
    Ok(())
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

/// Parses a carbon plaintext line, `path value timestamp`, separated by whitespace. A timestamp
/// of `-1` means `now_unix_seconds`; fractional timestamps are truncated to whole seconds, the
/// resolution Graphite stores. Never panics, whatever the bytes.
pub fn parse_graphite_line(
    line: &[u8],
    now_unix_seconds: i64,
) -> Result<GraphitePoint<'_>, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
    let mut fields = line.split_whitespace();
    let (Some(path), Some(raw_value), Some(raw_timestamp), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(ParseError::GraphiteFieldCount);
    };
    let value = parse_number(raw_value)?;
    let timestamp_unix_seconds = if raw_timestamp == "-1" {
        now_unix_seconds
    } else {
        let seconds = parse_number(raw_timestamp).map_err(|_| ParseError::InvalidTimestamp)?;
        // The bound also keeps the cast exact.
        let earliest = limits::EARLIEST_UNIX_SECONDS as f64;
        let latest = limits::LATEST_UNIX_SECONDS as f64;
        if !(earliest..latest + 1.0).contains(&seconds) {
            return Err(LimitError::TimeOutOfRange {
                field: "graphite timestamp",
                unix_ms: (seconds * 1000.0) as i64,
            }
            .into());
        }
        seconds.trunc() as i64
    };
    let (name, tags) = path.split_once(';').unwrap_or((path, ""));
    limits::check_name("graphite path", name)?;
    if !tags.is_empty() {
        limits::check_tags(
            "graphite tags",
            tags.split(';')
                .filter(|tag| !tag.is_empty())
                .map(|tag| tag.split_once('=').unwrap_or((tag, ""))),
        )?;
    }
    Ok(GraphitePoint {
        path,
        value,
        timestamp_unix_seconds,
    })
}

fn parse_event(line: &str) -> Result<EventMessage<'_>, ParseError> {
    let (header, body) = line.split_once(':').ok_or(ParseError::InvalidEventHeader)?;
    let lengths = header
        .strip_prefix("_e{")
        .and_then(|header| header.strip_suffix('}'))
        .ok_or(ParseError::InvalidEventHeader)?;
    let (raw_title_length, raw_text_length) = lengths
        .split_once(',')
        .ok_or(ParseError::InvalidEventHeader)?;
    let title_length = parse_length(raw_title_length)?;
    let text_length = parse_length(raw_text_length)?;
    if title_length == 0 {
        return Err(ParseError::EmptyEventTitle);
    }
    // Lengths are bytes, as in the agent. Checked arithmetic: the lengths are attacker-chosen.
    let text_start = title_length
        .checked_add(1)
        .ok_or(ParseError::EventShorterThanDeclared)?;
    let text_end = text_start
        .checked_add(text_length)
        .ok_or(ParseError::EventShorterThanDeclared)?;
    if body.len() < text_end {
        return Err(ParseError::EventShorterThanDeclared);
    }
    let title = body
        .get(..title_length)
        .ok_or(ParseError::EventLengthMismatch)?;
    if body.as_bytes().get(title_length) != Some(&b'|') {
        return Err(ParseError::EventLengthMismatch);
    }
    let text = body
        .get(text_start..text_end)
        .ok_or(ParseError::EventLengthMismatch)?;
    let optional_fields = match body.get(text_end..) {
        Some("") => None,
        Some(rest) => Some(
            rest.strip_prefix('|')
                .ok_or(ParseError::EventLengthMismatch)?,
        ),
        None => return Err(ParseError::EventLengthMismatch),
    };

    let mut event = EventMessage {
        title: unescape_newlines(title),
        text: unescape_newlines(text),
        timestamp_unix_seconds: None,
        host: None,
        aggregation_key: None,
        priority: EventPriority::Normal,
        source_type: None,
        alert_type: EventAlertType::Info,
        tags: Cow::Borrowed(""),
    };
    let (mut priority, mut alert_type, mut tags) = (None, None, None);
    for field in optional_fields
        .into_iter()
        .flat_map(|fields| fields.split('|'))
    {
        if let Some(seconds) = field.strip_prefix("d:") {
            set_once(
                &mut event.timestamp_unix_seconds,
                parse_unix_seconds(seconds)?,
            )?;
        } else if let Some(host) = field.strip_prefix("h:") {
            set_once(&mut event.host, Cow::Borrowed(host))?;
        } else if let Some(key) = field.strip_prefix("k:") {
            set_once(&mut event.aggregation_key, Cow::Borrowed(key))?;
        } else if let Some(raw_priority) = field.strip_prefix("p:") {
            let parsed = match raw_priority {
                "normal" => EventPriority::Normal,
                "low" => EventPriority::Low,
                _ => return Err(ParseError::InvalidEventPriority),
            };
            set_once(&mut priority, parsed)?;
        } else if let Some(source) = field.strip_prefix("s:") {
            set_once(&mut event.source_type, Cow::Borrowed(source))?;
        } else if let Some(raw_alert_type) = field.strip_prefix("t:") {
            let parsed = match raw_alert_type {
                "error" => EventAlertType::Error,
                "warning" => EventAlertType::Warning,
                "info" => EventAlertType::Info,
                "success" => EventAlertType::Success,
                _ => return Err(ParseError::InvalidEventAlertType),
            };
            set_once(&mut alert_type, parsed)?;
        } else if let Some(tag_list) = field.strip_prefix('#') {
            set_once(&mut tags, tag_list)?;
        } else if is_origin_detection_field(field) {
            // Accepted and ignored, as on metrics.
        } else {
            return Err(ParseError::UnknownField);
        }
    }
    event.priority = priority.unwrap_or(EventPriority::Normal);
    event.alert_type = alert_type.unwrap_or(EventAlertType::Info);
    event.tags = Cow::Borrowed(tags.unwrap_or_default());
    limits::check_text("event title", &event.title, limits::MAX_EVENT_TITLE_BYTES)?;
    limits::check_text("event text", &event.text, limits::MAX_EVENT_TEXT_BYTES)?;
    check_event_fields(
        event.timestamp_unix_seconds,
        [
            ("event host", event.host.as_deref()),
            ("event aggregation key", event.aggregation_key.as_deref()),
            ("event source type", event.source_type.as_deref()),
        ],
        &event.tags,
    )?;
    Ok(event)
}

/// The limits the fields an event and a service check share must keep: the `d:` time, the
/// short text fields (host, aggregation key, source type) and the `#` tags.
fn check_event_fields<const N: usize>(
    timestamp_unix_seconds: Option<i64>,
    short_fields: [(&'static str, Option<&str>); N],
    tags: &str,
) -> Result<(), LimitError> {
    if let Some(seconds) = timestamp_unix_seconds {
        limits::check_time_ms("event time (d:)", seconds.saturating_mul(1000))?;
    }
    for (field, text) in short_fields {
        limits::check_name(field, text.unwrap_or_default())?;
    }
    limits::check_tags(
        "event tags",
        split_ascii(tags, b',')
            .filter(|tag| !tag.is_empty())
            .map(|tag| split_at_byte(tag, b':').unwrap_or((tag, ""))),
    )
}

/// `body` is the line after `_sc|`.
fn parse_service_check(body: &str) -> Result<ServiceCheck<'_>, ParseError> {
    let (name, rest) = body
        .split_once('|')
        .ok_or(ParseError::InvalidServiceCheck)?;
    if name.is_empty() {
        return Err(ParseError::EmptyServiceCheckName);
    }
    let (raw_status, mut optional_fields) = match rest.split_once('|') {
        Some((status, fields)) => (status, Some(fields)),
        None => (rest, None),
    };
    let status = match raw_status {
        "0" => ServiceCheckStatus::Ok,
        "1" => ServiceCheckStatus::Warning,
        "2" => ServiceCheckStatus::Critical,
        "3" => ServiceCheckStatus::Unknown,
        _ => return Err(ParseError::InvalidServiceCheckStatus),
    };
    let mut check = ServiceCheck {
        name: Cow::Borrowed(name),
        status,
        timestamp_unix_seconds: None,
        host: None,
        tags: Cow::Borrowed(""),
        message: None,
    };
    let mut tags = None;
    while let Some(fields) = optional_fields {
        if let Some(message) = fields.strip_prefix("m:") {
            // The message is the last field and may itself contain '|'.
            check.message = Some(Cow::Borrowed(message));
            break;
        }
        let (field, rest) = match fields.split_once('|') {
            Some((field, rest)) => (field, Some(rest)),
            None => (fields, None),
        };
        optional_fields = rest;
        if let Some(seconds) = field.strip_prefix("d:") {
            set_once(
                &mut check.timestamp_unix_seconds,
                parse_unix_seconds(seconds)?,
            )?;
        } else if let Some(host) = field.strip_prefix("h:") {
            set_once(&mut check.host, Cow::Borrowed(host))?;
        } else if let Some(tag_list) = field.strip_prefix('#') {
            set_once(&mut tags, tag_list)?;
        } else if is_origin_detection_field(field) {
            // Accepted and ignored, as on metrics.
        } else {
            return Err(ParseError::UnknownField);
        }
    }
    check.tags = Cow::Borrowed(tags.unwrap_or_default());
    limits::check_text(
        "service check name",
        &check.name,
        limits::MAX_EVENT_TITLE_BYTES,
    )?;
    limits::check_text(
        "service check message",
        check.message.as_deref().unwrap_or_default(),
        limits::MAX_EVENT_TEXT_BYTES,
    )?;
    check_event_fields(
        check.timestamp_unix_seconds,
        [("service check host", check.host.as_deref())],
        &check.tags,
    )?;
    Ok(check)
}

fn is_origin_detection_field(field: &str) -> bool {
    ["c:", "e:", "card:"]
        .iter()
        .any(|prefix| field.starts_with(prefix))
}

/// The agent turns the two characters `\n` into a newline in event titles and texts.
fn unescape_newlines(text: &str) -> Cow<'_, str> {
    if text.contains("\\n") {
        Cow::Owned(text.replace("\\n", "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

fn parse_length(text: &str) -> Result<usize, ParseError> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(ParseError::InvalidEventHeader);
    }
    text.parse().map_err(|_| ParseError::InvalidEventHeader)
}

/// Whole unix seconds: digits only (no sign, no fraction), within `i64`.
fn parse_unix_seconds(text: &str) -> Result<i64, ParseError> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(ParseError::InvalidTimestamp);
    }
    text.parse().map_err(|_| ParseError::InvalidTimestamp)
}

/// Splits a datagram into lines, skipping empty ones (statsd clients often end with `\n`).
pub fn lines(datagram: &[u8]) -> Lines<'_> {
    Lines { rest: datagram }
}

/// The iterator of [`lines`]: `memchr` finds each newline several bytes at a time (SIMD
/// where the CPU has it), cheaper even on lines of a few dozen bytes than a byte loop.
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        while !self.rest.is_empty() {
            let (line, rest) = match memchr::memchr(b'\n', self.rest) {
                Some(newline) => (&self.rest[..newline], &self.rest[newline + 1..]),
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                return Some(line);
            }
        }
        None
    }
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

/// A number as etsy statsd accepts it: an optional sign, digits with an optional fraction, and
/// an optional exponent. `NaN`, `inf` and hex, which Rust's parser would take, are refused, and
/// so are values too large for an f64.
fn parse_number(text: &str) -> Result<f64, ParseError> {
    if let Some(value) = parse_short_decimal(text) {
        return Ok(value);
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let looks_numeric = unsigned
        .bytes()
        .all(|byte| byte.is_ascii_digit() || matches!(byte, b'.' | b'e' | b'E' | b'+' | b'-'))
        && unsigned.bytes().any(|byte| byte.is_ascii_digit());
    if !looks_numeric {
        return Err(ParseError::InvalidValue);
    }
    let value: f64 = text.parse().map_err(|_| ParseError::InvalidValue)?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ParseError::InvalidValue)
    }
}

/// The fast path of [`parse_number`] for what statsd clients nearly always send: an optional
/// sign, then at most 15 digits with at most one `.` among them (`1`, `-3`, `12.25`). `None`
/// for anything else, which the general path then checks and parses.
fn parse_short_decimal(text: &str) -> Option<f64> {
    let (value, length) = short_decimal_prefix(text.as_bytes())?;
    (length == text.len()).then_some(value)
}

/// The short decimal `bytes` start with, and its length: an optional sign, then digits with
/// at most one `.` among them, up to the first other byte, with 1 to 15 digits in all. Such a
/// number is an integer mantissa below 2^53 over a power of ten up to 10^15, both exact in an
/// f64, and IEEE division rounds their quotient correctly, so the result is bit for bit what
/// `str::parse` returns for that text (Clinger's fast path).
#[inline]
fn short_decimal_prefix(bytes: &[u8]) -> Option<(f64, usize)> {
    /// 15 decimal digits stay below 2^53, where every integer is an exact f64.
    const MAX_DIGITS: usize = 15;
    const POWERS_OF_TEN: [f64; MAX_DIGITS + 1] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, start) = match bytes.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let mut mantissa: u64 = 0;
    let mut digit_count = 0;
    let mut point = None;
    let mut end = start;
    while let Some(&byte) = bytes.get(end) {
        match byte {
            b'0'..=b'9' if digit_count < MAX_DIGITS => {
                mantissa = mantissa * 10 + u64::from(byte - b'0');
                digit_count += 1;
            }
            // A 16th digit: the mantissa might not be exact any more.
            b'0'..=b'9' => return None,
            b'.' if point.is_none() => point = Some(end),
            _ => break,
        }
        end += 1;
    }
    if digit_count == 0 {
        return None;
    }
    let magnitude = match point {
        // Below 2^53 (checked by the digit count), so the conversion is exact.
        None => mantissa as f64,
        Some(point) => mantissa as f64 / POWERS_OF_TEN[end - point - 1],
    };
    Some((if negative { -magnitude } else { magnitude }, end))
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

    fn nul(field: &'static str) -> ParseError {
        ParseError::OverLimit(LimitError::NulByte { field })
    }

    fn out_of_range(field: &'static str, unix_ms: i64) -> ParseError {
        ParseError::OverLimit(LimitError::TimeOutOfRange { field, unix_ms })
    }

    /// Lines at and just past each limit: the largest allowed parses, one byte or tag more is
    /// refused with the limit named.
    #[test]
    fn lines_at_and_past_the_limits() {
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

        let long_title = "t".repeat(limits::MAX_EVENT_TITLE_BYTES + 1);
        let event = format!("_e{{{},1}}:{long_title}|x", long_title.len());
        assert!(matches!(
            parse_line(event.as_bytes()),
            Err(ParseError::OverLimit(LimitError::TooLong {
                field: "event title",
                ..
            }))
        ));
        let cases: &[(&[u8], ParseError)] = &[
            (b"_e{5,4}:ti\0le|text", nul("event title")),
            (b"_e{5,4}:title|te\0t", nul("event text")),
            (b"_e{5,4}:title|text|h:\0", nul("event host")),
            (b"_e{5,4}:title|text|#env:\0", nul("event tags")),
            (
                b"_e{5,4}:title|text|d:99999999999999",
                out_of_range("event time (d:)", 99_999_999_999_999_000),
            ),
            (b"_sc|na\0e|0", nul("service check name")),
            (b"_sc|name|0|m:\0", nul("service check message")),
            (
                b"_sc|name|0|d:99999999999999",
                out_of_range("event time (d:)", 99_999_999_999_999_000),
            ),
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

    #[test]
    fn every_parse_error_has_a_lowercase_message() {
        for error in [
            ParseError::NegativeTimerValue,
            ParseError::ZeroSampleRate,
            ParseError::EventLengthMismatch,
            ParseError::GraphiteFieldCount,
        ] {
            let message = error.to_string();
            assert_eq!(message, message.to_lowercase(), "{error:?}");
        }
    }

    fn event(line: &str) -> EventMessage<'_> {
        match parse_line(line.as_bytes()) {
            Ok(Line::Event(Event::Event(event))) => event,
            other => panic!("{line:?} should parse as an event, got {other:?}"),
        }
    }

    #[test]
    fn events_with_every_field() {
        let parsed = event(
            "_e{5,15}:title|text\\nwith|pipe|d:1700000000|h:web-1|k:deploy|p:low|s:jenkins|t:error|#env:prod,canary|c:abc",
        );
        assert_eq!(parsed.title, "title");
        assert_eq!(parsed.text, "text\nwith|pipe");
        assert_eq!(parsed.timestamp_unix_seconds, Some(1_700_000_000));
        assert_eq!(parsed.host.as_deref(), Some("web-1"));
        assert_eq!(parsed.aggregation_key.as_deref(), Some("deploy"));
        assert_eq!(parsed.priority, EventPriority::Low);
        assert_eq!(parsed.source_type.as_deref(), Some("jenkins"));
        assert_eq!(parsed.alert_type, EventAlertType::Error);
        assert_eq!(parsed.tags, "env:prod,canary");
    }

    #[test]
    fn events_default_to_normal_priority_and_info() {
        let parsed = event("_e{2,0}:hi|");
        assert_eq!((parsed.title.as_ref(), parsed.text.as_ref()), ("hi", ""));
        assert_eq!(parsed.priority, EventPriority::Normal);
        assert_eq!(parsed.alert_type, EventAlertType::Info);
        assert_eq!(parsed.tags, "");
        // Lengths count bytes, as in the agent: "é" is two.
        assert_eq!(event("_e{2,3}:é|a|b").text, "a|b");
    }

    #[test]
    fn malformed_events() {
        let cases: &[(&str, ParseError)] = &[
            ("_e{5,4}", ParseError::InvalidEventHeader),
            ("_e{5,4:title|text", ParseError::InvalidEventHeader),
            ("_e{}:a|b", ParseError::InvalidEventHeader),
            ("_e{5}:title|text", ParseError::InvalidEventHeader),
            ("_e{-1,4}:title|text", ParseError::InvalidEventHeader),
            ("_e{5,x}:title|text", ParseError::InvalidEventHeader),
            ("_e{0,4}:|text", ParseError::EmptyEventTitle),
            ("_e{5,5}:title|text", ParseError::EventShorterThanDeclared),
            ("_e{9,4}:title|text", ParseError::EventShorterThanDeclared),
            (
                "_e{18446744073709551615,1}:a|b",
                ParseError::EventShorterThanDeclared,
            ),
            (
                "_e{99999999999999999999999,1}:a|b",
                ParseError::InvalidEventHeader,
            ),
            ("_e{4,4}:title|text", ParseError::EventLengthMismatch),
            ("_e{5,3}:title|text", ParseError::EventLengthMismatch),
            ("_e{1,1}:é|a", ParseError::EventLengthMismatch),
            (
                "_e{5,4}:title|text|p:urgent",
                ParseError::InvalidEventPriority,
            ),
            (
                "_e{5,4}:title|text|t:fatal",
                ParseError::InvalidEventAlertType,
            ),
            ("_e{5,4}:title|text|d:soon", ParseError::InvalidTimestamp),
            ("_e{5,4}:title|text|x:1", ParseError::UnknownField),
            ("_e{5,4}:title|text|h:a|h:b", ParseError::DuplicateField),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_line(line.as_bytes()), Err(*expected), "{line:?}");
        }
    }

    fn service_check(line: &str) -> ServiceCheck<'_> {
        match parse_line(line.as_bytes()) {
            Ok(Line::Event(Event::ServiceCheck(check))) => check,
            other => panic!("{line:?} should parse as a service check, got {other:?}"),
        }
    }

    #[test]
    fn service_checks() {
        let parsed =
            service_check("_sc|db.up|2|d:1700000000|h:db-1|#env:prod|m:replica lag|10s|#not-a-tag");
        assert_eq!(parsed.name, "db.up");
        assert_eq!(parsed.status, ServiceCheckStatus::Critical);
        assert_eq!(parsed.timestamp_unix_seconds, Some(1_700_000_000));
        assert_eq!(parsed.host.as_deref(), Some("db-1"));
        assert_eq!(parsed.tags, "env:prod");
        assert_eq!(
            parsed.message.as_deref(),
            Some("replica lag|10s|#not-a-tag")
        );

        let minimal = service_check("_sc|x|0");
        assert_eq!(minimal.status, ServiceCheckStatus::Ok);
        assert_eq!(minimal.message, None);
        assert_eq!(service_check("_sc|x|3").status as u8, 3);
        // A metric whose name merely starts with `_sc` stays a metric.
        assert!(matches!(parse_line(b"_sc.x:1|c"), Ok(Line::Metric(_))));
    }

    #[test]
    fn malformed_service_checks() {
        let cases: &[(&str, ParseError)] = &[
            ("_sc|", ParseError::InvalidServiceCheck),
            ("_sc|name", ParseError::InvalidServiceCheck),
            ("_sc||0", ParseError::EmptyServiceCheckName),
            ("_sc|name|", ParseError::InvalidServiceCheckStatus),
            ("_sc|name|4", ParseError::InvalidServiceCheckStatus),
            ("_sc|name|ok", ParseError::InvalidServiceCheckStatus),
            ("_sc|name|0|d:x", ParseError::InvalidTimestamp),
            ("_sc|name|0|q:x", ParseError::UnknownField),
            ("_sc|name|0|#a|#b", ParseError::DuplicateField),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_line(line.as_bytes()), Err(*expected), "{line:?}");
        }
    }

    #[test]
    fn events_outlive_their_datagram_once_owned() {
        let owned = {
            let datagram = String::from("_e{1,1}:a|b|h:x");
            match parse_line(datagram.as_bytes()) {
                Ok(Line::Event(event)) => event.into_owned(),
                other => panic!("{other:?}"),
            }
        };
        let Event::Event(event) = owned else {
            panic!("expected an event");
        };
        assert_eq!(event.host.as_deref(), Some("x"));
    }

    #[test]
    fn graphite_lines() {
        let now = 1_700_000_123;
        /// Path, value and timestamp of a parsed point.
        type Point = (&'static str, f64, i64);
        let cases: &[(&str, Result<Point, ParseError>)] = &[
            (
                "servers.a.load 1.5 1700000000",
                Ok(("servers.a.load", 1.5, 1_700_000_000)),
            ),
            (
                "  servers.a.load\t-2  1700000000.9 ",
                Ok(("servers.a.load", -2.0, 1_700_000_000)),
            ),
            ("a.b 3 -1", Ok(("a.b", 3.0, now))),
            (
                "disk.used;host=a 7 1700000000",
                Ok(("disk.used;host=a", 7.0, 1_700_000_000)),
            ),
            ("a.b 3", Err(ParseError::GraphiteFieldCount)),
            ("", Err(ParseError::GraphiteFieldCount)),
            ("a b 3 1700000000", Err(ParseError::GraphiteFieldCount)),
            ("a.b x 1700000000", Err(ParseError::InvalidValue)),
            ("a.b nan 1700000000", Err(ParseError::InvalidValue)),
            ("a.b 1 -2", Err(out_of_range("graphite timestamp", -2_000))),
            ("a.b 1 soon", Err(ParseError::InvalidTimestamp)),
            (
                "a.b 1 1e300",
                Err(out_of_range("graphite timestamp", i64::MAX)),
            ),
            (
                "a.b 1 1e14",
                Err(out_of_range("graphite timestamp", 100_000_000_000_000_000)),
            ),
            (
                "a.b 1 253402300799",
                Ok(("a.b", 1.0, limits::LATEST_UNIX_SECONDS)),
            ),
            (
                "a.b 1 253402300800",
                Err(out_of_range("graphite timestamp", 253_402_300_800_000)),
            ),
            ("a\0.b 1 -1", Err(nul("graphite path"))),
            ("a.b;k=\0 1 -1", Err(nul("graphite tags"))),
        ];
        for (line, expected) in cases {
            let parsed = parse_graphite_line(line.as_bytes(), now)
                .map(|point| (point.path, point.value, point.timestamp_unix_seconds));
            assert_eq!(parsed, *expected, "{line:?}");
        }
        assert_eq!(
            parse_graphite_line(b"a \xff 1", now),
            Err(ParseError::NotUtf8)
        );
    }

    #[test]
    fn datagrams_split_into_non_empty_lines() {
        let datagram = b"a:1|c\n\nb:2|g\r\nc:3|c\n";
        let lines: Vec<&[u8]> = lines(datagram).collect();
        assert_eq!(lines, vec![&b"a:1|c"[..], b"b:2|g", b"c:3|c"]);
    }

    #[test]
    fn a_clean_line_borrows_instead_of_copying() {
        assert!(matches!(sanitize_key("api.requests"), Cow::Borrowed(_)));
        assert!(matches!(sanitize_key("api requests"), Cow::Owned(_)));
        let sample = metric("api.requests;env=prod:1|c|#zone:a");
        assert!(matches!(sample.name, Cow::Borrowed(_)));
        assert!(matches!(sample.name_tags, Cow::Borrowed(_)));
    }

    #[test]
    fn the_short_decimal_fast_path_takes_what_it_can_do_exactly() {
        let cases: &[(&str, Option<f64>)] = &[
            ("1", Some(1.0)),
            ("+5", Some(5.0)),
            ("-0", Some(-0.0)),
            ("12.25", Some(12.25)),
            ("0.1", Some(0.1)),
            (".5", Some(0.5)),
            ("7.", Some(7.0)),
            ("999999999999999", Some(999_999_999_999_999.0)),
            // Too many digits for an exact mantissa, exponents, and non-numbers: general path.
            ("9999999999999999", None),
            ("1e3", None),
            (".", None),
            ("-", None),
            ("", None),
            ("1.2.3", None),
            ("0x10", None),
        ];
        for (text, expected) in cases {
            let fast = parse_short_decimal(text);
            assert_eq!(
                fast.map(f64::to_bits),
                expected.map(f64::to_bits),
                "{text:?}"
            );
        }
    }

    proptest::proptest! {
        /// Whatever the fast path accepts, it parses bit for bit as the standard library does.
        #[test]
        fn the_short_decimal_fast_path_equals_the_standard_parser(
            text in "[+-]?[0-9]{0,17}(\\.[0-9]{0,17})?"
        ) {
            if let Some(fast) = parse_short_decimal(&text) {
                let standard: f64 = text.parse().unwrap();
                proptest::prop_assert_eq!(fast.to_bits(), standard.to_bits(), "{}", text);
            }
        }

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
