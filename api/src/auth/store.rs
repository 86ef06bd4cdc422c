//! All SQL over the identity tables (`users`, `user_sessions`, `api_tokens`; created by the
//! storage worker's migrations), and the only place the API writes PostgreSQL. Sign-in, the
//! token routes, the credential check of every guarded request and the `abacus-api user|token`
//! commands all come through here.
//!
//! The tables are missing until the storage worker has run once; every function then fails
//! with [`StoreError::TablesMissing`], which the routes answer with a 503 saying so.

use super::Scope;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Why an identity query did not give an answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error(
        "the identity tables do not exist yet: the storage worker creates them when it starts"
    )]
    TablesMissing,
    #[error("user {0:?} already exists")]
    UserExists(String),
    #[error("no user {0:?}")]
    NoSuchUser(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        // 42P01: undefined_table.
        match &error {
            sqlx::Error::Database(database) if database.code().as_deref() == Some("42P01") => {
                StoreError::TablesMissing
            }
            _ => StoreError::Database(error),
        }
    }
}

/// A user, without the password hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: i64,
    pub name: String,
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
    /// As a sign-in proxy last said it (`auth.proxy_email_header`).
    pub email: Option<String>,
}

/// A user a sign-in proxy named, with the CSRF token their requests repeat.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ProxyUserRow {
    pub id: i64,
    pub name: String,
    pub is_admin: bool,
    pub email: Option<String>,
    pub proxy_csrf_token: Option<String>,
    /// Whether this lookup created the user.
    pub created: bool,
}

/// A token, without its hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct TokenRow {
    pub id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub user_is_admin: bool,
    pub name: String,
    pub scope: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A session that has not expired, with its user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub user_id: i64,
    pub user_name: String,
    pub user_is_admin: bool,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

const TOKEN_COLUMNS: &str = "t.id, t.user_id, u.name as user_name, u.is_admin as user_is_admin,
    t.name, t.scope, t.created_at, t.last_used_at, t.expires_at, t.revoked_at";

pub(crate) async fn add_user(
    pool: &PgPool,
    name: &str,
    password_hash: &str,
    is_admin: bool,
) -> Result<UserRow, StoreError> {
    sqlx::query_as(
        "insert into users (name, password_hash, is_admin) values ($1, $2, $3)
         returning id, name, is_admin, created_at, email",
    )
    .bind(name)
    .bind(password_hash)
    .bind(is_admin)
    .fetch_one(pool)
    .await
    .map_err(|error| match &error {
        // 23505: unique_violation, the name is taken.
        sqlx::Error::Database(database) if database.code().as_deref() == Some("23505") => {
            StoreError::UserExists(name.to_owned())
        }
        _ => error.into(),
    })
}

/// Sets a user's password and ends every session of theirs.
pub(crate) async fn set_password(
    pool: &PgPool,
    name: &str,
    password_hash: &str,
) -> Result<(), StoreError> {
    let mut transaction = pool.begin().await?;
    let user_id: Option<i64> =
        sqlx::query_scalar("update users set password_hash = $2 where name = $1 returning id")
            .bind(name)
            .bind(password_hash)
            .fetch_optional(&mut *transaction)
            .await?;
    let user_id = user_id.ok_or_else(|| StoreError::NoSuchUser(name.to_owned()))?;
    sqlx::query("delete from user_sessions where user_id = $1")
        .bind(user_id)
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// Removes a user with their sessions and tokens.
pub(crate) async fn remove_user(pool: &PgPool, name: &str) -> Result<(), StoreError> {
    let removed = sqlx::query("delete from users where name = $1")
        .bind(name)
        .execute(pool)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(StoreError::NoSuchUser(name.to_owned()));
    }
    Ok(())
}

pub(crate) async fn list_users(pool: &PgPool) -> Result<Vec<UserRow>, StoreError> {
    Ok(
        sqlx::query_as("select id, name, is_admin, created_at, email from users order by name")
            .fetch_all(pool)
            .await?,
    )
}

pub(crate) async fn user_by_name(pool: &PgPool, name: &str) -> Result<UserRow, StoreError> {
    sqlx::query_as("select id, name, is_admin, created_at, email from users where name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| StoreError::NoSuchUser(name.to_owned()))
}

/// A user and their password hash (none for a user a sign-in proxy created who has not been
/// given a password), for sign-in; `None` when there is no such user.
pub(crate) async fn user_with_password_hash(
    pool: &PgPool,
    name: &str,
) -> Result<Option<(UserRow, Option<String>)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: UserRow,
        password_hash: Option<String>,
    }
    let row: Option<Row> = sqlx::query_as(
        "select id, name, is_admin, created_at, email, password_hash from users where name = $1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| (row.user, row.password_hash)))
}

