//! What the runtime counts for operators: Prometheus metrics (`serve
//! --metrics` answers `GET /metrics` with them, text format 0.0.4).
//!
//! Counted where it happens: connector calls and their latency in the flow
//! executor, token requests in the egress hooks (the only place that sees
//! the token endpoint's answer), token-store failures in the store import,
//! `serve`'s own answers in its handler. What is a state rather than an
//! event (instances in use, spend and budget left) is read at each scrape.
//! No label carries a token, an id or a path: connection and operation
//! names, outcome kinds and HTTP statuses only.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// The runtime's metrics: one per process, shared by every instance.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    calls: Family<Labels, Counter>,
    call_seconds: Family<Labels, Histogram>,
    rate_limit_remaining: Family<Labels, Gauge>,
    rate_limit_limit: Family<Labels, Gauge>,
    token_requests: Family<Labels, Counter>,
    store_errors: Family<Labels, Counter>,
    spent_usd: Family<Labels, Gauge<f64, AtomicU64>>,
    http_requests: Family<Labels, Counter>,
    http_seconds: Family<Labels, Histogram>,
    queue_deliveries: Family<Labels, Counter>,
}

fn latency() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// How a token request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOutcome {
    /// X answered 2xx: new tokens.
    Issued,
    /// X answered with an error (a spent or revoked token, a bad client).
    Refused,
    /// No answer: the connection failed or timed out.
    NoAnswer,
}

impl TokenOutcome {
    fn as_str(self) -> &'static str {
        match self {
            TokenOutcome::Issued => "issued",
            TokenOutcome::Refused => "refused",
            TokenOutcome::NoAnswer => "no-answer",
        }
    }
}

