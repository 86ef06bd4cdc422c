//! Limits per caller: how many requests one caller may start per second, and how many it may
//! have in flight at once. A laptop's browser or a Grafana dashboard never comes near them; a
//! runaway script (a dashboard refreshing in a loop, a backfill without a pause) does, and is
//! answered 429 instead of taking the database connections and the CPU from everyone else.
//!
//! **Who a caller is.** [`limit_caller`] is the inner of the two layers `router` wraps each
//! guarded route in, so it runs right after the guard (`policy`) and sees the [`Caller`] the
//! guard checked: a token counts on its own (a user's Grafana token and backfill token are two
//! budgets, so one does not starve the other), a user signed in by session or sign-in proxy
//! counts as the user. A request without a checked caller (a query while `auth.reads = "open"`,
//! an open write, signing in) counts against its client address ([`client_origin`], so behind
//! a trusted proxy the address it forwards). A token on a route the policy leaves open is not
//! checked, so it is not believed either: otherwise anyone could spread a flood over made-up
//! tokens. All of an office behind one NAT address shares that address's budget; the defaults
//! leave room for it.
//!
//! **Requests per second** (`api.requests_per_second_per_caller`, with bursts up to
//! `api.request_burst_per_caller`): a generic cell rate algorithm (GCRA) per caller, from the
//! `governor` crate: a bucket that refills at the rate and holds the burst, kept as one
//! timestamp per caller, updated without a lock. The refusal's `Retry-After` is when the next
//! request would be let in, in whole seconds (at least 1).
//!
//! **In flight** (`api.concurrent_requests_per_caller`): requests admitted and not yet answered.
//! Queries especially: each holds a database connection for as long as it reads, and the pool
//! is small (`database.max_connections`). The slot is taken before the handler reads the body,
//! and given back when the handler has produced its answer. A refusal says `Retry-After: 1`:
//! there is no telling when a request in flight ends. A request refused for either limit does
//! not count against the other.
//!
//! **Not limited**: service health and `/metrics` (a monitor must always get through), the web
//! app's files, `/version`, `/functions` and the OpenAPI document: none of them reaches the
//! database, and none goes through the guard.
//!
//! **Memory.** A caller's rate state is dropped once it is indistinguishable from a fresh one
//! (its bucket full again, `burst / rate` seconds after its last request): swept whenever the
//! table has doubled since the last sweep, so a flood of new addresses costs amortized O(1)
//! per request and the table stays within twice the callers seen within that time. A caller's
//! in-flight count is dropped when it returns to zero, so that table holds only callers with a
//! request in flight (at most `api.max_connections`).
//!
//! The state is this process's: with N API instances behind a balancer, a caller gets N times
//! the limits, as with the sign-in limits.

use super::client_origin::client_origin;
use super::credentials::{Caller, Credential};
use crate::config::ApiSettings;
use crate::http::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The rate table is never swept below this many callers: sweeping a small table often would
/// cost more than the memory it frees.
const SWEEP_AT_LEAST_AT_CALLERS: usize = 1024;

/// What a caller is counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CallerKey {
    Token(i64),
    User(i64),
    Address(IpAddr),
}

impl CallerKey {
    /// The checked caller's token or user, else the client address.
    pub(crate) fn of(caller: Option<&Caller>, client_address: IpAddr) -> CallerKey {
        match caller.map(|caller| (caller.user_id, &caller.credential)) {
            Some((_, Credential::Token { id, .. })) => CallerKey::Token(*id),
            Some((user_id, Credential::Session { .. } | Credential::Proxy { .. })) => {
                CallerKey::User(user_id)
            }
            None => CallerKey::Address(client_address),
        }
    }

    /// The caller as a refusal names it (without ids: the caller knows who they are).
    fn described(&self) -> &'static str {
        match self {
            CallerKey::Token(_) => "this token",
            CallerKey::User(_) => "this user",
            CallerKey::Address(_) => "this client address",
        }
    }
}

impl std::fmt::Display for CallerKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallerKey::Token(id) => write!(formatter, "token {id}"),
            CallerKey::User(id) => write!(formatter, "user {id}"),
            CallerKey::Address(address) => write!(formatter, "address {address}"),
        }
    }
}

/// The limits, as configured under `[api]` (validated at start-up to be at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LimitsPerCaller {
    pub requests_per_second: NonZeroU32,
    pub request_burst: NonZeroU32,
    pub concurrent_requests: NonZeroU32,
}

