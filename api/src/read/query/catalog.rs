//! The catalog: which series exist, found by name, glob, kind or tag. A path glob narrows the
//! catalog in the database by its LIKE translation (`web%.count` for `web*.count`; the literal
//! prefix is served by the `text_pattern_ops` index on `series.name`), so names that cannot
//! match mostly stay there; the Rust matcher has the last word.

use crate::names::glob::{push_like_literal, PathGlob};
use crate::names::namespace::SeriesKind;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use sqlx::{PgPool, Row};
use utoipa::ToSchema;

#[derive(Debug, Clone)]
pub(crate) struct SeriesRow {
    pub id: i64,
    pub kind: SeriesKind,
    pub name: String,
    pub tags: Vec<String>,
    pub first_seen: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct CatalogRow {
    id: i64,
    kind: String,
    name: String,
    tags: Vec<String>,
    first_seen: DateTime<Utc>,
}

impl CatalogRow {
    /// The row as a series; `None` for a kind this build does not know.
    fn into_series(self) -> Option<SeriesRow> {
        Some(SeriesRow {
            id: self.id,
            kind: SeriesKind::from_catalog_name(&self.kind)?,
            name: self.name,
            tags: self.tags,
            first_seen: self.first_seen,
        })
    }
}

/// The series of `kinds` whose name matches `glob`, tagged or not, ordered by name.
pub(crate) async fn series_matching(
    pool: &PgPool,
    glob: &PathGlob,
    kinds: &[SeriesKind],
) -> Result<Vec<SeriesRow>, sqlx::Error> {
    let kind_names: Vec<&str> = kinds.iter().map(|kind| kind.catalog_name()).collect();
    let rows: Vec<CatalogRow> = sqlx::query_as(
        "select id, kind, name, tags, first_seen from series
         where name like $1 escape '\\' and kind = any($2)
         order by name, kind, tags",
    )
    .bind(glob.sql_like_pattern())
    .bind(&kind_names)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|row| glob.matches(&row.name))
        .filter_map(CatalogRow::into_series)
        .collect())
}

/// Calls `visit` with the (name, kind) of each series of `kinds` whose name is LIKE the prefix
/// translation of `glob`, as the rows arrive, so the caller's work overlaps the read.
///
/// * The LIKE is a superset of what `glob` prefix-matches: the caller matches each name itself
///   (it usually needs a stricter glob anyway).
/// * A name comes once per series, so once per tag set: the caller's nodes are de-duplicated
///   anyway, and a `distinct` would make the database hash every row before sending the first
///   (with 11,000 names it tripled the read).
/// * No particular order: the caller sorts its nodes in byte order, several times faster than
///   the database's collation would.
pub(crate) async fn for_each_name_like(
    pool: &PgPool,
    glob: &PathGlob,
    kinds: &[SeriesKind],
    mut visit: impl FnMut(String, SeriesKind),
) -> Result<(), sqlx::Error> {
    let kind_names: Vec<&str> = kinds.iter().map(|kind| kind.catalog_name()).collect();
    let like_pattern = glob.sql_like_prefix_pattern();
    let mut rows = sqlx::query(
        "select name, kind from series
         where name like $1 escape '\\' and kind = any($2)",
    )
    .bind(&like_pattern)
    .bind(&kind_names)
    .fetch(pool);
    while let Some(row) = rows.try_next().await? {
        // The kind is decoded in place: only the name is kept.
        let kind: &str = row.try_get(1)?;
        let Some(kind) = SeriesKind::from_catalog_name(kind) else {
            continue;
        };
        visit(row.try_get(0)?, kind);
    }
    Ok(())
}

/// Which of `kinds` have at least one series. Each is one probe of the catalog's
/// `(kind, name, tags)` index, whatever the size of the catalog.
pub(crate) async fn kinds_present(
    pool: &PgPool,
    kinds: &[SeriesKind],
) -> Result<Vec<SeriesKind>, sqlx::Error> {
    let kind_names: Vec<&str> = kinds.iter().map(|kind| kind.catalog_name()).collect();
    let present: Vec<String> = sqlx::query_scalar(
        "select wanted.kind from unnest($1::text[]) as wanted(kind)
         where exists (select 1 from series where series.kind = wanted.kind)",
    )
    .bind(&kind_names)
    .fetch_all(pool)
    .await?;
    Ok(present
        .iter()
        .filter_map(|kind| SeriesKind::from_catalog_name(kind))
        .collect())
}

