//! The connections of a running project: per connection name, a pool of
//! component instances (see [`crate::connections`]), each initialized with
//! the connection's latest parameters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use crate::connections::{
    CheckoutError, InstancePool, InvalidPoolParameter, PoolConfig, Pooled, POOL_PARAMETERS,
};
use crate::engine::{CallError, ConnectorInstance, LoadedConnector, Runtime};

/// One pooled instance and the parameters it was initialized with.
pub struct Slot {
    pub instance: ConnectorInstance,
    init_hash: Option<[u8; 32]>,
}

/// A connection's latest component parameters.
struct Params {
    values: Vec<(String, String)>,
    hash: [u8; 32],
}

struct Connection {
    pool: Arc<InstancePool<Slot>>,
    params: Arc<Params>,
}

/// Why a connection gave no instance.
pub enum ConnectionError {
    /// Never configured (no init ran for it).
    Unknown,
    /// A pool parameter broke its rule.
    Pool(InvalidPoolParameter),
    /// Every instance busy (`maxActiveConnections` / `maxWaitTime` / `exhaustedAction`).
    Exhausted(String),
    /// Making an instance failed.
    Instantiate(String),
    /// The component refused the parameters (or trapped on them).
    Init(CallError),
}

#[derive(Default)]
pub struct Connections {
    by_name: Mutex<HashMap<String, Connection>>,
}

fn hash(values: &[(String, String)]) -> [u8; 32] {
    let mut h = Sha256::new();
    for (k, v) in values {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([1]);
    }
    h.finalize().into()
}

impl Connections {
    fn map(&self) -> MutexGuard<'_, HashMap<String, Connection>> {
        self.by_name.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes `values` (an init's parameters, pool ones included) as the
    /// connection's configuration and returns an instance initialized with it.
    pub async fn configure(
        &self,
        runtime: &Runtime,
        loaded: &LoadedConnector,
        name: &str,
        values: Vec<(String, String)>,
    ) -> Result<Pooled<Slot>, ConnectionError> {
        let (pool_values, component): (Vec<_>, Vec<_>) = values
            .into_iter()
            .partition(|(k, _)| POOL_PARAMETERS.contains(&k.as_str()));
        let config = PoolConfig::from_params(&pool_values).map_err(ConnectionError::Pool)?;
        let params = Arc::new(Params {
            hash: hash(&component),
            values: component,
        });
        {
            let mut map = self.map();
            match map.get_mut(name) {
                // New settings make a new pool; calls holding instances of
                // the old one finish on them, and they are dropped after.
                Some(c) if *c.pool.config() == config => c.params = params,
                _ => {
                    map.insert(
                        name.to_string(),
                        Connection {
                            pool: InstancePool::new(config),
                            params,
                        },
                    );
                }
            }
        }
        self.checkout(runtime, loaded, name).await
    }

    /// An instance of a configured connection, initialized with its latest
    /// parameters.
    pub async fn checkout(
        &self,
        runtime: &Runtime,
        loaded: &LoadedConnector,
        name: &str,
    ) -> Result<Pooled<Slot>, ConnectionError> {
        let (pool, params) = {
            let map = self.map();
            let c = map.get(name).ok_or(ConnectionError::Unknown)?;
            (c.pool.clone(), c.params.clone())
        };
        let mut slot = pool
            .checkout(|| async {
                runtime.instantiate(loaded).await.map(|instance| Slot {
                    instance,
                    init_hash: None,
                })
            })
            .await
            .map_err(|e| match e {
                CheckoutError::Create(e) => {
                    ConnectionError::Instantiate(crate::engine::short_cause(&e))
                }
                exhausted => {
                    ConnectionError::Exhausted(format!("connection `{name}`: {exhausted}"))
                }
            })?;
        if slot.init_hash != Some(params.hash) {
            match slot.instance.invoke("init", &params.values).await {
                Ok(_) => slot.init_hash = Some(params.hash),
                Err(e) => {
                    if let CallError::Trap(_) = e {
                        slot.discard();
                    }
                    return Err(ConnectionError::Init(e));
                }
            }
        }
        Ok(slot)
    }
}
