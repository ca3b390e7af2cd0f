//! A token store that fails on cue: every call, or only saves.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use token_store::{
    FamilyInfo, FamilyKey, MemoryStore, StoreError, StoredTokens, TokenStore, Versioned,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StoreMode {
    Working = 0,
    /// Every call fails (the store is down).
    Down = 1,
    /// Loads and leases work; saves fail.
    SavesFail = 2,
}

#[derive(Default)]
pub struct FailingStore {
    inner: MemoryStore,
    mode: AtomicU8,
}

impl FailingStore {
    pub fn set(&self, mode: StoreMode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    fn check(&self, saving: bool) -> Result<(), StoreError> {
        match self.mode.load(Ordering::SeqCst) {
            1 => Err(StoreError::Unavailable("test store: down".into())),
            2 if saving => Err(StoreError::Unavailable("test store: saves fail".into())),
            _ => Ok(()),
        }
    }
}

impl TokenStore for FailingStore {
    fn describe(&self) -> String {
        "failing (test)".into()
    }
    fn load(&self, key: &FamilyKey) -> Result<Option<Versioned>, StoreError> {
        self.check(false)?;
        self.inner.load(key)
    }
    fn save(
        &self,
        key: &FamilyKey,
        expected: u64,
        tokens: &StoredTokens,
    ) -> Result<u64, StoreError> {
        self.check(true)?;
        self.inner.save(key, expected, tokens)
    }
    fn acquire_lease(&self, key: &FamilyKey, ttl: Duration) -> Result<Option<u64>, StoreError> {
        self.check(false)?;
        self.inner.acquire_lease(key, ttl)
    }
    fn release_lease(&self, key: &FamilyKey, lease: u64) -> Result<(), StoreError> {
        self.check(false)?;
        self.inner.release_lease(key, lease)
    }
    fn list(&self) -> Result<Vec<FamilyInfo>, StoreError> {
        self.inner.list()
    }
    fn forget(&self, connection: &str) -> Result<usize, StoreError> {
        self.inner.forget(connection)
    }
    fn forget_family(&self, key: &FamilyKey) -> Result<bool, StoreError> {
        self.inner.forget_family(key)
    }
}
