//! The WIT side: bindings and the conversions to [`FileStore`]'s types.

use std::time::Duration;

use crate::file_store::{FamilyKey, FileStore, StoreError, TokenSet};

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "token-store-filesystem",
    });
}

use bindings::exports::wso2::twitter::token_store as wit;

/// Where the guest sees the token directory unless `X_TOKEN_DIR` says.
const DEFAULT_DIR: &str = "/state";

fn store() -> FileStore {
    FileStore::new(std::env::var("X_TOKEN_DIR").unwrap_or_else(|_| DEFAULT_DIR.into()))
}

fn key(k: wit::FamilyKey) -> FamilyKey {
    FamilyKey {
        connection: k.connection,
        client_id: k.client_id,
        api_origin: k.api_origin,
    }
}

impl From<wit::TokenSet> for TokenSet {
    fn from(t: wit::TokenSet) -> Self {
        TokenSet {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            expires_at_ms: t.expires_at_ms,
            obtained_at_ms: t.obtained_at_ms,
            origin: t.origin,
        }
    }
}

impl From<TokenSet> for wit::TokenSet {
    fn from(t: TokenSet) -> Self {
        wit::TokenSet {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            expires_at_ms: t.expires_at_ms,
            obtained_at_ms: t.obtained_at_ms,
            origin: t.origin,
        }
    }
}

impl From<StoreError> for wit::StoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(v) => wit::StoreError::Conflict(v),
            StoreError::Unavailable(m) => wit::StoreError::Unavailable(m),
        }
    }
}

struct Provider;

bindings::export!(Provider with_types_in bindings);

impl wit::Guest for Provider {
    fn load(family: wit::FamilyKey) -> Result<Option<wit::VersionedTokens>, wit::StoreError> {
        Ok(store()
            .load(&key(family))?
            .map(|(version, tokens)| wit::VersionedTokens {
                version,
                tokens: tokens.into(),
            }))
    }

    fn save(
        family: wit::FamilyKey,
        expected_version: u64,
        tokens: wit::TokenSet,
    ) -> Result<u64, wit::StoreError> {
        Ok(store().save(&key(family), expected_version, &tokens.into())?)
    }

    fn acquire_lease(family: wit::FamilyKey, ttl_ms: u32) -> Result<Option<u64>, wit::StoreError> {
        Ok(store().acquire_lease(&key(family), Duration::from_millis(u64::from(ttl_ms)))?)
    }

    fn release_lease(family: wit::FamilyKey, lease: u64) {
        // The WIT gives release no error: a lease not given back lapses.
        let _ = store().release_lease(&key(family), lease);
    }
}
