//! [`AppState`]: what every request handler can reach, built once by [`crate::run`].

use crate::auth::caller_limits::CallerLimits;
use crate::auth::sign_in_limits::SignInLimits;
use crate::config::{ApiSettings, AuthSettings};
use crate::ingest::publish::BatchPublisher;
use std::sync::Arc;

/// What every request handler can reach.
#[derive(Clone)]
pub(crate) struct AppState {
    pub pool: sqlx::PgPool,
    pub nats: async_nats::Client,
    pub publisher: Arc<BatchPublisher>,
    pub settings: ApiSettings,
    /// Who may read and write, sessions, trusted proxies.
    pub auth: AuthSettings,
    /// Failed sign-ins per user name and address, in this process's memory.
    pub sign_in_limits: Arc<SignInLimits>,
    /// Requests per second and in flight per caller, in this process's memory.
    pub caller_limits: Arc<CallerLimits>,
    /// Retention and aggregation rules, shared with the storage worker.
    pub schema: Arc<abacus_proto::storage_schema::StorageSchema>,
    /// Requests answered, refused and failed.
    pub metrics: Arc<crate::http::self_metrics::ApiMetrics>,
}
