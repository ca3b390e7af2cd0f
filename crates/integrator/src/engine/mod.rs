//! The engine: loading the connector component (compiled once, cached on
//! disk) and making instances of it; `instance` runs calls on one.
//!
//! One `Engine` and `Linker` per process; the component is compiled once
//! (and cached on disk, keyed by the component's hash) into an `InstancePre`;
//! each connection gets one long-lived instance, since the guest holds its
//! tokens. Calls are async (wasmtime-wasi-http needs tokio) and bounded by an
//! epoch deadline as a backstop behind the HTTP timeouts.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::{WasiHttp, WasiHttpCtx, WasiHttpView};

pub mod allowance;
pub mod code_cache;
mod instance;

use crate::bindings::exports::wso2::twitter::connector as wit;
use crate::bindings::TwitterConnectorPre;
use crate::egress::{Allowlist, HttpClient, Outbound, DEFAULT_MAX_BODY};
use crate::imports::{HostState, MemoryLimits};
use code_cache::CodeCache;
use instance::arm_deadline;
pub use instance::{
    short_cause, trap_cause, AreaAnswer, CallError, ConnectorFailure, ConnectorInstance,
};

/// Guest linear memory cap: room for the largest answer the runtime
/// accepts (`DEFAULT_MAX_BODY`) read a few times over, not for a parse of
/// a hostile one (which traps here and retires its instance).
pub const DEFAULT_MEMORY_LIMIT: usize = 32 << 20;
/// An instance whose linear memory grew past this is not put back in its
/// pool after a call (wasm memory never shrinks; a fresh instance is
/// cheap, and tokens live in the store): one hostile answer does not keep
/// its memory held. Measured: 1.3 MiB after any number of getMe and
/// createTweet calls; 2.3 MiB after reading one 1 MB answer.
pub const RECYCLE_ABOVE: usize = 2 << 20;
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Instance slots the engine reserves (address space only, until used):
/// two connections' pools at the largest `maxActiveConnections`.
const POOL_INSTANCES: u32 = 2 * crate::connections::MAX_ACTIVE_LIMIT as u32;

#[derive(Clone)]
pub struct RuntimeOptions {
    /// Extra trusted root certificates (PEM), besides the system's.
    pub extra_roots_pem: Option<String>,
    /// Where connections keep their tokens (shared by every instance).
    pub token_store: Arc<dyn token_store::TokenStore>,
    /// Sees every token value that passes through the store (for redaction).
    pub on_token: Option<crate::imports::TokenObserver>,
    pub memory_limit: usize,
    /// Where compiled components are cached; `None`: no disk cache.
    pub cache_dir: Option<PathBuf>,
    pub max_body: u64,
    /// Operator egress policy: when set, a connection may reach its `apiUrl`
    /// only if that origin (`https://api.x.com:443`) is listed here too.
    pub allowed_origins: Option<Vec<String>>,
    /// The operator's X price table (`--prices`): results are repriced
    /// with it; `None`: the component's (the table shipped with it).
    pub prices: Option<Arc<x_pricing::PriceTable>>,
    /// The one directory uploadMedia's `media_file` may name a file in
    /// (`--media-dir`); `None`: flows give media as base64 only.
    pub media_dir: Option<PathBuf>,
    /// Where calls, token requests and store failures are counted.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            extra_roots_pem: None,
            token_store: Arc::new(token_store::MemoryStore::new()),
            on_token: None,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            cache_dir: default_cache_dir(),
            max_body: DEFAULT_MAX_BODY,
            allowed_origins: None,
            prices: None,
            media_dir: None,
            metrics: Default::default(),
        }
    }
}

/// `$XDG_CACHE_HOME/wso2-twitter-integrator` or `~/.cache/...`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("wso2-twitter-integrator"))
}

pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    http: HttpClient,
    options: RuntimeOptions,
    _ticker: EpochTicker,
}

