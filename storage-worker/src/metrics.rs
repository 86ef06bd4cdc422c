//! What the worker has done and what state it is in: the one place where each internal event
//! of the consume loop is counted *and* logged, so that `/metrics`, `/readyz` and the logs can
//! never disagree. Rendered as Prometheus text by [`WorkerMetrics::render`].

use crate::rollup::RollupLag;
use abacus_proto::exposition::{Exposition, Metrics};
use abacus_proto::self_metrics::{Reading, Readings};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tracing::{debug, error, info, warn};

/// Something that happened to a message in the consume loop.
pub(crate) enum Event<'a> {
    /// The batch was committed (and is about to be acknowledged), without its points older
    /// than every retention of their series.
    Stored {
        batch_id: &'a str,
        series: usize,
        too_old: crate::store::TooOld,
    },
    /// The batch had been stored before; it is acknowledged without a change.
    Duplicate { batch_id: &'a str },
    /// Storing the batches of a transaction failed in a way a retry can fix (PostgreSQL down
    /// or failing); their messages were handed back unacknowledged.
    StoreFailed { batches: usize, error: &'a str },
    /// The message can never be stored and was moved to the dead-letter subject.
    DeadLettered { reason: &'a str },
    /// Records of a stored batch that can never be stored were moved to the dead-letter
    /// subject, as a batch of their own.
    RecordsDeadLettered {
        batch_id: &'a str,
        records: usize,
        reasons: &'a str,
    },
    /// Storing one batch failed while PostgreSQL answered; it was handed back to be tried
    /// again later, `failures` times so far.
    BatchFailed {
        batch_id: &'a str,
        failures: u32,
        error: &'a str,
    },
    /// Moving a message to the dead-letter subject failed; it was handed back.
    DeadLetterFailed { error: &'a str },
}

/// The worker's counters and states, shared by the consume loop and the admin server.
#[derive(Debug, Default)]
pub(crate) struct WorkerMetrics {
    batches_stored: AtomicU64,
    points_too_old: AtomicU64,
    duplicates: AtomicU64,
    dead_lettered: AtomicU64,
    records_dead_lettered: AtomicU64,
    batch_failures: AtomicU64,
    store_retries: AtomicU64,
    /// Set by the first failed store, cleared by the next successful one.
    database_failing: AtomicBool,
    pub rollup_lag: Arc<RollupLag>,
}

impl WorkerMetrics {
    /// Counts the event and logs it; state changes (database failing, back) are logged once.
    pub(crate) fn record(&self, event: Event<'_>) {
        match event {
            Event::Stored {
                batch_id,
                series,
                too_old,
            } => {
                self.batches_stored.fetch_add(1, Ordering::Relaxed);
                self.database_works();
                debug!(batch_id, series, "batch stored");
                if too_old.points > 0 {
                    let refused = self
                        .points_too_old
                        .fetch_add(too_old.points as u64, Ordering::Relaxed)
                        + too_old.points as u64;
                    warn!(
                        batch_id,
                        points = too_old.points,
                        example = too_old.example.as_deref().unwrap_or_default(),
                        refused_in_all = refused,
                        "points older than every retention of their series refused, the rest of the batch stored"
                    );
                }
            }
            Event::Duplicate { batch_id } => {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
                self.database_works();
                info!(
                    batch_id,
                    "batch already stored, acknowledging the duplicate"
                );
            }
            Event::StoreFailed { batches, error } => {
                self.store_retries.fetch_add(1, Ordering::Relaxed);
                if !self.database_failing.swap(true, Ordering::Relaxed) {
                    error!(
                        batches,
                        error, "database failing, holding acknowledgements and retrying"
                    );
                } else {
                    debug!(batches, error, "storing failed again");
                }
            }
            Event::DeadLettered { reason } => {
                let dead_lettered = self.dead_lettered.fetch_add(1, Ordering::Relaxed) + 1;
                error!(
                    reason,
                    dead_lettered, "message moved to the dead-letter subject"
                );
            }
            Event::RecordsDeadLettered {
                batch_id,
                records,
                reasons,
            } => {
                let dead_lettered = self
                    .records_dead_lettered
                    .fetch_add(records as u64, Ordering::Relaxed)
                    + records as u64;
                error!(
                    batch_id,
                    records,
                    reasons,
                    dead_lettered,
                    "records that can never be stored moved to the dead-letter subject, the rest of the batch stored"
                );
            }
            Event::BatchFailed {
                batch_id,
                failures,
                error,
            } => {
                self.batch_failures.fetch_add(1, Ordering::Relaxed);
                warn!(
                    batch_id,
                    failures,
                    error,
                    "storing a batch failed while the database answers, retrying later"
                );
            }
            Event::DeadLetterFailed { error } => {
                warn!(error, "dead-lettering failed, retrying later");
            }
        }
    }

    fn database_works(&self) {
        if self.database_failing.swap(false, Ordering::Relaxed) {
            info!("database is back, storing again");
        }
    }

    /// Whether the last attempt to store a batch failed for a reason a retry can fix.
    pub(crate) fn database_failing(&self) -> bool {
        self.database_failing.load(Ordering::Relaxed)
    }

    pub(crate) fn batches_stored(&self) -> u64 {
        self.batches_stored.load(Ordering::Relaxed)
    }

    /// Messages moved whole to the dead-letter subject.
    pub(crate) fn dead_lettered(&self) -> u64 {
        self.dead_lettered.load(Ordering::Relaxed)
    }

    /// Records moved to the dead-letter subject out of batches whose rest was stored.
    pub(crate) fn records_dead_lettered(&self) -> u64 {
        self.records_dead_lettered.load(Ordering::Relaxed)
    }

    /// The OpenMetrics text of the counters, states and rollup lags.
    pub(crate) fn render(self: &Arc<Self>, nats_connected: bool) -> String {
        let scrape = Arc::new(Scrape {
            metrics: Arc::clone(self),
            nats_connected,
        });
        abacus_proto::exposition::render(scrape, "abacus_storage")
    }
}

/// The worker's metrics at one scrape, with the state of its NATS connection.
#[derive(Debug)]
struct Scrape {
    metrics: Arc<WorkerMetrics>,
    nats_connected: bool,
}

impl Readings for WorkerMetrics {
    /// Every counter and gauge now: the one list `/metrics` and the self-metrics batches
    /// are both made from, so their names cannot differ.
    fn readings(&self) -> Vec<Reading> {
        let counter = Reading::counter;
        vec![
            counter(
                "batches_stored",
                "Batches committed to PostgreSQL.",
                self.batches_stored(),
            ),
            counter(
                "points_too_old",
                "Timestamped points refused because they are older than every retention of their series.",
                self.points_too_old.load(Ordering::Relaxed),
            ),
            counter(
                "duplicates",
                "Batches recognized as already stored and acknowledged unchanged.",
                self.duplicates.load(Ordering::Relaxed),
            ),
            counter(
                "dead_lettered",
                "Messages moved to the dead-letter subject.",
                self.dead_lettered(),
            ),
            counter(
                "records_dead_lettered",
                "Records that can never be stored moved to the dead-letter subject, the rest of their batch stored.",
                self.records_dead_lettered(),
            ),
            counter(
                "batch_failures",
                "Times storing one batch failed while the database answered (it is retried, then dead-lettered).",
                self.batch_failures.load(Ordering::Relaxed),
            ),
            counter(
                "store_retries",
                "Transactions storing batches that failed and were retried later.",
                self.store_retries.load(Ordering::Relaxed),
            ),
            Reading::gauge(
                "database_failing",
                "1 while storing batches fails.",
                f64::from(u8::from(self.database_failing())),
            ),
        ]
    }
}

impl Metrics for Scrape {
    fn expose(&self, exposition: &mut Exposition<'_, '_>) -> std::fmt::Result {
        let metrics = &self.metrics;
        abacus_proto::self_metrics::expose(metrics.readings(), exposition)?;
        exposition.gauge(
            "nats_connected",
            "1 while the NATS client is connected.",
            f64::from(u8::from(self.nats_connected)),
        )?;
        let lags: Vec<(String, f64)> = metrics
            .rollup_lag
            .by_resolution()
            .into_iter()
            .map(|(resolution, lag)| (format!("{resolution}s"), lag as f64))
            .collect();
        exposition.labelled_gauges(
            "rollup_lag_seconds",
            "How far each resolution's rollups are behind the clock.",
            "resolution",
            &lags,
        )
    }
}
