//! How the series catalog (PostgreSQL's `series` table) names what it holds: the kind of a
//! series ([`SeriesKind`], the `kind` column) and its tags (the `tags` column: `key:value`
//! strings, `key` alone for a flag, sorted and de-duplicated). The storage worker writes these
//! and the API reads them; both go through here, so the two cannot drift.

use crate::v1::{series_aggregate::Aggregate, Tag};

/// The kinds of series in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SeriesKind {
    Counter,
    Gauge,
    Timer,
    Set,
    /// Points with their own timestamps (Graphite plaintext, HTTP ingest, imports).
    Raw,
}

impl SeriesKind {
    pub const ALL: [SeriesKind; 5] = [
        SeriesKind::Counter,
        SeriesKind::Gauge,
        SeriesKind::Timer,
        SeriesKind::Set,
        SeriesKind::Raw,
    ];

    /// The `kind` column of the catalog.
    pub fn catalog_name(self) -> &'static str {
        match self {
            SeriesKind::Counter => "counter",
            SeriesKind::Gauge => "gauge",
            SeriesKind::Timer => "timer",
            SeriesKind::Set => "set",
            SeriesKind::Raw => "raw",
        }
    }

    pub fn from_catalog_name(name: &str) -> Option<Self> {
        SeriesKind::ALL
            .into_iter()
            .find(|kind| kind.catalog_name() == name)
    }

    /// The kind of series an aggregate of the wire schema is stored as.
    pub fn of_aggregate(aggregate: &Aggregate) -> Self {
        match aggregate {
            Aggregate::Counter(_) => SeriesKind::Counter,
            Aggregate::Gauge(_) => SeriesKind::Gauge,
            Aggregate::Timer(_) => SeriesKind::Timer,
            Aggregate::Set(_) => SeriesKind::Set,
        }
    }
}

/// One tag as the catalog keeps it: `key:value`, or `key` for a flag (an empty value).
pub fn catalog_tag(key: &str, value: &str) -> String {
    if value.is_empty() {
        key.to_owned()
    } else {
        format!("{key}:{value}")
    }
}

/// The catalog's tags of a series: each [`catalog_tag`], sorted and de-duplicated.
pub fn catalog_tags(tags: &[Tag]) -> Vec<String> {
    let mut tags: Vec<String> = tags
        .iter()
        .map(|tag| catalog_tag(&tag.key, &tag.value))
        .collect();
    tags.sort_unstable();
    tags.dedup();
    tags
}

/// A catalog tag's key and value (empty for a flag). The key ends at the first `:`, so a
/// value may hold more of them (`url:http://x`).
pub fn split_catalog_tag(tag: &str) -> (&str, &str) {
    tag.split_once(':').unwrap_or((tag, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn kinds_round_trip_through_their_catalog_names() {
        for kind in SeriesKind::ALL {
            assert_eq!(
                SeriesKind::from_catalog_name(kind.catalog_name()),
                Some(kind)
            );
        }
        assert_eq!(SeriesKind::from_catalog_name("histogram"), None);
    }

    #[test]
    fn tags_are_encoded_sorted_once_and_split_back() {
        let tags = [
            tag("region", "eu"),
            tag("canary", ""),
            tag("env", "prod"),
            tag("region", "eu"),
            tag("url", "http://x:8080"),
        ];
        let encoded = catalog_tags(&tags);
        assert_eq!(
            encoded,
            vec!["canary", "env:prod", "region:eu", "url:http://x:8080"]
        );
        let split: Vec<(&str, &str)> = encoded.iter().map(|one| split_catalog_tag(one)).collect();
        assert_eq!(
            split,
            vec![
                ("canary", ""),
                ("env", "prod"),
                ("region", "eu"),
                ("url", "http://x:8080")
            ]
        );
    }
}
