//! Where the newest OAuth 2.0 tokens of each connection live, so that none is
//! lost or spent twice across calls, instances, processes, restarts and
//! machines.
//!
//! X rotates refresh tokens: every refresh returns a new one and spends the
//! old, and a spent one presented again revokes the whole family. A store
//! therefore offers what the connector component's `token-store` import
//! asks for (see `wit/connector.wit`):
//! - [`TokenStore::save`] is a compare-and-swap on a version, so a holder
//!   with stale tokens cannot overwrite newer ones unknowingly;
//! - [`TokenStore::acquire_lease`] gives one holder at a time the right to
//!   refresh, with an expiry so a crashed holder blocks no one for longer
//!   than the lease (and, on one machine, not at all: see [`holder`]).
//!
//! Backends: [`SqliteStore`] (embedded, the default; several processes on
//! one machine), [`RedisStore`] (several machines), [`MemoryStore`] (one
//! process; tests and the sandbox). Token values can be sealed at rest with
//! a [`StoreKey`].

pub mod holder;
mod memory;
pub mod private_fs;
mod redis;
pub mod redis_link;
mod seal;
mod secret;
mod sqlite;
#[cfg(feature = "test-support")]
pub mod testing;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use memory::MemoryStore;
pub use redis::{without_password, RedisStore};
pub use seal::{KeyError, StoreKey};
pub use secret::Secret;
pub use sqlite::SqliteStore;

/// Whose tokens: a family belongs to one connection of one app (client id)
/// on one API origin, so two apps or two accounts never share tokens by
/// accident.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FamilyKey {
    pub connection: String,
    pub client_id: String,
    /// `scheme://host[:port]` of the connection's `apiUrl`.
    pub api_origin: String,
}

impl std::fmt::Display for FamilyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (client {}, {})",
            self.connection, self.client_id, self.api_origin
        )
    }
}

/// One token set of a family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTokens {
    pub access_token: Option<Secret>,
    pub refresh_token: Option<Secret>,
    /// Unix milliseconds when the access token expires, if known.
    pub expires_at: Option<u64>,
    /// Unix milliseconds when the set was obtained, if known.
    pub obtained_at: Option<u64>,
    /// SHA-256 (hex) of the token the family started from: tells a stored,
    /// rotated family apart from a new authorization.
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub version: u64,
    pub tokens: StoredTokens,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The stored version is not the expected one; carries the current version.
    Conflict(u64),
    /// The store cannot be used now (unreachable, unreadable, wrong key...).
    /// The text names the backend and the cause, never a token.
    Unavailable(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Conflict(v) => write!(f, "the stored version changed (now {v})"),
            StoreError::Unavailable(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for StoreError {}

/// What `integrator tokens list` shows of a family: never a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyInfo {
    pub key: FamilyKey,
    pub version: u64,
    /// Unix milliseconds when the family was first stored.
    pub created_at: u64,
    /// Unix milliseconds of the last rotation, if any.
    pub refreshed_at: Option<u64>,
    /// Rotations saved since the family was first stored.
    pub refresh_count: u64,
    pub expires_at: Option<u64>,
    pub has_refresh_token: bool,
    /// Whether the token values are sealed with a store key.
    pub sealed: bool,
    pub lease: Option<LeaseInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    /// Who holds it (`host/pid`).
    pub holder: String,
    /// Unix milliseconds when it lapses.
    pub expires_at: u64,
}

/// The storage the connector's `token-store` import is served from.
///
/// Calls block (disk or network I/O); async hosts run them on a blocking
/// thread.
pub trait TokenStore: Send + Sync {
    /// The backend and where it is (`sqlite /path`, `redis redis://host:port/0`,
    /// `memory`), with no credentials.
    fn describe(&self) -> String;
    /// The newest set of a family, if any was saved.
    fn load(&self, key: &FamilyKey) -> Result<Option<Versioned>, StoreError>;
    /// Saves `tokens` if the stored version is `expected` (0: none stored)
    /// and returns the new version; durable when it returns.
    fn save(
        &self,
        key: &FamilyKey,
        expected: u64,
        tokens: &StoredTokens,
    ) -> Result<u64, StoreError>;
    /// The family's refresh lease for `ttl`; `None` while another live
    /// holder has it.
    fn acquire_lease(&self, key: &FamilyKey, ttl: Duration) -> Result<Option<u64>, StoreError>;
    /// Gives a lease back (a lease that already lapsed or was taken over is
    /// left alone).
    fn release_lease(&self, key: &FamilyKey, lease: u64) -> Result<(), StoreError>;
    /// Every stored family, for `integrator tokens list`.
    fn list(&self) -> Result<Vec<FamilyInfo>, StoreError>;
    /// Forgets every family of a connection name; returns how many.
    fn forget(&self, connection: &str) -> Result<usize, StoreError>;
    /// Forgets one family (and its lease); true if it was there.
    fn forget_family(&self, key: &FamilyKey) -> Result<bool, StoreError>;
}

/// Which store to open, as `--token-store` / `INTEGRATOR_TOKEN_STORE` say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    Sqlite(PathBuf),
    Redis(String),
    Memory,
}

