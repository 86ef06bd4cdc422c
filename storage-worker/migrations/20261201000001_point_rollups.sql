-- Rollups of timestamped points (Graphite plaintext, HTTP ingest, whisper imports), kept the way
-- whisper keeps its archives: one value per series, resolution and bucket.
--
-- A bucket's value is the aggregation (by the series' aggregation rule: average, sum, min, max
-- or last, with its xFilesFactor) of the slots of the next finer level it covers: for the finest
-- rollup, the raw points rounded down to the raw resolution (of several in one slot the latest
-- wins); for a coarser one, the rows of the rollup below it. A point older than a level's
-- retention is written straight into the finest rollup whose retention covers its age, as
-- carbon writes it into that archive; that row is then the slot's value. Partitioned like the
-- other rollup tables: by resolution (`point_rollups_r<seconds>`), then by time.
create table point_rollups (
    series_id bigint not null references series (id),
    resolution_seconds integer not null check (resolution_seconds > 0),
    interval_start timestamptz not null,
    value double precision not null,
    -- How many raw-resolution slots the value stands for, across every level below it.
    slots integer not null check (slots > 0),
    -- The latest of those slots; with one slot, the point's own time rounded down to the raw
    -- resolution, so a sparse series reads back its points' times exactly.
    point_time timestamptz not null,
    primary key (series_id, resolution_seconds, interval_start)
) partition by list (resolution_seconds);
