//! The series table of one metric kind in one window: canonical keys interned once, each series
//! given a dense id, its value kept in a `Vec` at that id.
//!
//! Why not a `HashMap<String, V>`: with many hot keys every sample is a walk through memory the
//! CPU caches do not hold, and a map of heap `String`s makes that walk three dependent misses —
//! the control bytes, the bucket (which holds the key's pointer) and the key's heap bytes.
//! Here a lookup is an open-addressing probe over 16-byte slots that each carry a 32-bit hash
//! tag, the series id and where its key lies in one contiguous key arena; so one cache line of
//! slots decides the probe, and the key's bytes and the value can be fetched at once, both
//! addresses being in the slot. And because every address a lookup touches can be computed
//! from the key's hash and the slot, a caller with several samples at hand can prefetch them
//! all before applying any ([`SeriesTable::prefetch_slot`], [`SeriesTable::prefetch_series`]),
//! so the misses of a batch overlap instead of following one another.
//!
//! Series outlive the window that created them while they keep receiving samples: a window's
//! end ([`SeriesTable::end_window`]) visits every series with whether it was touched, and the
//! caller decides which to keep. So a steady stream of the same keys is interned once rather
//! than once per window, and memory still only holds what the caller keeps.
//!
//! The hash is foldhash, seeded at random once per process (as hashbrown's default is per map):
//! a sender on an unauthenticated UDP port cannot precompute keys that collide. Every table of
//! the process hashes alike, so a window's end hands each series' hash along with its key, and
//! folding a receive worker's table into the merged one does not hash any key again. Probing is
//! linear, at most half full, so a probe rarely leaves its first cache line.

use foldhash::fast::RandomState;
use std::hash::BuildHasher;
use std::sync::LazyLock;

/// The one hasher of every series table in the process (see the module header).
static SERIES_HASHER: LazyLock<RandomState> = LazyLock::new(RandomState::default);

/// A slot of the index. `id == EMPTY` marks a free slot.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The high 32 bits of the key's hash: most probes that meet another key end here,
    /// without reading its bytes.
    tag: u32,
    id: u32,
    /// Where the key starts in the arena, in units of [`KEY_ALIGN`] bytes (so 32-bit offsets
    /// reach 32 GiB of keys, more than the machine holds).
    key_start: u32,
    key_len: u32,
}

const EMPTY: u32 = u32::MAX;
const FREE_SLOT: Slot = Slot {
    tag: 0,
    id: EMPTY,
    key_start: 0,
    key_len: 0,
};

/// Keys start at multiples of this in the arena (see [`Slot::key_start`]).
const KEY_ALIGN: usize = 8;

/// The index starts at this many slots when the first series arrives.
const MIN_SLOTS: usize = 16;

/// One series: its key's place in the arena, its hash (kept so the index can be rebuilt
/// without hashing again), whether the current window touched it, and its value.
#[derive(Debug)]
struct Series<V> {
    hash: u64,
    /// As in [`Slot`]: in units of [`KEY_ALIGN`] bytes.
    key_start: u32,
    key_len: u32,
    touched: bool,
    value: V,
}

impl<V> Series<V> {
    fn key_range(&self) -> std::ops::Range<usize> {
        let start = self.key_start as usize * KEY_ALIGN;
        start..start + self.key_len as usize
    }
}

#[derive(Debug)]
pub struct SeriesTable<V> {
    hasher: RandomState,
    /// Power-of-two length (or empty), at most half occupied.
    slots: Vec<Slot>,
    /// Every key, each starting at a multiple of [`KEY_ALIGN`]; the gaps are NUL bytes, so the
    /// arena stays valid UTF-8 and every key is a `&str` slice of it.
    keys: String,
    series: Vec<Series<V>>,
}

impl<V> Default for SeriesTable<V> {
    fn default() -> Self {
        Self {
            hasher: SERIES_HASHER.clone(),
            slots: Vec::new(),
            keys: String::new(),
            series: Vec::new(),
        }
    }
}

impl<V> SeriesTable<V> {
    /// How many series the table holds.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The bytes of every key the table holds, with their padding: what writing them all out
    /// takes, give or take a few bytes per key.
    pub fn key_bytes(&self) -> usize {
        self.keys.len()
    }

