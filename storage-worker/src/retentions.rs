//! `storage_worker.retentions`: the resolutions data is kept at and for how long, written the
//! way Graphite's storage-schemas are (`10s:7d,1m:90d,1h:5y`).
//!
//! The first entry is the raw data: its resolution is the flush interval the aggregators are
//! expected to use (informational) and its retention is how long raw partitions are kept. Each
//! further entry is a rollup resolution with its own retention.
//!
//! Rules, checked at start-up:
//! * resolutions strictly increase and each is a multiple of the one before;
//! * a rollup resolution divides a day, so a rollup bucket never straddles two raw day
//!   partitions (retention drops a bucket's raw rows all at once or not at all);
//! * the raw retention is at least twice the largest resolution, because rollups are always
//!   recomputed from raw rows, including when a late batch arrives for a rolled-up bucket.

use std::fmt;
use std::time::Duration;

/// One `resolution:retention` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub seconds: u32,
    pub retention: Duration,
}

/// The parsed setting: the raw entry, then the rollup resolutions, finest first.
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
}

impl fmt::Display for Retentions {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries: Vec<String> = std::iter::once(&self.raw)
            .chain(&self.rollups)
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
}
