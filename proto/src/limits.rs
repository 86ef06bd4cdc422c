//! What a record on the stream may hold: the one definition of the limits every edge enforces.
//!
//! The aggregator refuses a statsd, DogStatsD or Graphite line that breaks one of these (counted
//! as a bad line), the API refuses such a request with a 400 naming the field, and the storage
//! worker checks every record again before writing it, because anything that can publish to the
//! stream can bypass the first two. The limits exist because PostgreSQL refuses what breaks them
//! (a text value with a NUL byte, an index entry over a third of a page, a time outside its
//! range), and a refusal there used to take a whole batch with it.
//!
//! Sizes are in bytes of UTF-8. A series' name and its tags together must fit one btree entry
//! of the catalog's unique index (at most 2,704 bytes with 8 KiB pages): the name and the tag
//! list are bounded separately so that the sum always does.

/// A series or point name (after etsy's sanitizing), an event's host, aggregation key, priority,
/// source type and alert type.
pub const MAX_NAME_BYTES: usize = 1024;
/// One tag, `key:value` (or `key=value`) as sent.
pub const MAX_TAG_BYTES: usize = 256;
/// The tags of one series, event or point.
pub const MAX_TAGS: usize = 64;
/// All tags of one series, event or point together, as the catalog keeps them (`k:v,k:v`).
pub const MAX_TAG_LIST_BYTES: usize = 1024;
/// An event's title (a Graphite event's `what`).
pub const MAX_EVENT_TITLE_BYTES: usize = 1024;
/// An event's text (a Graphite event's `data`), a service check's message.
pub const MAX_EVENT_TEXT_BYTES: usize = 16 * 1024;
/// The earliest time a point or event may carry: the unix epoch. Graphite and statsd have no
/// use for earlier times, and a negative timestamp is nearly always a client bug.
pub const EARLIEST_UNIX_SECONDS: i64 = 0;
/// The latest time a point or event may carry: 9999-12-31T23:59:59Z, the last second every
/// format Abacus reads or writes (RFC 3339, Graphite's `HH:MM_YYYYMMDD`, PostgreSQL's
/// `timestamptz`) represents with a four-digit year.
pub const LATEST_UNIX_SECONDS: i64 = 253_402_300_799;