/// `metric`, registered under `name` (a handle to it: the registry keeps
/// another).
fn registered<M: prometheus_client::registry::Metric + Clone>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    metric: M,
) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("integrator");
        let r = &mut registry;
        let calls = registered(
            r,
            "calls",
            "Connector operations called, by connection, operation and outcome (ok or the fault kind)",
            Family::<Labels, Counter>::default(),
        );
        let call_seconds = registered(
            r,
            "call_duration_seconds",
            "Time in the connector per operation: its requests to X, a token refresh, retries",
            Family::<Labels, Histogram>::new_with_constructor(latency as fn() -> _),
        );
        let rate_limit_remaining = registered(
            r,
            "rate_limit_remaining",
            "Requests left in X's rate-limit window, as its last answer for the operation said",
            Family::<Labels, Gauge>::default(),
        );
        let rate_limit_limit = registered(
            r,
            "rate_limit_limit",
            "The size of X's rate-limit window, as its last answer for the operation said",
            Family::<Labels, Gauge>::default(),
        );
        let token_requests = registered(
            r,
            "token_requests",
            "Requests to X's token endpoint (refreshes, and a login's code exchange) by connection and outcome",
            Family::<Labels, Counter>::default(),
        );
        let store_errors = registered(
            r,
            "token_store_errors",
            "Token store calls that failed (the store could not be used), by call",
            Family::<Labels, Counter>::default(),
        );
        let spent_usd = registered(
            r,
            "call_cost_usd",
            "What the calls this process made cost at X's pay-per-use prices, by connection",
            Family::<Labels, Gauge<f64, AtomicU64>>::default(),
        );
        let http_requests = registered(
            r,
            "http_requests",
            "Requests serve answered, by HTTP status",
            Family::<Labels, Counter>::default(),
        );
        let http_seconds = registered(
            r,
            "http_request_duration_seconds",
            "Time serve took to answer a request, flow included",
            Family::<Labels, Histogram>::new_with_constructor(latency as fn() -> _),
        );
        let queue_deliveries = registered(
            r,
            "queue_deliveries",
            "Deliveries of stored messages by message store and outcome (delivered, reconciled, waiting, retrying, dead-letter, paused)",
            Family::<Labels, Counter>::default(),
        );
        Metrics {
            queue_deliveries,
            registry,
            calls,
            call_seconds,
            rate_limit_remaining,
            rate_limit_limit,
            token_requests,
            store_errors,
            spent_usd,
            http_requests,
            http_seconds,
        }
    }

    /// A connector call ended: `outcome` is `ok` or the fault kind.
    pub fn call(&self, connection: &str, operation: &str, outcome: &str, took: Duration) {
        self.refused(connection, operation, outcome);
        self.call_seconds
            .get_or_create(&vec![
                ("connection", connection.to_string()),
                ("operation", operation.to_string()),
            ])
            .observe(took.as_secs_f64());
    }

    /// A call refused before any request (a budget, an unreadable
    /// ledger): counted, with no latency.
    pub fn refused(&self, connection: &str, operation: &str, outcome: &str) {
        self.calls
            .get_or_create(&vec![
                ("connection", connection.to_string()),
                ("operation", operation.to_string()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
    }

    /// What X's last answer to `operation` said of a rate-limit window
    /// (`window`, `user-day`, `app-day`).
    pub fn rate_limit(
        &self,
        connection: &str,
        operation: &str,
        window: &str,
        limit: Option<u32>,
        remaining: Option<u32>,
    ) {
        let labels = vec![
            ("connection", connection.to_string()),
            ("operation", operation.to_string()),
            ("window", window.to_string()),
        ];
        if let Some(r) = remaining {
            self.rate_limit_remaining
                .get_or_create(&labels)
                .set(i64::from(r));
        }
        if let Some(l) = limit {
            self.rate_limit_limit
                .get_or_create(&labels)
                .set(i64::from(l));
        }
    }

    /// A call's cost, in micro-dollars.
    pub fn cost(&self, connection: &str, micros: u64) {
        if micros > 0 {
            self.spent_usd
                .get_or_create(&vec![("connection", connection.to_string())])
                .inc_by(micros as f64 / 1e6);
        }
    }

    /// A request to X's token endpoint ended.
    pub fn token_request(&self, connection: &str, outcome: TokenOutcome) {
        self.token_requests
            .get_or_create(&vec![
                ("connection", connection.to_string()),
                ("outcome", outcome.as_str().to_string()),
            ])
            .inc();
    }

    /// A token store call (`load`, `save`, `lease`) or a spend-ledger call
    /// (`spend-ledger`) failed.
    pub fn store_error(&self, call: &'static str) {
        self.store_errors
            .get_or_create(&vec![("call", call.to_string())])
            .inc();
    }

    /// A message processor's delivery ended with `outcome`.
    pub fn queue_delivery(&self, store: &str, outcome: &str) {
        self.queue_deliveries
            .get_or_create(&vec![
                ("store", store.to_string()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
    }

    /// `serve` answered a request.
    pub fn http_request(&self, status: u16, took: Duration) {
        self.http_requests
            .get_or_create(&vec![("status", status.to_string())])
            .inc();
        self.http_seconds
            .get_or_create(&vec![])
            .observe(took.as_secs_f64());
    }

    /// The metrics in Prometheus text format, with `now` (the states read at
    /// this scrape) after the counters.
    pub fn encode(&self, now: Snapshot) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        let mut states = Registry::with_prefix("integrator");
        states.register_collector(Box::new(now));
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &states);
        out
    }
}

/// One connection's instance pool at a scrape.
#[derive(Debug, Clone)]
pub struct PoolState {
    pub connection: String,
    pub in_use: usize,
    pub idle: usize,
    pub max_active: usize,
    pub created: u64,
    pub waits: u64,
    pub exhausted: u64,
}

/// One connection's spend at a scrape (micro-dollars).
#[derive(Debug, Clone)]
pub struct SpendState {
    pub connection: String,
    pub today: u64,
    pub this_month: u64,
    pub day_left: Option<u64>,
    pub month_left: Option<u64>,
}

/// One message store's queue at a scrape.
#[derive(Debug, Clone)]
pub struct QueueState {
    pub store: String,
    pub waiting: u64,
    pub in_flight: u64,
    pub dead: u64,
    pub paused: bool,
}

/// What is read at a scrape rather than counted.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub pools: Vec<PoolState>,
    pub spend: Vec<SpendState>,
    pub queues: Vec<QueueState>,
    /// Why the spend could not be read (the ledger failed), if it could not.
    pub spend_unreadable: bool,
}

fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    rows: impl IntoIterator<Item = (Labels, M)>,
) -> Result<(), std::fmt::Error> {
    let mut rows = rows.into_iter().peekable();
    if rows.peek().is_none() {
        return Ok(());
    }
    let mut f = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, metric) in rows {
        metric.encode(f.encode_family(&labels)?)?;
    }
    Ok(())
}

