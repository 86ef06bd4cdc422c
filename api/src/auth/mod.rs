//! Identity: who is calling, and whether they may. Local users sign in with a password and get
//! a session cookie; machines (and Grafana) send a token. The policy (`auth.reads`,
//! `auth.writes`) decides which routes need either.
//!
//! * [`policy`]: the guard every route but the open ones is wrapped in (`router` says which
//!   route needs what): resolves the credential, checks its scope, and for a request a session
//!   cookie authenticates that changes state, the CSRF header.
//! * [`credentials`]: what a request presents (`Authorization: Bearer`, Basic with a token as
//!   the password, the session cookie, a user a trusted sign-in proxy names —
//!   [`proxy_sign_in`]) and the [`Caller`] it stands for.
//! * [`session`]: `POST|GET|DELETE /api/v1/session` (sign in, who am I, sign out), held in check
//!   by [`sign_in_limits`] per user name and per client address ([`client_origin`]).
//! * [`caller_limits`]: requests per second and in flight per caller (token, user, else client
//!   address), the layer right inside the guard; 429 with `Retry-After` beyond them.
//! * [`tokens`] and [`users`]: the token routes and the admins' list of users.
//! * [`accounts`]: the rules for users and tokens (names, passwords, scopes, expiry), shared by
//!   the routes and the `abacus-api user|token` commands.
//! * [`store`]: all SQL over the identity tables; [`secrets`]: hashing and random values.

pub(crate) mod accounts;
pub(crate) mod caller_limits;
pub(crate) mod client_origin;
pub(crate) mod credentials;
pub(crate) mod policy;
pub(crate) mod proxy_sign_in;
pub(crate) mod secrets;
pub(crate) mod session;
pub(crate) mod sign_in_limits;
pub(crate) mod store;
pub(crate) mod tokens;
pub(crate) mod users;

pub(crate) use credentials::Caller;

/// What a token lets its bearer do; each scope includes the ones before it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Scope {
    /// Every query route.
    Read,
    /// Reads, HTTP ingest and posting events.
    Write,
    /// Everything, and managing every user's tokens. Only an admin user may hold one.
    Admin,
}

impl Scope {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub(crate) fn from_stored(text: &str) -> Option<Scope> {
        match text {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    /// The most a user may do: everything for an admin, reading and writing for anyone else.
    pub(crate) fn most_for_user(is_admin: bool) -> Scope {
        if is_admin {
            Scope::Admin
        } else {
            Scope::Write
        }
    }
}
