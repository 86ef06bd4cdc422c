-- The web app's search (`/api/v1/series?contains=…`) looks for names containing what is typed,
-- `name like '%…%'`, at every keystroke. No btree serves that: PostgreSQL read every name of
-- the catalog (20-50 ms at 100,000 series, growing with it). A trigram index finds the names
-- holding a substring of three characters or more in about a millisecond, and serves the
-- LIKE translation of a glob with a literal part anywhere (`*.payments.errors`) as well.
--
-- pg_trgm ships with PostgreSQL (contrib, in Debian's postgresql package and the official
-- images) and is a trusted extension (PostgreSQL 13+): the database's owner may create it.
-- Where it cannot be created (contrib missing, a role without CREATE on the database), the
-- search still works, scanning as before, and this migration passes with a warning; an
-- administrator can create both later:
--
--     create extension pg_trgm;
--     create index series_name_trigrams on series using gin (name gin_trgm_ops);
do $$
begin
    create extension if not exists pg_trgm;
exception when others then
    raise warning 'pg_trgm is not available (%): the series search will scan the catalog', sqlerrm;
end
$$;

-- In whatever schema the extension lives (an administrator may have put it elsewhere).
do $$
declare
    trigram_schema name;
begin
    select namespace.nspname into trigram_schema
    from pg_extension extension
    join pg_namespace namespace on namespace.oid = extension.extnamespace
    where extension.extname = 'pg_trgm';
    if trigram_schema is not null then
        execute format(
            'create index if not exists series_name_trigrams on series using gin (name %I.gin_trgm_ops)',
            trigram_schema
        );
    end if;
end
$$;