    /// The hash every other method takes with `key`; computed once per sample.
    #[inline]
    pub fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Asks the CPU to start loading the index slots where `hash`'s probe begins.
    #[inline]
    pub fn prefetch_slot(&self, hash: u64) {
        if let Some(slot) = self.slots.get(self.home(hash)) {
            prefetch(slot);
        }
    }

    /// Asks the CPU to start loading the value and the key bytes of the series `key` would
    /// find, if the index slots say there is one (call [`Self::prefetch_slot`] first, a while
    /// earlier). Only a hint: it changes nothing.
    #[inline]
    pub fn prefetch_series(&self, hash: u64, key: &str) {
        if let Some(slot) = self.first_candidate(hash, key.len()) {
            if let Some(series) = self.series.get(slot.id as usize) {
                prefetch(series);
            }
            if let Some(byte) = self
                .keys
                .as_bytes()
                .get(slot.key_start as usize * KEY_ALIGN)
            {
                prefetch(byte);
            }
        }
    }

    /// The value of `key` (whose [`Self::hash`] is `hash`), marked as touched in this window.
    #[inline]
    pub fn get_mut(&mut self, hash: u64, key: &str) -> Option<&mut V> {
        let id = self.find(hash, key)?;
        let series = &mut self.series[id];
        series.touched = true;
        Some(&mut series.value)
    }

    /// The value of `key`, inserted as `new_value()` when the table has no such series; marked
    /// as touched in this window. Copies the key only when the series is new.
    #[inline]
    pub fn get_or_insert_with(
        &mut self,
        hash: u64,
        key: &str,
        new_value: impl FnOnce() -> V,
    ) -> &mut V {
        let id = match self.find(hash, key) {
            Some(id) => id,
            None => self.insert_new(hash, key, new_value()),
        };
        let series = &mut self.series[id];
        series.touched = true;
        &mut series.value
    }

    /// Ends a window: calls `visit(key, hash, value, touched)` for every series, in id order,
    /// with the key's [`Self::hash`] (every table's hash of it, all hashing alike) and whether
    /// a lookup touched it since the last call; keeps the series when `visit` returns
    /// `true` and forgets it otherwise. Touched marks are cleared. When series are forgotten the
    /// table is rebuilt around those kept (a pass over them, no hashing), so its memory follows
    /// what is live.
    pub fn end_window(&mut self, mut visit: impl FnMut(&str, u64, &mut V, bool) -> bool) {
        let mut forgotten = 0;
        for series in self.series.iter_mut() {
            let key = &self.keys[series.key_range()];
            let keep = visit(key, series.hash, &mut series.value, series.touched);
            // Until the rebuild below, `touched` says whether to keep it.
            series.touched = keep;
            forgotten += usize::from(!keep);
        }
        if forgotten == 0 {
            for series in self.series.iter_mut() {
                series.touched = false;
            }
            return;
        }
        let old_keys = std::mem::take(&mut self.keys);
        let kept: Vec<Series<V>> = std::mem::take(&mut self.series)
            .into_iter()
            .filter(|series| series.touched)
            .collect();
        self.slots = if kept.is_empty() {
            Vec::new()
        } else {
            vec![FREE_SLOT; index_size(kept.len())]
        };
        self.series = Vec::with_capacity(kept.len());
        self.keys = String::with_capacity(old_keys.len());
        for series in kept {
            let key = &old_keys[series.key_range()];
            self.insert_new(series.hash, key, series.value);
        }
    }

    fn home(&self, hash: u64) -> usize {
        // The low bits pick the slot, the high 32 are the tag: independent bits of the hash.
        (hash as usize) & self.slots.len().wrapping_sub(1)
    }

    /// The first occupied slot of `hash`'s probe sequence whose tag and key length match;
    /// `None` when a free slot comes first. Only a guess at the series (for prefetching).
    fn first_candidate(&self, hash: u64, key_len: usize) -> Option<Slot> {
        if self.slots.is_empty() {
            return None;
        }
        let tag = (hash >> 32) as u32;
        let mask = self.slots.len() - 1;
        let mut index = self.home(hash);
        loop {
            let slot = self.slots[index];
            if slot.id == EMPTY {
                return None;
            }
            if slot.tag == tag && slot.key_len as usize == key_len {
                return Some(slot);
            }
            index = (index + 1) & mask;
        }
    }

