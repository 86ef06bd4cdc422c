//! The set sketch carried in `SetAggregate.sketch`: a mergeable estimate of how many distinct
//! members a statsd set (`users:alice|s`) saw, exact while small.
//!
//! # Design
//!
//! * **Hash.** Every member is hashed once with SipHash-1-3 under fixed keys
//!   ([`hash_member`]). SipHash is a specified algorithm, so the hash of a member is the same in
//!   every process, on every machine and with every version of the `siphasher` crate; that is
//!   what lets sketches from different aggregators and different days be merged. (std's
//!   `RandomState` is random per process, and hashing through `Hash for [u8]` would mix in a
//!   platform-sized length prefix.) A test pins known hash values.
//! * **Exact while small.** Up to [`EXACT_MEMBER_LIMIT`] distinct members the sketch keeps the
//!   64-bit hashes themselves, so small sets (the common case: a few hosts, users of a quiet
//!   endpoint) count exactly; a collision among 256 64-bit hashes has probability ~2^-49.
//! * **HyperLogLog beyond.** Past the limit the hashes go into a HyperLogLog of
//!   2^[`HYPERLOGLOG_PRECISION`] one-byte registers (about 0.8% standard error). The registers
//!   come from the [`hyperloglockless`] crate, chosen because it is maintained, small, and
//!   exposes exactly what a wire format needs: inserting a precomputed hash (`insert_hash`), the
//!   raw registers (`iter` / `from_parts`) and union, with a LogLog-Beta estimator that is
//!   accurate at the low cardinalities where a fresh HLL starts. `hyperloglogplus` and
//!   `cardinality-estimator` only serialize through serde's view of their private structs,
//!   which is not a format to store for years. The byte format below is this module's own.
//! * **Mergeable.** Merging is a set union while exact, a register-wise maximum otherwise.
//!   Sketches of different precisions merge by folding the finer one down: the register
//!   index is the hash's top bits and the rank its trailing zeros, so dropping index bits keeps
//!   ranks valid.
//!
//! # Bytes (version 1)
//!
//! `[version = 1][kind]` then, by kind:
//! * `0` exact: `u32` little-endian member count, then that many `u64` little-endian hashes in
//!   ascending order.
//! * `1` dense HLL: `[precision]` then `2^precision` register bytes.
//! * `2` sparse HLL: `[precision]`, `u32` LE count, then per non-zero register `u32` LE index and
//!   one register byte, by ascending index. Written when smaller than dense, which it is for
//!   sets just past the exact limit.

use hyperloglockless::HyperLogLog;
use siphasher::sip::SipHasher13;
use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};

/// The first byte of every serialized sketch.
pub const SKETCH_FORMAT_VERSION: u8 = 1;

/// Up to this many distinct members a sketch is exact.
pub const EXACT_MEMBER_LIMIT: usize = 256;

/// log2 of the number of HyperLogLog registers of new sketches.
pub const HYPERLOGLOG_PRECISION: u8 = 14;

/// The precisions a serialized sketch may have (the range `hyperloglockless` supports).
const SUPPORTED_PRECISIONS: std::ops::RangeInclusive<u8> = 4..=18;

/// The highest register value: 1 + trailing zeros of a 64-bit hash.
const HIGHEST_REGISTER_VALUE: u8 = 65;

/// The fixed SipHash keys ("abacus-set-hash!", as two little-endian words). Never change them:
/// every stored sketch depends on them.
const HASH_KEY_0: u64 = u64::from_le_bytes(*b"abacus-s");
const HASH_KEY_1: u64 = u64::from_le_bytes(*b"et-hash!");

const KIND_EXACT: u8 = 0;
const KIND_DENSE: u8 = 1;
const KIND_SPARSE: u8 = 2;

/// The stable hash of a set member: SipHash-1-3 of its bytes under the fixed keys.
pub fn hash_member(member: &[u8]) -> u64 {
    FixedKeySipHash.hash_one_bytes(member)
}

/// The `BuildHasher` the HyperLogLog is parameterized with. The sketch only ever inserts hashes
/// it computed itself, but should anything hash through the HLL it gets the same fixed keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixedKeySipHash;