/// Advances the engine's epoch from a plain thread (no runtime needed).
struct EpochTicker {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .ok();
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How a component was made ready, for progress output and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadKind {
    Compiled,
    Cached,
}

/// A compiled, linked component ready to instantiate.
#[derive(Clone)]
pub struct LoadedConnector {
    pre: TwitterConnectorPre<HostState>,
    /// Functions of the exported connector interface.
    pub exports: Vec<String>,
    pub hash: String,
    pub load_kind: LoadKind,
    pub load_time: Duration,
    /// What the component's `init` takes for parameters left out, asked
    /// once by the first instance: the host repeats none of them.
    defaults: Arc<std::sync::OnceLock<wit::ConnectionDefaults>>,
}

impl Runtime {
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // INTEGRATOR_PERFMAP=1 writes /tmp/perf-PID.map so `perf report`
        // names the guest's functions (build the component unstripped).
        if std::env::var_os("INTEGRATOR_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        // Fresh instances come from a pool of pre-reserved slots: instantiation
        // is a few page-table updates instead of mmap calls per memory.
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(POOL_INSTANCES * 8)
            .total_memories(POOL_INSTANCES * 2)
            .total_tables(POOL_INSTANCES * 8)
            .total_stacks(POOL_INSTANCES)
            .max_memory_size(options.memory_limit);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = match Engine::new(&config) {
            Ok(e) => e,
            Err(e) => {
                // A host that cannot reserve the pool's address space still runs.
                tracing::warn!(target: "integrator", "pooling allocator unavailable ({e}); allocating on demand");
                config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
                Engine::new(&config).map_err(anyhow::Error::from)?
            }
        };
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        wasmtime_wasi_http::p2::bindings::http::types::add_to_linker::<_, WasiHttp>(
            &mut linker,
            &Default::default(),
            |s| s.http(),
        )
        .map_err(anyhow::Error::from)?;
        crate::bindings::wasi::http::outgoing_handler::add_to_linker::<
            _,
            crate::imports::outgoing_handler::Outgoing,
        >(&mut linker, HostState::outgoing)
        .map_err(anyhow::Error::from)?;
        crate::bindings::wso2::twitter::token_store::add_to_linker::<_, HasSelf<_>>(
            &mut linker,
            |s| s,
        )
        .map_err(anyhow::Error::from)?;
        let http = HttpClient::new(options.extra_roots_pem.as_deref())?;
        Ok(Runtime {
            _ticker: EpochTicker::start(engine.clone()),
            engine,
            linker,
            http,
            options,
        })
    }

    /// The directory uploadMedia's `media_file` may read from.
    /// The process's metrics.
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.options.metrics
    }

    /// The token store every connection keeps its tokens in.
    pub fn token_store(&self) -> &Arc<dyn token_store::TokenStore> {
        &self.options.token_store
    }

    pub fn media_dir(&self) -> Option<&Path> {
        self.options.media_dir.as_deref()
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles (or loads from the disk cache) and links a component file.
    pub fn load_file(&self, path: &Path) -> anyhow::Result<LoadedConnector> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        self.load_bytes(&bytes)
            .with_context(|| format!("loading the connector component {}", path.display()))
    }

    pub fn load_bytes(&self, wasm: &[u8]) -> anyhow::Result<LoadedConnector> {
        let started = Instant::now();
        let hash = code_cache::hex(&Sha256::digest(wasm));
        let (component, load_kind) = self.compile_cached(wasm, &hash)?;
        let exports = connector_exports(&self.engine, &component);
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("the component's imports cannot be satisfied")?;
        let pre = TwitterConnectorPre::new(pre)
            .map_err(anyhow::Error::from)
            .context("the component does not export the connector interface")?;
        Ok(LoadedConnector {
            pre,
            exports,
            hash,
            load_kind,
            load_time: started.elapsed(),
            defaults: Default::default(),
        })
    }

