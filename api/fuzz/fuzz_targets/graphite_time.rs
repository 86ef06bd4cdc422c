//! A `from`/`until` value as a client may send it, through the Graphite time parser: any text
//! must either be refused or resolve to a time within 0001-01-01..9999-12-31 that PostgreSQL
//! and chrono can both hold. A panic (an overflow in an offset or a date) or a time outside
//! that range is a bug: the range check is what keeps `from=-100000y` from reaching the
//! database.

#![no_main]

use abacus_api::graphite::time::{
    parse_range, parse_time, to_datetime, EARLIEST_UNIX_SECONDS, LATEST_UNIX_SECONDS,
};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_795_000_000;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(time) = parse_time(&text, NOW) {
        assert!(
            (EARLIEST_UNIX_SECONDS..=LATEST_UNIX_SECONDS).contains(&time),
            "{text:?} resolved to {time}, outside the range"
        );
        assert!(to_datetime(time).is_ok(), "{text:?}: {time} has no date");
    }
    // The two halves of the input as a range, as render reads from and until.
    let middle = (0..=text.len() / 2)
        .rev()
        .find(|&index| text.is_char_boundary(index))
        .unwrap_or(0);
    let (from, until) = text.split_at(middle);
    let _ = parse_range(from, until, NOW);
});
