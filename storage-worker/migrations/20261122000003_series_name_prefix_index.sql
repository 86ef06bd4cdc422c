-- Graphite globs are narrowed in SQL by their literal prefix (`name like 'stats.web%'`); a
-- text_pattern_ops index serves such prefix searches whatever the database's collation.
create index series_by_name_prefix on series (name text_pattern_ops);
