-- Single sign-on behind a proxy (`auth.proxy_user_header`): the API creates a user the first
-- time a trusted proxy names them. Such a user has no password until an admin sets one with
-- `abacus-api user passwd`, so the hash may be missing (sign-in then fails like a wrong
-- password, taking as long). The proxy may also say their email address.
alter table users alter column password_hash drop not null;
alter table users add column email text check (length(email) between 3 and 254);
-- A user the proxy signs in has no session, but their browser is authenticated all the same
-- (the proxy adds the header to every request, other sites' forms included), so each state-
-- changing request must repeat this per-user secret in `X-Abacus-CSRF`, as a session's CSRF
-- token. Made when the proxy first names the user; kept as given for the same reason.
alter table users add column proxy_csrf_token text;
