//! Memory per live series: records 1,000,000 distinct counter series (`mem.series.k<i>:1|c`)
//! into one window and reports the heap bytes that holds, per series, counted exactly by a
//! counting global allocator, and the resident set growth from /proc/self/statm as a second
//! opinion that includes allocator overhead and fragmentation. Then the same for tagged
//! series, whose key also carries the canonical tags.
//!
//! Not a criterion benchmark (it measures bytes, not time): `harness = false`, plain `main`.
//! `make bench-aggregator` runs it; `cargo bench -p abacus-aggregator --bench series_memory`.

use abacus_aggregator::aggregate::Aggregates;
use abacus_aggregator::parse::{parse_line, Line};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

const SERIES: usize = 1_000_000;

/// The system allocator, keeping a count of the bytes currently allocated.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(pointer, layout) }
    }
    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Resident set size in bytes, from /proc/self/statm (Linux only; 0 elsewhere).
fn rss_bytes() -> usize {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<usize>().ok())
        .unwrap_or(0);
    pages * 4096
}

fn measure(label: &str, line: impl Fn(usize) -> String) {
    // The lines are made before the baseline so only the window's own memory is counted.
    let lines: Vec<String> = (0..SERIES).map(line).collect();
    let heap_before = ALLOCATED.load(Ordering::Relaxed);
    let rss_before = rss_bytes();
    let mut aggregates = Aggregates::default();
    for line in &lines {
        match parse_line(line.as_bytes()) {
            Ok(Line::Metric(sample)) => aggregates.record(&sample),
            other => panic!("{line}: {other:?}"),
        }
    }
    let heap = ALLOCATED.load(Ordering::Relaxed) - heap_before;
    let rss = rss_bytes().saturating_sub(rss_before);
    println!(
        "{label}: {SERIES} live series: heap {:.1} MiB = {:.0} bytes/series; RSS growth {:.1} MiB = {:.0} bytes/series",
        heap as f64 / 1048576.0,
        heap as f64 / SERIES as f64,
        rss as f64 / 1048576.0,
        rss as f64 / SERIES as f64,
    );
    std::hint::black_box(&aggregates);
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to configure.
    measure("counters", |index| format!("mem.series.k{index}:1|c"));
    measure("tagged counters", |index| {
        format!("mem.series.k{index}:1|c|#region:eu,env:prod")
    });
}
