-- Identity: local users, their browser sessions and their API tokens. These are not metric
-- data: the storage worker only creates them (one migration history per database, so the
-- API's tables are in the same set as the worker's), and only the API's `auth` module reads
-- or writes them, synchronously, as users sign in and tokens are created or revoked.
--
-- No secret is stored as given: a password is kept as its argon2id PHC string, a session id
-- and a token as the SHA-256 of their random bytes (each is 32 random bytes, so a plain hash
-- cannot be searched back; a password can, hence argon2).
create table users (
    id bigint generated always as identity primary key,
    name text not null unique check (length(name) between 1 and 64),
    password_hash text not null,
    -- Admins manage every user's tokens and may hold `admin` tokens.
    is_admin boolean not null default false,
    created_at timestamptz not null default now()
);

create table user_sessions (
    id_hash bytea primary key,
    user_id bigint not null references users (id) on delete cascade,
    -- Sent back by the browser in `X-Abacus-CSRF` on every state-changing request the session
    -- cookie authenticates. Useless without the cookie, and the web app must read it again
    -- after a reload (`GET /api/v1/session`), so it is kept as given.
    csrf_token text not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);
create index user_sessions_user_id on user_sessions (user_id);
create index user_sessions_expires_at on user_sessions (expires_at);

create table api_tokens (
    id bigint generated always as identity primary key,
    user_id bigint not null references users (id) on delete cascade,
    name text not null check (length(name) between 1 and 100),
    scope text not null check (scope in ('read', 'write', 'admin')),
    token_hash bytea not null unique,
    created_at timestamptz not null default now(),
    last_used_at timestamptz,
    expires_at timestamptz,
    -- Kept rather than deleted, so a revoked token is refused as revoked, not as unknown.
    revoked_at timestamptz
);
create index api_tokens_user_id on api_tokens (user_id);
