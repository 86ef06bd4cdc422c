//! The rules for users and tokens, the same whether the `abacus-api user|token` commands or
//! the HTTP routes ask: what a user name and a token name may be, how long a password must
//! be, who may hold which scope, when a token expires. Passwords are hashed here, off the
//! async executor (argon2id takes tens of milliseconds of CPU on purpose).

use super::store::{self, StoreError, TokenRow, UserRow};
use super::{secrets, Scope};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::time::Duration;

/// Longest token lifetime one may ask for (ten years).
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

/// Why a user or token could not be made or changed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccountError {
    #[error("{0}")]
    Invalid(String),
    /// The scope asked for is more than the owner may hold.
    #[error("{0}")]
    ScopeTooHigh(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A user name: 1 to 64 characters of letters, digits, `.`, `_`, `-` and `@`.
pub(crate) fn check_user_name(name: &str) -> Result<(), AccountError> {
    let valid = (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|character| character.is_alphanumeric() || "._-@".contains(character));
    if valid {
        Ok(())
    } else {
        Err(AccountError::Invalid(format!(
            "user name {name:?} must be 1 to 64 letters, digits, '.', '_', '-' or '@'"
        )))
    }
}

fn check_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < secrets::MIN_PASSWORD_CHARS {
        return Err(AccountError::Invalid(format!(
            "the password must have at least {} characters",
            secrets::MIN_PASSWORD_CHARS
        )));
    }
    Ok(())
}

/// The argon2id hash of a password, computed on a blocking thread.
pub(crate) async fn hash_password(password: String) -> String {
    tokio::task::spawn_blocking(move || secrets::hash_password(&password))
        .await
        .expect("hashing a password does not panic")
}

/// Whether a password matches its stored hash (or, with none, takes as long to say no).
pub(crate) async fn verify_password(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match stored {
        Some(stored) => secrets::verify_password(&password, &stored),
        None => {
            secrets::verify_against_no_user(&password);
            false
        }
    })
    .await
    .expect("verifying a password does not panic")
}

pub(crate) async fn add_user(
    pool: &PgPool,
    name: &str,
    password: String,
    is_admin: bool,
) -> Result<UserRow, AccountError> {
    check_user_name(name)?;
    check_password(&password)?;
    let hash = hash_password(password).await;
    Ok(store::add_user(pool, name, &hash, is_admin).await?)
}

/// Changes a password; the user's sessions end with it.
pub(crate) async fn change_password(
    pool: &PgPool,
    name: &str,
    password: String,
) -> Result<(), AccountError> {
    check_password(&password)?;
    let hash = hash_password(password).await;
    Ok(store::set_password(pool, name, &hash).await?)
}

/// What a new token is asked to be.
#[derive(Debug, Clone)]
pub(crate) struct NewToken {
    pub name: String,
    pub scope: Scope,
    /// None: it never expires.
    pub expires_in: Option<Duration>,
}

/// Creates a token for `owner`, returning it with the secret, the only time that is seen.
pub(crate) async fn create_token(
    pool: &PgPool,
    owner: &UserRow,
    new_token: &NewToken,
    now: DateTime<Utc>,
) -> Result<(TokenRow, String), AccountError> {
    let name = new_token.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AccountError::Invalid(
            "the token name must be 1 to 100 characters, none a control character".into(),
        ));
    }
    if new_token.scope > Scope::most_for_user(owner.is_admin) {
        return Err(AccountError::ScopeTooHigh(format!(
            "user {:?} is not an admin and cannot hold an `admin` token",
            owner.name
        )));
    }
    let expires_at = match new_token.expires_in {
        None => None,
        Some(lifetime) if lifetime.is_zero() || lifetime > MAX_TOKEN_LIFETIME => {
            return Err(AccountError::Invalid(
                "a token's lifetime must be longer than 0s and at most ten years".into(),
            ))
        }
        Some(lifetime) => {
            Some(now + chrono::Duration::from_std(lifetime).expect("ten years fit in chrono"))
        }
    };
    let secret = secrets::new_token();
    let row = store::create_token(
        pool,
        owner.id,
        name,
        new_token.scope,
        &secrets::sha256(&secret),
        expires_at,
    )
    .await?;
    Ok((row, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_and_passwords_are_checked() {
        for good in ["alice", "a.b-c_d@example.org", "Zoë"] {
            assert!(check_user_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "a/b", &"x".repeat(65)] {
            assert!(check_user_name(bad).is_err(), "{bad}");
        }
        assert!(check_password("12345678").is_ok());
        assert!(check_password("1234567").is_err());
    }
}
