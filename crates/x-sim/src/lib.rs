//! A local stand-in for the X API v2 endpoints the connector calls, with X's
//! real shapes (as X documents them; the spec is vendored in `spec/x-api`):
//!
//! - `POST /2/oauth2/token`: `refresh_token` and `authorization_code` (PKCE
//!   S256) grants, public clients (`client_id` in the body) and confidential
//!   ones (HTTP Basic). Refresh tokens are single-use; presenting a spent one
//!   answers `invalid_request` and revokes the whole token family.
//! - `GET /i/oauth2/authorize` (consent automated: approve, deny, or fewer
//!   scopes; registered callback URLs only) and `POST /2/oauth2/revoke`.
//! - `POST /2/tweets`, `DELETE /2/tweets/{id}`, `GET /2/users/me`, with
//!   bearer checks, rate-limit headers and budgets, duplicate-text 403s.
//! - Faults per endpoint (delay, status, dropped connection, malformed,
//!   truncated or huge body), and counters tests can read.
//!
//! Tests, benchmarks and the runtime's `--sandbox` mode use it.

mod body;
#[cfg(feature = "contract")]
pub mod contract;
pub mod routes;
mod server;
mod state;

pub use server::{Simulator, Tls};
pub use state::{
    post_unit, weighted_length, Account, Budgeted, Charges, Client, Consent, Fault, Stats, Tier,
    TokenPair, DEFAULT_CREDITS_MICROS, SEEDED_FOLLOWERS,
};

/// What the simulator serves: the key of its counters, faults and rate
/// limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Token,
    Revoke,
    /// X's consent page (on x.com; here on the simulator's own address).
    Authorize,
    CreateTweet,
    DeleteTweet,
    GetMe,
    /// Any other API endpoint, by the spec's `operationId` (see [`routes`]).
    Api(&'static str),
}

impl Endpoint {
    /// The endpoint a request is for, if the simulator serves it.
    pub fn of(method: &str, path: &str) -> Option<Endpoint> {
        Some(match (method, path) {
            ("POST", "/2/oauth2/token") => Endpoint::Token,
            ("POST", "/2/oauth2/revoke") => Endpoint::Revoke,
            ("GET", "/i/oauth2/authorize") => Endpoint::Authorize,
            ("POST", "/2/tweets") => Endpoint::CreateTweet,
            ("DELETE", p) if p.starts_with("/2/tweets/") => Endpoint::DeleteTweet,
            ("GET", "/2/users/me") => Endpoint::GetMe,
            _ => return routes::find(method, path).map(|r| Endpoint::Api(r.operation_id)),
        })
    }

    /// Method and path template, as the spec writes them.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Token => "POST /2/oauth2/token",
            Endpoint::Revoke => "POST /2/oauth2/revoke",
            Endpoint::Authorize => "GET /i/oauth2/authorize",
            Endpoint::CreateTweet => "POST /2/tweets",
            Endpoint::DeleteTweet => "DELETE /2/tweets/:id",
            Endpoint::GetMe => "GET /2/users/me",
            Endpoint::Api(operation_id) => operation_id,
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The endpoints by the names tests use.
pub mod endpoint {
    use super::Endpoint;
    pub const TOKEN: Endpoint = Endpoint::Token;
    pub const REVOKE: Endpoint = Endpoint::Revoke;
    pub const AUTHORIZE: Endpoint = Endpoint::Authorize;
    pub const CREATE_TWEET: Endpoint = Endpoint::CreateTweet;
    pub const DELETE_TWEET: Endpoint = Endpoint::DeleteTweet;
    pub const GET_ME: Endpoint = Endpoint::GetMe;
}