impl FixedKeySipHash {
    fn hash_one_bytes(self, bytes: &[u8]) -> u64 {
        let mut hasher = self.build_hasher();
        hasher.write(bytes);
        hasher.finish()
    }
}

impl BuildHasher for FixedKeySipHash {
    type Hasher = SipHasher13;

    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_keys(HASH_KEY_0, HASH_KEY_1)
    }
}

/// Why bytes are not a set sketch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SketchDecodeError {
    #[error("sketch is empty")]
    Empty,
    #[error("unknown sketch format version {0}")]
    UnknownVersion(u8),
    #[error("unknown sketch kind {0}")]
    UnknownKind(u8),
    #[error("sketch ends early")]
    Truncated,
    #[error("sketch has bytes after its end")]
    TrailingBytes,
    #[error("sketch precision {0} is outside 4..=18")]
    UnsupportedPrecision(u8),
    #[error("exact sketch holds more than {EXACT_MEMBER_LIMIT} members")]
    TooManyExactMembers,
    #[error("sketch register value above {HIGHEST_REGISTER_VALUE}")]
    InvalidRegister,
    #[error("sparse sketch register index out of range")]
    InvalidRegisterIndex,
}

/// A mergeable distinct-count sketch; see the module documentation.
#[derive(Debug, Clone)]
pub struct SetSketch {
    representation: Representation,
}

#[derive(Debug, Clone)]
enum Representation {
    Exact(BTreeSet<u64>),
    Estimated(HyperLogLog<FixedKeySipHash>),
}

impl Default for SetSketch {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for SetSketch {
    fn eq(&self, other: &Self) -> bool {
        match (&self.representation, &other.representation) {
            (Representation::Exact(left), Representation::Exact(right)) => left == right,
            (Representation::Estimated(left), Representation::Estimated(right)) => left == right,
            _ => false,
        }
    }
}

impl SetSketch {
    /// An empty sketch.
    pub fn new() -> Self {
        Self {
            representation: Representation::Exact(BTreeSet::new()),
        }
    }

    /// Adds one member (any bytes; statsd set members are strings).
    pub fn insert(&mut self, member: &[u8]) {
        self.insert_hash(hash_member(member));
    }

    /// Adds a member by its [`hash_member`] hash.
    pub fn insert_hash(&mut self, hash: u64) {
        match &mut self.representation {
            Representation::Exact(hashes) => {
                hashes.insert(hash);
                if hashes.len() > EXACT_MEMBER_LIMIT {
                    self.switch_to_estimate(HYPERLOGLOG_PRECISION);
                }
            }
            Representation::Estimated(registers) => registers.insert_hash(hash),
        }
    }

    /// Adds every member of `other` (set union).
    pub fn merge(&mut self, other: &SetSketch) {
        match &other.representation {
            Representation::Exact(other_hashes) => {
                for hash in other_hashes {
                    self.insert_hash(*hash);
                }
            }
            Representation::Estimated(other_registers) => {
                let other_precision = precision_of(other_registers);
                if let Representation::Exact(_) = self.representation {
                    self.switch_to_estimate(other_precision);
                }
                let Representation::Estimated(own_registers) = &mut self.representation else {
                    return;
                };
                let own_precision = precision_of(own_registers);
                if own_precision > other_precision {
                    *own_registers = fold(own_registers, other_precision);
                }
                let own_precision = own_precision.min(other_precision);
                let folded_other;
                let other_registers = if other_precision > own_precision {
                    folded_other = fold(other_registers, own_precision);
                    &folded_other
                } else {
                    other_registers
                };
                // Equal lengths by construction, so the union cannot fail.
                let _ = own_registers.union(other_registers);
            }
        }
    }

    /// The number of distinct members: exact while the sketch is exact, else the estimate.
    pub fn cardinality(&self) -> u64 {
        match &self.representation {
            Representation::Exact(hashes) => hashes.len() as u64,
            Representation::Estimated(registers) => registers.raw_count().round().max(0.0) as u64,
        }
    }

