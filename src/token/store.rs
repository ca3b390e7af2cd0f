//! The host's safekeeping for tokens (the WIT `token-store` import), and the
//! clock, as traits the pure logic is tested behind.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::set::TokenSet;
use crate::config::Connection;
use crate::secret::Secret;

/// Whose tokens (WIT `family-key`): one connection of one app on one API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyKey {
    pub connection: String,
    pub client_id: String,
    pub api_origin: String,
}

impl FamilyKey {
    pub fn of(conn: &Connection) -> FamilyKey {
        FamilyKey {
            connection: conn.name.clone(),
            client_id: conn.client_id.clone(),
            api_origin: conn.api_origin.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub version: u64,
    pub tokens: TokenSet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    Conflict(u64),
    Unavailable(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Conflict(v) => write!(f, "the stored tokens changed (version {v})"),
            StoreError::Unavailable(m) => f.write_str(m),
        }
    }
}

/// The host's token store (WIT `token-store`).
pub trait TokenStore {
    fn load(&self, family: &FamilyKey) -> Result<Option<Versioned>, StoreError>;
    fn save(&self, family: &FamilyKey, expected: u64, tokens: &TokenSet)
        -> Result<u64, StoreError>;
    fn acquire_lease(&self, family: &FamilyKey, ttl_ms: u32) -> Result<Option<u64>, StoreError>;
    fn release_lease(&self, family: &FamilyKey, lease: u64);
}

pub trait Clock {
    fn now_ms(&self) -> u64;
    fn sleep(&self, d: Duration);
}

/// Wall-clock time and sleeping from std (wasi:clocks in the component).
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
}

pub fn fingerprint(token: &Secret) -> String {
    Sha256::digest(token.expose().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