/// The series named `name`, or every series when `name` is `None` (for tag queries, which
/// filter in Rust), at most `limit`.
pub(crate) async fn series_named_or_all(
    pool: &PgPool,
    name: Option<&str>,
    limit: i64,
) -> Result<Vec<SeriesRow>, sqlx::Error> {
    let rows: Vec<CatalogRow> = sqlx::query_as(
        "select id, kind, name, tags, first_seen from series
         where $1::text is null or name = $1
         order by name, kind, tags limit $2",
    )
    .bind(name)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(CatalogRow::into_series)
        .collect())
}

/// Every series name, once, in byte order (graphite-web's order). Sorted here rather than by
/// the database, whose collation compares several times slower than bytes do.
pub(crate) async fn all_names(pool: &PgPool, limit: usize) -> Result<Vec<String>, sqlx::Error> {
    // Distinct in SQL, so that the limit counts names and not series (one name, many tags).
    let mut names: Vec<String> = sqlx::query_scalar("select distinct name from series limit $1")
        .bind(limit as i64)
        .fetch_all(pool)
        .await?;
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

/// A series of the catalog, as the native API lists it.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct SeriesInfo {
    pub id: i64,
    pub name: String,
    /// `counter`, `gauge`, `timer`, `set` or `raw`.
    pub kind: String,
    /// Sorted `key:value` strings, `key` alone for a flag.
    pub tags: Vec<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// What `/api/v1/series` filters the catalog by; every filter is optional.
pub(crate) struct SeriesFilter<'a> {
    /// The name matches this glob.
    pub(crate) glob: Option<&'a PathGlob>,
    /// The name contains this.
    pub(crate) name_contains: Option<&'a str>,
    pub(crate) kind: Option<SeriesKind>,
    /// One catalog tag the series has (`key:value` or a flag).
    pub(crate) tag: Option<&'a str>,
    pub(crate) seen_since: Option<DateTime<Utc>>,
    pub(crate) limit: i64,
}

/// How many catalog rows one glob search reads at most, whatever its limit: the glob is
/// matched in Rust, so a search for a few names may read many rows.
pub(crate) const MAX_GLOB_CANDIDATES: i64 = 100_000;

