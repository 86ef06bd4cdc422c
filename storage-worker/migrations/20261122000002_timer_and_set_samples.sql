-- Timers (also histograms and distributions) and sets. Unlike counters and gauges these are not
-- merged on write: merging needs the histogram or sketch decoded, which PostgreSQL cannot do. A
-- batch adds rows; rows of one series and interval (several aggregators, a restarted aggregator,
-- late samples) are merged when read or rolled up. Idempotency comes from processed_batches.

create table timer_samples (
    series_id bigint not null references series (id),
    interval_start timestamptz not null,
    source text not null,
    interval_ms integer not null check (interval_ms > 0),
    -- Sum of 1 / sample_rate over the samples.
    count double precision not null,
    sum double precision not null,
    sum_of_squares double precision not null,
    min double precision not null,
    max double precision not null,
    -- The interval's hdrhistogram, V2 deflate serialization (see abacus_proto::histogram).
    histogram bytea not null
);

create index timer_samples_by_series_and_time on timer_samples (series_id, interval_start);

create table set_samples (
    series_id bigint not null references series (id),
    interval_start timestamptz not null,
    source text not null,
    interval_ms integer not null check (interval_ms > 0),
    -- The interval's cardinality sketch (see abacus_proto::sketch).
    sketch bytea not null
);

create index set_samples_by_series_and_time on set_samples (series_id, interval_start);
