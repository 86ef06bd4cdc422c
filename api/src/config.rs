//! The API's settings: the shared `database`, `nats` and `log` sections plus its own `api`
//! and `auth` sections. See `abacus_proto::settings` for how they are layered.

use abacus_proto::settings::{
    invalid, DatabaseSettings, LogSettings, NatsSettings, SettingsError, Validate,
};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    pub database: DatabaseSettings,
    pub nats: NatsSettings,
    pub log: LogSettings,
    pub api: ApiSettings,
    pub auth: AuthSettings,
    /// The storage worker's retention and aggregation rules (`storage_worker.retentions`,
    /// `retention_rules`, `aggregation_rules`; its other keys are the worker's own and are
    /// ignored here): the API reads and rounds points by the same rules.
    pub storage_worker: abacus_proto::storage_schema::SchemaSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    /// Where the HTTP server listens.
    pub listen_address: SocketAddr,
    /// The producer id of what this API publishes (ingested points, posted events); part of
    /// every batch id, like an aggregator's id. Defaults to `api-<host name>`.
    pub producer_id: String,
    /// Most datapoints one rendered series may have; a longer request is refused with 400.
    pub max_points_per_series: usize,
    /// Most series one render request may return; more is refused with 400.
    pub max_series_per_query: usize,
    /// Longest time a query may take before it is answered with 503.
    #[serde(with = "humantime_serde")]
    pub query_timeout: Duration,
    /// The percentile thresholds `/metrics/find` lists for timers and a glob over a timer's
    /// fields expands to (etsy's `percentThreshold`). Any percentile can still be asked for by
    /// name, e.g. `stats.timers.x.upper_99_9`.
    pub timer_percentiles: Vec<f64>,
    /// Largest request body, in bytes. At most what one NATS message may carry (the server's
    /// `max_payload`, 1 MiB by default), since an ingest or event request is published as one
    /// message; a larger body is refused with 413 before it is read.
    pub max_body_bytes: usize,
    /// A connection that has not sent a whole request head within this is closed (an idle
    /// keep-alive connection too), so slow clients cannot hold connections open.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Most connections served at once; more wait in the kernel's accept backlog.
    pub max_connections: usize,
    /// Most nodes one `/metrics/find` or `/metrics/expand` answer, or `/metrics/index.json`,
    /// may list; a wider answer is refused with 400.
    pub max_find_nodes: usize,
    /// Origins a browser may call the API from (CORS), e.g. `["https://grafana.example.com"]`;
    /// `["*"]` allows any. Empty (the default): no CORS headers, so only pages the API serves
    /// itself (the web app) and non-browser clients such as Grafana's server-side data source
    /// can read it.
    pub cors_allowed_origins: Vec<String>,
    /// The path prefix everything is served under, for a reverse proxy that keeps it
    /// (`"/abacus"`: `/abacus/render`, the web app at `/abacus/`). Empty: served at the root.
    pub url_prefix: String,
    /// Whether the API publishes its self-metrics (requests, refused, failed) into the stream
    /// as series under `self_metrics_prefix`, every `self_metrics_interval`.
    pub publish_self_metrics: bool,
    pub self_metrics_prefix: String,
    #[serde(with = "humantime_serde")]
    pub self_metrics_interval: Duration,
    /// Step of series that cannot tell their own (raw points, series without rows in range).
    #[serde(with = "humantime_serde")]
    pub default_step: Duration,
    /// Requests one caller (a token, a signed-in user, else a client address) may start per
    /// second, sustained; beyond it, and beyond the burst, 429 with `Retry-After`
    /// (`auth::caller_limits`).
    pub requests_per_second_per_caller: u32,
    /// Requests one caller may start at once before the per-second rate applies.
    pub request_burst_per_caller: u32,
    /// Requests one caller may have in flight at once; one more is answered 429.
    pub concurrent_requests_per_caller: u32,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            listen_address: SocketAddr::from(([0, 0, 0, 0], 8080)),
            producer_id: format!("api-{}", gethostname::gethostname().to_string_lossy()),
            max_points_per_series: 100_000,
            max_series_per_query: 10_000,
            query_timeout: Duration::from_secs(30),
            max_body_bytes: 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_find_nodes: 100_000,
            timer_percentiles: vec![90.0],
            default_step: Duration::from_secs(10),
            cors_allowed_origins: Vec::new(),
            url_prefix: String::new(),
            publish_self_metrics: true,
            self_metrics_prefix: "abacus.api".into(),
            self_metrics_interval: Duration::from_secs(10),
            // Limits per caller that a person never reaches and a script in a loop does. A
            // Grafana dashboard of 30 panels asks for 30 renders at once, and a few tabs or a
            // team behind one NAT address several times that: a burst of 200 lets them all
            // through. A person clicking around makes a few requests a second; a loop without
            // a pause makes hundreds to thousands, so 100 a second sustained stops it and
            // nobody else. A browser sends at most 6 requests at once to one host over HTTP/1.1
            // and Grafana's server-side data source about as many per dashboard; 16 in flight
            // leaves room for several of them, while one caller still cannot hold every one of
            // an instance's database connections for long (each query holds one).
            requests_per_second_per_caller: 100,
            request_burst_per_caller: 200,
            concurrent_requests_per_caller: 16,
        }
    }
}

