-- The sample tables become natively range-partitioned on their time column, one partition per
-- UTC day, so that retention drops whole partitions instead of deleting rows (no bloat, no
-- vacuum debt, constant cost). Names and columns do not change: readers are unaffected.
--
-- Partitions are named `<table>_p<YYYYMMDD>` (the UTC day of their lower bound). Each table
-- also has a `<table>_default` partition that catches rows no day partition covers (a raw
-- point timestamped years away, a write racing partition creation); creating a day partition
-- moves the rows of its range out of the default partition first, so the default never blocks
-- creation. The storage worker creates day partitions ahead of time and before it writes a
-- batch whose days have none (see storage-worker/src/partitions.rs).

-- Creates the range partition [lower_bound, upper_bound) of `parent`, unless it exists, moving
-- the rows of that range out of the default partition. Safe when several workers call it at
-- once: they serialize on an advisory lock per partition. Returns whether it created it.
create function abacus_ensure_partition(
    parent text,
    time_column text,
    lower_bound timestamptz,
    upper_bound timestamptz
) returns boolean
language plpgsql
-- Bounds and names are rendered in UTC whatever the session's time zone.
set timezone = 'UTC'
as $$
declare
    child text := parent || '_p' || to_char(lower_bound, 'YYYYMMDD');
    default_child text := parent || '_default';
begin
    perform pg_advisory_xact_lock(hashtext('abacus.partition'), hashtext(child));
    if to_regclass(quote_ident(child)) is not null then
        return false;
    end if;
    execute format('create table %I (like %I including defaults including constraints)',
                   child, parent);
    if to_regclass(quote_ident(default_child)) is not null then
        execute format('with moved as (delete from %I where %I >= %L and %I < %L returning *)
                        insert into %I select * from moved',
                       default_child, time_column, lower_bound, time_column, upper_bound, child);
    end if;
    execute format('alter table %I attach partition %I for values from (%L) to (%L)',
                   parent, child, lower_bound, upper_bound);
    return true;
end
$$;

-- Drops every range partition of `parent` that lies entirely before `horizon` and returns
-- their names. The default partition is never dropped.
create function abacus_drop_partitions_before(parent text, horizon timestamptz)
returns setof text
language plpgsql
set timezone = 'UTC'
as $$
declare
    child record;
begin
    for child in
        select c.relname,
               substring(pg_get_expr(c.relpartbound, c.oid) from 'TO \(''([^'']+)''\)')::timestamptz
                   as upper_bound
        from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = to_regclass(quote_ident(parent))
    loop
        if child.upper_bound is not null and child.upper_bound <= horizon then
            execute format('drop table if exists %I', child.relname);
            return next child.relname;
        end if;
    end loop;
end
$$;

-- Each table: rename the old one (and its index names, which are global), create the
-- partitioned one with the same columns, a partition for every day that has rows, copy the
-- rows, drop the old table. Primary keys include the partition key, as PostgreSQL requires;
-- counters' and gauges' keys already did.

alter table counter_samples rename to counter_samples_unpartitioned;
alter index counter_samples_pkey rename to counter_samples_unpartitioned_pkey;
create table counter_samples (
    series_id bigint not null references series (id),
    interval_start timestamptz not null,
    source text not null,
    interval_ms integer not null check (interval_ms > 0),
    count double precision not null,
    primary key (series_id, interval_start, source)
) partition by range (interval_start);

alter table gauge_samples rename to gauge_samples_unpartitioned;
alter index gauge_samples_pkey rename to gauge_samples_unpartitioned_pkey;
create table gauge_samples (
    series_id bigint not null references series (id),
    interval_start timestamptz not null,
    source text not null,
    interval_ms integer not null check (interval_ms > 0),
    value double precision not null,
    stored_at timestamptz not null default now(),
    primary key (series_id, interval_start, source)
) partition by range (interval_start);

