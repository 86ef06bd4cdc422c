//! The statsd UDP receive workers: one thread per socket (see [`crate::udp`]), each reading
//! batches of datagrams and aggregating them into its own shard of the windows.
//!
//! A shard is an [`Intake`] behind a mutex that only its worker and, once per flush, the
//! receive loop take. The worker holds it while it handles one batch of datagrams; at a window
//! end the receive loop swaps the shard's windows for empty ones (an O(1) exchange, so the
//! worker waits at most for one batch and never for the flush) and merges the full ones into
//! its own windows outside the lock ([`Windows::absorb`]). So receiving goes on while a window
//! is merged, sealed and handed to the publisher.
//!
//! The receive loop publishes where the open window starts in an atomic; a worker reads it
//! after taking its shard, so a `|T` sample is judged against the window its shard is part of.
//! On shutdown the workers drain what their sockets already hold, then stop; the receive loop
//! waits for them before the final merge.

use crate::intake::Intake;
use crate::stats::SelfMetrics;
use crate::udp::{self, DatagramReceiver};
use crate::windows::Windows;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{error, warn};

/// The running workers, as the receive loop sees them.
pub(crate) struct ReceiveWorkers {
    shards: Vec<Arc<Mutex<Intake>>>,
    /// One empty `Windows` per shard, swapped in at each window end; after the merge the
    /// drained windows (their maps keeping their capacity) are the next spare.
    spares: Vec<Windows>,
    current_window_start_ms: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl ReceiveWorkers {
    /// Starts one worker thread per socket. `new_windows` makes an empty shard. The workers
    /// may take datagrams at once (the kernel may hold some already), so they are given the
    /// window open now from the start: with none, every `|T` sample would count as current.
    pub(crate) fn spawn(
        sockets: Vec<UdpSocket>,
        max_datagram_bytes: usize,
        current_window_start_ms: i64,
        new_windows: impl Fn() -> Windows,
        metrics: Arc<SelfMetrics>,
    ) -> std::io::Result<Self> {
        let current_window_start_ms = Arc::new(AtomicI64::new(current_window_start_ms));
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Self {
            shards: Vec::with_capacity(sockets.len()),
            spares: Vec::with_capacity(sockets.len()),
            current_window_start_ms: current_window_start_ms.clone(),
            stop: stop.clone(),
            threads: Vec::with_capacity(sockets.len()),
        };
        for (index, socket) in sockets.into_iter().enumerate() {
            // Blocking with a timeout, whatever the caller handed over, so the worker sleeps
            // in the kernel and still notices the stop flag.
            socket.set_nonblocking(false)?;
            socket.set_read_timeout(Some(udp::RECEIVE_TIMEOUT))?;
            let shard = Arc::new(Mutex::new(Intake::new(new_windows(), metrics.clone())));
            let worker = Worker {
                socket,
                shard: shard.clone(),
                receiver: DatagramReceiver::new(max_datagram_bytes),
                current_window_start_ms: current_window_start_ms.clone(),
                stop: stop.clone(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("statsd-udp-{index}"))
                .spawn(move || worker.run())?;
            workers.shards.push(shard);
            workers.spares.push(new_windows());
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    /// Where the window open now starts, for the workers' `|T` decisions.
    pub(crate) fn set_current_window_start(&self, window_start_ms: i64) {
        self.current_window_start_ms
            .store(window_start_ms, Ordering::Relaxed);
    }

    /// Moves everything the workers have aggregated into `windows`. Returns how many events
    /// and points were dropped because a window already held its limit.
    pub(crate) fn absorb_into(&mut self, windows: &mut Windows) -> u64 {
        let mut dropped = 0;
        for (shard, spare) in self.shards.iter().zip(self.spares.iter_mut()) {
            let mut intake = lock(shard);
            std::mem::swap(&mut intake.windows, spare);
            // What the worker counted up to here belongs to this flush's self-metrics.
            intake.publish_counts();
            drop(intake);
            dropped += windows.absorb(spare);
        }
        dropped
    }

    /// Tells every worker to drain its socket and stop, and waits until they have.
    pub(crate) async fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let threads = std::mem::take(&mut self.threads);
        let joined = tokio::task::spawn_blocking(move || {
            threads
                .into_iter()
                .filter_map(|thread| thread.join().err())
                .count()
        })
        .await;
        match joined {
            Ok(0) => {}
            Ok(panicked) => error!(panicked, "statsd udp receive workers panicked"),
            Err(error) => error!(%error, "waiting for the statsd udp receive workers failed"),
        }
    }
}

impl Drop for ReceiveWorkers {
    /// Should the receive loop go away without [`ReceiveWorkers::stop`] (its task aborted),
    /// the threads still end within a receive timeout instead of outliving it.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A shard's intake, even if a worker panicked while holding it (its windows are still sound
/// data: every recording is a whole update of plain numbers).
fn lock(shard: &Mutex<Intake>) -> MutexGuard<'_, Intake> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One receive worker thread.
struct Worker {
    socket: UdpSocket,
    shard: Arc<Mutex<Intake>>,
    receiver: DatagramReceiver,
    current_window_start_ms: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
}

/// After a receive error other than a timeout, wait this long, so a persistent one does not
/// spin a core.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

/// A batch smaller than this means the queue ran dry: at moderate rates each datagram would
/// otherwise wake the worker on its own, and those wake-ups (a scheduler round trip each, a
/// few microseconds) cost more than the datagram's lines.
const COALESCE_BELOW_DATAGRAMS: usize = udp::DATAGRAMS_PER_CALL / 4;

/// How long a worker that ran its queue dry lets datagrams gather before it reads again. The
/// kernel holds them meanwhile (a millisecond at millions of lines a second is a few hundred
/// KiB, well within the receive buffer), and a millisecond later is nothing against a flush
/// interval of seconds.
const COALESCE_PAUSE: Duration = Duration::from_millis(1);

impl Worker {
    fn run(mut self) {
        while !self.stop.load(Ordering::Relaxed) {
            self.receive_one_batch();
        }
        // What the kernel already accepted belongs to the final window too.
        if let Err(error) = self.socket.set_nonblocking(true) {
            warn!(%error, "cannot drain the statsd udp socket on shutdown");
            return;
        }
        while self.receive_one_batch() {}
    }

    /// Receives and records one batch; `false` when no datagram came.
    fn receive_one_batch(&mut self) -> bool {
        let batch = match self.receiver.receive(&self.socket) {
            Ok(batch) => batch,
            Err(error) if udp::is_timeout(&error) => return false,
            Err(error) => {
                warn!(%error, "statsd udp receive failed");
                std::thread::sleep(ERROR_PAUSE);
                return false;
            }
        };
        let mut intake = lock(&self.shard);
        intake.current_window_start_ms = self.current_window_start_ms.load(Ordering::Relaxed);
        let mut datagrams = 0;
        intake.statsd_datagrams(batch.inspect(|_| datagrams += 1));
        intake.publish_counts();
        drop(intake);
        if datagrams < COALESCE_BELOW_DATAGRAMS {
            std::thread::sleep(COALESCE_PAUSE);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::AggregationSettings;
    use std::time::Duration;

    const WINDOW_MS: i64 = 10_000;

    /// Datagrams the kernel holds before the workers start are judged against the window open
    /// now, not against no window at all (which made every `|T` sample current).
    #[tokio::test]
    async fn timestamps_queued_before_the_workers_start_go_to_their_late_window() {
        let sockets = udp::bind_statsd_sockets("127.0.0.1:0".parse().unwrap(), 1, 1 << 20).unwrap();
        let address = sockets[0].local_addr().unwrap();
        let current_window_start_ms = crate::flush::unix_now_ms() / WINDOW_MS * WINDOW_MS;
        let a_minute_earlier_s = current_window_start_ms / 1000 - 60;
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .send_to(
                format!("late:1|c|T{a_minute_earlier_s}\nnow:1|c").as_bytes(),
                address,
            )
            .unwrap();
        let new_windows = || {
            Windows::new(
                AggregationSettings::default(),
                Duration::from_millis(WINDOW_MS as u64),
                Duration::from_secs(3600),
            )
        };
        let mut workers = ReceiveWorkers::spawn(
            sockets,
            65_535,
            current_window_start_ms,
            new_windows,
            Arc::new(SelfMetrics::default()),
        )
        .unwrap();
        workers.stop().await;
        let mut windows = new_windows();
        workers.absorb_into(&mut windows);
        let late: Vec<(i64, Vec<String>)> = windows
            .take_late_windows()
            .into_iter()
            .map(|(start, series)| (start, series.into_iter().map(|one| one.name).collect()))
            .collect();
        assert_eq!(
            late,
            vec![(a_minute_earlier_s * 1000, vec!["late".to_owned()])]
        );
        let current: Vec<String> = windows
            .current()
            .take_window(current_window_start_ms)
            .into_iter()
            .map(|one| one.name)
            .collect();
        assert_eq!(current, ["now"]);
    }
}
