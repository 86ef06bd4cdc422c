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
//! the process hashes alike, so folding a receive worker's table into the merged one
//! ([`SeriesTable::end_window_into`]) does not hash any key again. Probing is linear, at most
//! half full, so a probe rarely leaves its first cache line.
//!
//! Folding does not probe again either, once a key has been folded: each series remembers the
//! id its key has in the table it is folded into. A worker sees mostly the same keys window
//! after window, so most of a window's end is then one access per series to a value whose
//! address is known, and can be prefetched, instead of a probe of the other table's index and
//! a comparison with its key bytes (two more cache misses with many keys). Ids only change when
//! a table forgets series and is rebuilt, so every table carries a [`SeriesTable::generation`],
//! new at each rebuild, and remembered ids are trusted only for the generation they were
//! found in.

use foldhash::fast::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

/// The one hasher of every series table in the process (see the module header).
static SERIES_HASHER: LazyLock<RandomState> = LazyLock::new(RandomState::default);

/// The last [`SeriesTable::generation`] handed out: each is unique in the process.
static LAST_GENERATION: AtomicU64 = AtomicU64::new(0);

fn new_generation() -> u64 {
    LAST_GENERATION.fetch_add(1, Ordering::Relaxed) + 1
}

/// How many series ahead a fold prefetches the value it will add to.
const FOLD_PREFETCH_AHEAD: usize = 8;

/// A rebuilt table keeps its index unless the index is more than this many times the size the
/// kept series need (see [`SeriesTable::keep_marked`]).
const SHRINK_WHEN_INDEX_EXCEEDS: usize = 4;

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
/// without hashing again), whether the current window touched it, the id of its key in the
/// table it is folded into, and its value.
#[derive(Debug)]
struct Series<V> {
    hash: u64,
    /// As in [`Slot`]: in units of [`KEY_ALIGN`] bytes.
    key_start: u32,
    key_len: u32,
    /// The id of this key in the table of generation [`SeriesTable::fold_target_generation`],
    /// or `EMPTY` when not known yet. (It fits in the padding before `value`.)
    fold_target_id: u32,
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
    /// Names the ids of this table as they are now (see the module header).
    generation: u64,
    /// The generation of the table this one was last folded into, which every
    /// [`Series::fold_target_id`] refers to.
    fold_target_generation: u64,
}

