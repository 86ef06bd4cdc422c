//! The secrets of identity and how each is kept: passwords as argon2id PHC strings (slow on
//! purpose, salted, since people choose passwords that can be guessed), session ids and tokens
//! as the SHA-256 of 32 random bytes (a hash cannot be searched back to 256 random bits, and a
//! lookup by hash is one index probe per request), CSRF tokens as given (see the migration).
//!
//! Every random value comes from the operating system's generator.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// What every token starts with, so a leaked one is recognized (by a secret scanner, or a
/// person reading a log) as an Abacus token.
pub(crate) const TOKEN_PREFIX: &str = "abacus_";

/// Shortest password `user add` and `user passwd` accept.
pub(crate) const MIN_PASSWORD_CHARS: usize = 8;

/// 32 random bytes as 64 lowercase hex digits.
pub(crate) fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A new API token: the prefix and 256 random bits.
pub(crate) fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_hex())
}

/// A new session id (the cookie's value).
pub(crate) fn new_session_id() -> String {
    random_hex()
}

/// What is stored of a session id or a token.
pub(crate) fn sha256(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The argon2id PHC string of `password` with a fresh salt, at the argon2 crate's default
/// parameters (19 MiB, two passes, one lane: OWASP's recommended minimum). Slow: call it off
/// the async executor.
pub(crate) fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id with default parameters hashes any password")
        .to_string()
}

/// Whether `password` is the one `stored` was made from. A stored string that does not parse
/// matches nothing. Slow, like [`hash_password`].
pub(crate) fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// Verifies a password against a hash of nothing anyone knows, taking as long as a real
/// check, so that signing in as a user who does not exist is not answered faster than with a
/// wrong password (which would tell who exists).
pub(crate) fn verify_against_no_user(password: &str) {
    static NOBODY: OnceLock<String> = OnceLock::new();
    let stored = NOBODY.get_or_init(|| hash_password(&random_hex()));
    let _ = verify_password(password, stored);
}

/// Compares two secrets in time that depends only on their lengths.
pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hashed_with_argon2id_at_owasp_parameters_and_a_fresh_salt() {
        let first = hash_password("correct horse");
        let second = hash_password("correct horse");
        assert_ne!(first, second, "each hash has its own salt");
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert!(verify_password("correct horse", &first));
        assert!(!verify_password("correct horse!", &first));
        assert!(!verify_password("correct horse", "not a phc string"));
    }

    #[test]
    fn tokens_and_session_ids_are_256_random_bits() {
        let token = new_token();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(token.len(), TOKEN_PREFIX.len() + 64);
        assert_ne!(new_session_id(), new_session_id());
        assert_eq!(sha256("x").len(), 32);
    }

    #[test]
    fn secrets_compare_by_content() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
