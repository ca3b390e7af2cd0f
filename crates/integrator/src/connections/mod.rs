//! Connections: a bounded pool of component instances per connection
//! ([`pool`]), its WSO2 parameters ([`pool_config`]), and where a
//! connection may be redirected (the built-in [`sandbox`]).

pub mod budget;
pub mod pool;
pub mod pool_config;
#[cfg(feature = "sandbox")]
pub mod sandbox;

/// Changes a connection's `init` parameters before it is made: the sandbox
/// points every connection at the simulator with tokens of its own.
pub trait ConnectionRedirect: Send + Sync {
    fn rewrite(&self, connection: &str, params: &mut Vec<(String, String)>);
}

pub use budget::{limits_from_params, BUDGET_PARAMETERS};
pub use pool::{CheckoutError, InstancePool, PoolStats, Pooled};
pub use pool_config::{
    ExhaustedAction, InvalidRuntimeParameter, PoolConfig, MAX_ACTIVE_LIMIT, MAX_WAIT_LIMIT,
    POOL_PARAMETERS,
};