impl<V> Default for SeriesTable<V> {
    fn default() -> Self {
        Self {
            hasher: SERIES_HASHER.clone(),
            slots: Vec::new(),
            keys: String::new(),
            series: Vec::new(),
            generation: new_generation(),
            fold_target_generation: 0,
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
        Some(self.touch(id))
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
        self.touch(id)
    }

    /// The value of series `id`, marked as touched in this window.
    #[inline]
    fn touch(&mut self, id: usize) -> &mut V {
        let series = &mut self.series[id];
        series.touched = true;
        &mut series.value
    }

    /// Ends a window: calls `visit(key, value, touched)` for every series, in id order, with
    /// whether a lookup touched it since the last call; keeps the series when `visit` returns
    /// `true` and forgets it otherwise. Touched marks are cleared. When series are forgotten the
    /// table is rebuilt around those kept (a pass over them, no hashing), so its memory follows
    /// what is live (within a factor of [`SHRINK_WHEN_INDEX_EXCEEDS`], see `keep_marked`).
    pub fn end_window(&mut self, mut visit: impl FnMut(&str, &mut V, bool) -> bool) {
        let mut forgotten = 0;
        for series in self.series.iter_mut() {
            let key = &self.keys[series.key_range()];
            let keep = visit(key, &mut series.value, series.touched);
            // Until `keep_marked`, `touched` says whether to keep it.
            series.touched = keep;
            forgotten += usize::from(!keep);
        }
        self.keep_marked(forgotten);
    }

    /// Ends a window as [`Self::end_window`] does, folding it into `target`: `visit(value,
    /// touched, in_target)` is given, with each series, the series of the same key in `target`
    /// (found when first asked for, without hashing the key again; see the module header).
    pub fn end_window_into<W>(
        &mut self,
        target: &mut SeriesTable<W>,
        mut visit: impl FnMut(&mut V, bool, SameKey<'_, W>) -> bool,
    ) {
        if self.fold_target_generation != target.generation {
            for series in self.series.iter_mut() {
                series.fold_target_id = EMPTY;
            }
            self.fold_target_generation = target.generation;
        }
        let mut forgotten = 0;
        for index in 0..self.series.len() {
            if let Some(ahead) = self.series.get(index + FOLD_PREFETCH_AHEAD) {
                if let Some(target_series) = target.series.get(ahead.fold_target_id as usize) {
                    prefetch(target_series);
                }
            }
            let series = &mut self.series[index];
            let in_target = SameKey {
                table: &mut *target,
                hash: series.hash,
                key: &self.keys[series.key_range()],
                id: &mut series.fold_target_id,
            };
            let keep = visit(&mut series.value, series.touched, in_target);
            series.touched = keep;
            forgotten += usize::from(!keep);
        }
        self.keep_marked(forgotten);
    }

    /// Clears the touched marks, which a window's end has set to whether to keep each series,
    /// and when `forgotten` are not kept, rebuilds the table around the kept ones.
    ///
    /// The rebuild works in place: the kept series and their keys keep their order and move
    /// towards the start, and the index is refilled in the memory it has, unless that is more
    /// than [`SHRINK_WHEN_INDEX_EXCEEDS`] times what the kept series need. So a table whose keys
    /// change from one window to the next (a new key set replacing the old, which both live in
    /// the window of the change) does not double its index and place every series again at
    /// every change, while its memory still follows what is live: an index over four times
    /// what the kept series need is given back, with the unused room of the series and the
    /// keys.
    fn keep_marked(&mut self, forgotten: usize) {
        if forgotten == 0 {
            for series in self.series.iter_mut() {
                series.touched = false;
            }
            return;
        }
        // The kept series get new ids: what tables folded into this one remember is stale.
        self.generation = new_generation();
        let mut keys = std::mem::take(&mut self.keys).into_bytes();
        let mut kept_keys_end: usize = 0;
        self.series.retain_mut(|series| {
            if !series.touched {
                return false;
            }
            series.touched = false;
            // A kept key never moves past where it was: the keys before it are a subset of
            // those that were before it, and its old start is aligned.
            let start = kept_keys_end.next_multiple_of(KEY_ALIGN);
            keys[kept_keys_end..start].fill(0);
            keys.copy_within(series.key_range(), start);
            series.key_start = (start / KEY_ALIGN) as u32;
            kept_keys_end = start + series.key_len as usize;
            true
        });
        keys.truncate(kept_keys_end);
        self.keys = String::from_utf8(keys).expect("whole keys and NUL padding are UTF-8");
        if self.series.is_empty() {
            // Nothing kept: every allocation is given back.
            self.slots = Vec::new();
            self.series = Vec::new();
            self.keys = String::new();
            return;
        }
        let needed = index_size(self.series.len());
        if self.slots.len() > needed * SHRINK_WHEN_INDEX_EXCEEDS {
            self.slots = vec![FREE_SLOT; needed];
            self.series.shrink_to_fit();
            self.keys.shrink_to_fit();
        } else {
            self.slots.fill(FREE_SLOT);
        }
        self.place_all();
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
            fold_target_id: EMPTY,
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
        self.place_all();
    }

    /// Places every series into an index of free slots.
    fn place_all(&mut self) {
        for id in 0..self.series.len() {
            self.place(id);
        }
    }
}

/// The series of one key in the table a window is folded into (see
/// [`SeriesTable::end_window_into`]): looked up when first asked for, and remembered.
pub struct SameKey<'table, V> {
    table: &'table mut SeriesTable<V>,
    hash: u64,
    key: &'table str,
    /// The folded series' [`Series::fold_target_id`].
    id: &'table mut u32,
}

impl<'table, V> SameKey<'table, V> {
    /// The key's id in the table, if it holds the key.
    #[inline]
    fn find(&mut self) -> Option<usize> {
        if *self.id != EMPTY {
            let id = *self.id as usize;
            debug_assert_eq!(self.table.find(self.hash, self.key), Some(id));
            return Some(id);
        }
        let id = self.table.find(self.hash, self.key)?;
        *self.id = id as u32;
        Some(id)
    }

    /// The value of the key, inserted as `new_value()` when the table has no such series;
    /// marked as touched in this window.
    #[inline]
    pub fn get_or_insert_with(mut self, new_value: impl FnOnce() -> V) -> &'table mut V {
        match self.find() {
            Some(id) => {
                let SameKey { table, .. } = self;
                table.touch(id)
            }
            None => self.insert(new_value()),
        }
    }

