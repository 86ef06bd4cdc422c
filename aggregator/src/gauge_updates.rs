//! A gauge's updates of one window, kept so that updates received by different receive
//! workers can be applied in the order they were received.
//!
//! etsy statsd applies gauge lines in arrival order, whatever socket they came from: `temp:50|g`
//! from one process and, 50 ms later, `temp:-3|g` from another leave `temp` at 47. Abacus
//! aggregates each statsd socket in its own shard and merges the shards at the window's end, so
//! a shard cannot simply hand over "the value": whether its delta applies after the other
//! shard's `50` depends on which came first. Each shard therefore keeps, per gauge, the last
//! value set in the window and when it was received, and the deltas received after it, each
//! with its receive time ([`ReceiveClock`]). Merging two such records keeps the later set and
//! every delta of either received at or after it; the window's value is that set plus those
//! deltas (or, with no set in the window, the value remembered from earlier windows plus
//! every delta: etsy's rule that a delta changes an existing gauge and sets a new one).
//!
//! Within one shard, updates keep their order exactly (a set discards the deltas before it).
//! Across shards the order is the receive time, read once per receive call, so two updates a
//! receive call apart on different sockets (a millisecond or less) may be taken as
//! simultaneous; a delta received in the same microsecond as another shard's set counts as
//! after it. Deltas are kept one entry per receive call; past [`MAX_DELTA_ENTRIES`] entries in
//! one window the two oldest are added together (taken as received with the later one), so a
//! hot gauge costs bounded memory, and only a set from another socket falling between those
//! two entries could be ordered differently from arrival.

use std::sync::OnceLock;
use std::time::Instant;

/// Deltas of one gauge kept per shard and window before the oldest are combined.
pub(crate) const MAX_DELTA_ENTRIES: usize = 64;

/// Microseconds since the process's first reading: one monotonic clock for every thread, so
/// that receive times of different workers compare.
pub(crate) struct ReceiveClock;

impl ReceiveClock {
    pub(crate) fn now_micros() -> u64 {
        static START: OnceLock<Instant> = OnceLock::new();
        let start = START.get_or_init(Instant::now);
        u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// One window's updates of one gauge, in one shard or merged from several.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct GaugeUpdates {
    /// The last value set in the window and when it was received.
    set: Option<(u64, f64)>,
    /// Deltas received after `set` (every delta of the window when there is none), oldest
    /// first, as (receive time, sum of the deltas received then).
    deltas: Vec<(u64, f64)>,
}

impl GaugeUpdates {
    /// A value set at `received_at`: every delta before it no longer matters.
    pub(crate) fn set(&mut self, received_at: u64, value: f64) {
        self.set = Some((received_at, value));
        self.deltas.clear();
    }

    /// A delta received at `received_at`, after every update recorded before it here.
    pub(crate) fn add(&mut self, received_at: u64, delta: f64) {
        match self.deltas.last_mut() {
            Some((last_received_at, sum)) if *last_received_at >= received_at => *sum += delta,
            _ => self.deltas.push((received_at, delta)),
        }
        if self.deltas.len() > MAX_DELTA_ENTRIES {
            let (_, oldest) = self.deltas.remove(0);
            self.deltas[0].1 += oldest;
        }
    }

    /// Whether the window has updates.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.set.is_none() && self.deltas.is_empty()
    }

