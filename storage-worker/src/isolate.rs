//! Storing a batch that PostgreSQL refused, without the records it refused.
//!
//! The records of a batch are checked against the stream's limits before any transaction (see
//! `store::ValidBatch`), so PostgreSQL should never refuse one. Should it still (a limit this
//! build does not know, a value PostgreSQL finds out of range), the transaction fails with a
//! data exception and every record of the batch would be lost with the one at fault. Instead,
//! [`store_isolating`] stores the batch in one transaction, each part of it in a savepoint: a
//! part PostgreSQL refuses is rolled back to its savepoint and split in halves, each tried
//! again, until the refused records stand alone. Every other record is stored, the batch id is
//! recorded in the same transaction (so the batch stays applied exactly once), and the refused
//! records are returned with PostgreSQL's reason, for the consume loop to dead-letter.
//!
//! One refused record among `n` costs about `2 log2(n)` savepoints; this path runs only after a
//! refusal, never for a batch PostgreSQL accepts whole.

use crate::store::{self, StoreContext, StoreError, StoreOutcome, ValidBatch};
use sqlx::{Acquire, PgPool};

/// What became of a batch stored record by record where needed.
#[derive(Debug)]
pub(crate) struct Isolated {
    pub outcome: StoreOutcome,
    /// The records PostgreSQL refused, by their index in the batch (series, then points, then
    /// events), each with the error PostgreSQL gave.
    pub refused: Vec<(usize, String)>,
}

/// Stores `batch` without the records PostgreSQL refuses. Fails only when PostgreSQL fails
/// for a reason of its own ([`StoreError::is_transient`]) or the catalog does; then nothing
/// was stored.
pub(crate) async fn store_isolating(
    pool: &PgPool,
    context: &StoreContext,
    batch: &ValidBatch,
) -> Result<Isolated, StoreError> {
    let now = chrono::Utc::now();
    context
        .ensure_partitions(pool, std::slice::from_ref(batch), now)
        .await?;
    let mut transaction = pool.begin().await?;
    let recorded = store::record_batch_ids(&mut transaction, std::slice::from_ref(batch)).await?;
    if !recorded.contains(batch.batch_id()) {
        transaction.commit().await?;
        return Ok(Isolated {
            outcome: StoreOutcome::Duplicate,
            refused: Vec::new(),
        });
    }
    let mut refused = Vec::new();
    let mut learnt = Vec::new();
    let mut too_old = store::TooOld::default();
    // Parts still to try, the next on top; each is a run of record indices.
    let mut parts: Vec<Vec<usize>> = vec![(0..batch.record_count()).collect()];
    while let Some(indices) = parts.pop() {
        if indices.is_empty() {
            continue;
        }
        let part = batch.with_records(&indices);
        let mut savepoint = transaction.begin().await?;
        match store::write_batches(&mut savepoint, context, &[&part], now).await {
            Ok((resolved, refused_as_old)) => {
                savepoint.commit().await?;
                learnt.push(resolved);
                for (_, part_too_old) in refused_as_old {
                    too_old.points += part_too_old.points;
                    if too_old.example.is_none() {
                        too_old.example = part_too_old.example;
                    }
                }
            }
            Err(error) if error.is_refused_data() => {
                savepoint.rollback().await?;
                if let [index] = indices[..] {
                    refused.push((index, error.to_string()));
                } else {
                    let (first, second) = indices.split_at(indices.len() / 2);
                    parts.push(second.to_vec());
                    parts.push(first.to_vec());
                }
            }
            Err(error) => return Err(error),
        }
    }
    transaction.commit().await?;
    for resolved in learnt {
        context.series.remember(resolved);
    }
    refused.sort_unstable_by_key(|(index, _)| *index);
    Ok(Isolated {
        outcome: StoreOutcome::Stored {
            series: batch.record_count() - refused.len() - too_old.points,
            too_old,
        },
        refused,
    })
}