/// The user a sign-in proxy names, created (without a password, not an admin) on first
/// sight, with `email` kept when given and `new_csrf_token` as their proxy CSRF token unless
/// they have one. Reads only, unless something is new: the proxy names the user on every
/// request.
pub(crate) async fn proxy_user(
    pool: &PgPool,
    name: &str,
    email: Option<&str>,
    new_csrf_token: &str,
) -> Result<ProxyUserRow, StoreError> {
    let known: Option<ProxyUserRow> = sqlx::query_as(
        "select id, name, is_admin, email, proxy_csrf_token, false as created
         from users where name = $1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    if let Some(known) = known.filter(|known| {
        known.proxy_csrf_token.is_some() && (email.is_none() || known.email.as_deref() == email)
    }) {
        return Ok(known);
    }
    // `xmax = 0` only in a row this statement inserted rather than updated.
    Ok(sqlx::query_as(
        "insert into users (name, password_hash, is_admin, email, proxy_csrf_token)
         values ($1, null, false, $2, $3)
         on conflict (name) do update set
             email = coalesce(excluded.email, users.email),
             proxy_csrf_token = coalesce(users.proxy_csrf_token, excluded.proxy_csrf_token)
         returning id, name, is_admin, email, proxy_csrf_token, (xmax = 0) as created",
    )
    .bind(name)
    .bind(email)
    .bind(new_csrf_token)
    .fetch_one(pool)
    .await?)
}

/// Starts a session, ending the one it replaces (the browser's previous cookie, if any) and
/// forgetting every expired session while at it.
pub(crate) async fn start_session(
    pool: &PgPool,
    user_id: i64,
    id_hash: &[u8],
    csrf_token: &str,
    expires_at: DateTime<Utc>,
    replaced_id_hash: Option<&[u8]>,
) -> Result<(), StoreError> {
    let mut transaction = pool.begin().await?;
    sqlx::query("delete from user_sessions where expires_at <= now() or id_hash = $1")
        .bind(replaced_id_hash)
        .execute(&mut *transaction)
        .await?;
    sqlx::query(
        "insert into user_sessions (id_hash, user_id, csrf_token, expires_at)
         values ($1, $2, $3, $4)",
    )
    .bind(id_hash)
    .bind(user_id)
    .bind(csrf_token)
    .bind(expires_at)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(())
}

/// The session with this id hash, unless it expired or ended.
pub(crate) async fn live_session(
    pool: &PgPool,
    id_hash: &[u8],
) -> Result<Option<SessionRow>, StoreError> {
    Ok(sqlx::query_as(
        "select s.user_id, u.name as user_name, u.is_admin as user_is_admin, s.csrf_token,
                s.expires_at
         from user_sessions s join users u on u.id = s.user_id
         where s.id_hash = $1 and s.expires_at > now()",
    )
    .bind(id_hash)
    .fetch_optional(pool)
    .await?)
}

pub(crate) async fn end_session(pool: &PgPool, id_hash: &[u8]) -> Result<(), StoreError> {
    sqlx::query("delete from user_sessions where id_hash = $1")
        .bind(id_hash)
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn create_token(
    pool: &PgPool,
    user_id: i64,
    name: &str,
    scope: Scope,
    token_hash: &[u8],
    expires_at: Option<DateTime<Utc>>,
) -> Result<TokenRow, StoreError> {
    Ok(sqlx::query_as(&format!(
        "with t as (
             insert into api_tokens (user_id, name, scope, token_hash, expires_at)
             values ($1, $2, $3, $4, $5) returning *
         )
         select {TOKEN_COLUMNS} from t join users u on u.id = t.user_id"
    ))
    .bind(user_id)
    .bind(name)
    .bind(scope.as_str())
    .bind(token_hash)
    .bind(expires_at)
    .fetch_one(pool)
    .await?)
}

/// The token with this hash, revoked and expired ones included (the caller tells them apart).
pub(crate) async fn token_by_hash(
    pool: &PgPool,
    token_hash: &[u8],
) -> Result<Option<TokenRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {TOKEN_COLUMNS} from api_tokens t join users u on u.id = t.user_id
         where t.token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(pool)
    .await?)
}

/// Records that a token was used now; at most once a minute per token, so a busy Grafana
/// costs a write a minute, not one per request.
pub(crate) async fn record_token_use(pool: &PgPool, token_id: i64) -> Result<(), StoreError> {
    sqlx::query(
        "update api_tokens set last_used_at = now()
         where id = $1 and (last_used_at is null or last_used_at < now() - interval '1 minute')",
    )
    .bind(token_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Tokens not revoked, newest first: one user's, or everyone's.
pub(crate) async fn list_tokens(
    pool: &PgPool,
    user_id: Option<i64>,
) -> Result<Vec<TokenRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {TOKEN_COLUMNS} from api_tokens t join users u on u.id = t.user_id
         where t.revoked_at is null and ($1::bigint is null or t.user_id = $1)
         order by t.id desc"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await?)
}

/// Revokes a token (only one of `owner`'s, when given); whether one was revoked.
pub(crate) async fn revoke_token(
    pool: &PgPool,
    token_id: i64,
    owner: Option<i64>,
) -> Result<bool, StoreError> {
    let revoked = sqlx::query(
        "update api_tokens set revoked_at = now()
         where id = $1 and revoked_at is null and ($2::bigint is null or user_id = $2)",
    )
    .bind(token_id)
    .bind(owner)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(revoked == 1)
}