impl LimitsPerCaller {
    pub(crate) fn from_settings(settings: &ApiSettings) -> LimitsPerCaller {
        let at_least_one = |value: u32| NonZeroU32::new(value).unwrap_or(NonZeroU32::MIN);
        LimitsPerCaller {
            requests_per_second: at_least_one(settings.requests_per_second_per_caller),
            request_burst: at_least_one(settings.request_burst_per_caller),
            concurrent_requests: at_least_one(settings.concurrent_requests_per_caller),
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OverLimit {
    #[error("too many requests: {who} made more than api.requests_per_second_per_caller = {per_second} per second (in bursts of up to api.request_burst_per_caller = {burst}); retry after {}s", whole_seconds(*.retry_after))]
    Rate {
        who: &'static str,
        per_second: u32,
        burst: u32,
        retry_after: Duration,
    },
    #[error("too many requests at once: {who} already has api.concurrent_requests_per_caller = {limit} in flight; retry when one has been answered")]
    InFlight { who: &'static str, limit: u32 },
}

impl OverLimit {
    /// How long the client should wait: at least a second, since `Retry-After` counts whole
    /// seconds and 0 would invite an immediate retry.
    pub(crate) fn retry_after(&self) -> Duration {
        match self {
            OverLimit::Rate { retry_after, .. } => Duration::from_secs(whole_seconds(*retry_after)),
            OverLimit::InFlight { .. } => Duration::from_secs(1),
        }
    }

    fn limit_name(&self) -> &'static str {
        match self {
            OverLimit::Rate { .. } => "requests_per_second_per_caller",
            OverLimit::InFlight { .. } => "concurrent_requests_per_caller",
        }
    }
}

/// A wait in whole seconds, rounded up (a client that waits that long is let in), at least 1.
fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

impl From<OverLimit> for ApiError {
    fn from(over: OverLimit) -> Self {
        ApiError::TooManyRequests {
            retry_after: over.retry_after(),
            message: over.to_string(),
        }
    }
}

/// The per-caller state of both limits. Generic over the clock so that the unit tests step
/// time by hand instead of sleeping.
pub(crate) struct CallerLimits<C: Clock = DefaultClock> {
    limits: LimitsPerCaller,
    requests: RateLimiter<
        CallerKey,
        DefaultKeyedStateStore<CallerKey>,
        C,
        NoOpMiddleware<<C as Clock>::Instant>,
    >,
    /// The rate table's size at which it is next swept.
    sweep_at_callers: AtomicUsize,
    in_flight: Mutex<HashMap<CallerKey, u32>>,
}

impl CallerLimits<DefaultClock> {
    pub(crate) fn new(limits: LimitsPerCaller) -> Self {
        Self::with_clock(limits, DefaultClock::default())
    }
}

impl<C: Clock> CallerLimits<C> {
    pub(crate) fn with_clock(limits: LimitsPerCaller, clock: C) -> Self {
        let quota = Quota::per_second(limits.requests_per_second).allow_burst(limits.request_burst);
        Self {
            limits,
            requests: RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock),
            sweep_at_callers: AtomicUsize::new(SWEEP_AT_LEAST_AT_CALLERS),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Admits a request of `key`'s, or says which limit it is over. The request counts as in
    /// flight until the returned [`InFlight`] is dropped.
    pub(crate) fn admit(self: &Arc<Self>, key: CallerKey) -> Result<InFlight<C>, OverLimit> {
        let mut in_flight = self.in_flight.lock().expect("caller limits lock");
        let count = in_flight.get(&key).copied().unwrap_or(0);
        // Checked first, so that a request refused for being one too many at once does not
        // also spend a second's worth of the caller's rate.
        if count >= self.limits.concurrent_requests.get() {
            return Err(OverLimit::InFlight {
                who: key.described(),
                limit: self.limits.concurrent_requests.get(),
            });
        }
        let rate = self.requests.check_key(&key);
        if rate.is_ok() {
            in_flight.insert(key, count + 1);
        }
        // The sweep walks the whole rate table: not while every caller waits for this lock.
        drop(in_flight);
        self.sweep_if_grown();
        match rate {
            Ok(_) => Ok(InFlight {
                limits: Arc::clone(self),
                key,
            }),
            Err(not_until) => Err(OverLimit::Rate {
                who: key.described(),
                per_second: self.limits.requests_per_second.get(),
                burst: self.limits.request_burst.get(),
                retry_after: not_until.wait_time_from(self.requests.clock().now()),
            }),
        }
    }

    /// Drops the rate state of callers whose bucket has refilled, once the table has doubled
    /// since the last sweep (or reached [`SWEEP_AT_LEAST_AT_CALLERS`]).
    fn sweep_if_grown(&self) {
        if self.requests.len() < self.sweep_at_callers.load(Ordering::Relaxed) {
            return;
        }
        self.requests.retain_recent();
        self.requests.shrink_to_fit();
        let remaining = self.requests.len();
        self.sweep_at_callers.store(
            remaining.saturating_mul(2).max(SWEEP_AT_LEAST_AT_CALLERS),
            Ordering::Relaxed,
        );
    }

    fn finished(&self, key: CallerKey) {
        let mut in_flight = self.in_flight.lock().expect("caller limits lock");
        if let Some(count) = in_flight.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn callers_with_rate_state(&self) -> usize {
        self.requests.len()
    }

    #[cfg(test)]
    fn callers_in_flight(&self) -> usize {
        self.in_flight.lock().unwrap().len()
    }
}

/// A request counted as in flight for its caller until this is dropped.
pub(crate) struct InFlight<C: Clock = DefaultClock> {
    limits: Arc<CallerLimits<C>>,
    key: CallerKey,
}

impl<C: Clock> Drop for InFlight<C> {
    fn drop(&mut self) {
        self.limits.finished(self.key);
    }
}

/// Admits the request under its caller's limits, or answers 429 naming the limit.
pub(crate) async fn limit_caller(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let key = CallerKey::of(
        parts.extensions.get::<Caller>(),
        client_origin(&parts, &state.auth.trusted_proxies).address,
    );
    let in_flight = match state.caller_limits.admit(key) {
        Ok(in_flight) => in_flight,
        Err(over) => {
            // Debug, not warn: a runaway script would otherwise flood the log with one line
            // per refused request; the 429s are counted among the refused requests.
            tracing::debug!(caller = %key, limit = over.limit_name(), "caller over its limit");
            return ApiError::from(over).into_response();
        }
    };
    let response = next.run(Request::from_parts(parts, body)).await;
    drop(in_flight);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn limits(per_second: u32, burst: u32, concurrent: u32) -> LimitsPerCaller {
        LimitsPerCaller {
            requests_per_second: NonZeroU32::new(per_second).unwrap(),
            request_burst: NonZeroU32::new(burst).unwrap(),
            concurrent_requests: NonZeroU32::new(concurrent).unwrap(),
        }
    }

    fn caller(user_id: i64, credential: Credential) -> Caller {
        Caller {
            user_id,
            user_name: format!("user{user_id}"),
            user_is_admin: false,
            credential,
        }
    }

    #[test]
    fn a_caller_is_its_token_its_user_or_its_address() {
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        let token = caller(
            1,
            Credential::Token {
                id: 42,
                scope: crate::auth::Scope::Read,
            },
        );
        let session = caller(
            1,
            Credential::Session {
                id_hash: vec![0; 32],
                csrf_token: "csrf".into(),
                expires_at: chrono::Utc::now(),
            },
        );
        let proxy = caller(
            3,
            Credential::Proxy {
                csrf_token: "csrf".into(),
            },
        );
        let cases = [
            (Some(&token), CallerKey::Token(42)),
            (Some(&session), CallerKey::User(1)),
            (Some(&proxy), CallerKey::User(3)),
            (None, CallerKey::Address(address)),
        ];
        for (caller, expected) in cases {
            assert_eq!(CallerKey::of(caller, address), expected, "{caller:?}");
        }
    }

    /// Each case: requests at the given offsets from the start, and which of them
    /// are let through, for one caller with the limits given.
    #[test]
    fn requests_beyond_the_rate_and_burst_are_refused_until_the_bucket_refills() {
        struct Case {
            name: &'static str,
            per_second: u32,
            burst: u32,
            at_milliseconds: &'static [u64],
            admitted: &'static [bool],
        }
        let cases = [
            Case {
                name: "a burst is let through at once, one more is not",
                per_second: 1,
                burst: 3,
                at_milliseconds: &[0, 0, 0, 0],
                admitted: &[true, true, true, false],
            },
            Case {
                name: "the bucket refills at the rate",
                per_second: 2,
                burst: 2,
                at_milliseconds: &[0, 0, 0, 500, 500, 1_500, 1_500, 1_500],
                admitted: &[true, true, false, true, false, true, true, false],
            },
            Case {
                name: "at the rate, never refused",
                per_second: 10,
                burst: 1,
                at_milliseconds: &[0, 100, 200, 300, 400],
                admitted: &[true, true, true, true, true],
            },
            Case {
                name: "faster than the rate without a burst",
                per_second: 10,
                burst: 1,
                at_milliseconds: &[0, 50, 100, 150],
                admitted: &[true, false, true, false],
            },
        ];
        for case in cases {
            let clock = FakeRelativeClock::default();
            let limiter = Arc::new(CallerLimits::with_clock(
                limits(case.per_second, case.burst, 100),
                clock.clone(),
            ));
            let mut elapsed = Duration::ZERO;
            let mut admitted = Vec::new();
            for at in case.at_milliseconds {
                let at = Duration::from_millis(*at);
                clock.advance(at - elapsed);
                elapsed = at;
                admitted.push(limiter.admit(CallerKey::User(1)).is_ok());
            }
            assert_eq!(admitted, case.admitted, "{}", case.name);
        }
    }

    #[test]
    fn a_rate_refusal_names_the_limit_and_when_to_retry() {
        let clock = FakeRelativeClock::default();
        let limiter = Arc::new(CallerLimits::with_clock(limits(1, 2, 100), clock.clone()));
        let token = CallerKey::Token(7);
        assert!(limiter.admit(token).is_ok());
        assert!(limiter.admit(token).is_ok());
        let refusal = limiter.admit(token).err().unwrap();
        assert_eq!(
            refusal,
            OverLimit::Rate {
                who: "this token",
                per_second: 1,
                burst: 2,
                retry_after: Duration::from_secs(1),
            }
        );
        assert_eq!(refusal.retry_after(), Duration::from_secs(1));
        assert_eq!(
            refusal.to_string(),
            "too many requests: this token made more than api.requests_per_second_per_caller = 1 per second (in bursts of up to api.request_burst_per_caller = 2); retry after 1s"
        );
        // Partway to the next request, the wait is rounded up to a whole second, never 0.
        clock.advance(Duration::from_millis(900));
        let refusal = limiter.admit(token).err().unwrap();
        assert_eq!(refusal.retry_after(), Duration::from_secs(1));
        // Another caller has its own bucket.
        assert!(limiter.admit(CallerKey::Token(8)).is_ok());
    }

    #[test]
    fn whole_seconds_round_up_and_are_at_least_one() {
        let cases = [(0, 1), (1, 1), (999, 1), (1_000, 1), (1_001, 2), (2_500, 3)];
        for (milliseconds, seconds) in cases {
            assert_eq!(
                whole_seconds(Duration::from_millis(milliseconds)),
                seconds,
                "{milliseconds} ms"
            );
        }
    }

    #[test]
    fn requests_in_flight_are_limited_per_caller_until_one_is_answered() {
        let limiter = Arc::new(CallerLimits::with_clock(
            limits(1_000, 1_000, 2),
            FakeRelativeClock::default(),
        ));
        let alice = CallerKey::User(1);
        let first = limiter.admit(alice).unwrap();
        let second = limiter.admit(alice).unwrap();
        let refusal = limiter.admit(alice).err().unwrap();
        assert_eq!(
            refusal,
            OverLimit::InFlight {
                who: "this user",
                limit: 2
            }
        );
        assert_eq!(refusal.retry_after(), Duration::from_secs(1));
        // Someone else is not held up by Alice's requests.
        let bob = limiter.admit(CallerKey::User(2)).unwrap();
        drop(first);
        let third = limiter.admit(alice).unwrap();
        drop((second, third, bob));
        // A caller with nothing in flight leaves nothing behind.
        assert_eq!(limiter.callers_in_flight(), 0);
    }

    #[test]
    fn a_request_refused_for_being_one_too_many_at_once_does_not_spend_the_rate() {
        let clock = FakeRelativeClock::default();
        let limiter = Arc::new(CallerLimits::with_clock(limits(1, 2, 1), clock));
        let address = CallerKey::Address("192.0.2.1".parse().unwrap());
        let held = limiter.admit(address).unwrap();
        for _ in 0..5 {
            assert!(matches!(
                limiter.admit(address),
                Err(OverLimit::InFlight { .. })
            ));
        }
        drop(held);
        // The second request of the burst is still there.
        assert!(limiter.admit(address).is_ok());
    }

    #[test]
    fn callers_not_seen_for_a_while_are_forgotten() {
        let clock = FakeRelativeClock::default();
        let limiter = Arc::new(CallerLimits::with_clock(limits(10, 20, 4), clock.clone()));
        let address = |index: u32| CallerKey::Address(IpAddr::from(index.to_be_bytes()));
        for index in 0..SWEEP_AT_LEAST_AT_CALLERS as u32 - 1 {
            drop(limiter.admit(address(index)).unwrap());
        }
        assert_eq!(
            limiter.callers_with_rate_state(),
            SWEEP_AT_LEAST_AT_CALLERS - 1
        );
        // Their buckets refill (20 requests at 10 a second: 2 s); the next new caller
        // reaches the sweep's threshold and only it stays.
        clock.advance(Duration::from_secs(3));
        drop(limiter.admit(address(1_000_000)).unwrap());
        assert_eq!(limiter.callers_with_rate_state(), 1);
        // Callers seen recently are kept through a sweep.
        for index in 0..SWEEP_AT_LEAST_AT_CALLERS as u32 {
            drop(limiter.admit(address(index)).unwrap());
        }
        assert_eq!(
            limiter.callers_with_rate_state(),
            SWEEP_AT_LEAST_AT_CALLERS + 1
        );
    }
}