impl StoreSpec {
    /// `redis://HOST:PORT/DB` (or `redis+unix:///path`), `memory`,
    /// `sqlite:PATH`, or a plain path to an SQLite file.
    pub fn parse(s: &str) -> Result<StoreSpec, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err(
                "the token store is empty: give a path, redis://HOST:PORT/DB or memory".into(),
            );
        }
        if s.starts_with("redis://") || s.starts_with("redis+unix://") || s.starts_with("unix://") {
            return Ok(StoreSpec::Redis(s.to_string()));
        }
        if s.starts_with("rediss://") {
            return Err("rediss:// (Redis over TLS) is not supported by this build: use redis:// on a trusted network, or a TLS tunnel".into());
        }
        if s == "memory" {
            return Ok(StoreSpec::Memory);
        }
        let path = s.strip_prefix("sqlite:").unwrap_or(s);
        Ok(StoreSpec::Sqlite(PathBuf::from(path)))
    }

    /// `$XDG_STATE_HOME/wso2-twitter-integrator/tokens.db`, else
    /// `~/.local/state/wso2-twitter-integrator/tokens.db`.
    pub fn default_sqlite() -> Option<StoreSpec> {
        default_state_dir().map(|d| StoreSpec::Sqlite(d.join("tokens.db")))
    }

    /// Opens the store: creates the SQLite file and schema, or checks that
    /// the Redis URL is well-formed (Redis itself is reached lazily, so a
    /// service can start before its Redis does).
    pub fn open(&self, key: Option<StoreKey>) -> Result<Arc<dyn TokenStore>, StoreError> {
        Ok(match self {
            StoreSpec::Sqlite(path) => Arc::new(SqliteStore::open(path, key)?),
            StoreSpec::Redis(url) => Arc::new(RedisStore::open(url, key)?),
            StoreSpec::Memory => Arc::new(MemoryStore::new()),
        })
    }
}

/// The runtime's state directory (`$XDG_STATE_HOME/wso2-twitter-integrator`
/// or `~/.local/state/wso2-twitter-integrator`).
pub fn default_state_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state"))
        })?;
    Some(base.join("wso2-twitter-integrator"))
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A lease id: random, so ids from several processes never collide; never 0.
pub(crate) fn new_lease_id() -> u64 {
    loop {
        // 53 bits: survives a round trip through Lua numbers (doubles) in Redis.
        let id = rand::random::<u64>() >> 11;
        if id != 0 {
            return id;
        }
    }
}

pub(crate) fn display_path(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(
            StoreSpec::parse("redis://127.0.0.1:6379/2").unwrap(),
            StoreSpec::Redis("redis://127.0.0.1:6379/2".into())
        );
        assert_eq!(StoreSpec::parse("memory").unwrap(), StoreSpec::Memory);
        assert_eq!(
            StoreSpec::parse("sqlite:/tmp/x.db").unwrap(),
            StoreSpec::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            StoreSpec::parse("./t.db").unwrap(),
            StoreSpec::Sqlite("./t.db".into())
        );
        assert!(StoreSpec::parse("rediss://h").unwrap_err().contains("TLS"));
        assert!(StoreSpec::parse(" ").is_err());
    }
}
