//! Reading Graphite whisper files, for `abacus-import whisper`. Pure: bytes in, points out.
//!
//! The format (all numbers big-endian): a 16-byte header (aggregation type `u32`, maximum
//! retention `u32`, xFilesFactor `f32`, archive count `u32`), then 12 bytes per archive
//! (offset `u32`, seconds per point `u32`, points `u32`), finest first, then each archive's
//! ring of points, 12 bytes each (timestamp `u32`, value `f64`). A slot belongs to the time
//! its timestamp says; slots never written (timestamp 0) are not data.
//!
//! What an archive holds is what whisper's own `fetch` shows of it: the slots within its
//! retention before the file's last update (the newest timestamp in the file; whisper reads
//! "now"). A slot older than that is left from an earlier turn of the ring, or is a point the
//! ring would still hold but whisper already serves from a coarser archive (an archive whose
//! newest buckets xFilesFactor left unwritten keeps such slots). Within its window an archive
//! holds only what was written there: a coarser archive's bucket holds a value only if a finer
//! archive held points of it when it was written.

use abacus_proto::storage_schema::Aggregation;
use std::path::Path;

const HEADER_BYTES: usize = 16;
const ARCHIVE_INFO_BYTES: usize = 12;
const POINT_BYTES: usize = 12;

/// One archive: its step and retention, and its valid points in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Archive {
    pub seconds_per_point: u32,
    pub points: u32,
    /// (unix seconds, value), the slots within the archive's window only, sorted by time.
    pub data: Vec<(i64, f64)>,
}

impl Archive {
    pub fn retention_seconds(&self) -> i64 {
        i64::from(self.seconds_per_point) * i64::from(self.points)
    }
}