    /// Whether the sketch still counts exactly.
    pub fn is_exact(&self) -> bool {
        matches!(self.representation, Representation::Exact(_))
    }

    /// The version-1 bytes described in the module documentation. Deterministic: equal
    /// sketches give equal bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![SKETCH_FORMAT_VERSION];
        match &self.representation {
            Representation::Exact(hashes) => {
                bytes.reserve(5 + hashes.len() * 8);
                bytes.push(KIND_EXACT);
                bytes.extend_from_slice(&(hashes.len() as u32).to_le_bytes());
                for hash in hashes {
                    bytes.extend_from_slice(&hash.to_le_bytes());
                }
            }
            Representation::Estimated(registers) => {
                let precision = precision_of(registers);
                let non_zero = registers.iter().filter(|register| *register != 0).count();
                let sparse_length = 4 + non_zero * 5;
                if sparse_length < registers.len() {
                    bytes.reserve(2 + sparse_length);
                    bytes.push(KIND_SPARSE);
                    bytes.push(precision);
                    bytes.extend_from_slice(&(non_zero as u32).to_le_bytes());
                    for (index, register) in registers.iter().enumerate() {
                        if register != 0 {
                            bytes.extend_from_slice(&(index as u32).to_le_bytes());
                            bytes.push(register);
                        }
                    }
                } else {
                    bytes.reserve(2 + registers.len());
                    bytes.push(KIND_DENSE);
                    bytes.push(precision);
                    bytes.extend(registers.iter());
                }
            }
        }
        bytes
    }

    /// Reads bytes written by [`SetSketch::to_bytes`]. Never panics, whatever the input.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SketchDecodeError> {
        let mut reader = ByteReader { rest: bytes };
        let version = reader.byte().map_err(|_| SketchDecodeError::Empty)?;
        if version != SKETCH_FORMAT_VERSION {
            return Err(SketchDecodeError::UnknownVersion(version));
        }
        let representation = match reader.byte()? {
            KIND_EXACT => {
                let count = reader.u32()? as usize;
                if count > EXACT_MEMBER_LIMIT {
                    return Err(SketchDecodeError::TooManyExactMembers);
                }
                let mut hashes = BTreeSet::new();
                for _ in 0..count {
                    hashes.insert(reader.u64()?);
                }
                Representation::Exact(hashes)
            }
            KIND_DENSE => {
                let precision = supported_precision(reader.byte()?)?;
                let registers = reader.take(1 << precision)?;
                Representation::Estimated(registers_to_hyperloglog(registers.to_vec())?)
            }
            KIND_SPARSE => {
                let precision = supported_precision(reader.byte()?)?;
                let register_count = 1usize << precision;
                let non_zero = reader.u32()? as usize;
                if non_zero > register_count {
                    return Err(SketchDecodeError::InvalidRegisterIndex);
                }
                let mut registers = vec![0u8; register_count];
                for _ in 0..non_zero {
                    let index = reader.u32()? as usize;
                    let value = reader.byte()?;
                    let slot = registers
                        .get_mut(index)
                        .ok_or(SketchDecodeError::InvalidRegisterIndex)?;
                    *slot = value;
                }
                Representation::Estimated(registers_to_hyperloglog(registers)?)
            }
            kind => return Err(SketchDecodeError::UnknownKind(kind)),
        };
        if !reader.rest.is_empty() {
            return Err(SketchDecodeError::TrailingBytes);
        }
        Ok(Self { representation })
    }

    fn switch_to_estimate(&mut self, precision: u8) {
        if let Representation::Exact(hashes) = &self.representation {
            let mut registers = HyperLogLog::with_hasher(precision, FixedKeySipHash);
            for hash in hashes {
                registers.insert_hash(*hash);
            }
            self.representation = Representation::Estimated(registers);
        }
    }
}

fn precision_of(registers: &HyperLogLog<FixedKeySipHash>) -> u8 {
    registers.len().trailing_zeros() as u8
}

