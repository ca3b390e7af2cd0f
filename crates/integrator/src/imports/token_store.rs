//! The `wso2:twitter/token-store` import, host side: the component's
//! calls go to the runtime's store (`crates/token-store`), and every token
//! saved is reported to the redactor so no output shows it.

use std::sync::Arc;
use std::time::Duration;

use token_store::{FamilyKey, StoredTokens, TokenStore};

use super::host_state::HostState;
use crate::bindings::wso2::twitter::token_store as wit;
use crate::secret::Secret;

// One `From` per direction between the store's types and the WIT records.

impl From<wit::FamilyKey> for FamilyKey {
    fn from(f: wit::FamilyKey) -> Self {
        FamilyKey {
            connection: f.connection,
            client_id: f.client_id,
            api_origin: f.api_origin,
        }
    }
}

impl From<wit::TokenSet> for StoredTokens {
    fn from(t: wit::TokenSet) -> Self {
        StoredTokens {
            access_token: t.access_token.map(Secret::new),
            refresh_token: t.refresh_token.map(Secret::new),
            expires_at: t.expires_at_ms,
            obtained_at: t.obtained_at_ms,
            origin: t.origin,
        }
    }
}

impl From<StoredTokens> for wit::TokenSet {
    fn from(t: StoredTokens) -> Self {
        wit::TokenSet {
            access_token: t.access_token.map(|s| s.expose().to_string()),
            refresh_token: t.refresh_token.map(|s| s.expose().to_string()),
            expires_at_ms: t.expires_at,
            obtained_at_ms: t.obtained_at,
            origin: t.origin,
        }
    }
}

impl From<token_store::StoreError> for wit::StoreError {
    fn from(e: token_store::StoreError) -> Self {
        match e {
            token_store::StoreError::Conflict(v) => wit::StoreError::Conflict(v),
            token_store::StoreError::Unavailable(m) => wit::StoreError::Unavailable(m),
        }
    }
}

/// Runs a store call on a blocking thread: SQLite and Redis do I/O.
async fn blocking<T: Send + 'static>(
    store: Arc<dyn TokenStore>,
    f: impl FnOnce(&dyn TokenStore) -> Result<T, token_store::StoreError> + Send + 'static,
) -> Result<T, wit::StoreError> {
    match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
        Ok(r) => r.map_err(Into::into),
        Err(e) => Err(wit::StoreError::Unavailable(format!(
            "token store call failed: {e}"
        ))),
    }
}

impl HostState {
    /// Counts a store call that failed (a conflict is no failure).
    fn counted<T>(
        &self,
        call: &'static str,
        r: Result<T, wit::StoreError>,
    ) -> Result<T, wit::StoreError> {
        if let Err(wit::StoreError::Unavailable(_)) = &r {
            self.outbound.metrics.store_error(call);
        }
        r
    }

    fn saw(&self, t: &StoredTokens) {
        if let Some(f) = &self.on_token {
            for s in [&t.access_token, &t.refresh_token].into_iter().flatten() {
                f(s.expose());
            }
        }
    }
}

impl wit::Host for HostState {
    async fn load(
        &mut self,
        family: wit::FamilyKey,
    ) -> wasmtime::Result<Result<Option<wit::VersionedTokens>, wit::StoreError>> {
        let family = FamilyKey::from(family);
        let r = blocking(self.tokens.clone(), move |s| s.load(&family)).await;
        let r = self.counted("load", r);
        if let Ok(Some(v)) = &r {
            self.saw(&v.tokens);
        }
        Ok(r.map(|v| {
            v.map(|v| wit::VersionedTokens {
                version: v.version,
                tokens: v.tokens.into(),
            })
        }))
    }

    async fn save(
        &mut self,
        family: wit::FamilyKey,
        expected_version: u64,
        tokens: wit::TokenSet,
    ) -> wasmtime::Result<Result<u64, wit::StoreError>> {
        let family = FamilyKey::from(family);
        let tokens = StoredTokens::from(tokens);
        self.saw(&tokens);
        let connection = family.connection.clone();
        let store = self.tokens.clone();
        let result = blocking(store, move |s| s.save(&family, expected_version, &tokens)).await;
        let result = self.counted("save", result);
        match &result {
            Ok(v) => {
                self.unsaved_tokens = false;
                tracing::debug!(target: "integrator::tokens", connection, version = v, "saved tokens")
            }
            Err(wit::StoreError::Unavailable(m)) => {
                self.unsaved_tokens = true;
                tracing::warn!(target: "integrator::tokens", connection, "saving tokens failed: {m}")
            }
            Err(wit::StoreError::Conflict(v)) => {
                tracing::debug!(target: "integrator::tokens", connection, current = v, "token save conflict")
            }
        }
        Ok(result)
    }

    async fn acquire_lease(
        &mut self,
        family: wit::FamilyKey,
        ttl_ms: u32,
    ) -> wasmtime::Result<Result<Option<u64>, wit::StoreError>> {
        let family = FamilyKey::from(family);
        let r = blocking(self.tokens.clone(), move |s| {
            s.acquire_lease(&family, Duration::from_millis(ttl_ms.into()))
        })
        .await;
        Ok(self.counted("lease", r))
    }

    async fn release_lease(&mut self, family: wit::FamilyKey, lease: u64) -> wasmtime::Result<()> {
        let family = FamilyKey::from(family);
        if let Err(wit::StoreError::Unavailable(m)) = blocking(self.tokens.clone(), move |s| {
            s.release_lease(&family, lease)
        })
        .await
        {
            // It lapses by itself; the next holder re-reads the store first.
            tracing::warn!(target: "integrator::tokens", "releasing a refresh lease failed: {m}");
        }
        Ok(())
    }
}
