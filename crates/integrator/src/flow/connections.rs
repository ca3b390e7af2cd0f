//! The connections of a running project: per connection name, a pool of
//! component instances (see [`crate::connections`]), each initialized with
//! the connection's latest parameters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use spend_ledger::Limits;

use crate::connections::{
    limits_from_params, CheckoutError, InstancePool, InvalidRuntimeParameter, PoolConfig, Pooled,
    BUDGET_PARAMETERS, POOL_PARAMETERS,
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
    limits: Limits,
}

/// Why a connection gave no instance.
pub enum ConnectionError {
    /// Never configured (no init ran for it).
    Unknown,
    /// A runtime parameter (the pool's, a budget) broke its rule.
    Parameter(InvalidRuntimeParameter),
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
        let (pool_values, rest): (Vec<_>, Vec<_>) = values
            .into_iter()
            .partition(|(k, _)| POOL_PARAMETERS.contains(&k.as_str()));
        let (budget_values, component): (Vec<_>, Vec<_>) = rest
            .into_iter()
            .partition(|(k, _)| BUDGET_PARAMETERS.contains(&k.as_str()));
        let config = PoolConfig::from_params(&pool_values).map_err(ConnectionError::Parameter)?;
        let limits = limits_from_params(&budget_values).map_err(ConnectionError::Parameter)?;
        let params = Arc::new(Params {
            hash: hash(&component),
            values: component,
        });
        {
            let mut map = self.map();
            match map.get_mut(name) {
                // New settings make a new pool; calls holding instances of
                // the old one finish on them, and they are dropped after.
                Some(c) if *c.pool.config() == config => {
                    c.params = params;
                    c.limits = limits;
                }
                _ => {
                    map.insert(
                        name.to_string(),
                        Connection {
                            pool: InstancePool::new(config),
                            params,
                            limits,
                        },
                    );
                }
            }
        }
        self.checkout(runtime, loaded, name).await
    }

    /// Every configured connection's instance pool, by name (for metrics).
    pub fn pool_states(&self) -> Vec<crate::metrics::PoolState> {
        let mut all: Vec<_> = self
            .map()
            .iter()
            .map(|(name, c)| {
                let s = c.pool.stats();
                crate::metrics::PoolState {
                    connection: name.clone(),
                    in_use: s.in_use,
                    idle: s.idle,
                    max_active: c.pool.config().max_active,
                    created: s.created,
                    waits: s.waits,
                    exhausted: s.exhausted,
                }
            })
            .collect();
        all.sort_by(|a, b| a.connection.cmp(&b.connection));
        all
    }

    /// Every configured connection's budgets, by name.
    pub fn budgets(&self) -> Vec<(String, Limits)> {
        let mut all: Vec<(String, Limits)> = self
            .map()
            .iter()
            .map(|(n, c)| (n.clone(), c.limits))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The budgets of a configured connection (none when unknown).
    pub fn limits(&self, name: &str) -> Limits {
        self.map().get(name).map(|c| c.limits).unwrap_or_default()
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