/// Why a record breaks a limit; the message names the field and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("{field} contains a NUL byte")]
    NulByte { field: &'static str },
    #[error("{field} is {bytes} bytes long, more than {limit}")]
    TooLong {
        field: &'static str,
        bytes: usize,
        limit: usize,
    },
    #[error("{field}: {count} tags, more than {limit}")]
    TooManyTags {
        field: &'static str,
        count: usize,
        limit: usize,
    },
    #[error("{field} must be a time between 1970-01-01 and 9999-12-31, not {unix_ms} ms since the epoch")]
    TimeOutOfRange { field: &'static str, unix_ms: i64 },
    #[error("{field} must be a finite number")]
    NotFinite { field: &'static str },
}

/// Checks a text field: no NUL byte (PostgreSQL's text cannot hold one) and at most `limit`
/// bytes.
pub fn check_text(field: &'static str, text: &str, limit: usize) -> Result<(), LimitError> {
    if text.len() > limit {
        return Err(LimitError::TooLong {
            field,
            bytes: text.len(),
            limit,
        });
    }
    if text.as_bytes().contains(&0) {
        return Err(LimitError::NulByte { field });
    }
    Ok(())
}

/// Checks a name (of a series, point or event field) against [`MAX_NAME_BYTES`].
pub fn check_name(field: &'static str, name: &str) -> Result<(), LimitError> {
    check_text(field, name, MAX_NAME_BYTES)
}

/// Checks tags given as `(key, value)` pairs (a flag has an empty value): their count, each
/// one's length, their total length as the catalog joins them, and NUL bytes.
pub fn check_tags<'a>(
    field: &'static str,
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), LimitError> {
    let mut count = 0;
    let mut list_bytes = 0;
    for (key, value) in tags {
        count += 1;
        // `key:value`, or `key` for a flag, and a comma between tags.
        let tag_bytes = key.len() + if value.is_empty() { 0 } else { 1 + value.len() };
        if tag_bytes > MAX_TAG_BYTES {
            return Err(LimitError::TooLong {
                field,
                bytes: tag_bytes,
                limit: MAX_TAG_BYTES,
            });
        }
        if key.as_bytes().contains(&0) || value.as_bytes().contains(&0) {
            return Err(LimitError::NulByte { field });
        }
        list_bytes += tag_bytes + usize::from(count > 1);
    }
    if count > MAX_TAGS {
        return Err(LimitError::TooManyTags {
            field,
            count,
            limit: MAX_TAGS,
        });
    }
    if list_bytes > MAX_TAG_LIST_BYTES {
        return Err(LimitError::TooLong {
            field,
            bytes: list_bytes,
            limit: MAX_TAG_LIST_BYTES,
        });
    }
    Ok(())
}

/// Checks a time in milliseconds since the epoch against [`EARLIEST_UNIX_SECONDS`] and
/// [`LATEST_UNIX_SECONDS`].
pub fn check_time_ms(field: &'static str, unix_ms: i64) -> Result<(), LimitError> {
    let earliest_ms = EARLIEST_UNIX_SECONDS * 1000;
    let latest_ms = LATEST_UNIX_SECONDS * 1000 + 999;
    if !(earliest_ms..=latest_ms).contains(&unix_ms) {
        return Err(LimitError::TimeOutOfRange { field, unix_ms });
    }
    Ok(())
}

/// Checks a sample value: NaN and infinities have no meaning in a sum or a graph.
pub fn check_value(field: &'static str, value: f64) -> Result<(), LimitError> {
    if !value.is_finite() {
        return Err(LimitError::NotFinite { field });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_refused_for_a_nul_byte_or_its_length() {
        assert_eq!(check_text("title", "deploy", 10), Ok(()));
        assert_eq!(
            check_text("title", "de\0ploy", 10),
            Err(LimitError::NulByte { field: "title" })
        );
        assert_eq!(
            check_text("title", "deployment!", 10),
            Err(LimitError::TooLong {
                field: "title",
                bytes: 11,
                limit: 10
            })
        );
        assert!(check_name("name", &"a".repeat(MAX_NAME_BYTES)).is_ok());
        assert!(check_name("name", &"a".repeat(MAX_NAME_BYTES + 1)).is_err());
    }

    #[test]
    fn tags_are_refused_for_count_length_total_or_nul() {
        assert_eq!(
            check_tags("tags", [("env", "prod"), ("canary", "")]),
            Ok(())
        );
        assert_eq!(
            check_tags("tags", [("env", "pr\0d")]),
            Err(LimitError::NulByte { field: "tags" })
        );
        let long_value = "v".repeat(MAX_TAG_BYTES);
        assert!(matches!(
            check_tags("tags", [("k", long_value.as_str())]),
            Err(LimitError::TooLong { bytes, .. }) if bytes == MAX_TAG_BYTES + 2
        ));
        let keys: Vec<String> = (0..=MAX_TAGS).map(|index| format!("k{index}")).collect();
        assert!(matches!(
            check_tags("tags", keys.iter().map(|key| (key.as_str(), ""))),
            Err(LimitError::TooManyTags { count, .. }) if count == MAX_TAGS + 1
        ));
        // Eight tags of 200 bytes each: every one fits, together they do not.
        let values: Vec<String> = (0..8)
            .map(|index| format!("{index}{}", "v".repeat(196)))
            .collect();
        assert!(matches!(
            check_tags("tags", values.iter().map(|value| ("k", value.as_str()))),
            Err(LimitError::TooLong {
                limit: MAX_TAG_LIST_BYTES,
                ..
            })
        ));
    }

    #[test]
    fn times_are_refused_outside_the_epoch_to_year_9999() {
        assert!(check_time_ms("time", 0).is_ok());
        assert!(check_time_ms("time", 1_700_000_000_000).is_ok());
        assert!(check_time_ms("time", LATEST_UNIX_SECONDS * 1000 + 999).is_ok());
        assert!(check_time_ms("time", -1).is_err());
        assert!(check_time_ms("time", 100_000_000_000_000_000).is_err());
        assert!(check_value("value", 1.5).is_ok());
        assert!(check_value("value", f64::NAN).is_err());
        assert!(check_value("value", f64::INFINITY).is_err());
    }
}
