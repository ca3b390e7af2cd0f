//! The family's refresh lease as a guard: released when dropped, on every
//! path out of a refresh (success, X's refusal, a failed save).

use super::store::{FamilyKey, StoreError, TokenStore};

/// A held refresh lease of one family.
pub(super) struct Lease<'a, S: TokenStore> {
    store: &'a S,
    family: &'a FamilyKey,
    id: u64,
}

impl<'a, S: TokenStore> Lease<'a, S> {
    /// Takes the lease for `ttl_ms`; `None` while another holder has it.
    pub(super) fn try_acquire(
        store: &'a S,
        family: &'a FamilyKey,
        ttl_ms: u32,
    ) -> Result<Option<Self>, StoreError> {
        Ok(store
            .acquire_lease(family, ttl_ms)?
            .map(|id| Lease { store, family, id }))
    }
}

impl<S: TokenStore> Drop for Lease<'_, S> {
    fn drop(&mut self) {
        // Released even when the save failed: the rotated set is held, and
        // the next holder re-reads the store before it spends anything.
        self.store.release_lease(self.family, self.id);
    }
}