    fn compile_cached(&self, wasm: &[u8], hash: &str) -> anyhow::Result<(Component, LoadKind)> {
        let cache = self.options.cache_dir.as_deref().and_then(|dir| {
            // The engine's compatibility hash keeps artifacts of other
            // wasmtime versions or settings apart.
            let mut h = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hash::hash(&self.engine.precompile_compatibility_hash(), &mut h);
            let name = format!(
                "{}-{:016x}.cwasm",
                &hash[..32],
                std::hash::Hasher::finish(&h)
            );
            match CodeCache::open(dir, &name) {
                Ok(cache) => Some(cache),
                Err(e) => {
                    tracing::warn!(target: "integrator", "{e}; compiling without the cache");
                    None
                }
            }
        });
        if let Some(bytes) = cache.as_ref().and_then(CodeCache::read) {
            // SAFETY: wasmtime runs these bytes as native code. They are
            // the bytes `serialize` wrote below (their SHA-256, kept in a
            // separate owner-only file, matches), read from a directory and
            // files of this user's that nobody else can write; wasmtime
            // checks the engine compatibility itself.
            if let Ok(c) = unsafe { Component::deserialize(&self.engine, &bytes) } {
                return Ok((c, LoadKind::Cached));
            }
        }
        let component = Component::new(&self.engine, wasm).map_err(anyhow::Error::from)?;
        if let (Some(cache), Ok(bytes)) = (&cache, component.serialize()) {
            cache.write(&bytes);
        }
        Ok((component, LoadKind::Compiled))
    }

    /// What the component's `init` takes for parameters left out (asked
    /// once, by the first instance).
    pub async fn connection_defaults(
        &self,
        loaded: &LoadedConnector,
    ) -> Result<wit::ConnectionDefaults, CallError> {
        if let Some(d) = loaded.defaults.get() {
            return Ok(d.clone());
        }
        self.instantiate(loaded)
            .await
            .map_err(|e| CallError::Trap(instance::short_cause(&e)))?;
        loaded
            .defaults
            .get()
            .cloned()
            .ok_or_else(|| CallError::Trap("the connector gave no defaults".into()))
    }

    /// A fresh instance (no connection yet: call `init`).
    pub async fn instantiate(&self, loaded: &LoadedConnector) -> anyhow::Result<ConnectorInstance> {
        let allow = Allowlist::default();
        let timeout_cap = Arc::new(RwLock::new(Duration::ZERO));
        let call_deadline = Arc::new(std::sync::Mutex::new(None));
        let state = HostState {
            wasi: WasiCtx::builder().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            outbound: Outbound {
                client: self.http.clone(),
                allow: allow.clone(),
                timeout_cap: timeout_cap.clone(),
                max_body: self.options.max_body,
                timer: Default::default(),
                call_deadline: call_deadline.clone(),
                connection: None,
                metrics: self.options.metrics.clone(),
            },
            tokens: self.options.token_store.clone(),
            on_token: self.options.on_token.clone(),
            limits: MemoryLimits::new(self.options.memory_limit),
            workers: Default::default(),
            unsaved_tokens: false,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        arm_deadline(&mut store, Duration::from_secs(30));
        let bindings = loaded
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(anyhow::Error::from)
            .context("instantiating the connector")?;
        let defaults = match loaded.defaults.get() {
            Some(d) => d.clone(),
            None => {
                let d = bindings
                    .wso2_twitter_connector()
                    .call_defaults(&mut store)
                    .await
                    .map_err(anyhow::Error::from)
                    .context("asking the connector for its defaults")?;
                loaded.defaults.get_or_init(|| d).clone()
            }
        };
        let max_timeout = Duration::from_millis(u64::from(defaults.max_timeout_ms));
        *timeout_cap.write().unwrap_or_else(|p| p.into_inner()) =
            Duration::from_millis(u64::from(defaults.timeout_ms));
        Ok(ConnectorInstance {
            prices: self.options.prices.clone(),
            max_timeout,
            store,
            bindings,
            allow,
            timeout_cap,
            call_deadline,
            allowance: allowance::Allowance::ONE,
            retries: allowance::of_retries(0, 0),
            policy: self.options.allowed_origins.clone(),
            poisoned: false,
        })
    }
}

/// The function names of the component's exported interfaces.
pub fn connector_exports(engine: &Engine, component: &Component) -> Vec<String> {
    use wasmtime::component::types::ComponentItem;
    component
        .component_type()
        .exports(engine)
        .filter_map(|(_, item)| match item.ty {
            ComponentItem::ComponentInstance(i) => Some(
                i.exports(engine)
                    .map(|(n, _)| n.to_string())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect()
}
