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
mod server;
mod state;

pub use server::{Simulator, Tls};
pub use state::{
    endpoint_key, weighted_length, Account, Budgeted, Client, Consent, Fault, Stats, Tier,
    TokenPair,
};

/// Endpoint keys used for counters, faults and rate limits.
pub mod endpoint {
    pub const TOKEN: &str = "POST /2/oauth2/token";
    pub const REVOKE: &str = "POST /2/oauth2/revoke";
    /// X's consent page (on x.com; here on the simulator's own address).
    pub const AUTHORIZE: &str = "GET /i/oauth2/authorize";
    pub const CREATE_TWEET: &str = "POST /2/tweets";
    pub const DELETE_TWEET: &str = "DELETE /2/tweets/:id";
    pub const GET_ME: &str = "GET /2/users/me";
}
