//! A bounded pool of component instances per connection, so concurrent
//! calls on one connection run side by side instead of queueing behind one
//! instance.
//!
//! Instances are made on demand (from the `InstancePre` and the pooling
//! allocator, about 10 µs), kept while idle for a while, and bounded: at
//! most `maxActiveConnections` are in use at once; a call that finds them
//! all busy waits up to `maxWaitTime` for one (`exhaustedAction` `WAIT`) or
//! fails at once (`FAIL`); at most `maxIdleConnections` are kept idle, and
//! an evictor drops those idle for longer than `minEvictionTime`, every
//! `evictionCheckInterval`. The parameter names are those of WSO2
//! connectors' connection pools.
//!
//! Generic over what is pooled, so the policy is unit-tested without wasm.
//! Hand-written rather than `deadpool`/`bb8`: those manage their own
//! creation and recycling hooks around a manager trait with async recycle
//! checks; here a checkout also re-initializes an instance whose connection
//! parameters changed, which the caller does on the item it gets, and the
//! whole policy is one semaphore and one list.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::pool_config::{ExhaustedAction, PoolConfig};

/// Why no instance could be had.
#[derive(Debug)]
pub enum CheckoutError<E> {
    /// Every instance was busy (at once with `FAIL`, for `maxWaitTime` with `WAIT`).
    Exhausted {
        max_active: usize,
        max_wait: Duration,
        waited: Duration,
        action: ExhaustedAction,
    },
    /// Making a new instance failed.
    Create(E),
}

impl<E: std::fmt::Display> std::fmt::Display for CheckoutError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckoutError::Exhausted {
                max_active,
                waited,
                action: ExhaustedAction::Fail,
                ..
            } => write!(
                f,
                "all {max_active} instances of the connection are busy (maxActiveConnections = {max_active}, exhaustedAction = FAIL){}",
                if waited.is_zero() { String::new() } else { format!(" after {} ms", waited.as_millis()) }
            ),
            CheckoutError::Exhausted {
                max_active,
                max_wait,
                waited,
                ..
            } => write!(
                f,
                "all {max_active} instances of the connection stayed busy for {} ms (maxActiveConnections = {max_active}, maxWaitTime = {} ms)",
                waited.as_millis(),
                max_wait.as_millis()
            ),
            CheckoutError::Create(e) => write!(f, "{e}"),
        }
    }
}

struct Idle<T> {
    item: T,
    since: Instant,
}

/// Counters, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub created: u64,
    pub evicted: u64,
    pub idle: usize,
    pub in_use: usize,
    /// Checkouts that found every instance busy and waited.
    pub waits: u64,
    /// Checkouts refused: every instance stayed busy (or `FAIL`).
    pub exhausted: u64,
}

struct Inner<T> {
    idle: Vec<Idle<T>>,
    stats: PoolStats,
}

pub struct InstancePool<T> {
    config: PoolConfig,
    permits: Arc<Semaphore>,
    inner: Mutex<Inner<T>>,
}

/// An instance taken from the pool: back to it when dropped (unless
/// [`Pooled::discard`]ed), releasing its place.
pub struct Pooled<T> {
    item: Option<T>,
    pool: Arc<InstancePool<T>>,
    _permit: OwnedSemaphorePermit,
}

impl<T> std::ops::Deref for Pooled<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.item.as_ref().expect("present until dropped")
    }
}

impl<T> std::ops::DerefMut for Pooled<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.item.as_mut().expect("present until dropped")
    }
}

impl<T> Pooled<T> {
    /// Drops the instance instead of returning it (after a trap).
    pub fn discard(mut self) {
        self.item = None;
    }
}

impl<T> Drop for Pooled<T> {
    fn drop(&mut self) {
        let mut inner = self.pool.state();
        inner.stats.in_use = inner.stats.in_use.saturating_sub(1);
        if let Some(item) = self.item.take() {
            if self.pool.config.max_idle == 0 {
                return;
            }
            if inner.idle.len() >= self.pool.config.max_idle {
                // Keep the warmest: the least recently used goes.
                inner.idle.remove(0);
                inner.stats.evicted += 1;
            }
            inner.idle.push(Idle {
                item,
                since: Instant::now(),
            });
            inner.stats.idle = inner.idle.len();
        }
    }
}

