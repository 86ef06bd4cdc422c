-- Raw timestamped points (Graphite plaintext, HTTP ingest) and events.

-- A raw series holds points with their own timestamps instead of per-interval aggregates.
alter table series drop constraint series_kind_check;
alter table series add constraint series_kind_check
    check (kind in ('counter', 'gauge', 'timer', 'set', 'raw'));

-- Points are appended; of several points of one series at the same time, the one stored last
-- wins when read, as a Graphite write to the same slot would.
create table raw_points (
    series_id bigint not null references series (id),
    point_time timestamptz not null,
    source text not null,
    value double precision not null,
    stored_at timestamptz not null default now()
);

create index raw_points_by_series_and_time on raw_points (series_id, point_time);

-- DogStatsD events and service checks, and Graphite events posted to the API.
create table events (
    id bigint generated always as identity primary key,
    kind text not null check (kind in ('event', 'service_check')),
    occurred_at timestamptz not null,
    title text not null,
    text text not null,
    host text,
    aggregation_key text,
    priority text,
    source_type text,
    alert_type text,
    service_check_status smallint check (service_check_status between 0 and 3),
    -- Sorted `key:value` strings (`key` alone for a flag), like series tags.
    tags text[] not null default '{}',
    source text not null
);

create index events_by_time on events (occurred_at);
create index events_by_tags on events using gin (tags);