/// Whether a class of routes needs a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessPolicy {
    /// Anyone who reaches the API may call the routes.
    Open,
    /// A token of the needed scope, or a signed-in session.
    Token,
}

/// Who may write and read, and how sign-in is held in check (README, "Users and tokens").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// HTTP ingest (`POST /api/v1/data*`) and `POST /events/`: `token` (the default) needs a
    /// `write` token or a signed-in user; `open` takes them from anyone. statsd and Graphite
    /// plaintext over UDP/TCP are not HTTP and stay open, as in statsd.
    pub writes: AccessPolicy,
    /// Every query route (Graphite, native, the web app's data): `open` (the default) or
    /// `token`, which needs a `read` token or a signed-in user.
    pub reads: AccessPolicy,
    /// How long a session lasts after sign-in.
    #[serde(with = "humantime_serde")]
    pub session_lifetime: Duration,
    /// Addresses of reverse proxies whose `X-Forwarded-For` (the client's address, for the
    /// sign-in limits) and `X-Forwarded-Proto: https` (the session cookie is then `Secure`)
    /// are believed. Those headers from any other address are ignored.
    pub trusted_proxies: Vec<IpAddr>,
    /// Failed sign-ins one user name may have within `sign_in_window` before further
    /// attempts are answered 429 until the window ends.
    pub sign_in_failures_per_user: u32,
    /// The same, per client address.
    pub sign_in_failures_per_address: u32,
    #[serde(with = "humantime_serde")]
    pub sign_in_window: Duration,
    /// Single sign-on behind a proxy: the header in which a proxy of `trusted_proxies` names
    /// the user it authenticated (`X-Forwarded-User`, as oauth2-proxy and Authelia send it).
    /// Such a request is signed in as that user, created on first sight; the header from any
    /// other address is ignored. Unset (the default): no proxy signs anyone in.
    pub proxy_user_header: Option<String>,
    /// With `proxy_user_header`: the header holding the user's email address
    /// (`X-Forwarded-Email`), kept with the user. Optional.
    pub proxy_email_header: Option<String>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            writes: AccessPolicy::Token,
            reads: AccessPolicy::Open,
            session_lifetime: Duration::from_secs(7 * 24 * 3600),
            trusted_proxies: Vec::new(),
            sign_in_failures_per_user: 5,
            sign_in_failures_per_address: 20,
            sign_in_window: Duration::from_secs(5 * 60),
            proxy_user_header: None,
            proxy_email_header: None,
        }
    }
}

impl Validate for AuthSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        if self.session_lifetime < Duration::from_secs(60) {
            return Err(invalid("auth.session_lifetime", "must be at least 1m"));
        }
        if self.sign_in_failures_per_user == 0 {
            return Err(invalid(
                "auth.sign_in_failures_per_user",
                "must be at least 1",
            ));
        }
        if self.sign_in_failures_per_address == 0 {
            return Err(invalid(
                "auth.sign_in_failures_per_address",
                "must be at least 1",
            ));
        }
        if self.sign_in_window < Duration::from_secs(1) {
            return Err(invalid("auth.sign_in_window", "must be at least 1s"));
        }
        self.validate_proxy_sign_in()
    }
}