impl<T> InstancePool<T> {
    fn state(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T: Send + 'static> InstancePool<T> {
    /// A pool; with an eviction interval, its evictor runs on the current
    /// tokio runtime until the pool is dropped.
    pub fn new(config: PoolConfig) -> Arc<Self> {
        let pool = Arc::new(InstancePool {
            permits: Arc::new(Semaphore::new(config.max_active)),
            inner: Mutex::new(Inner {
                idle: Vec::new(),
                stats: PoolStats::default(),
            }),
            config,
        });
        if !pool.config.eviction_interval.is_zero() && !pool.config.min_eviction.is_zero() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let weak: Weak<Self> = Arc::downgrade(&pool);
                let every = pool.config.eviction_interval;
                rt.spawn(async move {
                    let mut tick = tokio::time::interval(every);
                    tick.tick().await;
                    loop {
                        tick.tick().await;
                        let Some(pool) = weak.upgrade() else { return };
                        let n = pool.evict_idle();
                        if n > 0 {
                            tracing::debug!(target: "integrator::pool", evicted = n, idle = pool.stats().idle, "evicted idle instances");
                        }
                    }
                });
            }
        }
        pool
    }

    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    pub fn stats(&self) -> PoolStats {
        self.state().stats
    }

    /// Drops instances idle for longer than `minEvictionTime`; returns how many.
    pub fn evict_idle(&self) -> usize {
        let mut inner = self.state();
        let before = inner.idle.len();
        let min = self.config.min_eviction;
        inner.idle.retain(|i| i.since.elapsed() < min);
        let n = before - inner.idle.len();
        inner.stats.evicted += n as u64;
        inner.stats.idle = inner.idle.len();
        n
    }

    /// An instance: the most recently used idle one, else a new one from
    /// `create`. Waits (or fails) per the config when all are busy.
    pub async fn checkout<E, F, Fut>(
        self: &Arc<Self>,
        create: F,
    ) -> Result<Pooled<T>, CheckoutError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let started = Instant::now();
        let exhausted = |waited| {
            self.state().stats.exhausted += 1;
            CheckoutError::Exhausted {
                max_active: self.config.max_active,
                max_wait: self.config.max_wait,
                waited,
                action: self.config.exhausted,
            }
        };
        let permit = match self.config.exhausted {
            ExhaustedAction::Fail => self
                .permits
                .clone()
                .try_acquire_owned()
                .map_err(|_| exhausted(Duration::ZERO))?,
            ExhaustedAction::Wait => match self.permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    self.state().stats.waits += 1;
                    match tokio::time::timeout(
                        self.config.max_wait,
                        self.permits.clone().acquire_owned(),
                    )
                    .await
                    {
                        Ok(Ok(p)) => p,
                        _ => return Err(exhausted(started.elapsed())),
                    }
                }
            },
        };
        let reused = {
            let mut inner = self.state();
            inner.stats.in_use += 1;
            let item = inner.idle.pop().map(|i| i.item);
            inner.stats.idle = inner.idle.len();
            item
        };
        let item = match reused {
            Some(item) => item,
            None => match create().await {
                Ok(item) => {
                    self.state().stats.created += 1;
                    item
                }
                Err(e) => {
                    let mut inner = self.state();
                    inner.stats.in_use = inner.stats.in_use.saturating_sub(1);
                    return Err(CheckoutError::Create(e));
                }
            },
        };
        Ok(Pooled {
            item: Some(item),
            pool: self.clone(),
            _permit: permit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn config(
        max_active: usize,
        max_idle: usize,
        wait_ms: u64,
        action: ExhaustedAction,
    ) -> PoolConfig {
        PoolConfig {
            max_active,
            max_idle,
            max_wait: Duration::from_millis(wait_ms),
            min_eviction: Duration::from_millis(50),
            eviction_interval: Duration::ZERO,
            exhausted: action,
        }
    }

    async fn make(n: &AtomicU32) -> Result<u32, String> {
        Ok(n.fetch_add(1, Ordering::SeqCst))
    }

    #[tokio::test]
    async fn reuses_the_warmest_instance_and_bounds_the_busy_ones() {
        let n = AtomicU32::new(0);
        let pool = InstancePool::new(config(2, 2, 50, ExhaustedAction::Wait));
        let a = pool.checkout(|| make(&n)).await.unwrap();
        let b = pool.checkout(|| make(&n)).await.unwrap();
        assert_eq!((*a, *b), (0, 1));
        // Both busy: a third waits maxWaitTime, then fails naming the limits.
        let started = Instant::now();
        let e = pool.checkout(|| make(&n)).await.err().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        let text = e.to_string();
        assert!(
            text.contains("maxActiveConnections = 2") && text.contains("maxWaitTime"),
            "{text}"
        );
        drop(a);
        // Freed: reused, not made anew.
        let c = pool.checkout(|| make(&n)).await.unwrap();
        assert_eq!(*c, 0);
        assert_eq!(pool.stats().created, 2);
        // A waiter is served as soon as an instance comes back.
        let p2 = pool.clone();
        let waiter = tokio::spawn(async move {
            *p2.checkout(|| async { Err::<u32, String>("no".into()) })
                .await
                .unwrap()
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(b);
        assert_eq!(waiter.await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_wait_for_a_busy_pool_ends_at_max_wait_time() {
        let n = AtomicU32::new(0);
        let pool = InstancePool::new(config(1, 1, 50, ExhaustedAction::Wait));
        let _a = pool.checkout(|| make(&n)).await.unwrap();
        let started = Instant::now();
        let e = pool.checkout(|| make(&n)).await.err().unwrap();
        let waited = started.elapsed();
        // Not before maxWaitTime, and not much after: a wait that ignored it
        // would hang here (the instance is never returned).
        assert!(waited >= Duration::from_millis(50), "{waited:?}");
        assert!(waited < Duration::from_millis(1_000), "{waited:?}");
        assert!(e.to_string().contains("maxWaitTime"), "{e}");
    }

    #[tokio::test]
    async fn fail_fails_at_once() {
        let n = AtomicU32::new(0);
        let pool = InstancePool::new(config(1, 1, 10_000, ExhaustedAction::Fail));
        let _a = pool.checkout(|| make(&n)).await.unwrap();
        let started = Instant::now();
        let e = pool.checkout(|| make(&n)).await.err().unwrap();
        assert!(started.elapsed() < Duration::from_millis(100));
        assert!(e.to_string().contains("exhaustedAction = FAIL"), "{e}");
    }

    #[tokio::test]
    async fn idle_instances_are_capped_and_evicted() {
        let n = AtomicU32::new(0);
        let pool = InstancePool::new(config(4, 2, 50, ExhaustedAction::Wait));
        let items: Vec<_> = futures_lite(&pool, &n, 4).await;
        drop(items);
        assert_eq!(pool.stats().idle, 2, "two kept, two dropped");
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(pool.evict_idle(), 2);
        assert_eq!(pool.stats().idle, 0);
        // A discarded (trapped) instance never comes back.
        let x = pool.checkout(|| make(&n)).await.unwrap();
        x.discard();
        assert_eq!(pool.stats().idle, 0);
        assert_eq!(pool.stats().in_use, 0);
    }

    async fn futures_lite(
        pool: &Arc<InstancePool<u32>>,
        n: &AtomicU32,
        k: usize,
    ) -> Vec<Pooled<u32>> {
        let mut v = Vec::new();
        for _ in 0..k {
            v.push(pool.checkout(|| make(n)).await.unwrap());
        }
        v
    }

    #[tokio::test]
    async fn young_idle_instances_survive_the_evictor() {
        let n = AtomicU32::new(0);
        let mut c = config(3, 3, 50, ExhaustedAction::Wait);
        c.min_eviction = Duration::from_millis(600);
        c.eviction_interval = Duration::from_millis(20);
        let pool = InstancePool::new(c);
        drop(futures_lite(&pool, &n, 3).await);
        assert_eq!(pool.evict_idle(), 0, "idle for less than minEvictionTime");
        // Several evictor runs, all before minEvictionTime: none is dropped.
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(pool.stats().idle, 3);
        assert_eq!(pool.stats().evicted, 0);
        // Past it, the evictor drops them.
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(pool.stats().idle, 0);
        assert_eq!(pool.stats().evicted, 3);
    }

    #[tokio::test]
    async fn the_evictor_shrinks_an_idle_pool_by_itself() {
        let n = AtomicU32::new(0);
        let mut c = config(3, 3, 50, ExhaustedAction::Wait);
        c.eviction_interval = Duration::from_millis(20);
        let pool = InstancePool::new(c);
        drop(futures_lite(&pool, &n, 3).await);
        assert_eq!(pool.stats().idle, 3);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(pool.stats().idle, 0);
        assert_eq!(pool.stats().evicted, 3);
    }
}
