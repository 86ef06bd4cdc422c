//! The time grid a series is rendered on: `step`-second buckets aligned to multiples of the
//! step, laid out as Graphite's whisper does — `from` and `until` are rounded down to the step
//! and moved one step on, so the first bucket starts after `from` and the bucket holding
//! `until` is the last.

/// The buckets `[start + i·step, start + (i+1)·step)` for `i` in `0..len()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepGrid {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl StepGrid {
    pub fn new(from: i64, until: i64, step: i64) -> Self {
        let step = step.max(1);
        let align = |time: i64| time - time.rem_euclid(step) + step;
        Self {
            start: align(from),
            end: align(until).max(align(from)),
            step,
        }
    }

    pub fn len(&self) -> usize {
        ((self.end - self.start) / self.step).max(0) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bucket holding `unix_seconds`, if the grid covers it.
    pub fn slot_of(&self, unix_seconds: i64) -> Option<usize> {
        let slot = (unix_seconds - self.start).div_euclid(self.step);
        (slot >= 0 && (slot as usize) < self.len()).then_some(slot as usize)
    }

    pub fn bucket_start(&self, slot: usize) -> i64 {
        self.start + slot as i64 * self.step
    }
}

/// The step a series is shown at: its native interval, widened to a whole multiple of it so
/// that `[from, until)` holds at most `max_data_points` buckets (Graphite's maxDataPoints).
pub fn consolidated_step(
    native_step: i64,
    from: i64,
    until: i64,
    max_data_points: Option<usize>,
) -> i64 {
    let native_step = native_step.max(1);
    let Some(max_data_points) = max_data_points.filter(|points| *points > 0) else {
        return native_step;
    };
    let native_points = ((until - from).max(0) as u64).div_ceil(native_step as u64);
    let factor = native_points.div_ceil(max_data_points as u64).max(1);
    native_step * factor as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_laid_out_as_whisper_does() {
        let grid = StepGrid::new(1_005, 1_040, 10);
        assert_eq!((grid.start, grid.end, grid.len()), (1_010, 1_050, 4));
        assert_eq!(grid.slot_of(1_010), Some(0));
        assert_eq!(grid.slot_of(1_049), Some(3));
        assert_eq!(grid.slot_of(1_050), None);
        assert_eq!(grid.slot_of(1_000), None);
        let aligned = StepGrid::new(1_000, 1_060, 10);
        assert_eq!((aligned.start, aligned.len()), (1_010, 6));
        assert!(StepGrid::new(1_000, 1_000, 10).is_empty());
    }

    #[test]
    fn steps_widen_to_honour_max_data_points() {
        let day = 86_400;
        let cases = [
            (10, 0, day, None, 10),
            (10, 0, day, Some(100_000), 10),
            (10, 0, day, Some(1_000), 90),
            (10, 0, 30 * day, Some(1_000), 2_600),
            (60, 0, 3_600, Some(10), 360),
            (10, 0, 3_600, Some(0), 10),
        ];
        for (native, from, until, max_points, expected) in cases {
            assert_eq!(
                consolidated_step(native, from, until, max_points),
                expected,
                "{native} {until} {max_points:?}"
            );
        }
    }
}
