//! The token store over any compare-and-swap key-value store.

use token_family::{now_ms, Changed, Family};
pub use token_family::{FamilyKey, StoreError, TokenSet};

/// Swaps lost to other holders before a call gives up.
const MAX_ATTEMPTS: usize = 64;

/// A key-value store with a compare-and-swap: what `wasi:keyvalue`'s
/// `store` and `atomics` give.
pub trait CasStore {
    /// What a swap needs to know the value did not change meanwhile.
    type Ticket;
    /// The value under `key` (if any) and a ticket to swap it.
    fn current(&self, key: &str) -> Result<(Option<Vec<u8>>, Self::Ticket), String>;
    /// Replaces the value if it is still what the ticket saw; `Ok(false)`
    /// when another holder changed it first.
    fn swap(&self, ticket: Self::Ticket, value: Vec<u8>) -> Result<bool, String>;
}

pub struct KvStore<S> {
    kv: S,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("key-value store: {e}"))
}

impl<S: CasStore> KvStore<S> {
    pub fn new(kv: S) -> KvStore<S> {
        KvStore { kv }
    }

    fn key(family: &FamilyKey) -> String {
        format!("wso2-twitter/tokens/{}", family.digest())
    }

    fn read(&self, key: &FamilyKey) -> Result<(Family, S::Ticket), StoreError> {
        let (bytes, ticket) = self.kv.current(&Self::key(key)).map_err(unavailable)?;
        let family = match bytes {
            Some(b) => Family::decode(&b, key).map_err(unavailable)?,
            None => Family::new(key),
        };
        Ok((family, ticket))
    }

    /// Applies `change` to the newest record and swaps it in, reading
    /// again and reapplying when another holder swapped first.
    fn update<T>(
        &self,
        key: &FamilyKey,
        mut change: impl FnMut(&mut Family) -> Result<(T, Changed), StoreError>,
    ) -> Result<T, StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            let (mut family, ticket) = self.read(key)?;
            let (out, changed) = change(&mut family)?;
            if !changed || self.kv.swap(ticket, family.encode()).map_err(unavailable)? {
                return Ok(out);
            }
        }
        Err(unavailable(format!(
            "the family's record kept changing ({MAX_ATTEMPTS} swaps lost)"
        )))
    }

    pub fn load(&self, key: &FamilyKey) -> Result<Option<(u64, TokenSet)>, StoreError> {
        Ok(self.read(key)?.0.tokens())
    }

    pub fn save(
        &self,
        key: &FamilyKey,
        expected: u64,
        tokens: &TokenSet,
    ) -> Result<u64, StoreError> {
        self.update(key, |f| f.save(expected, tokens))
    }

    pub fn acquire_lease(&self, key: &FamilyKey, ttl_ms: u64) -> Result<Option<u64>, StoreError> {
        self.update(key, |f| Ok(f.acquire_lease(now_ms(), ttl_ms)))
    }

    pub fn release_lease(&self, key: &FamilyKey, lease: u64) -> Result<(), StoreError> {
        self.update(key, |f| Ok(((), f.release_lease(lease))))
    }
}

/// The warning for a store whose compare-and-swap nobody declared real
/// (`X_KEYVALUE_CONSISTENCY`), or `None` when it was declared.
pub fn consistency_warning(declared: Option<&str>) -> Option<&'static str> {
    match declared.map(str::trim) {
        Some(d) if d.eq_ignore_ascii_case("strong") => None,
        _ => Some(
            "token-store-keyvalue: the key-value store was not declared strongly consistent \
             (X_KEYVALUE_CONSISTENCY=strong): if its compare-and-swap is not real (a replicated, \
             eventually consistent store), two instances may refresh at once and X revokes the \
             family; run one instance per connection, or use a store with a real compare-and-swap",
        ),
    }
}

#[cfg(test)]
mod tests;
