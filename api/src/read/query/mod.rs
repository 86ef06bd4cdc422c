//! All SQL the API runs, parameterized: nothing of a request goes into SQL text. A file per
//! group of tables: [`catalog`] (the series), [`samples`] (raw rows, rollups and points),
//! [`events`]; and [`database_answers`], the readiness probe.
//!
//! The API only reads: what it is given goes to the stream, and the storage worker writes it.

pub(crate) mod catalog;
pub(crate) mod events;
pub(crate) mod samples;

pub(crate) use catalog::*;
pub(crate) use samples::*;

use sqlx::PgPool;

/// Whether PostgreSQL answers `select 1`.
pub(crate) async fn database_answers(pool: &PgPool) -> bool {
    matches!(
        sqlx::query_scalar::<_, i32>("select 1")
            .fetch_one(pool)
            .await,
        Ok(1)
    )
}