/// The catalog entries `filter` selects, ordered by name, at most `filter.limit`.
///
/// Every filter is in the SQL, so that PostgreSQL can pick an index for the most selective:
/// `contains` as `name like '%…%'`, which the trigram index `series_name_trigrams` serves when
/// pg_trgm is installed (a scan of every name otherwise), and whose selectivity the planner
/// can estimate (it could not for `strpos`, and walked the whole name index for a rare
/// substring); a glob as its LIKE translation, without the paths deeper than it. The glob
/// has the last word, in Rust; when it refuses rows, further pages are read after the last
/// row read, until `limit` series matched or [`MAX_GLOB_CANDIDATES`] rows were read.
pub(crate) async fn list_series(
    pool: &PgPool,
    filter: &SeriesFilter<'_>,
) -> Result<Vec<SeriesInfo>, sqlx::Error> {
    let (name_like, deeper) = match filter.glob {
        Some(glob) => (glob.sql_like_pattern(), Some(glob.sql_deeper_pattern())),
        None => ("%", None),
    };
    let contains = filter.name_contains.map(contains_like_pattern);
    let mut found: Vec<SeriesInfo> = Vec::new();
    let mut read = 0;
    // Where the next page starts: the (name, kind, tags) of the last row read.
    let mut after: Option<(String, String, Vec<String>)> = None;
    let mut page_size = 0;
    loop {
        // The first page is the limit, so nothing is read in vain when the SQL is exact (as it
        // is for a glob without classes or alternatives, once deeper paths are left out). When
        // the glob refused rows, each page is at least twice the one before: a glob refusing
        // most rows costs a few round trips.
        page_size = (filter.limit - found.len() as i64).max(2 * page_size);
        if filter.glob.is_some() {
            page_size = page_size.min(MAX_GLOB_CANDIDATES - read);
        }
        let page: Vec<SeriesInfo> = sqlx::query_as(
            "select id, name, kind, tags, first_seen, last_seen from series
             where name like $1 escape '\\'
               and ($2::text is null or name not like $2)
               and ($3::text is null or name like $3 escape '\\')
               and ($4::text is null or kind = $4)
               and ($5::text is null or $5 = any(tags))
               and ($6::timestamptz is null or last_seen >= $6)
               and ($7::text is null or (name >= $7 and (name, kind, tags) > ($7, $8, $9::text[])))
             order by name, kind, tags
             limit $10",
        )
        .bind(name_like)
        .bind(deeper.as_deref())
        .bind(contains.as_deref())
        .bind(filter.kind.map(SeriesKind::catalog_name))
        .bind(filter.tag)
        .bind(filter.seen_since)
        .bind(after.as_ref().map(|(name, _, _)| name.as_str()))
        .bind(after.as_ref().map(|(_, kind, _)| kind.as_str()))
        .bind(after.as_ref().map(|(_, _, tags)| tags.as_slice()))
        .bind(page_size)
        .fetch_all(pool)
        .await?;
        read += page.len() as i64;
        let full_page = page.len() as i64 == page_size;
        after = page
            .last()
            .map(|row| (row.name.clone(), row.kind.clone(), row.tags.clone()));
        found.extend(
            page.into_iter()
                .filter(|row| filter.glob.is_none_or(|glob| glob.matches(&row.name))),
        );
        if filter.glob.is_none()
            || !full_page
            || found.len() as i64 >= filter.limit
            || read >= MAX_GLOB_CANDIDATES
        {
            found.truncate(filter.limit as usize);
            return Ok(found);
        }
    }
}

/// The LIKE pattern (escape character `\\`) of the names containing `text`: LIKE's own `%`,
/// `_` and `\\` in it are plain characters (`_` is common in names).
fn contains_like_pattern(text: &str) -> String {
    let mut like = String::with_capacity(text.len() + 2);
    like.push('%');
    for character in text.chars() {
        push_like_literal(&mut like, character);
    }
    like.push('%');
    like
}

/// The catalog entry of series `id`.
pub(crate) async fn series_by_id(
    pool: &PgPool,
    id: i64,
) -> Result<Option<SeriesInfo>, sqlx::Error> {
    sqlx::query_as("select id, name, kind, tags, first_seen, last_seen from series where id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Tag keys starting with `prefix`, sorted, at most `limit` (tag autocompletion).
pub(crate) async fn tag_keys(
    pool: &PgPool,
    prefix: &str,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select distinct split_part(tag, ':', 1) as key
         from series cross join lateral unnest(tags) as tag
         where starts_with(split_part(tag, ':', 1), $1)
         order by key limit $2",
    )
    .bind(prefix)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Series names starting with `prefix`, sorted, at most `limit` (the values of the `name` tag).
pub(crate) async fn names_with_prefix(
    pool: &PgPool,
    prefix: &str,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select distinct name from series where starts_with(name, $1) order by name limit $2",
    )
    .bind(prefix)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The values of tag `key` starting with `prefix`, sorted, at most `limit`.
pub(crate) async fn tag_values(
    pool: &PgPool,
    key: &str,
    prefix: &str,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select distinct substr(tag, length($1) + 2) as value
         from series cross join lateral unnest(tags) as tag
         where starts_with(tag, $1 || ':' || $2)
         order by value limit $3",
    )
    .bind(key)
    .bind(prefix)
    .bind(limit)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contained_text_is_escaped_for_like() {
        let cases = [
            ("demo", "%demo%"),
            ("cpu_percent", "%cpu\\_percent%"),
            ("50%", "%50\\%%"),
            ("a\\b", "%a\\\\b%"),
            ("", "%%"),
        ];
        for (text, like) in cases {
            assert_eq!(contains_like_pattern(text), like, "{text}");
        }
    }
}