    /// The id of the series with `key`.
    #[inline]
    fn find(&self, hash: u64, key: &str) -> Option<usize> {
        debug_assert_eq!(hash, self.hash(key), "a hash from this table's hasher");
        if self.slots.is_empty() {
            return None;
        }
        let tag = (hash >> 32) as u32;
        let mask = self.slots.len() - 1;
        let keys = self.keys.as_bytes();
        let mut index = self.home(hash);
        // Ends: the index is at most half full, so a free slot always comes.
        loop {
            let slot = self.slots[index];
            if slot.id == EMPTY {
                return None;
            }
            if slot.tag == tag && slot.key_len as usize == key.len() {
                let start = slot.key_start as usize * KEY_ALIGN;
                if keys.get(start..start + key.len()) == Some(key.as_bytes()) {
                    return Some(slot.id as usize);
                }
            }
            index = (index + 1) & mask;
        }
    }

    /// Adds a series the table does not hold; returns its id.
    fn insert_new(&mut self, hash: u64, key: &str, value: V) -> usize {
        if (self.series.len() + 1) * 2 > self.slots.len() {
            self.grow_index();
        }
        let id = self.series.len();
        // Pad to the alignment with NULs, then the key.
        let padding = self.keys.len().next_multiple_of(KEY_ALIGN) - self.keys.len();
        self.keys.extend(std::iter::repeat_n('\0', padding));
        let key_start = u32::try_from(self.keys.len() / KEY_ALIGN)
            .expect("less than 32 GiB of keys: each takes memory");
        self.keys.push_str(key);
        self.series.push(Series {
            hash,
            key_start,
            key_len: u32::try_from(key.len()).expect("a key is shorter than a datagram or a line"),
            touched: false,
            value,
        });
        self.place(id);
        id
    }

    /// Puts series `id` into the first free slot of its probe sequence.
    fn place(&mut self, id: usize) {
        let series = &self.series[id];
        let slot = Slot {
            tag: (series.hash >> 32) as u32,
            id: u32::try_from(id)
                .ok()
                .filter(|id| *id != EMPTY)
                .expect("fewer than 2^32 - 1 series: each takes memory"),
            key_start: series.key_start,
            key_len: series.key_len,
        };
        let mask = self.slots.len() - 1;
        let mut index = self.home(series.hash);
        while self.slots[index].id != EMPTY {
            index = (index + 1) & mask;
        }
        self.slots[index] = slot;
    }

    /// Doubles the index (or creates it) and places every series again.
    fn grow_index(&mut self) {
        self.slots = vec![FREE_SLOT; index_size(self.series.len() + 1)];
        for id in 0..self.series.len() {
            self.place(id);
        }
    }
}

/// Index slots for `series` series: at most half full, a power of two.
fn index_size(series: usize) -> usize {
    (series * 2).next_power_of_two().max(MIN_SLOTS)
}

