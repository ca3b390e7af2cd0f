//! Connections: a bounded pool of component instances per connection
//! ([`pool`]) and its WSO2 parameters ([`pool_config`]).

pub mod pool;
pub mod pool_config;

pub use pool::{CheckoutError, InstancePool, PoolStats, Pooled};
pub use pool_config::{
    ExhaustedAction, InvalidPoolParameter, PoolConfig, MAX_ACTIVE_LIMIT, MAX_WAIT_LIMIT,
    POOL_PARAMETERS,
};
