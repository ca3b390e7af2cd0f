//! The store data of one connector instance: WASI, wasi:http with our
//! outbound hooks, the token vault, and its resource limits.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::StoreLimits;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::wso2::twitter::token_store::{self, StoreError, TokenSet, VersionedTokens};
use crate::outbound::Outbound;
use crate::secret::Secret;
use crate::vault::{StoredTokens, TokenVault, VaultError};

pub struct HostState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub outbound: Outbound,
    pub vault: Arc<dyn TokenVault>,
    pub limits: StoreLimits,
    pub workers: crate::outgoing::WorkerStock,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

fn to_stored(t: TokenSet) -> StoredTokens {
    StoredTokens {
        access_token: t.access_token.map(Secret::new),
        refresh_token: t.refresh_token.map(Secret::new),
        expires_at: t.expires_at,
        origin: t.origin,
    }
}

fn to_wit(t: StoredTokens) -> TokenSet {
    TokenSet {
        access_token: t.access_token.map(|s| s.expose().to_string()),
        refresh_token: t.refresh_token.map(|s| s.expose().to_string()),
        expires_at: t.expires_at,
        origin: t.origin,
    }
}

fn to_store_error(e: VaultError) -> StoreError {
    match e {
        VaultError::Conflict(v) => StoreError::Conflict(v),
        VaultError::Unavailable(m) => StoreError::Unavailable(m),
    }
}

impl token_store::Host for HostState {
    async fn load(
        &mut self,
        connection: String,
    ) -> wasmtime::Result<Result<Option<VersionedTokens>, StoreError>> {
        Ok(self
            .vault
            .load(&connection)
            .map(|v| {
                v.map(|v| VersionedTokens {
                    version: v.version,
                    tokens: to_wit(v.tokens),
                })
            })
            .map_err(to_store_error))
    }

    async fn save(
        &mut self,
        connection: String,
        expected_version: u64,
        tokens: TokenSet,
    ) -> wasmtime::Result<Result<u64, StoreError>> {
        let result = self
            .vault
            .save(&connection, expected_version, to_stored(tokens))
            .map_err(to_store_error);
        if let Ok(v) = &result {
            tracing::debug!(target: "integrator::tokens", connection, version = v, "saved tokens");
        }
        Ok(result)
    }

    async fn acquire_lease(
        &mut self,
        connection: String,
        ttl_ms: u32,
    ) -> wasmtime::Result<Result<Option<u64>, StoreError>> {
        Ok(self
            .vault
            .acquire_lease(&connection, Duration::from_millis(ttl_ms.into()))
            .map_err(to_store_error))
    }

    async fn release_lease(&mut self, connection: String, lease: u64) -> wasmtime::Result<()> {
        self.vault.release_lease(&connection, lease);
        Ok(())
    }
}
