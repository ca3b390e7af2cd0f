//! The pool's WSO2 parameters (`maxActiveConnections`, `exhaustedAction`,
//! ...), checked and bounded.

use std::time::Duration;

/// What a call does when every instance is busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExhaustedAction {
    /// Wait up to `maxWaitTime` for an instance.
    Wait,
    /// Fail at once.
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// `maxActiveConnections`: instances in use at once.
    pub max_active: usize,
    /// `maxIdleConnections`: instances kept while idle.
    pub max_idle: usize,
    /// `maxWaitTime`: how long a call waits for a free instance.
    pub max_wait: Duration,
    /// `minEvictionTime`: idle longer than this, an instance is dropped
    /// (zero: never for idleness alone).
    pub min_eviction: Duration,
    /// `evictionCheckInterval`: how often idle instances are checked (zero:
    /// never; the idle count is still capped).
    pub eviction_interval: Duration,
    /// `exhaustedAction`.
    pub exhausted: ExhaustedAction,
}

/// The largest `maxActiveConnections`: the engine reserves slots for this
/// many instances per process (see `runtime.rs`).
pub const MAX_ACTIVE_LIMIT: usize = 256;

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_active: 32,
            max_idle: 8,
            max_wait: Duration::from_secs(10),
            min_eviction: Duration::from_secs(300),
            eviction_interval: Duration::from_secs(60),
            exhausted: ExhaustedAction::Wait,
        }
    }
}

/// The init parameters the runtime takes for the pool (not passed to the
/// component).
pub const POOL_PARAMETERS: &[&str] = &[
    "maxActiveConnections",
    "maxIdleConnections",
    "maxWaitTime",
    "minEvictionTime",
    "evictionCheckInterval",
    "exhaustedAction",
];

/// A parameter the runtime takes (the pool's, a budget) that breaks its
/// rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRuntimeParameter {
    pub parameter: String,
    pub rule: String,
}

fn integer(name: &str, v: &str) -> Result<i64, InvalidRuntimeParameter> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| InvalidRuntimeParameter {
            parameter: name.into(),
            rule: format!("must be a whole number, got `{v}`"),
        })
}

fn within(name: &str, n: i64, max: i64, unit: &str) -> Result<u64, InvalidRuntimeParameter> {
    if n > max {
        return Err(InvalidRuntimeParameter {
            parameter: name.into(),
            rule: format!("must be at most {max}{unit}, got {n}"),
        });
    }
    Ok(n.max(0) as u64)
}

/// The longest `maxWaitTime`; a negative one (WSO2: wait indefinitely) means this.
pub const MAX_WAIT_LIMIT: Duration = Duration::from_secs(600);