/// Headers a proxy must not use to name a user: the API reads them for something else, and
/// a client could send them through a proxy that passes them on untouched.
const HEADERS_NOT_FOR_PROXY_SIGN_IN: [&str; 6] = [
    "authorization",
    "cookie",
    "host",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-abacus-csrf",
];

impl AuthSettings {
    fn validate_proxy_sign_in(&self) -> Result<(), SettingsError> {
        let headers = [
            ("auth.proxy_user_header", &self.proxy_user_header),
            ("auth.proxy_email_header", &self.proxy_email_header),
        ];
        for (key, header) in headers {
            let Some(header) = header else { continue };
            if axum::http::HeaderName::from_bytes(header.as_bytes()).is_err() {
                return Err(invalid(
                    key,
                    "must be an HTTP header name, e.g. X-Forwarded-User",
                ));
            }
            if HEADERS_NOT_FOR_PROXY_SIGN_IN.contains(&header.to_ascii_lowercase().as_str()) {
                return Err(invalid(
                    key,
                    "must not be Authorization, Cookie, Host, X-Forwarded-For, X-Forwarded-Proto or X-Abacus-CSRF",
                ));
            }
        }
        if self.proxy_email_header.is_some() && self.proxy_user_header.is_none() {
            return Err(invalid(
                "auth.proxy_email_header",
                "needs auth.proxy_user_header: the email is only kept with a user the proxy names",
            ));
        }
        if self.proxy_user_header.is_some() && self.trusted_proxies.is_empty() {
            return Err(invalid(
                "auth.proxy_user_header",
                "needs auth.trusted_proxies: the addresses of the proxies whose header is believed",
            ));
        }
        if let (Some(user), Some(email)) = (&self.proxy_user_header, &self.proxy_email_header) {
            if user.eq_ignore_ascii_case(email) {
                return Err(invalid(
                    "auth.proxy_email_header",
                    "must differ from auth.proxy_user_header",
                ));
            }
        }
        Ok(())
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), SettingsError> {
        self.database.validate()?;
        self.nats.validate()?;
        self.auth.validate()?;
        abacus_proto::storage_schema::StorageSchema::from_settings(&self.storage_worker)
            .map_err(|error| invalid(error.key, error.reason))?;
        if self.api.producer_id.trim().is_empty() {
            return Err(invalid("api.producer_id", "must not be empty"));
        }
        if self.api.max_points_per_series == 0 {
            return Err(invalid("api.max_points_per_series", "must be at least 1"));
        }
        if self.api.max_series_per_query == 0 {
            return Err(invalid("api.max_series_per_query", "must be at least 1"));
        }
        if let Some(bad) = self
            .api
            .timer_percentiles
            .iter()
            .find(|percentile| !(**percentile > 0.0 && **percentile <= 100.0))
        {
            return Err(invalid(
                "api.timer_percentiles",
                format!("{bad} is not a percentile between 0 (excluded) and 100"),
            ));
        }
        if self.api.default_step < Duration::from_secs(1) {
            return Err(invalid("api.default_step", "must be at least 1s"));
        }
        if self.api.max_body_bytes < 1024 {
            return Err(invalid("api.max_body_bytes", "must be at least 1024"));
        }
        if self.api.header_read_timeout.is_zero() {
            return Err(invalid("api.header_read_timeout", "must be longer than 0s"));
        }
        if self.api.max_connections == 0 {
            return Err(invalid("api.max_connections", "must be at least 1"));
        }
        if self.api.max_find_nodes == 0 {
            return Err(invalid("api.max_find_nodes", "must be at least 1"));
        }
        if let Some(bad) = self.api.cors_allowed_origins.iter().find(|origin| {
            origin.as_str() != "*" && axum::http::HeaderValue::from_str(origin).is_err()
                || origin.contains('*') && origin.as_str() != "*"
                || origin.ends_with('/')
        }) {
            return Err(invalid(
                "api.cors_allowed_origins",
                format!("{bad:?} is not an origin like \"https://grafana.example.com\" or \"*\""),
            ));
        }
        if self.api.publish_self_metrics {
            let prefix = &self.api.self_metrics_prefix;
            if prefix.is_empty()
                || abacus_proto::limits::check_name("self_metrics_prefix", prefix).is_err()
                || prefix.split('.').any(str::is_empty)
            {
                return Err(invalid(
                    "api.self_metrics_prefix",
                    "must be a dotted metric name such as abacus.api",
                ));
            }
            if self.api.self_metrics_interval < Duration::from_secs(1) {
                return Err(invalid("api.self_metrics_interval", "must be at least 1s"));
            }
        }
        let prefix = &self.api.url_prefix;
        let prefix_is_a_path = prefix.is_empty()
            || (prefix.starts_with('/')
                && !prefix.ends_with('/')
                && prefix[1..].split('/').all(|segment| {
                    !segment.is_empty()
                        && segment.chars().all(|character| {
                            character.is_ascii_alphanumeric() || "-_.~".contains(character)
                        })
                }));
        if !prefix_is_a_path {
            return Err(invalid(
                "api.url_prefix",
                format!("{prefix:?} is not a path prefix like \"/abacus\" (no trailing slash)"),
            ));
        }
        if self.api.query_timeout.is_zero() {
            return Err(invalid("api.query_timeout", "must be longer than 0s"));
        }
        for (key, value) in [
            (
                "api.requests_per_second_per_caller",
                self.api.requests_per_second_per_caller,
            ),
            (
                "api.request_burst_per_caller",
                self.api.request_burst_per_caller,
            ),
            (
                "api.concurrent_requests_per_caller",
                self.api.concurrent_requests_per_caller,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_caller_are_at_least_one() {
        let with = |adjust: fn(&mut ApiSettings)| {
            let mut config = Config::default();
            adjust(&mut config.api);
            config.validate().err().map(|error| error.to_string())
        };
        type AdjustApi = fn(&mut ApiSettings);
        let cases: [(AdjustApi, Option<&str>); 5] = [
            (|_| {}, None),
            (
                |api| {
                    api.requests_per_second_per_caller = 1;
                    api.request_burst_per_caller = 1;
                    api.concurrent_requests_per_caller = 1;
                },
                None,
            ),
            (
                |api| api.requests_per_second_per_caller = 0,
                Some("`api.requests_per_second_per_caller` must be at least 1"),
            ),
            (
                |api| api.request_burst_per_caller = 0,
                Some("`api.request_burst_per_caller` must be at least 1"),
            ),
            (
                |api| api.concurrent_requests_per_caller = 0,
                Some("`api.concurrent_requests_per_caller` must be at least 1"),
            ),
        ];
        for (index, (adjust, expected)) in cases.into_iter().enumerate() {
            assert_eq!(with(adjust).as_deref(), expected, "case {index}");
        }
    }

    #[test]
    fn proxy_sign_in_settings_are_checked_at_start_up() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let with = |user: Option<&str>, email: Option<&str>, proxies: Vec<IpAddr>| AuthSettings {
            proxy_user_header: user.map(str::to_owned),
            proxy_email_header: email.map(str::to_owned),
            trusted_proxies: proxies,
            ..Default::default()
        };
        let cases = [
            (with(None, None, vec![]), None),
            (
                with(
                    Some("X-Forwarded-User"),
                    Some("X-Forwarded-Email"),
                    vec![proxy],
                ),
                None,
            ),
            (with(Some("Remote-User"), None, vec![proxy]), None),
            (
                with(Some("X-Forwarded-User"), None, vec![]),
                Some("`auth.proxy_user_header` needs auth.trusted_proxies: the addresses of the proxies whose header is believed"),
            ),
            (
                with(None, Some("X-Forwarded-Email"), vec![proxy]),
                Some("`auth.proxy_email_header` needs auth.proxy_user_header: the email is only kept with a user the proxy names"),
            ),
            (
                with(Some("X Forwarded User"), None, vec![proxy]),
                Some("`auth.proxy_user_header` must be an HTTP header name, e.g. X-Forwarded-User"),
            ),
            (
                with(Some("Authorization"), None, vec![proxy]),
                Some("`auth.proxy_user_header` must not be Authorization, Cookie, Host, X-Forwarded-For, X-Forwarded-Proto or X-Abacus-CSRF"),
            ),
            (
                with(Some("X-Forwarded-User"), Some("x-forwarded-user"), vec![proxy]),
                Some("`auth.proxy_email_header` must differ from auth.proxy_user_header"),
            ),
        ];
        for (settings, expected) in cases {
            let outcome = settings.validate().err().map(|error| error.to_string());
            assert_eq!(outcome.as_deref(), expected, "{settings:?}");
        }
    }
}
