//! Where the host keeps each connection's newest tokens (the guest's
//! `token-store` import). The trait is what a durable, multi-process store
//! implements; [`MemoryVault`] keeps them for the life of the process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::secret::Secret;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTokens {
    pub access_token: Option<Secret>,
    pub refresh_token: Option<Secret>,
    /// Unix milliseconds.
    pub expires_at: Option<u64>,
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub version: u64,
    pub tokens: StoredTokens,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultError {
    Conflict(u64),
    Unavailable(String),
}

pub trait TokenVault: Send + Sync {
    fn load(&self, connection: &str) -> Result<Option<Versioned>, VaultError>;
    /// Compare-and-swap: saves if the stored version is `expected` (0: none).
    fn save(
        &self,
        connection: &str,
        expected: u64,
        tokens: StoredTokens,
    ) -> Result<u64, VaultError>;
    /// `None` while another holder's lease is live.
    fn acquire_lease(&self, connection: &str, ttl: Duration) -> Result<Option<u64>, VaultError>;
    fn release_lease(&self, connection: &str, lease: u64);
}

#[derive(Default)]
struct Entry {
    current: Option<Versioned>,
    lease: Option<(u64, Instant)>,
}

/// Tokens in memory, shared by every instance of the process.
#[derive(Default)]
pub struct MemoryVault {
    entries: Mutex<HashMap<String, Entry>>,
    next_lease: Mutex<u64>,
}

impl MemoryVault {
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TokenVault for MemoryVault {
    fn load(&self, connection: &str) -> Result<Option<Versioned>, VaultError> {
        Ok(self
            .entries()
            .get(connection)
            .and_then(|e| e.current.clone()))
    }

    fn save(
        &self,
        connection: &str,
        expected: u64,
        tokens: StoredTokens,
    ) -> Result<u64, VaultError> {
        let mut entries = self.entries();
        let entry = entries.entry(connection.to_string()).or_default();
        let current = entry.current.as_ref().map(|v| v.version).unwrap_or(0);
        if current != expected {
            return Err(VaultError::Conflict(current));
        }
        let version = current + 1;
        entry.current = Some(Versioned { version, tokens });
        Ok(version)
    }

    fn acquire_lease(&self, connection: &str, ttl: Duration) -> Result<Option<u64>, VaultError> {
        let id = {
            let mut n = self.next_lease.lock().unwrap_or_else(|p| p.into_inner());
            *n += 1;
            *n
        };
        let mut entries = self.entries();
        let entry = entries.entry(connection.to_string()).or_default();
        let now = Instant::now();
        match entry.lease {
            Some((_, until)) if until > now => Ok(None),
            _ => {
                entry.lease = Some((id, now + ttl));
                Ok(Some(id))
            }
        }
    }

    fn release_lease(&self, connection: &str, lease: u64) {
        if let Some(e) = self.entries().get_mut(connection) {
            if e.lease.is_some_and(|(id, _)| id == lease) {
                e.lease = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(a: &str) -> StoredTokens {
        StoredTokens {
            access_token: Some(Secret::new(a)),
            refresh_token: None,
            expires_at: None,
            origin: "o".into(),
        }
    }

    #[test]
    fn compare_and_swap() {
        let v = MemoryVault::new();
        assert_eq!(v.save("c", 0, set("a")), Ok(1));
        assert_eq!(v.save("c", 0, set("b")), Err(VaultError::Conflict(1)));
        assert_eq!(v.save("c", 1, set("b")), Ok(2));
        assert_eq!(v.load("c").unwrap().unwrap().tokens, set("b"));
        assert!(!format!("{:?}", v.load("c")).contains("\"b\""));
    }

    #[test]
    fn one_lease_at_a_time_until_released_or_expired() {
        let v = MemoryVault::new();
        let l = v
            .acquire_lease("c", Duration::from_secs(60))
            .unwrap()
            .unwrap();
        assert_eq!(v.acquire_lease("c", Duration::from_secs(60)).unwrap(), None);
        v.release_lease("c", l);
        let _ = v
            .acquire_lease("c", Duration::from_millis(1))
            .unwrap()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(v
            .acquire_lease("c", Duration::from_secs(60))
            .unwrap()
            .is_some());
    }
}