/// A parsed whisper file.
#[derive(Debug, Clone, PartialEq)]
pub struct WhisperFile {
    /// The file's aggregation method; `None` for the methods Abacus has no rule for
    /// (whisper's avg_zero, absmax, absmin).
    pub aggregation: Option<Aggregation>,
    pub aggregation_code: u32,
    pub x_files_factor: f32,
    pub archives: Vec<Archive>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WhisperError {
    #[error("{0} bytes is too short for a whisper header")]
    TooShort(usize),
    #[error("archive {archive} lies outside the file ({bytes} bytes)")]
    ArchiveOutsideFile { archive: usize, bytes: usize },
    #[error("archive {0} has a step of 0 seconds or no points")]
    EmptyArchive(usize),
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

impl WhisperFile {
    pub fn parse(bytes: &[u8]) -> Result<Self, WhisperError> {
        if bytes.len() < HEADER_BYTES {
            return Err(WhisperError::TooShort(bytes.len()));
        }
        let aggregation_code = u32_at(bytes, 0);
        let x_files_factor = f32::from_bits(u32_at(bytes, 8));
        let archive_count = u32_at(bytes, 12) as usize;
        let infos_end = HEADER_BYTES + archive_count * ARCHIVE_INFO_BYTES;
        if bytes.len() < infos_end {
            return Err(WhisperError::TooShort(bytes.len()));
        }
        let mut archives = Vec::with_capacity(archive_count);
        let mut as_of = 0;
        for index in 0..archive_count {
            let info = HEADER_BYTES + index * ARCHIVE_INFO_BYTES;
            let offset = u32_at(bytes, info) as usize;
            let seconds_per_point = u32_at(bytes, info + 4);
            let points = u32_at(bytes, info + 8);
            if seconds_per_point == 0 || points == 0 {
                return Err(WhisperError::EmptyArchive(index));
            }
            let end = offset + points as usize * POINT_BYTES;
            if end > bytes.len() {
                return Err(WhisperError::ArchiveOutsideFile {
                    archive: index,
                    bytes: bytes.len(),
                });
            }
            let step = i64::from(seconds_per_point);
            let mut data: Vec<(i64, f64)> = bytes[offset..end]
                .chunks_exact(POINT_BYTES)
                .map(|point| {
                    let timestamp = i64::from(u32_at(point, 0));
                    let value = f64::from_bits(u64::from_be_bytes(
                        point[4..12].try_into().unwrap_or_default(),
                    ));
                    (timestamp, value)
                })
                // Whisper writes a slot's timestamp aligned to the step; anything else is not
                // a point of this archive.
                .filter(|(timestamp, _)| *timestamp != 0 && timestamp % step == 0)
                .collect();
            data.sort_by_key(|(timestamp, _)| *timestamp);
            data.dedup_by_key(|(timestamp, _)| *timestamp);
            if let Some(&(newest, _)) = data.last() {
                as_of = as_of.max(newest);
            }
            archives.push(Archive {
                seconds_per_point,
                points,
                data,
            });
        }
        // Each archive as whisper's `fetch` shows it at the file's last update: the slots
        // after its step-aligned "now" minus its retention, up to that "now"; not the newest
        // slot of each archive: a coarse archive's newest buckets may be missing (too few
        // known finer points for xFilesFactor), and the older slots its ring still holds are
        // then served by the next coarser archive, not by this one.
        for archive in &mut archives {
            let step = i64::from(archive.seconds_per_point);
            let now = as_of - as_of.rem_euclid(step);
            let window = now - archive.retention_seconds() + step..=now;
            archive
                .data
                .retain(|(timestamp, _)| window.contains(timestamp));
        }
        Ok(Self {
            aggregation: Aggregation::from_whisper(aggregation_code),
            aggregation_code,
            x_files_factor,
            archives,
        })
    }

    /// Every point of the file between `from` and `until` (unix seconds, inclusive), each
    /// time from the finest archive that holds it: a coarser archive's point is taken only
    /// when no finer archive holds a point in its bucket, so where archives overlap the finest
    /// wins, and a coarser archive still fills what no finer one holds (the only data of a
    /// file last written by a backfill older than its finest retention). In time order.
    pub fn points(&self, from: i64, until: i64) -> Vec<(i64, f64)> {
        let mut points = Vec::new();
        // The times every finer archive holds, sorted.
        let mut finer_times: Vec<i64> = Vec::new();
        for archive in &self.archives {
            let step = i64::from(archive.seconds_per_point);
            points.extend(
                archive
                    .data
                    .iter()
                    .filter(|(timestamp, _)| {
                        let first_after = finer_times.partition_point(|time| time < timestamp);
                        finer_times
                            .get(first_after)
                            .is_none_or(|time| *time >= timestamp + step)
                    })
                    .filter(|(timestamp, _)| (from..=until).contains(timestamp))
                    .copied(),
            );
            finer_times.extend(archive.data.iter().map(|(timestamp, _)| *timestamp));
            finer_times.sort_unstable();
        }
        points.sort_by_key(|(timestamp, _)| *timestamp);
        points
    }
}

/// The metric name of a whisper file, as carbon names it: its path below the root with `/`
/// turned into `.` and without `.wsp`, after `prefix.` when a prefix is given.
pub fn metric_name(root: &Path, file: &Path, prefix: Option<&str>) -> Option<String> {
    let relative = file.strip_prefix(root).ok()?;
    let mut parts: Vec<String> = relative
        .components()
        .map(|component| component.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    parts.push(last.strip_suffix(".wsp").unwrap_or(&last).to_owned());
    if let Some(prefix) = prefix.filter(|prefix| !prefix.is_empty()) {
        parts.insert(0, prefix.trim_end_matches('.').to_owned());
    }
    Some(parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An archive to lay out: step, points, and the points written to it in order.
    type ArchiveSpec = (u32, u32, Vec<(u32, f64)>);

    /// A file as whisper lays it out, for the given archives.
    fn file(aggregation: u32, archives: &[ArchiveSpec]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend(aggregation.to_be_bytes());
        let max_retention = archives.iter().map(|(step, points, _)| step * points).max();
        bytes.extend(max_retention.unwrap_or(0).to_be_bytes());
        bytes.extend(0.5f32.to_bits().to_be_bytes());
        bytes.extend((archives.len() as u32).to_be_bytes());
        let mut offset = HEADER_BYTES + archives.len() * ARCHIVE_INFO_BYTES;
        for (step, points, _) in archives {
            bytes.extend((offset as u32).to_be_bytes());
            bytes.extend(step.to_be_bytes());
            bytes.extend(points.to_be_bytes());
            offset += *points as usize * POINT_BYTES;
        }
        for (step, points, written) in archives {
            let mut ring = vec![(0u32, 0f64); *points as usize];
            if let Some(&(base, _)) = written.first() {
                for (timestamp, value) in written {
                    let slot = ((timestamp - base) / step) as usize % *points as usize;
                    ring[slot] = (*timestamp, *value);
                }
            }
            for (timestamp, value) in ring {
                bytes.extend(timestamp.to_be_bytes());
                bytes.extend(value.to_bits().to_be_bytes());
            }
        }
        bytes
    }

    #[test]
    fn archives_are_read_and_the_finest_wins_where_they_overlap() {
        let bytes = file(
            4,
            &[
                (
                    10,
                    6,
                    vec![(1_000_020, 1.0), (1_000_030, 2.0), (1_000_050, 3.0)],
                ),
                (
                    60,
                    10,
                    vec![(999_600, 7.0), (999_960, 8.0), (1_000_020, 9.0)],
                ),
            ],
        );
        let parsed = WhisperFile::parse(&bytes).unwrap();
        assert_eq!(parsed.aggregation, Some(Aggregation::Max));
        assert_eq!(parsed.x_files_factor, 0.5);
        assert_eq!(parsed.archives.len(), 2);
        assert_eq!(parsed.archives[1].data.len(), 3);
        // The minute at 1_000_020 is what the finer archive holds; 999_960 ends at 1_000_020.
        assert_eq!(
            parsed.points(0, i64::MAX),
            vec![
                (999_600, 7.0),
                (999_960, 8.0),
                (1_000_020, 1.0),
                (1_000_030, 2.0),
                (1_000_050, 3.0)
            ]
        );
        assert_eq!(
            parsed.points(999_960, 1_000_030),
            vec![(999_960, 8.0), (1_000_020, 1.0), (1_000_030, 2.0)]
        );
    }

    #[test]
    fn slots_of_an_earlier_turn_and_unwritten_ones_are_not_data() {
        // Six slots of 10 s; 1_000_000 was overwritten by 1_000_060, then 1_000_070 wrote
        // over 1_000_010, leaving 1_000_020..1_000_050 from the same turn.
        let bytes = file(
            1,
            &[(
                10,
                6,
                vec![
                    (1_000_000, 1.0),
                    (1_000_010, 2.0),
                    (1_000_020, 3.0),
                    (1_000_060, 7.0),
                    (1_000_070, 8.0),
                ],
            )],
        );
        let parsed = WhisperFile::parse(&bytes).unwrap();
        assert_eq!(
            parsed.archives[0].data,
            vec![(1_000_020, 3.0), (1_000_060, 7.0), (1_000_070, 8.0)]
        );
    }

    #[test]
    fn an_archive_holds_its_retention_before_the_files_last_update() {
        // The minute bucket at 1_000_020 was never written (too few known 10 s points for
        // xFilesFactor), so the minute ring's newest slot is 999_960; its slot 999_840 is
        // still in the ring, but whisper serves that time from the 3-minute archive, whose
        // bucket 999_720 holds it.
        let bytes = file(
            1,
            &[
                (10, 6, vec![(1_000_020, 1.0), (1_000_050, 2.0)]),
                (60, 3, vec![(999_840, 3.0), (999_960, 4.0)]),
                (180, 10, vec![(999_720, 5.0), (999_900, 6.0)]),
            ],
        );
        let parsed = WhisperFile::parse(&bytes).unwrap();
        assert_eq!(parsed.archives[1].data, vec![(999_960, 4.0)]);
        assert_eq!(
            parsed.points(0, i64::MAX),
            vec![
                (999_720, 5.0),
                (999_960, 4.0),
                (1_000_020, 1.0),
                (1_000_050, 2.0)
            ]
        );
    }

    #[test]
    fn a_coarser_archive_fills_what_no_finer_one_holds() {
        // Written only by a backfill older than the finest retention.
        let bytes = file(
            1,
            &[
                (10, 6, vec![]),
                (60, 10, vec![(999_600, 1.0), (999_660, 2.0)]),
            ],
        );
        let parsed = WhisperFile::parse(&bytes).unwrap();
        assert_eq!(
            parsed.points(0, i64::MAX),
            vec![(999_600, 1.0), (999_660, 2.0)]
        );
    }

    #[test]
    fn a_truncated_file_is_refused() {
        let bytes = file(1, &[(10, 6, vec![])]);
        assert_eq!(
            WhisperFile::parse(&bytes[..10]),
            Err(WhisperError::TooShort(10))
        );
        assert!(matches!(
            WhisperFile::parse(&bytes[..bytes.len() - 1]),
            Err(WhisperError::ArchiveOutsideFile { archive: 0, .. })
        ));
    }

    #[test]
    fn paths_become_names_as_carbon_makes_them() {
        let root = Path::new("/var/lib/carbon/whisper");
        let file = Path::new("/var/lib/carbon/whisper/servers/web1/load.wsp");
        assert_eq!(
            metric_name(root, file, None).as_deref(),
            Some("servers.web1.load")
        );
        assert_eq!(
            metric_name(root, file, Some("old")).as_deref(),
            Some("old.servers.web1.load")
        );
        assert_eq!(metric_name(file, file, None), None);
    }
}
