-- Saved graphs and dashboards: what users build in the web app, kept per user. Like the
-- identity tables these are the API's application tables, not metric data: the storage worker
-- only creates them (one migration history per database), and only the API's `saved` module
-- reads or writes them.
--
-- A graph is what the web app's Graph page draws: its targets and time range. Every graph a
-- signed-in user views lands in their history (one row per distinct graph, moved to the top
-- when viewed again, the last 100 kept); a graph they name or star is kept whatever its age,
-- and a named one can be seen by everyone who may read.
create table saved_graphs (
    id bigint generated always as identity primary key,
    user_id bigint not null references users (id) on delete cascade,
    targets text[] not null check (cardinality(targets) between 1 and 20),
    from_time text not null check (length(from_time) between 1 and 100),
    until_time text not null check (length(until_time) between 1 and 100),
    name text check (length(name) between 1 and 200),
    starred boolean not null default false,
    created_at timestamptz not null default now(),
    viewed_at timestamptz not null default now(),
    -- SHA-256 of the graph (its targets, from and until, as JSON): viewing the same graph again
    -- moves it to the top of the history rather than adding a row. A hash, because the graph
    -- itself can be longer than a btree index entry may be.
    view_key bytea not null,
    unique (user_id, view_key)
);
create index saved_graphs_user_viewed on saved_graphs (user_id, viewed_at desc);
create index saved_graphs_named on saved_graphs (user_id) where name is not null;

-- A dashboard: a grid of graphs with one shared time range, kept as the web app's export JSON
-- (`{title, from, until, graphs: [{title, targets}]}`), which the API checks before storing.
-- Only its owner changes it; everyone who may read may view it.
create table dashboards (
    id bigint generated always as identity primary key,
    user_id bigint not null references users (id) on delete cascade,
    title text not null check (length(title) between 1 and 200),
    document jsonb not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index dashboards_user_id on dashboards (user_id);
