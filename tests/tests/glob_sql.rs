//! The LIKE translations of a path glob (`PathGlob::sql_like_pattern`, `sql_like_prefix_pattern`)
//! against the real PostgreSQL: for every pattern and path of the table, the database must
//! accept every path the Rust matcher accepts (the catalog queries filter with these patterns,
//! so a path wrongly rejected would silently vanish from `/render`, `/metrics/find` and the
//! series search), and a pattern without wildcards must accept nothing else (so LIKE's own `%`,
//! `_` and `\` in a path are escaped, not read as wildcards). `sql_deeper_pattern` must accept
//! exactly the paths with more segments than the glob, which the series search leaves out.

use abacus_api::names::glob::PathGlob;
use abacus_tests::database_server_url;
use sqlx::{Connection, PgConnection};

/// Patterns with every glob feature, and the characters special to LIKE or to regexes.
const PATTERNS: &[&str] = &[
    "a.b.c",
    "a.*.c",
    "a.*",
    "*",
    "web*.count",
    "a?c",
    "host[0-9]",
    "host[a-c7]x",
    "host[!0-9]",
    "host[^0-9]",
    "{web,db}.load",
    "req.{get*,p?st}",
    "a_b.c%d",
    "a+b.c(d)",
    "x$y.^z",
    r"back\slash",
    "brace}s,comma",
    "[_%]x",
    "naïve*.ü",
];

/// Paths near and far from the patterns above.
const PATHS: &[&str] = &[
    "a.b.c",
    "a.b.d",
    "a.b",
    "a.b.c.d",
    "a.x.y.c",
    "a",
    "a.anything.c",
    "web01.count",
    "web.count",
    "db01.count",
    "web01.count.extra",
    "abc",
    "ac",
    "abbc",
    "a.c",
    "host7",
    "hostx",
    "host",
    "host77",
    "hostbx",
    "host7x",
    "hostdx",
    "host.",
    "host.x",
    "web.load",
    "db.load",
    "cache.load",
    "webdb.load",
    "req.get_user",
    "req.post",
    "req.pest",
    "req.put",
    "req.get.x",
    "a_b.c%d",
    "aXb.c%d",
    "a_b.cxd",
    "a_b.c%d.e",
    "a+b.c(d)",
    "aab.cd",
    "x$y.^z",
    "xy.z",
    r"back\slash",
    "backslash",
    "brace}s,comma",
    "_x",
    "%x",
    "ax",
    "naïve.ü",
    "naïveté.ü",
    "naive.u",
];

#[tokio::test]
async fn postgres_like_accepts_every_path_the_rust_matcher_accepts() -> anyhow::Result<()> {
    let mut connection = PgConnection::connect(&database_server_url()).await?;
    let mut disagreements = Vec::new();
    let mut rejected = 0;
    for pattern in PATTERNS {
        let glob = PathGlob::new(pattern)?;
        let without_wildcards = !pattern.contains(['*', '?', '[', '{']);
        for path in PATHS {
            let (whole, at_or_below, deeper): (bool, bool, bool) =
                sqlx::query_as("select $1 like $2 escape '\\', $1 like $3 escape '\\', $1 like $4")
                    .bind(path)
                    .bind(glob.sql_like_pattern())
                    .bind(glob.sql_like_prefix_pattern())
                    .bind(glob.sql_deeper_pattern())
                    .fetch_one(&mut connection)
                    .await?;
            // `name not like` the deeper pattern leaves out exactly the paths with more
            // segments than the glob, none of which it matches.
            if deeper != (path.split('.').count() > glob.depth()) {
                disagreements.push(format!(
                    "{pattern} deeper than {path}: like {deeper} ({})",
                    glob.sql_deeper_pattern()
                ));
            }
            rejected += usize::from(!whole);
            let whole_wrong = if without_wildcards {
                whole != glob.matches(path)
            } else {
                glob.matches(path) && !whole
            };
            if whole_wrong {
                disagreements.push(format!(
                    "{pattern} ~ {path}: like {whole}, rust {} ({})",
                    glob.matches(path),
                    glob.sql_like_pattern()
                ));
            }
            let at_or_below_wrong = if without_wildcards {
                at_or_below != (glob.matches_prefix_of(path) || path.starts_with(pattern))
            } else {
                glob.matches_prefix_of(path) && !at_or_below
            };
            if at_or_below_wrong {
                disagreements.push(format!(
                    "{pattern} at or above {path}: like {at_or_below}, rust {} ({})",
                    glob.matches_prefix_of(path),
                    glob.sql_like_prefix_pattern()
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    // Most pairs of the table do not match: a translation accepting everything would show.
    assert!(rejected > PATTERNS.len() * PATHS.len() / 2, "{rejected}");
    Ok(())
}

/// The table above must exercise both answers of most patterns, or it could not catch a
/// translation that rejects (or accepts) everything.
#[test]
fn the_table_has_matches_and_misses() {
    for pattern in PATTERNS {
        let glob = PathGlob::new(pattern).unwrap();
        let matches = PATHS.iter().filter(|path| glob.matches(path)).count();
        assert!(matches > 0, "no path of the table matches {pattern}");
        assert!(matches < PATHS.len(), "every path matches {pattern}");
    }
}
