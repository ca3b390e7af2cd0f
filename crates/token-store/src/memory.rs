//! Tokens in memory, shared by the instances of one process: for tests and
//! the sandbox, where nothing may outlive the process.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{
    holder, new_lease_id, now_ms, FamilyInfo, FamilyKey, LeaseInfo, StoreError, StoredTokens,
    TokenStore, Versioned,
};

struct Entry {
    current: Versioned,
    created_at: u64,
    refreshed_at: Option<u64>,
    refresh_count: u64,
}

#[derive(Default)]
struct Inner {
    families: BTreeMap<FamilyKey, Entry>,
    leases: BTreeMap<FamilyKey, (u64, Instant, u64)>,
}

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TokenStore for MemoryStore {
    fn describe(&self) -> String {
        "memory".into()
    }

    fn load(&self, key: &FamilyKey) -> Result<Option<Versioned>, StoreError> {
        Ok(self.inner().families.get(key).map(|e| e.current.clone()))
    }

    fn save(
        &self,
        key: &FamilyKey,
        expected: u64,
        tokens: &StoredTokens,
    ) -> Result<u64, StoreError> {
        let mut inner = self.inner();
        let now = now_ms();
        let current = inner
            .families
            .get(key)
            .map(|e| e.current.version)
            .unwrap_or(0);
        if current != expected {
            return Err(StoreError::Conflict(current));
        }
        let version = current + 1;
        let current = Versioned {
            version,
            tokens: tokens.clone(),
        };
        match inner.families.get_mut(key) {
            Some(e) if e.current.tokens.origin == tokens.origin => {
                e.current = current;
                e.refreshed_at = Some(now);
                e.refresh_count += 1;
            }
            _ => {
                inner.families.insert(
                    key.clone(),
                    Entry {
                        current,
                        created_at: now,
                        refreshed_at: None,
                        refresh_count: 0,
                    },
                );
            }
        }
        Ok(version)
    }

    fn acquire_lease(&self, key: &FamilyKey, ttl: Duration) -> Result<Option<u64>, StoreError> {
        let mut inner = self.inner();
        let now = Instant::now();
        match inner.leases.get(key) {
            Some((_, until, _)) if *until > now => Ok(None),
            _ => {
                let id = new_lease_id();
                let wall_until = now_ms() + ttl.as_millis() as u64;
                inner
                    .leases
                    .insert(key.clone(), (id, now + ttl, wall_until));
                Ok(Some(id))
            }
        }
    }

    fn release_lease(&self, key: &FamilyKey, lease: u64) -> Result<(), StoreError> {
        let mut inner = self.inner();
        if inner.leases.get(key).is_some_and(|(id, _, _)| *id == lease) {
            inner.leases.remove(key);
        }
        Ok(())
    }

    fn list(&self) -> Result<Vec<FamilyInfo>, StoreError> {
        let inner = self.inner();
        let now = Instant::now();
        Ok(inner
            .families
            .iter()
            .map(|(k, e)| FamilyInfo {
                key: k.clone(),
                version: e.current.version,
                created_at: e.created_at,
                refreshed_at: e.refreshed_at,
                refresh_count: e.refresh_count,
                expires_at: e.current.tokens.expires_at,
                has_refresh_token: e.current.tokens.refresh_token.is_some(),
                sealed: false,
                lease: inner
                    .leases
                    .get(k)
                    .filter(|(_, until, _)| *until > now)
                    .map(|(_, _, wall)| LeaseInfo {
                        holder: holder::this_process().to_string(),
                        expires_at: *wall,
                    }),
            })
            .collect())
    }

    fn forget_family(&self, key: &FamilyKey) -> Result<bool, StoreError> {
        let mut inner = self.inner();
        inner.leases.remove(key);
        Ok(inner.families.remove(key).is_some())
    }

    fn forget(&self, connection: &str) -> Result<usize, StoreError> {
        let mut inner = self.inner();
        let before = inner.families.len();
        inner.families.retain(|k, _| k.connection != connection);
        inner.leases.retain(|k, _| k.connection != connection);
        Ok(before - inner.families.len())
    }
}
