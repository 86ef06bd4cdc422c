-- Rollups: coarser resolutions of the counter, gauge, timer and set samples, each row the exact
-- merge of the raw rows of its series in [interval_start, interval_start + resolution), across
-- all sources. Which resolutions exist and how long each is kept comes from
-- storage_worker.retentions; see ARCHITECTURE.md for the contract readers rely on.
--
-- Each rollup table is list-partitioned by resolution (`<table>_r<seconds>`, created by the
-- worker for the configured resolutions), and each of those range-partitioned by time
-- (`<table>_r<seconds>_p<YYYYMMDD>` plus `<table>_r<seconds>_default`), so retention drops whole
-- partitions per resolution.

create table counter_rollups (
    series_id bigint not null references series (id),
    resolution_seconds integer not null check (resolution_seconds > 0),
    interval_start timestamptz not null,
    -- Sum of the counts of every raw row covered.
    count double precision not null,
    primary key (series_id, resolution_seconds, interval_start)
) partition by list (resolution_seconds);

create table gauge_rollups (
    series_id bigint not null references series (id),
    resolution_seconds integer not null check (resolution_seconds > 0),
    interval_start timestamptz not null,
    -- The value of the last raw row covered (latest interval_start, then latest stored_at).
    value double precision not null,
    stored_at timestamptz not null,
    primary key (series_id, resolution_seconds, interval_start)
) partition by list (resolution_seconds);

create table timer_rollups (
    series_id bigint not null references series (id),
    resolution_seconds integer not null check (resolution_seconds > 0),
    interval_start timestamptz not null,
    count double precision not null,
    sum double precision not null,
    sum_of_squares double precision not null,
    min double precision not null,
    max double precision not null,
    -- The merged hdrhistogram, same encoding as timer_samples.histogram.
    histogram bytea not null,
    primary key (series_id, resolution_seconds, interval_start)
) partition by list (resolution_seconds);

create table set_rollups (
    series_id bigint not null references series (id),
    resolution_seconds integer not null check (resolution_seconds > 0),
    interval_start timestamptz not null,
    -- The union of the sketches, same encoding as set_samples.sketch.
    sketch bytea not null,
    primary key (series_id, resolution_seconds, interval_start)
) partition by list (resolution_seconds);

-- Per resolution: every bucket that ends at or before rolled_until has been handed to the
-- rollup machinery (as a span, then dirty keys). A batch that stores rows in such a bucket is
-- late and marks its keys dirty itself, in its own transaction.
create table rollup_watermarks (
    resolution_seconds integer primary key,
    rolled_until timestamptz not null
);

-- Time ranges past which a watermark moved and whose keys have not yet been listed as dirty.
-- A separate step so that moving the watermark (which briefly excludes storing batches) never
-- waits for a scan of raw rows.
create table rollup_spans (
    resolution_seconds integer not null,
    span_start timestamptz not null,
    span_end timestamptz not null,
    primary key (resolution_seconds, span_start)
);

-- Rollup rows to (re)compute from raw rows. Several workers take rows with
-- `for update skip locked`; a late batch upserts its keys, which waits for a worker computing
-- the same key, so a recomputation never misses a committed batch.
create table rollup_dirty (
    series_id bigint not null,
    resolution_seconds integer not null,
    interval_start timestamptz not null,
    marked_at timestamptz not null default now(),
    primary key (series_id, resolution_seconds, interval_start)
);

-- Creates `<parent>_r<resolution>`, the list partition of one resolution, itself
-- range-partitioned by interval_start, with its default partition. Idempotent and safe when
-- several workers call it at once.
create function abacus_ensure_resolution_partition(parent text, resolution integer)
returns boolean
language plpgsql
as $$
declare
    child text := parent || '_r' || resolution;
begin
    perform pg_advisory_xact_lock(hashtext('abacus.partition'), hashtext(child));
    if to_regclass(quote_ident(child)) is not null then
        return false;
    end if;
    execute format('create table %I partition of %I for values in (%s) partition by range (interval_start)',
                   child, parent, resolution);
    execute format('create table %I partition of %I default', child || '_default', child);
    return true;
end
$$;
