//! Graphite plaintext points as wire [`RawPoint`]s: stored as sent, with their own timestamps,
//! never aggregated.
//!
//! A path may carry Graphite 1.1 tags, `name;k=v;k2=v2`; they become the same sorted,
//! de-duplicated tag list series have, so `a;x=1;y=2` and `a;y=2;x=1` are one series.

use crate::parse::GraphitePoint;
use abacus_proto::v1::{RawPoint, Tag};

pub(crate) fn raw_point(point: &GraphitePoint<'_>) -> RawPoint {
    let (name, tag_text) = point.path.split_once(';').unwrap_or((point.path, ""));
    let mut pairs: Vec<(&str, &str)> = tag_text
        .split(';')
        .filter(|tag| !tag.is_empty())
        .map(|tag| tag.split_once('=').unwrap_or((tag, "")))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    RawPoint {
        name: name.to_owned(),
        tags: pairs
            .into_iter()
            .map(|(key, value)| Tag {
                key: key.to_owned(),
                value: value.to_owned(),
            })
            .collect(),
        timestamp_unix_ms: point.timestamp_unix_seconds.saturating_mul(1000),
        value: point.value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_graphite_line;

    #[test]
    fn a_point_keeps_its_path_value_and_timestamp() {
        let point = parse_graphite_line(b"servers.web1.load 0.25 1700000002", 0).unwrap();
        assert_eq!(
            raw_point(&point),
            RawPoint {
                name: "servers.web1.load".into(),
                tags: vec![],
                timestamp_unix_ms: 1_700_000_002_000,
                value: 0.25,
            }
        );
    }

    #[test]
    fn graphite_tags_are_split_off_sorted_and_deduplicated() {
        let point = parse_graphite_line(b"cpu;host=a;dc=x;host=a 1 -1", 1_700_000_000).unwrap();
        let raw = raw_point(&point);
        assert_eq!(raw.name, "cpu");
        let tags: Vec<(&str, &str)> = raw
            .tags
            .iter()
            .map(|tag| (tag.key.as_str(), tag.value.as_str()))
            .collect();
        assert_eq!(tags, vec![("dc", "x"), ("host", "a")]);
        assert_eq!(raw.timestamp_unix_ms, 1_700_000_000_000, "-1 is now");
    }
}
