-- The first schema: the series catalog, one sample table per kind, and the record of processed
-- batches that makes storing a batch idempotent.

-- Every series ever seen. A counter and a gauge with the same name and tags are two series,
-- as they are in statsd.
create table series (
    id bigint generated always as identity primary key,
    kind text not null check (kind in ('counter', 'gauge', 'timer', 'set')),
    name text not null,
    -- Sorted, de-duplicated `key:value` strings (`key` alone for a flag).
    tags text[] not null default '{}',
    first_seen timestamptz not null,
    last_seen timestamptz not null,
    unique (kind, name, tags)
);

create index series_by_name on series (name);

-- A counter's count over one flush interval, as reported by one aggregator (`source`). Rows of
-- different aggregators for the same interval are added together when read.
create table counter_samples (
    series_id bigint not null references series (id),
    interval_start timestamptz not null,
    source text not null,
    interval_ms integer not null check (interval_ms > 0),
    count double precision not null,
    primary key (series_id, interval_start, source)
);

-- A gauge's last value in one flush interval, as reported by one aggregator.
create table gauge_samples (
    series_id bigint not null references series (id),
    interval_start timestamptz not null,
    source text not null,
    interval_ms integer not null check (interval_ms > 0),
    value double precision not null,
    -- Which report is the latest when several aggregators report the same interval.
    stored_at timestamptz not null default now(),
    primary key (series_id, interval_start, source)
);

-- Every batch stored, recorded in the transaction that stored it: a batch whose id is here has
-- been applied and is never applied again.
create table processed_batches (
    batch_id text primary key,
    aggregator_id text not null,
    incarnation bigint not null,
    sequence bigint not null,
    interval_start timestamptz not null,
    processed_at timestamptz not null default now()
);
