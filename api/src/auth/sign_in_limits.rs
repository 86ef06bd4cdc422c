//! Sign-in attempts held in check: per user name and per client address, at most
//! `auth.sign_in_failures_per_user` / `_per_address` failed sign-ins within
//! `auth.sign_in_window`; beyond that, every attempt for that name or from that address is
//! answered 429 with `Retry-After` until the window that began with its first failure ends,
//! without the password being checked. A success clears the user name's count (not the
//! address's).
//!
//! The counts are kept in this process's memory: they restart with it, and several API
//! instances each allow the limit (with N instances behind a balancer, N times as many
//! guesses). Counted are names as given, whether or not such a user exists, so the limit tells
//! nobody who does. The table is bounded: expired windows are swept when it grows past
//! [`SWEEP_AT_ENTRIES`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Table size above which expired windows are swept on the next failure.
const SWEEP_AT_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    UserName(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

pub(crate) struct SignInLimits {
    per_user: u32,
    per_address: u32,
    window: Duration,
    windows: Mutex<HashMap<Key, Window>>,
}

impl SignInLimits {
    pub(crate) fn new(per_user: u32, per_address: u32, window: Duration) -> Self {
        Self {
            per_user,
            per_address,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when the name or the address has used up its failures.
    pub(crate) fn check(
        &self,
        user_name: &str,
        address: IpAddr,
        now: Instant,
    ) -> Result<(), Duration> {
        let windows = self.windows.lock().expect("sign-in limits lock");
        let wait_for = |key: Key, limit: u32| {
            windows
                .get(&key)
                .filter(|window| window.failures >= limit)
                .and_then(|window| (window.started + self.window).checked_duration_since(now))
                .filter(|wait| !wait.is_zero())
        };
        let user_wait = wait_for(Key::UserName(normalized(user_name)), self.per_user);
        let address_wait = wait_for(Key::Address(address), self.per_address);
        match user_wait.max(address_wait) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    pub(crate) fn record_failure(&self, user_name: &str, address: IpAddr, now: Instant) {
        let mut windows = self.windows.lock().expect("sign-in limits lock");
        if windows.len() > SWEEP_AT_ENTRIES {
            windows.retain(|_, window| now.duration_since(window.started) < self.window);
        }
        for key in [Key::UserName(normalized(user_name)), Key::Address(address)] {
            let window = windows.entry(key).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now.duration_since(window.started) >= self.window {
                *window = Window {
                    started: now,
                    failures: 0,
                };
            }
            window.failures += 1;
        }
    }

    pub(crate) fn record_success(&self, user_name: &str) {
        self.windows
            .lock()
            .expect("sign-in limits lock")
            .remove(&Key::UserName(normalized(user_name)));
    }
}

/// Names differing only in case share a count, so `Alice` and `alice` are one budget. Only the
/// first 64 characters count (no user name is longer), so a megabyte of name is not kept.
fn normalized(user_name: &str) -> String {
    user_name
        .chars()
        .take(64)
        .collect::<String>()
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_per_user_and_per_address_are_limited_within_the_window() {
        let limits = SignInLimits::new(2, 3, Duration::from_secs(60));
        let start = Instant::now();
        let home: IpAddr = "192.0.2.1".parse().unwrap();
        let away: IpAddr = "192.0.2.2".parse().unwrap();
        limits.record_failure("alice", home, start);
        assert!(limits.check("alice", home, start).is_ok());
        limits.record_failure("Alice", away, start);
        // Two failures for the name, from two addresses: the name is refused everywhere.
        let wait = limits.check("alice", away, start + Duration::from_secs(10));
        assert_eq!(wait, Err(Duration::from_secs(50)));
        assert!(limits.check("bob", away, start).is_ok());
        // Three failures from one address: every name is refused from there.
        limits.record_failure("bob", home, start);
        limits.record_failure("carol", home, start);
        assert!(limits.check("dave", home, start).is_err());
        assert!(limits.check("dave", away, start).is_ok());
        // The window ends.
        assert!(limits
            .check("alice", home, start + Duration::from_secs(60))
            .is_ok());
    }

    #[test]
    fn a_success_clears_the_name_but_not_the_address() {
        let limits = SignInLimits::new(1, 2, Duration::from_secs(60));
        let now = Instant::now();
        let address: IpAddr = "192.0.2.1".parse().unwrap();
        limits.record_failure("alice", address, now);
        assert!(limits
            .check("alice", "192.0.2.9".parse().unwrap(), now)
            .is_err());
        limits.record_success("alice");
        assert!(limits
            .check("alice", "192.0.2.9".parse().unwrap(), now)
            .is_ok());
        limits.record_failure("bob", address, now);
        assert!(limits.check("carol", address, now).is_err());
    }
}