alter table timer_samples rename to timer_samples_unpartitioned;
drop index timer_samples_by_series_and_time;
create table timer_samples (
    series_id bigint not null references series (id),
    interval_start timestamptz not null,
    source text not null,
    interval_ms integer not null check (interval_ms > 0),
    count double precision not null,
    sum double precision not null,
    sum_of_squares double precision not null,
    min double precision not null,
    max double precision not null,
    histogram bytea not null
) partition by range (interval_start);
create index timer_samples_by_series_and_time on timer_samples (series_id, interval_start);

alter table set_samples rename to set_samples_unpartitioned;
drop index set_samples_by_series_and_time;
create table set_samples (
    series_id bigint not null references series (id),
    interval_start timestamptz not null,
    source text not null,
    interval_ms integer not null check (interval_ms > 0),
    sketch bytea not null
) partition by range (interval_start);
create index set_samples_by_series_and_time on set_samples (series_id, interval_start);

alter table raw_points rename to raw_points_unpartitioned;
drop index raw_points_by_series_and_time;
create table raw_points (
    series_id bigint not null references series (id),
    point_time timestamptz not null,
    source text not null,
    value double precision not null,
    stored_at timestamptz not null default now()
) partition by range (point_time);
create index raw_points_by_series_and_time on raw_points (series_id, point_time);

-- Rolling up reads a time range across all series; rows arrive in time order, so a BRIN index
-- (a few pages per partition, nearly free to maintain) finds the range.
create index counter_samples_by_time on counter_samples using brin (interval_start);
create index gauge_samples_by_time on gauge_samples using brin (interval_start);
create index timer_samples_by_time on timer_samples using brin (interval_start);
create index set_samples_by_time on set_samples using brin (interval_start);

create table counter_samples_default partition of counter_samples default;
create table gauge_samples_default partition of gauge_samples default;
create table timer_samples_default partition of timer_samples default;
create table set_samples_default partition of set_samples default;
create table raw_points_default partition of raw_points default;

select abacus_ensure_partition('counter_samples', 'interval_start', day, day + interval '1 day')
from (select distinct date_trunc('day', interval_start, 'UTC') as day
      from counter_samples_unpartitioned) as days;
insert into counter_samples (series_id, interval_start, source, interval_ms, count)
select series_id, interval_start, source, interval_ms, count from counter_samples_unpartitioned;
drop table counter_samples_unpartitioned;

select abacus_ensure_partition('gauge_samples', 'interval_start', day, day + interval '1 day')
from (select distinct date_trunc('day', interval_start, 'UTC') as day
      from gauge_samples_unpartitioned) as days;
insert into gauge_samples (series_id, interval_start, source, interval_ms, value, stored_at)
select series_id, interval_start, source, interval_ms, value, stored_at
from gauge_samples_unpartitioned;
drop table gauge_samples_unpartitioned;

select abacus_ensure_partition('timer_samples', 'interval_start', day, day + interval '1 day')
from (select distinct date_trunc('day', interval_start, 'UTC') as day
      from timer_samples_unpartitioned) as days;
insert into timer_samples (series_id, interval_start, source, interval_ms, count, sum,
                           sum_of_squares, min, max, histogram)
select series_id, interval_start, source, interval_ms, count, sum, sum_of_squares, min, max,
       histogram
from timer_samples_unpartitioned;
drop table timer_samples_unpartitioned;

select abacus_ensure_partition('set_samples', 'interval_start', day, day + interval '1 day')
from (select distinct date_trunc('day', interval_start, 'UTC') as day
      from set_samples_unpartitioned) as days;
insert into set_samples (series_id, interval_start, source, interval_ms, sketch)
select series_id, interval_start, source, interval_ms, sketch from set_samples_unpartitioned;
drop table set_samples_unpartitioned;

select abacus_ensure_partition('raw_points', 'point_time', day, day + interval '1 day')
from (select distinct date_trunc('day', point_time, 'UTC') as day
      from raw_points_unpartitioned) as days;
insert into raw_points (series_id, point_time, source, value, stored_at)
select series_id, point_time, source, value, stored_at from raw_points_unpartitioned;
drop table raw_points_unpartitioned;