    /// Hands `value` over to the key, marked as touched in this window: moved in when the
    /// table has no such series (merging into an empty value would be work for nothing),
    /// merged into the one it has otherwise. Either way `value` is `fresh()` afterwards.
    #[inline]
    pub fn move_or_merge(
        mut self,
        value: &mut V,
        fresh: impl FnOnce() -> V,
        merge: impl FnOnce(&mut V, &V),
    ) {
        match self.find() {
            Some(id) => {
                merge(self.table.touch(id), value);
                *value = fresh();
            }
            None => {
                self.insert(std::mem::replace(value, fresh()));
            }
        }
    }

    /// Adds the key, which the table does not hold, with `value`, and remembers its id.
    fn insert(self, value: V) -> &'table mut V {
        let SameKey {
            table,
            hash,
            key,
            id: remembered_id,
        } = self;
        let id = table.insert_new(hash, key, value);
        *remembered_id = id as u32;
        table.touch(id)
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
        table.end_window(|key, value, touched| {
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
        table.end_window(|_, _, touched| {
            assert!(touched);
            true
        });
        add(&mut table, "series.7", 1);
        let mut touched_keys = Vec::new();
        table.end_window(|key, value, touched| {
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
        table.end_window(|_, _, _| false);
        assert!(table.is_empty());
        add(&mut table, "again", 1);
        assert_eq!(get(&mut table, "again"), Some(1));
    }

    #[test]
    fn a_new_key_set_replacing_the_old_does_not_grow_the_index_again_and_memory_follows_what_is_live(
    ) {
        let mut table = SeriesTable::default();
        let key_set = |set: usize| (0..1000).map(move |key| format!("set{set}.series.{key}"));
        for key in key_set(0) {
            add(&mut table, &key, 1);
        }
        table.end_window(|_, _, touched| touched);
        // In the window of the change both key sets live; at its end the old one is forgotten.
        for key in key_set(1) {
            add(&mut table, &key, 1);
        }
        table.end_window(|_, _, touched| touched);
        let index_after_first_change = table.slots.len();
        assert_eq!(index_after_first_change, index_size(2000));
        for set in 2..6 {
            for key in key_set(set) {
                add(&mut table, &key, 1);
            }
            table.end_window(|_, _, touched| touched);
            assert_eq!(table.len(), 1000);
            assert_eq!(
                table.slots.len(),
                index_after_first_change,
                "no growth at change {set}"
            );
        }
        assert_eq!(get(&mut table, "set5.series.999"), Some(1));
        assert_eq!(get(&mut table, "set4.series.999"), None);
        // Down to a handful of series, the index and the arenas are given back.
        table.end_window(|key, _, _| key.ends_with(".7"));
        assert_eq!(table.len(), 1);
        assert_eq!(table.slots.len(), index_size(1));
        assert!(
            table.series.capacity() < 1000,
            "{}",
            table.series.capacity()
        );
        assert!(table.keys.capacity() < 1000, "{}", table.keys.capacity());
        assert_eq!(get(&mut table, "set5.series.7"), Some(1));
        table.end_window(|_, _, _| false);
        assert!(table.is_empty());
        assert_eq!(
            (
                table.slots.capacity(),
                table.series.capacity(),
                table.keys.capacity()
            ),
            (0, 0, 0)
        );
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

    #[derive(Debug, Clone)]
    enum FoldOperation {
        /// Adds to a key in one of two source tables.
        Add(usize, String, i64),
        /// Folds a source table into the target as a receive worker's shard is: its touched
        /// series added to the target and kept, the others forgotten.
        Fold(usize),
        /// Ends the target's window keeping touched series and those whose value is even: ids
        /// of the target change, and what the sources remember of them is stale.
        EndTargetWindow,
    }

    fn fold_operation() -> impl Strategy<Value = FoldOperation> {
        let key = "[ab;]{0,3}";
        prop_oneof![
            6 => (0..2usize, key, -5i64..5)
                .prop_map(|(source, key, amount)| FoldOperation::Add(source, key, amount)),
            2 => (0..2usize).prop_map(FoldOperation::Fold),
            1 => Just(FoldOperation::EndTargetWindow),
        ]
    }

    /// Folds `source` into `target` as [`crate::aggregate::Aggregates::absorb`] folds counters.
    fn fold(source: &mut SeriesTable<i64>, target: &mut SeriesTable<i64>) {
        source.end_window_into(target, |value, touched, in_target| {
            if touched {
                *in_target.get_or_insert_with(|| 0) += std::mem::take(value);
            }
            touched
        });
    }

    #[test]
    fn a_fold_after_the_target_forgot_series_lands_on_the_right_keys() {
        let key = |index: usize| format!("series.{index:03}");
        let mut source = SeriesTable::default();
        let mut target = SeriesTable::default();
        for index in 0..100 {
            add(&mut source, &key(index), 1);
        }
        fold(&mut source, &mut target);
        // The target forgets the even series, so every id it gave the odd ones changes, while
        // the source still remembers the old ids.
        target.end_window(|key, _, _| key.ends_with(['1', '3', '5', '7', '9']));
        assert_eq!(target.len(), 50);
        for index in 0..100 {
            add(&mut source, &key(index), 10);
        }
        fold(&mut source, &mut target);
        let expected: Vec<(String, i64, bool)> = (0..100)
            .map(|index| (key(index), if index % 2 == 1 { 11 } else { 10 }, true))
            .collect();
        assert_eq!(contents(&mut target), expected);
    }

    /// What [`SeriesTable`] is checked against: each key's value and whether it was touched.
    type Model = HashMap<String, (i64, bool)>;

    /// [`add`], on a model.
    fn model_add(model: &mut Model, key: String, amount: i64) {
        let entry = model.entry(key).or_insert((0, false));
        entry.0 += amount;
        entry.1 = true;
    }

    /// A window's end on a model: keeps the series `keep(value, touched)` says, untouched.
    fn model_end_window(model: &mut Model, keep: impl Fn(i64, bool) -> bool) {
        model.retain(|_, (value, touched)| keep(*value, *touched));
        for entry in model.values_mut() {
            entry.1 = false;
        }
    }

    /// A model as [`contents`] gives a table: every `(key, value, touched)`, sorted.
    fn model_contents(model: &Model) -> Vec<(String, i64, bool)> {
        let mut entries: Vec<(String, i64, bool)> = model
            .iter()
            .map(|(key, (value, touched))| (key.clone(), *value, *touched))
            .collect();
        entries.sort();
        entries
    }

    proptest! {
        /// The table agrees with a `HashMap` model through any sequence of adds, lookups and
        /// window ends (which forget some series and rebuild the table).
        #[test]
        fn the_table_agrees_with_a_hash_map(operations in prop::collection::vec(operation(), 0..300)) {
            let mut table = SeriesTable::default();
            let mut model = Model::new();
            for operation in operations {
                match operation {
                    Operation::Add(key, amount) => {
                        add(&mut table, &key, amount);
                        model_add(&mut model, key, amount);
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
                        table.end_window(|key, value, touched| {
                            visited.push((key.to_owned(), *value, touched));
                            touched || *value % 2 == 0
                        });
                        visited.sort();
                        prop_assert_eq!(visited, model_contents(&model));
                        model_end_window(&mut model, |value, touched| touched || value % 2 == 0);
                    }
                }
                prop_assert_eq!(table.len(), model.len());
            }
            prop_assert_eq!(contents(&mut table), model_contents(&model));
        }

        /// Folding source tables into a target agrees with `HashMap` models, whatever the
        /// sources and the target forgot in between (see the module header on remembered ids).
        #[test]
        fn folds_agree_with_hash_maps(operations in prop::collection::vec(fold_operation(), 0..300)) {
            let mut sources = [SeriesTable::default(), SeriesTable::default()];
            let mut target = SeriesTable::default();
            let mut source_models: [Model; 2] = Default::default();
            let mut target_model = Model::new();
            for operation in operations {
                match operation {
                    FoldOperation::Add(source, key, amount) => {
                        add(&mut sources[source], &key, amount);
                        model_add(&mut source_models[source], key, amount);
                    }
                    FoldOperation::Fold(source) => {
                        fold(&mut sources[source], &mut target);
                        let model = &mut source_models[source];
                        for (key, (value, touched)) in model.iter_mut() {
                            if *touched {
                                model_add(&mut target_model, key.clone(), std::mem::take(value));
                            }
                        }
                        model_end_window(model, |_, touched| touched);
                    }
                    FoldOperation::EndTargetWindow => {
                        target.end_window(|_, value, touched| touched || *value % 2 == 0);
                        model_end_window(&mut target_model, |value, touched| touched || value % 2 == 0);
                    }
                }
                for (source, model) in sources.iter_mut().zip(&source_models) {
                    prop_assert_eq!(contents(source), model_contents(model));
                }
                prop_assert_eq!(contents(&mut target), model_contents(&target_model));
            }
        }
    }
}
