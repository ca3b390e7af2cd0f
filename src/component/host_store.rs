//! The host's `token-store` import as the connector's [`TokenStore`].

use super::bindings::wso2::twitter::token_store as store;
use crate::secret::Secret;
use crate::token::{FamilyKey, StoreError, TokenSet, TokenStore, Versioned};

pub(super) struct HostStore;

fn to_wit_tokens(t: &TokenSet) -> store::TokenSet {
    store::TokenSet {
        access_token: t.access_token.as_ref().map(|s| s.expose().to_string()),
        refresh_token: t.refresh_token.as_ref().map(|s| s.expose().to_string()),
        expires_at_ms: t.expires_at,
        obtained_at_ms: t.obtained_at,
        origin: t.origin.clone(),
    }
}

fn to_wit_family(f: &FamilyKey) -> store::FamilyKey {
    store::FamilyKey {
        connection: f.connection.clone(),
        client_id: f.client_id.clone(),
        api_origin: f.api_origin.clone(),
    }
}

fn from_store_error(e: store::StoreError) -> StoreError {
    match e {
        store::StoreError::Conflict(v) => StoreError::Conflict(v),
        store::StoreError::Unavailable(m) => StoreError::Unavailable(m),
    }
}

impl TokenStore for HostStore {
    fn load(&self, family: &FamilyKey) -> Result<Option<Versioned>, StoreError> {
        let v = store::load(&to_wit_family(family)).map_err(from_store_error)?;
        Ok(v.map(|v| Versioned {
            version: v.version,
            tokens: TokenSet {
                access_token: v.tokens.access_token.map(Secret::new),
                refresh_token: v.tokens.refresh_token.map(Secret::new),
                expires_at: v.tokens.expires_at_ms,
                obtained_at: v.tokens.obtained_at_ms,
                origin: v.tokens.origin,
            },
        }))
    }

    fn save(
        &self,
        family: &FamilyKey,
        expected: u64,
        tokens: &TokenSet,
    ) -> Result<u64, StoreError> {
        store::save(&to_wit_family(family), expected, &to_wit_tokens(tokens))
            .map_err(from_store_error)
    }

    fn acquire_lease(&self, family: &FamilyKey, ttl_ms: u32) -> Result<Option<u64>, StoreError> {
        store::acquire_lease(&to_wit_family(family), ttl_ms).map_err(from_store_error)
    }

    fn release_lease(&self, family: &FamilyKey, lease: u64) {
        store::release_lease(&to_wit_family(family), lease)
    }
}