fn supported_precision(precision: u8) -> Result<u8, SketchDecodeError> {
    if SUPPORTED_PRECISIONS.contains(&precision) {
        Ok(precision)
    } else {
        Err(SketchDecodeError::UnsupportedPrecision(precision))
    }
}

/// Builds a HyperLogLog from raw registers, after the checks that keep `from_parts` (which
/// asserts) and later unions (which index a table by register value) from panicking.
fn registers_to_hyperloglog(
    registers: Vec<u8>,
) -> Result<HyperLogLog<FixedKeySipHash>, SketchDecodeError> {
    if !registers.len().is_power_of_two() {
        return Err(SketchDecodeError::Truncated);
    }
    supported_precision(registers.len().trailing_zeros() as u8)?;
    if registers
        .iter()
        .any(|register| *register > HIGHEST_REGISTER_VALUE)
    {
        return Err(SketchDecodeError::InvalidRegister);
    }
    // The estimator's running state: how many registers are zero and Σ 2^-register.
    let zeros = registers.iter().filter(|register| **register == 0).count();
    let sum = registers
        .iter()
        .map(|register| 2f64.powi(-i32::from(*register)))
        .sum();
    Ok(HyperLogLog::from_parts(
        registers.into_boxed_slice(),
        FixedKeySipHash,
        zeros,
        sum,
    ))
}

/// The same registers at a lower precision: register `i` goes to `i >> (from - to)`, keeping
/// the maximum.
fn fold(
    registers: &HyperLogLog<FixedKeySipHash>,
    to_precision: u8,
) -> HyperLogLog<FixedKeySipHash> {
    let shift = precision_of(registers).saturating_sub(to_precision);
    let mut folded = vec![0u8; 1 << to_precision];
    for (index, register) in registers.iter().enumerate() {
        let slot = &mut folded[index >> shift];
        *slot = (*slot).max(register);
    }
    // Registers come from a valid sketch and the precision from one too.
    registers_to_hyperloglog(folded)
        .unwrap_or_else(|_| HyperLogLog::with_hasher(to_precision, FixedKeySipHash))
}

struct ByteReader<'a> {
    rest: &'a [u8],
}