fn usd(micros: u64) -> f64 {
    micros as f64 / 1e6
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let conn = |c: &str| vec![("connection", c.to_string())];
        family(
            &mut e,
            "pool_instances",
            "Instances of the connector per connection, in use or idle",
            MetricType::Gauge,
            self.pools.iter().flat_map(|p| {
                [("in-use", p.in_use), ("idle", p.idle)].map(|(state, n)| {
                    let mut l = conn(&p.connection);
                    l.push(("state", state.to_string()));
                    (l, ConstGauge::new(n as i64))
                })
            }),
        )?;
        family(
            &mut e,
            "pool_max_active",
            "The most instances a connection may use at once (maxActiveConnections)",
            MetricType::Gauge,
            self.pools
                .iter()
                .map(|p| (conn(&p.connection), ConstGauge::new(p.max_active as i64))),
        )?;
        family(
            &mut e,
            "pool_instances_created",
            "Instances created per connection",
            MetricType::Counter,
            self.pools
                .iter()
                .map(|p| (conn(&p.connection), ConstCounter::new(p.created))),
        )?;
        family(
            &mut e,
            "pool_waits",
            "Calls that found every instance busy and waited (exhaustedAction WAIT)",
            MetricType::Counter,
            self.pools
                .iter()
                .map(|p| (conn(&p.connection), ConstCounter::new(p.waits))),
        )?;
        family(
            &mut e,
            "pool_exhausted",
            "Calls refused because every instance stayed busy (pool-exhausted)",
            MetricType::Counter,
            self.pools
                .iter()
                .map(|p| (conn(&p.connection), ConstCounter::new(p.exhausted))),
        )?;
        family(
            &mut e,
            "spend_usd",
            "What a connection spent at X's prices in the current UTC day and month (all processes sharing the ledger)",
            MetricType::Gauge,
            self.spend.iter().flat_map(|s| {
                [("day", s.today), ("month", s.this_month)].map(|(period, v)| {
                    let mut l = conn(&s.connection);
                    l.push(("period", period.to_string()));
                    (l, ConstGauge::new(usd(v)))
                })
            }),
        )?;
        family(
            &mut e,
            "budget_left_usd",
            "What a connection may still spend this day or month (maxSpendPerDay, maxSpendPerMonth)",
            MetricType::Gauge,
            self.spend.iter().flat_map(|s| {
                [("day", s.day_left), ("month", s.month_left)]
                    .into_iter()
                    .filter_map(|(period, left)| {
                        let mut l = conn(&s.connection);
                        l.push(("period", period.to_string()));
                        left.map(|v| (l, ConstGauge::new(usd(v))))
                    })
            }),
        )?;
        family(
            &mut e,
            "queue_messages",
            "Messages in a message store by state (waiting, in-flight, dead: the dead letters)",
            MetricType::Gauge,
            self.queues.iter().flat_map(|q| {
                [
                    ("waiting", q.waiting),
                    ("in-flight", q.in_flight),
                    ("dead", q.dead),
                ]
                .map(|(state, n)| {
                    (
                        vec![("store", q.store.clone()), ("state", state.to_string())],
                        ConstGauge::new(n as i64),
                    )
                })
            }),
        )?;
        family(
            &mut e,
            "queue_paused",
            "1 when a message store's processor is paused",
            MetricType::Gauge,
            self.queues.iter().map(|q| {
                (
                    vec![("store", q.store.clone())],
                    ConstGauge::new(i64::from(q.paused)),
                )
            }),
        )?;
        family(
            &mut e,
            "spend_ledger_up",
            "1 when the spend ledger answered this scrape",
            MetricType::Gauge,
            [(vec![], ConstGauge::new(i64::from(!self.spend_unreadable)))],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_states_come_out_in_the_text_format() {
        let m = Metrics::new();
        m.call("X", "getMe", "ok", Duration::from_millis(3));
        m.call("X", "getMe", "ok", Duration::from_millis(5));
        m.call("X", "createTweet", "rate-limited", Duration::from_millis(1));
        m.token_request("X", TokenOutcome::Issued);
        m.rate_limit("X", "getMe", "window", Some(75), Some(73));
        m.cost("X", 10_000);
        let text = m.encode(Snapshot {
            pools: vec![PoolState {
                connection: "X".into(),
                in_use: 1,
                idle: 2,
                max_active: 8,
                created: 3,
                waits: 4,
                exhausted: 0,
            }],
            spend: vec![SpendState {
                connection: "X".into(),
                today: 10_000,
                this_month: 20_000,
                day_left: Some(990_000),
                month_left: None,
            }],
            queues: vec![QueueState {
                store: "posts".into(),
                waiting: 30,
                in_flight: 1,
                dead: 2,
                paused: false,
            }],
            spend_unreadable: false,
        });
        for line in [
            r#"integrator_calls_total{connection="X",operation="getMe",outcome="ok"} 2"#,
            r#"integrator_calls_total{connection="X",operation="createTweet",outcome="rate-limited"} 1"#,
            r#"integrator_call_duration_seconds_count{connection="X",operation="getMe"} 2"#,
            r#"integrator_token_requests_total{connection="X",outcome="issued"} 1"#,
            r#"integrator_rate_limit_remaining{connection="X",operation="getMe",window="window"} 73"#,
            r#"integrator_call_cost_usd{connection="X"} 0.01"#,
            r#"integrator_pool_instances{connection="X",state="idle"} 2"#,
            r#"integrator_pool_waits_total{connection="X"} 4"#,
            r#"integrator_budget_left_usd{connection="X",period="day"} 0.99"#,
            "integrator_spend_ledger_up 1",
            r#"integrator_queue_messages{store="posts",state="dead"} 2"#,
            r#"integrator_queue_paused{store="posts"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(!text.contains("budget_left_usd{connection=\"X\",period=\"month\"}"));
    }
}
