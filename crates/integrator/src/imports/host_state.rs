//! The store data of one connector instance: WASI, wasi:http with our
//! outbound hooks, the token store, and its resource limits.

use std::sync::Arc;

use token_store::TokenStore;
use wasmtime::component::ResourceTable;
use wasmtime::StoreLimits;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::egress::Outbound;
use crate::imports::outgoing_handler::{OutgoingView, WorkerStock};

/// Sees each token value that passes through the store (for redaction).
pub type TokenObserver = Arc<dyn Fn(&str) + Send + Sync>;

pub struct HostState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub outbound: Outbound,
    pub tokens: Arc<dyn TokenStore>,
    /// Called with every token value that passes through the store, so the
    /// runtime can keep rotated tokens out of logs and answers too.
    pub on_token: Option<TokenObserver>,
    pub limits: MemoryLimits,
    pub workers: WorkerStock,
    /// A save of rotated tokens failed and none has succeeded since: the
    /// guest holds the only copy, so the instance must not be recycled.
    pub unsaved_tokens: bool,
}

/// The store's resource limits, remembering how large the guest's linear
/// memory has grown (wasm memory never shrinks: an instance that once read
/// a huge answer keeps its pages until it is dropped).
pub struct MemoryLimits {
    limits: StoreLimits,
    grown_to: usize,
}

impl MemoryLimits {
    pub fn new(max_memory: usize) -> Self {
        MemoryLimits {
            limits: wasmtime::StoreLimitsBuilder::new()
                .memory_size(max_memory)
                .build(),
            grown_to: 0,
        }
    }

    /// The largest linear memory size granted so far, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.grown_to
    }
}

impl wasmtime::ResourceLimiter for MemoryLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let granted = self.limits.memory_growing(current, desired, maximum)?;
        if granted {
            self.grown_to = self.grown_to.max(desired);
        }
        Ok(granted)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

impl HostState {
    /// The outgoing-handler's view of this state.
    pub fn outgoing(&mut self) -> OutgoingView<'_> {
        OutgoingView {
            table: &mut self.table,
            outbound: &mut self.outbound,
            workers: &mut self.workers,
        }
    }
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