impl<'a> ByteReader<'a> {
    fn take(&mut self, length: usize) -> Result<&'a [u8], SketchDecodeError> {
        if self.rest.len() < length {
            return Err(SketchDecodeError::Truncated);
        }
        let (taken, rest) = self.rest.split_at(length);
        self.rest = rest;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, SketchDecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, SketchDecodeError> {
        let mut word = [0u8; 4];
        word.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(word))
    }

    fn u64(&mut self) -> Result<u64, SketchDecodeError> {
        let mut word = [0u8; 8];
        word.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch_of(members: impl IntoIterator<Item = String>) -> SetSketch {
        let mut sketch = SetSketch::new();
        for member in members {
            sketch.insert(member.as_bytes());
        }
        sketch
    }

    fn relative_error(estimate: u64, truth: u64) -> f64 {
        (estimate as f64 - truth as f64).abs() / truth as f64
    }

    #[test]
    fn the_member_hash_is_pinned() {
        // If these change, every stored sketch becomes unmergeable with new ones.
        assert_eq!(hash_member(b""), hash_member(b""));
        assert_ne!(hash_member(b"a"), hash_member(b"b"));
        let pinned = [hash_member(b""), hash_member(b"alice"), hash_member(b"b:c")];
        assert_eq!(pinned, PINNED_HASHES);
    }

    const PINNED_HASHES: [u64; 3] = [
        10_311_211_413_241_800_105,
        8_370_594_972_307_681_650,
        14_405_697_521_701_111_640,
    ];

    #[test]
    fn duplicates_count_once_and_small_sets_are_exact() {
        let sketch = sketch_of(["a", "b", "a"].map(String::from));
        assert_eq!(sketch.cardinality(), 2);
        let sketch = sketch_of((0..EXACT_MEMBER_LIMIT).map(|member| member.to_string()));
        assert!(sketch.is_exact());
        assert_eq!(sketch.cardinality(), EXACT_MEMBER_LIMIT as u64);
    }

    #[test]
    fn large_sets_are_estimated_within_a_few_percent() {
        for truth in [257u64, 1_000, 100_000] {
            let sketch = sketch_of((0..truth).map(|member| format!("user-{member}")));
            assert!(!sketch.is_exact());
            let error = relative_error(sketch.cardinality(), truth);
            assert!(
                error < 0.03,
                "{truth} estimated as {}",
                sketch.cardinality()
            );
        }
    }

    #[test]
    fn merging_gives_the_union() {
        let mut left = sketch_of(["a", "b", "c"].map(String::from));
        left.merge(&sketch_of(["c", "d"].map(String::from)));
        assert_eq!(left.cardinality(), 4);

        let mut large = sketch_of((0..5_000).map(|member| member.to_string()));
        let small = sketch_of((4_000..6_000).map(|member| member.to_string()));
        large.merge(&small);
        assert!(relative_error(large.cardinality(), 6_000) < 0.03);

        let mut exact = sketch_of((0..10).map(|member| member.to_string()));
        exact.merge(&sketch_of((0..3_000).map(|member| member.to_string())));
        assert!(relative_error(exact.cardinality(), 3_000) < 0.03);
    }

    #[test]
    fn sketches_of_different_precisions_merge_by_folding() {
        let members: Vec<String> = (0..20_000).map(|member| member.to_string()).collect();
        let mut coarse = SetSketch::new();
        coarse.switch_to_estimate(10);
        for member in &members[..10_000] {
            coarse.insert(member.as_bytes());
        }
        let fine = sketch_of(members[5_000..].iter().cloned());
        let mut merged_into_fine = fine.clone();
        merged_into_fine.merge(&coarse);
        coarse.merge(&fine);
        for merged in [coarse, merged_into_fine] {
            assert!(relative_error(merged.cardinality(), 20_000) < 0.1);
        }
    }

    #[test]
    fn every_representation_survives_bytes() {
        for size in [0usize, 3, 256, 300, 50_000] {
            let sketch = sketch_of((0..size).map(|member| member.to_string()));
            let bytes = sketch.to_bytes();
            assert_eq!(bytes[0], SKETCH_FORMAT_VERSION);
            let decoded = SetSketch::from_bytes(&bytes).unwrap();
            assert_eq!(decoded, sketch, "size {size}");
            assert_eq!(decoded.cardinality(), sketch.cardinality());
            assert_eq!(decoded.to_bytes(), bytes);
        }
        let just_past_limit = sketch_of((0..300).map(|member| member.to_string()));
        assert_eq!(just_past_limit.to_bytes()[1], KIND_SPARSE);
        let large = sketch_of((0..50_000).map(|member| member.to_string()));
        assert_eq!(large.to_bytes()[1], KIND_DENSE);
    }

    #[test]
    fn bad_bytes_are_refused_not_panicked_on() {
        let cases: &[(&[u8], SketchDecodeError)] = &[
            (b"", SketchDecodeError::Empty),
            (&[2, 0], SketchDecodeError::UnknownVersion(2)),
            (&[1], SketchDecodeError::Truncated),
            (&[1, 9], SketchDecodeError::UnknownKind(9)),
            (&[1, 0, 1, 0, 0, 0], SketchDecodeError::Truncated),
            (&[1, 0, 0, 0, 0, 0, 7], SketchDecodeError::TrailingBytes),
            (
                &[1, 0, 255, 255, 0, 0],
                SketchDecodeError::TooManyExactMembers,
            ),
            (&[1, 1, 30], SketchDecodeError::UnsupportedPrecision(30)),
            (&[1, 1, 4, 0], SketchDecodeError::Truncated),
            (
                &[1, 2, 4, 1, 0, 0, 0, 16, 0, 0, 0, 1],
                SketchDecodeError::InvalidRegisterIndex,
            ),
            (
                &[1, 2, 4, 1, 0, 0, 0, 3, 0, 0, 0, 66],
                SketchDecodeError::InvalidRegister,
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(SetSketch::from_bytes(bytes), Err(*expected), "{bytes:?}");
        }
    }
}