impl PoolConfig {
    /// Reads the pool parameters among `params` (others are ignored);
    /// unset ones keep their defaults. Negative numbers mean what they mean
    /// to WSO2 pools, within bounds: `maxIdleConnections` no cap below
    /// `maxActiveConnections`, `maxWaitTime` the longest wait (10 minutes,
    /// never forever), `minEvictionTime` / `evictionCheckInterval` never.
    pub fn from_params(params: &[(String, String)]) -> Result<PoolConfig, InvalidRuntimeParameter> {
        let mut c = PoolConfig::default();
        let mut idle: Option<i64> = None;
        const DAY_MS: i64 = 86_400_000;
        for (k, v) in params {
            match k.as_str() {
                "maxActiveConnections" => {
                    let n = integer(k, v)?;
                    if !(1..=MAX_ACTIVE_LIMIT as i64).contains(&n) {
                        return Err(InvalidRuntimeParameter {
                            parameter: k.clone(),
                            rule: format!("must be from 1 to {MAX_ACTIVE_LIMIT} (no unlimited pool: every instance holds memory), got {n}"),
                        });
                    }
                    c.max_active = n as usize;
                }
                "maxIdleConnections" => idle = Some(integer(k, v)?),
                "maxWaitTime" => {
                    let n = integer(k, v)?;
                    c.max_wait = if n < 0 {
                        MAX_WAIT_LIMIT
                    } else {
                        Duration::from_millis(within(k, n, MAX_WAIT_LIMIT.as_millis() as i64, " ms")?)
                    };
                }
                "minEvictionTime" => {
                    c.min_eviction = Duration::from_millis(within(k, integer(k, v)?, DAY_MS, " ms")?)
                }
                "evictionCheckInterval" => {
                    c.eviction_interval =
                        Duration::from_millis(within(k, integer(k, v)?, DAY_MS, " ms")?)
                }
                "exhaustedAction" => {
                    c.exhausted = match v.trim().to_ascii_uppercase().as_str() {
                        "WAIT" | "BLOCK" | "WHEN_EXHAUSTED_BLOCK" | "WHEN_EXHAUSTED_WAIT" => {
                            ExhaustedAction::Wait
                        }
                        "FAIL" | "WHEN_EXHAUSTED_FAIL" => ExhaustedAction::Fail,
                        "GROW" | "WHEN_EXHAUSTED_GROW" => {
                            return Err(InvalidRuntimeParameter {
                                parameter: k.clone(),
                                rule: "WHEN_EXHAUSTED_GROW is not offered (it would leave memory unbounded): raise maxActiveConnections instead".into(),
                            })
                        }
                        _ => {
                            return Err(InvalidRuntimeParameter {
                                parameter: k.clone(),
                                rule: format!("must be WHEN_EXHAUSTED_BLOCK (or WAIT) or WHEN_EXHAUSTED_FAIL (or FAIL), got `{v}`"),
                            })
                        }
                    }
                }
                _ => {}
            }
        }
        c.max_idle = match idle {
            None => c.max_idle.min(c.max_active),
            Some(n) if n < 0 => c.max_active,
            Some(n) if n as usize > c.max_active => {
                return Err(InvalidRuntimeParameter {
                    parameter: "maxIdleConnections".into(),
                    rule: format!(
                        "must not exceed maxActiveConnections ({}), got {n}",
                        c.max_active
                    ),
                })
            }
            Some(n) => n as usize,
        };
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kv: &[(&str, &str)]) -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameters_have_defaults_rules_and_wso2_spellings() {
        let d = PoolConfig::from_params(&[]).unwrap();
        assert_eq!(d, PoolConfig::default());
        let c = PoolConfig::from_params(&params(&[
            ("maxActiveConnections", "4"),
            ("maxWaitTime", "250"),
            ("exhaustedAction", "WHEN_EXHAUSTED_FAIL"),
            ("clientId", "ignored"),
        ]))
        .unwrap();
        assert_eq!(
            (c.max_active, c.max_idle),
            (4, 4),
            "idle follows a smaller max"
        );
        assert_eq!(c.max_wait, Duration::from_millis(250));
        assert_eq!(c.exhausted, ExhaustedAction::Fail);
        for (k, v, needle) in [
            ("maxActiveConnections", "0", "from 1 to 256"),
            ("maxActiveConnections", "-1", "no unlimited pool"),
            ("maxActiveConnections", "many", "whole number"),
            (
                "exhaustedAction",
                "WHEN_EXHAUSTED_GROW",
                "raise maxActiveConnections",
            ),
            ("exhaustedAction", "sometimes", "WHEN_EXHAUSTED_BLOCK"),
            ("maxWaitTime", "soon", "whole number"),
            ("maxWaitTime", "600001", "at most 600000 ms"),
        ] {
            let e = PoolConfig::from_params(&params(&[(k, v)])).unwrap_err();
            assert_eq!(e.parameter, k);
            assert!(e.rule.contains(needle), "{k}={v}: {}", e.rule);
        }
        let e = PoolConfig::from_params(&params(&[
            ("maxActiveConnections", "2"),
            ("maxIdleConnections", "3"),
        ]))
        .unwrap_err();
        assert_eq!(e.parameter, "maxIdleConnections");
        // WSO2's negative numbers, bounded.
        let c = PoolConfig::from_params(&params(&[
            ("maxIdleConnections", "-1"),
            ("maxWaitTime", "-1"),
            ("evictionCheckInterval", "-1"),
            ("exhaustedAction", "WHEN_EXHAUSTED_BLOCK"),
        ]))
        .unwrap();
        assert_eq!(c.max_idle, c.max_active);
        assert_eq!(c.max_wait, MAX_WAIT_LIMIT);
        assert_eq!(c.eviction_interval, Duration::ZERO);
        assert_eq!(c.exhausted, ExhaustedAction::Wait);
    }
}