/// A hint to load the cache line holding `value`; nothing where there is no such instruction.
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: prefetching is only a hint and never faults; the address is a valid
        // reference besides.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn add(table: &mut SeriesTable<i64>, key: &str, amount: i64) {
        let hash = table.hash(key);
        table.prefetch_slot(hash);
        table.prefetch_series(hash, key);
        *table.get_or_insert_with(hash, key, || 0) += amount;
    }

    fn get(table: &mut SeriesTable<i64>, key: &str) -> Option<i64> {
        let hash = table.hash(key);
        table.get_mut(hash, key).copied()
    }

    /// Every series as `(key, value, touched)`, sorted, without changing anything.
    fn contents(table: &mut SeriesTable<i64>) -> Vec<(String, i64, bool)> {
        let mut seen = Vec::new();
        table.end_window(|key, _, value, touched| {
            seen.push((key.to_owned(), *value, touched));
            true
        });
        // `end_window` cleared the marks; put them back as they were.
        for (key, _, touched) in &seen {
            if *touched {
                let hash = table.hash(key);
                table.get_mut(hash, key);
            }
        }
        seen.sort();
        seen
    }

    #[test]
    fn keys_that_share_prefixes_lengths_or_bytes_are_distinct_series() {
        let keys = [
            "",
            "a",
            "ab",
            "ba",
            "a\0",
            "abc",
            "a;b=c|#x",
            "k".repeat(300).leak(),
        ];
        let mut table = SeriesTable::default();
        for (index, key) in keys.iter().enumerate() {
            add(&mut table, key, index as i64 + 1);
        }
        for (index, key) in keys.iter().enumerate() {
            add(&mut table, key, 10);
            assert_eq!(get(&mut table, key), Some(index as i64 + 11), "{key:?}");
        }
        assert_eq!(table.len(), keys.len());
        assert_eq!(get(&mut table, "abcd"), None);
        assert_eq!(get(&mut table, "b"), None);
    }

    #[test]
    fn a_window_end_keeps_what_the_caller_keeps_and_clears_touched_marks() {
        let mut table = SeriesTable::default();
        for index in 0..1000 {
            add(&mut table, &format!("series.{index}"), index);
        }
        table.end_window(|_, _, _, touched| {
            assert!(touched);
            true
        });
        add(&mut table, "series.7", 1);
        let mut touched_keys = Vec::new();
        table.end_window(|key, _, value, touched| {
            if touched {
                touched_keys.push((key.to_owned(), *value));
            }
            // Keep the even values only.
            *value % 2 == 0
        });
        assert_eq!(touched_keys, [("series.7".to_owned(), 8)]);
        assert_eq!(table.len(), 501, "500 even values, plus series.7 now at 8");
        assert_eq!(get(&mut table, "series.998"), Some(998));
        assert_eq!(get(&mut table, "series.999"), None);
        assert_eq!(get(&mut table, "series.7"), Some(8));
        table.end_window(|_, _, _, _| false);
        assert!(table.is_empty());
        add(&mut table, "again", 1);
        assert_eq!(get(&mut table, "again"), Some(1));
    }

    #[derive(Debug, Clone)]
    enum Operation {
        Add(String, i64),
        Get(String),
        /// Ends the window keeping touched series, and those untouched whose value is even.
        EndWindow,
    }

    fn operation() -> impl Strategy<Value = Operation> {
        // Few short keys, so that keys repeat, collide on tags rarely and share prefixes often.
        let key = "[ab;\0]{0,4}";
        prop_oneof![
            6 => (key, -5i64..5).prop_map(|(key, amount)| Operation::Add(key, amount)),
            3 => key.prop_map(Operation::Get),
            1 => Just(Operation::EndWindow),
        ]
    }

    proptest! {
        /// The table agrees with a `HashMap` model through any sequence of adds, lookups and
        /// window ends (which forget some series and rebuild the table).
        #[test]
        fn the_table_agrees_with_a_hash_map(operations in prop::collection::vec(operation(), 0..300)) {
            let mut table = SeriesTable::default();
            let mut model: HashMap<String, (i64, bool)> = HashMap::new();
            for operation in operations {
                match operation {
                    Operation::Add(key, amount) => {
                        add(&mut table, &key, amount);
                        let entry = model.entry(key).or_insert((0, false));
                        entry.0 += amount;
                        entry.1 = true;
                    }
                    Operation::Get(key) => {
                        let found = get(&mut table, &key);
                        let expected = model.get_mut(&key).map(|entry| {
                            entry.1 = true;
                            entry.0
                        });
                        prop_assert_eq!(found, expected);
                    }
                    Operation::EndWindow => {
                        let mut visited = Vec::new();
                        table.end_window(|key, _, value, touched| {
                            visited.push((key.to_owned(), *value, touched));
                            touched || *value % 2 == 0
                        });
                        visited.sort();
                        let mut expected: Vec<(String, i64, bool)> = model
                            .iter()
                            .map(|(key, (value, touched))| (key.clone(), *value, *touched))
                            .collect();
                        expected.sort();
                        prop_assert_eq!(visited, expected);
                        model.retain(|_, (value, touched)| *touched || *value % 2 == 0);
                        for entry in model.values_mut() {
                            entry.1 = false;
                        }
                    }
                }
                prop_assert_eq!(table.len(), model.len());
            }
            let mut expected: Vec<(String, i64, bool)> = model
                .into_iter()
                .map(|(key, (value, touched))| (key, value, touched))
                .collect();
            expected.sort();
            prop_assert_eq!(contents(&mut table), expected);
        }
    }
}