    /// Folds `other`, the same gauge's updates of the same window in another shard, into
    /// these. Of two sets the later received wins (on a tie, `other`'s: shards are folded in
    /// worker order); a delta survives a set received before or with it.
    pub(crate) fn merge(&mut self, other: GaugeUpdates) {
        let other_set_is_later = match (self.set, other.set) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some((ours, _)), Some((theirs, _))) => theirs >= ours,
        };
        let (set, earlier_deltas, later_deltas) = if other_set_is_later {
            (other.set, std::mem::take(&mut self.deltas), other.deltas)
        } else {
            (self.set, other.deltas, std::mem::take(&mut self.deltas))
        };
        let after_set =
            |&(received_at, _): &(u64, f64)| set.is_none_or(|(set_at, _)| received_at >= set_at);
        // Both lists are in receive order; the merge keeps it, then the bound applies.
        let mut deltas: Vec<(u64, f64)> =
            Vec::with_capacity(earlier_deltas.len() + later_deltas.len());
        let (mut left, mut right) = (
            earlier_deltas.into_iter().filter(after_set).peekable(),
            later_deltas.into_iter().peekable(),
        );
        loop {
            let next = match (left.peek(), right.peek()) {
                (Some(a), Some(b)) if a.0 <= b.0 => left.next(),
                (Some(_), Some(_)) => right.next(),
                (Some(_), None) => left.next(),
                (None, Some(_)) => right.next(),
                (None, None) => break,
            };
            deltas.extend(next);
        }
        self.set = set;
        self.deltas.clear();
        for (received_at, delta) in deltas {
            self.add(received_at, delta);
        }
    }

    /// The gauge's value after this window's updates: the last value set plus every delta after
    /// it, or, with no value set in the window, `remembered` (the value from earlier windows,
    /// `None` for a gauge that does not exist) plus every delta. Leaves the updates empty.
    pub(crate) fn apply(&mut self, remembered: Option<f64>) -> f64 {
        let base = match self.set.take() {
            Some((_, value)) => value,
            None => remembered.unwrap_or(0.0),
        };
        let value = self
            .deltas
            .iter()
            .fold(base, |value, (_, delta)| value + delta);
        self.deltas.clear();
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(at: u64, value: f64) -> GaugeUpdates {
        let mut updates = GaugeUpdates::default();
        updates.set(at, value);
        updates
    }

    fn delta(at: u64, delta: f64) -> GaugeUpdates {
        let mut updates = GaugeUpdates::default();
        updates.add(at, delta);
        updates
    }

    fn merged(mut first: GaugeUpdates, second: GaugeUpdates, remembered: Option<f64>) -> f64 {
        first.merge(second);
        first.apply(remembered)
    }

    #[test]
    fn updates_of_two_shards_apply_in_receive_order_whichever_is_folded_first() {
        let cases = [
            // (shard a, shard b, remembered, value): `temp:50|g` then `temp:-3|g`.
            (set(10, 50.0), delta(60, -3.0), None, 47.0),
            // The delta first: the later set wins.
            (delta(10, -3.0), set(60, 50.0), Some(7.0), 50.0),
            // Two sets: the later one.
            (set(10, 1.0), set(60, 2.0), None, 2.0),
            // Deltas only: added to what was remembered, or to nothing.
            (delta(10, 2.0), delta(60, 3.0), Some(10.0), 15.0),
            (delta(10, 2.0), delta(60, 3.0), None, 5.0),
            // A delta received with the set counts as after it.
            (set(10, 50.0), delta(10, -3.0), None, 47.0),
        ];
        for (a, b, remembered, value) in cases {
            assert_eq!(
                merged(a.clone(), b.clone(), remembered),
                value,
                "{a:?} then {b:?}"
            );
            assert_eq!(
                merged(b.clone(), a.clone(), remembered),
                value,
                "{b:?} then {a:?}"
            );
        }
    }

    #[test]
    fn a_shards_deltas_before_the_other_shards_set_are_dropped_and_after_it_kept() {
        // Shard a: +1 at 5, +2 at 20. Shard b: set 100 at 10, +4 at 30.
        let mut a = delta(5, 1.0);
        a.add(20, 2.0);
        let mut b = set(10, 100.0);
        b.add(30, 4.0);
        assert_eq!(merged(a.clone(), b.clone(), Some(0.0)), 106.0);
        assert_eq!(merged(b, a, Some(0.0)), 106.0);
    }

    #[test]
    fn a_set_discards_the_deltas_before_it_in_its_own_shard() {
        let mut updates = delta(1, 5.0);
        updates.set(2, 10.0);
        updates.add(3, 1.0);
        assert_eq!(updates.apply(Some(1000.0)), 11.0);
        assert!(updates.is_empty());
    }

    #[test]
    fn a_hot_gauge_keeps_a_bounded_number_of_delta_entries_and_their_sum() {
        let mut updates = GaugeUpdates::default();
        for at in 0..10_000 {
            updates.add(at, 1.0);
        }
        assert_eq!(updates.deltas.len(), MAX_DELTA_ENTRIES);
        assert_eq!(updates.clone().apply(Some(0.0)), 10_000.0);
        // Merged with another hot shard, still bounded and exact in sum.
        let other = updates.clone();
        updates.merge(other);
        assert_eq!(updates.deltas.len(), MAX_DELTA_ENTRIES);
        assert_eq!(updates.apply(None), 20_000.0);
    }
}
