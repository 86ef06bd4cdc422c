//! Reading series and samples from PostgreSQL. All SQL is parameterized.
//!
//! Rows of several aggregators for one series and interval are merged here: counts are added,
//! and of several gauge values the one stored last wins.

use crate::glob::PathGlob;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesKind {
    Counter,
    Gauge,
}

#[derive(Debug, Clone)]
pub struct SeriesRow {
    pub id: i64,
    pub kind: SeriesKind,
    pub name: String,
    pub tags: Vec<String>,
    pub first_seen: DateTime<Utc>,
}

/// One stored interval of a series: its start in unix seconds and its merged value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalValue {
    pub start_unix_seconds: i64,
    pub interval_ms: i32,
    pub value: f64,
}

/// The counters and gauges whose name matches `glob`, tagged or not, ordered by name.
pub async fn series_matching(
    pool: &PgPool,
    glob: &PathGlob,
) -> Result<Vec<SeriesRow>, sqlx::Error> {
    let rows: Vec<CatalogRow> = sqlx::query_as(
        "select id, kind, name, tags, first_seen from series
         where name like $1 escape '\\' and kind in ('counter', 'gauge')
         order by name, kind, tags",
    )
    .bind(like_prefix_pattern(glob.literal_prefix()))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|row| glob.matches(&row.name))
        .map(|row| SeriesRow {
            id: row.id,
            kind: if row.kind == "counter" {
                SeriesKind::Counter
            } else {
                SeriesKind::Gauge
            },
            name: row.name,
            tags: row.tags,
            first_seen: row.first_seen,
        })
        .collect())
}

/// The distinct names of every series at or below what `glob` matches.
pub async fn names_at_or_below(pool: &PgPool, glob: &PathGlob) -> Result<Vec<String>, sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "select distinct name from series where name like $1 escape '\\' order by name",
    )
    .bind(like_prefix_pattern(glob.literal_prefix()))
    .fetch_all(pool)
    .await?;
    Ok(names
        .into_iter()
        .filter(|name| glob.matches_prefix_of(name))
        .collect())
}

/// A LIKE pattern matching every string that starts with `prefix`.
fn like_prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for character in prefix.chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

#[derive(sqlx::FromRow)]
struct CatalogRow {
    id: i64,
    kind: String,
    name: String,
    tags: Vec<String>,
    first_seen: DateTime<Utc>,
}

/// The series' intervals starting in `[from, until)`, oldest first.
pub async fn intervals(
    pool: &PgPool,
    series: &SeriesRow,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<IntervalValue>, sqlx::Error> {
    let sql = match series.kind {
        SeriesKind::Counter => {
            "select extract(epoch from interval_start)::bigint, max(interval_ms), sum(count)
             from counter_samples
             where series_id = $1 and interval_start >= $2 and interval_start < $3
             group by interval_start order by interval_start"
        }
        SeriesKind::Gauge => {
            "select distinct on (interval_start)
                    extract(epoch from interval_start)::bigint, interval_ms, value
             from gauge_samples
             where series_id = $1 and interval_start >= $2 and interval_start < $3
             order by interval_start, stored_at desc"
        }
    };
    let rows: Vec<(i64, i32, f64)> = sqlx::query_as(sql)
        .bind(series.id)
        .bind(from)
        .bind(until)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(start_unix_seconds, interval_ms, value)| IntervalValue {
            start_unix_seconds,
            interval_ms,
            value,
        })
        .collect())
}

/// The last gauge value stored before `before`, which a gauge keeps until it changes.
pub async fn gauge_value_before(
    pool: &PgPool,
    series: &SeriesRow,
    before: DateTime<Utc>,
) -> Result<Option<f64>, sqlx::Error> {
    sqlx::query_scalar(
        "select value from gauge_samples
         where series_id = $1 and interval_start < $2
         order by interval_start desc, stored_at desc limit 1",
    )
    .bind(series.id)
    .bind(before)
    .fetch_optional(pool)
    .await
}

/// The flush interval of the series' most recent sample, in milliseconds: its resolution.
pub async fn latest_interval_ms(
    pool: &PgPool,
    series: &SeriesRow,
) -> Result<Option<i32>, sqlx::Error> {
    let sql = match series.kind {
        SeriesKind::Counter => {
            "select interval_ms from counter_samples where series_id = $1
             order by interval_start desc limit 1"
        }
        SeriesKind::Gauge => {
            "select interval_ms from gauge_samples where series_id = $1
             order by interval_start desc limit 1"
        }
    };
    sqlx::query_scalar(sql)
        .bind(series.id)
        .fetch_optional(pool)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_the_wildcards_of_like() {
        assert_eq!(like_prefix_pattern("stats.web"), "stats.web%");
        assert_eq!(like_prefix_pattern("a_b%c\\d"), "a\\_b\\%c\\\\d%");
        assert_eq!(like_prefix_pattern(""), "%");
    }
}
