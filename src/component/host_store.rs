//! The host's `token-store` import as the connector's [`TokenStore`].

use super::bindings::wso2::twitter::token_store as store;
use crate::secret::Secret;
use crate::token::{FamilyKey, StoreError, TokenSet, TokenStore, Versioned};

pub(super) struct HostStore;

// One `From` per direction between the domain types and the WIT records.

impl From<&TokenSet> for store::TokenSet {
    fn from(t: &TokenSet) -> Self {
        store::TokenSet {
            access_token: t.access_token.as_ref().map(|s| s.expose().to_string()),
            refresh_token: t.refresh_token.as_ref().map(|s| s.expose().to_string()),
            expires_at_ms: t.expires_at,
            obtained_at_ms: t.obtained_at,
            origin: t.origin.clone(),
        }
    }
}

impl From<store::TokenSet> for TokenSet {
    fn from(t: store::TokenSet) -> Self {
        TokenSet {
            access_token: t.access_token.map(Secret::new),
            refresh_token: t.refresh_token.map(Secret::new),
            expires_at: t.expires_at_ms,
            obtained_at: t.obtained_at_ms,
            origin: t.origin,
        }
    }
}

impl From<&FamilyKey> for store::FamilyKey {
    fn from(f: &FamilyKey) -> Self {
        store::FamilyKey {
            connection: f.connection.clone(),
            client_id: f.client_id.clone(),
            api_origin: f.api_origin.clone(),
        }
    }
}

impl From<store::StoreError> for StoreError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Conflict(v) => StoreError::Conflict(v),
            store::StoreError::Unavailable(m) => StoreError::Unavailable(m),
        }
    }
}

impl TokenStore for HostStore {
    fn load(&self, family: &FamilyKey) -> Result<Option<Versioned>, StoreError> {
        Ok(store::load(&family.into())?.map(|v| Versioned {
            version: v.version,
            tokens: v.tokens.into(),
        }))
    }

    fn save(
        &self,
        family: &FamilyKey,
        expected: u64,
        tokens: &TokenSet,
    ) -> Result<u64, StoreError> {
        Ok(store::save(&family.into(), expected, &tokens.into())?)
    }

    fn acquire_lease(&self, family: &FamilyKey, ttl_ms: u32) -> Result<Option<u64>, StoreError> {
        Ok(store::acquire_lease(&family.into(), ttl_ms)?)
    }

    fn release_lease(&self, family: &FamilyKey, lease: u64) {
        store::release_lease(&family.into(), lease)
    }
}
