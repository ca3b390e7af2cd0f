//! Guaranteed delivery: `<store>` puts the message in a message store, and
//! a message processor takes them out in order and runs its sequence for
//! each. What happens to a message whose delivery failed is one pure
//! function, [`verdict`]: wait for the reset a rate limit or a budget
//! names (never a tight loop), back off after a failure that may pass,
//! give up at once on one that will not (invalid input, forbidden), and
//! reconcile a delivery that may have reached X before sending it again.

use std::sync::Arc;
use std::time::Duration;

use message_store::{Claim, Claimed, MessageStore, QueueError};
use serde_json::{json, Map, Value};

use super::exec::{Flow, Integrator};
use super::fault::{flow_fault, Fault, FaultKind};
use super::message::Message;
use super::parse::{Pos, ProcessorDef};

/// How long a taken message is ours: longer than any one call (its
/// timeouts and retries). A consumer that dies on this machine frees it at
/// once; one on another machine when it runs out.
const LEASE: Duration = Duration::from_secs(300);
/// The longest backoff after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(900);
/// How long a message waits when X says the account has no credits.
const CREDITS_WAIT: Duration = Duration::from_secs(900);

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What becomes of a message after a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Done. `reconciled`: X refused it as a duplicate of a delivery that
    /// may have reached it, which proves that one did.
    Delivered { reconciled: bool },
    /// Back at the head until `at_ms`; `counts`: a failed attempt (not a
    /// wait for a reset); `in_doubt`: this delivery may have reached X.
    Retry {
        at_ms: i64,
        in_doubt: bool,
        counts: bool,
        reason: String,
    },
    /// To the dead letters.
    Dead(String),
    /// The last attempt failed and the processor does not drop messages:
    /// it pauses with the message kept at the head (WSO2's deactivation).
    Pause(String),
}

impl Verdict {
    /// Its name in the metrics.
    fn outcome(&self) -> &'static str {
        match self {
            Verdict::Delivered { reconciled: false } => "delivered",
            Verdict::Delivered { reconciled: true } => "reconciled",
            Verdict::Retry { counts: false, .. } => "waiting",
            Verdict::Retry { counts: true, .. } => "retrying",
            Verdict::Dead(_) => "dead-letter",
            Verdict::Pause(_) => "paused",
        }
    }

    /// Why it was not delivered.
    fn reason(&self) -> Option<&str> {
        match self {
            Verdict::Retry { reason, .. } | Verdict::Dead(reason) | Verdict::Pause(reason) => {
                Some(reason)
            }
            Verdict::Delivered { .. } => None,
        }
    }
}

/// Why, in one line (X's words and the kind; never a token, the caller
/// redacts).
fn reason(f: &Fault) -> String {
    format!("{}: {}", f.kind.as_str(), f.message)
}

/// Unix seconds in the fault's JSON, as milliseconds.
fn at_s(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_u64().map(|u| u as i64))
        .map(|s| s * 1000)
}

/// The verdict on one delivery of `c` by processor `p` at `now_ms`.
pub fn verdict(outcome: Result<(), &Fault>, c: &Claimed, p: &ProcessorDef, now_ms: i64) -> Verdict {
    let f = match outcome {
        Ok(()) => return Verdict::Delivered { reconciled: false },
        Err(f) => f,
    };
    let interval = p.interval.as_millis() as i64;
    let latest = now_ms + p.max_wait.as_millis() as i64;
    // A wait for a reset X or the budget names: not a failed attempt.
    let wait_until = |at: Option<i64>, in_doubt| Verdict::Retry {
        at_ms: at
            .unwrap_or(now_ms + interval)
            .max(now_ms + interval)
            .min(latest),
        in_doubt,
        counts: false,
        reason: reason(f),
    };
    let backoff = |in_doubt: bool| {
        if c.attempt >= p.max_attempts {
            let why = format!("{} (after {} attempts)", reason(f), c.attempt);
            return if p.drop_after_max {
                Verdict::Dead(why)
            } else {
                Verdict::Pause(why)
            };
        }
        let step = interval.saturating_mul(1 << (c.attempt.saturating_sub(1)).min(20));
        Verdict::Retry {
            at_ms: now_ms
                + step
                    .min(MAX_BACKOFF.as_millis() as i64)
                    .min(p.max_wait.as_millis() as i64)
                    .max(interval),
            in_doubt,
            counts: true,
            reason: reason(f),
        }
    };
    match f.kind {
        FaultKind::Forbidden if f.json["problem"]["kind"] == "duplicate-content" && c.in_doubt => {
            Verdict::Delivered { reconciled: true }
        }
        // X's reset is a whole second, and the window ends within it: one
        // second more is past it (and one request, not a burst of 429s).
        FaultKind::RateLimited => wait_until(
            at_s(&f.json["retryAfter"])
                .or_else(|| at_s(&f.json["rateLimits"]["retryAfter"]))
                .map(|at| at + 1000),
            c.in_doubt,
        ),
        FaultKind::BudgetExceeded => wait_until(at_s(&f.json["resetsAt"]), c.in_doubt),
        FaultKind::CreditsDepleted => {
            wait_until(Some(now_ms + CREDITS_WAIT.as_millis() as i64), c.in_doubt)
        }
        // Will not pass by itself: the message or the flow must change.
        FaultKind::InvalidInput | FaultKind::Forbidden | FaultKind::NotFound | FaultKind::Flow => {
            Verdict::Dead(reason(f))
        }
        // The request may have reached X (it timed out or was cut after it
        // left, or X failed while acting on it): reconcile on the next try.
        FaultKind::Transport => {
            let sent = !matches!(
                f.json["transport"].as_str(),
                Some("connect" | "dns" | "denied")
            );
            backoff(c.in_doubt || sent)
        }
        FaultKind::ApiError | FaultKind::MalformedResponse => {
            backoff(c.in_doubt || f.upstream_status.is_none_or(|s| s >= 500))
        }
        FaultKind::Unauthorized
        | FaultKind::RefreshFailed
        | FaultKind::AuthorizationFailed
        | FaultKind::NotInitialized
        | FaultKind::TokenStore
        | FaultKind::PoolExhausted
        | FaultKind::Trap => backoff(c.in_doubt),
    }
}

/// Runs `f` on a blocking thread (SQLite and Redis do I/O).
async fn blocking<T: Send + 'static>(
    q: &Arc<dyn MessageStore>,
    f: impl FnOnce(&dyn MessageStore) -> Result<T, QueueError> + Send + 'static,
) -> Result<T, QueueError> {
    let q = q.clone();
    tokio::task::spawn_blocking(move || f(q.as_ref()))
        .await
        .unwrap_or_else(|e| {
            Err(QueueError::Unavailable(format!(
                "message store call failed: {e}"
            )))
        })
}

impl Integrator {
    /// Keeps the message stores' queues in `queues` (memory unless set).
    pub fn with_queues(mut self, queues: Arc<dyn MessageStore>) -> Self {
        self.queues = queues;
        self
    }

    /// `<store messageStore=..>`: the payload, properties and variables
    /// into the store; its id in the property `MESSAGE_ID`.
    pub(super) async fn store_message(
        &self,
        pos: &Pos,
        store: &str,
        msg: &mut Message,
    ) -> Result<Flow, Fault> {
        let body = json!({
            "payload": msg.payload,
            "properties": msg.properties,
            "vars": msg.vars,
        })
        .to_string();
        let queue = store.to_string();
        let id = blocking(&self.queues, move |q| q.enqueue(&queue, &body, now_ms()))
            .await
            .map_err(|e| {
                self.runtime.metrics().store_error("message-store");
                let mut f = flow_fault(pos, format!("the message was not stored: {e}"));
                f.kind = FaultKind::TokenStore;
                f
            })?;
        tracing::info!(target: "integrator::queue", store, id, "stored");
        msg.properties.insert("MESSAGE_ID".into(), json!(id));
        Ok(Flow::Continue)
    }

    /// Delivers `p`'s messages until `stop` says so.
    pub async fn run_processor(
        self: Arc<Self>,
        p: ProcessorDef,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        if !p.active {
            let store = p.store.clone();
            if let Err(e) = blocking(&self.queues, move |q| q.set_paused(&store, true)).await {
                tracing::warn!(target: "integrator::queue", processor = %p.name, "{e}");
            }
        }
        tracing::info!(target: "integrator::queue", processor = %p.name, store = %p.store, "processor started");
        loop {
            if *stop.borrow() {
                break;
            }
            let idle = match self.process_one(&p).await {
                Ok(true) => Duration::ZERO,
                Ok(false) => p.interval,
                Err(wait) => wait,
            };
            if !idle.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(idle) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        tracing::info!(target: "integrator::queue", processor = %p.name, "processor stopped");
    }

    /// Takes and delivers the head of `p`'s store if there is one due:
    /// `Ok(true)` when one was delivered, else how long to wait.
    async fn process_one(&self, p: &ProcessorDef) -> Result<bool, Duration> {
        let store = p.store.clone();
        let now = now_ms();
        let lease = LEASE.as_millis() as i64;
        let claim = blocking(&self.queues, move |q| {
            if q.paused(&store)? {
                return Ok(None);
            }
            q.claim(&store, now, lease).map(Some)
        })
        .await;
        let until = |at: i64| Duration::from_millis((at - now).max(1) as u64).min(p.interval);
        let c = match claim {
            Err(e) => {
                self.runtime.metrics().store_error("message-store");
                tracing::warn!(target: "integrator::queue", processor = %p.name, "{e}");
                return Err(p.interval);
            }
            Ok(None) | Ok(Some(Claim::Empty)) => return Err(p.interval),
            Ok(Some(Claim::NotBefore(at))) | Ok(Some(Claim::Held(at))) => return Err(until(at)),
            Ok(Some(Claim::Taken(c))) => c,
        };
        let v = self.deliver(p, &c).await;
        let metrics = self.runtime.metrics().clone();
        metrics.queue_delivery(&p.store, v.outcome());
        // Redacted once: for the log and for the store's last error.
        let reason = v
            .reason()
            .map(|r| self.redactor.log_line(r))
            .unwrap_or_default();
        match &v {
            Verdict::Delivered { reconciled: false } => {
                tracing::info!(target: "integrator::queue", store = %p.store, id = %c.id, attempt = c.attempt, "delivered")
            }
            Verdict::Delivered { reconciled: true } => {
                tracing::info!(target: "integrator::queue", store = %p.store, id = %c.id, attempt = c.attempt, "delivered earlier: X refused this delivery as a duplicate of the one in doubt (reconciled)")
            }
            Verdict::Retry { at_ms, .. } => {
                tracing::info!(target: "integrator::queue", store = %p.store, id = %c.id, attempt = c.attempt, in_ms = at_ms - now_ms(), "not delivered yet: {reason}")
            }
            Verdict::Dead(_) => {
                tracing::warn!(target: "integrator::queue", store = %p.store, id = %c.id, "dead letter: {reason}")
            }
            Verdict::Pause(_) => {
                tracing::warn!(target: "integrator::queue", store = %p.store, id = %c.id, "processor paused (integrator queue resume {} to go on): {reason}", p.store)
            }
        }
        let (store, c2) = (p.store.clone(), c.clone());
        let settled = blocking(&self.queues, move |q| match v {
            Verdict::Delivered { .. } => q.complete(&c2),
            Verdict::Retry {
                at_ms,
                in_doubt,
                counts,
                ..
            } => q.postpone(&c2, at_ms, &reason, in_doubt, counts),
            Verdict::Dead(_) => q.dead_letter(&c2, &reason),
            Verdict::Pause(_) => {
                q.set_paused(&store, true)?;
                q.postpone(&c2, now_ms(), &reason, c2.in_doubt, true)
            }
        })
        .await;
        match settled {
            Ok(true) => Ok(true),
            Ok(false) => {
                tracing::warn!(target: "integrator::queue", store = %p.store, id = %c.id, "the message's lease ran out during its delivery: another consumer has it");
                Ok(true)
            }
            Err(e) => {
                // Its lease runs out and it is taken again, in doubt.
                metrics.store_error("message-store");
                tracing::warn!(target: "integrator::queue", store = %p.store, id = %c.id, "{e}");
                Err(p.interval)
            }
        }
    }

    /// Runs `p`'s sequence on the message `c`.
    async fn deliver(&self, p: &ProcessorDef, c: &Claimed) -> Verdict {
        let mut msg = Message::default();
        let stored: Value = serde_json::from_str(&c.body).unwrap_or(Value::Null);
        let Value::Object(mut stored) = stored else {
            return Verdict::Dead("the stored message is not readable JSON".into());
        };
        msg.payload = stored.remove("payload").unwrap_or(Value::Null);
        let map = |v: Option<Value>| match v {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        msg.properties = map(stored.remove("properties"));
        msg.vars = map(stored.remove("vars"));
        msg.properties.insert("MESSAGE_ID".into(), json!(c.id));
        msg.properties
            .insert("DELIVERY_ATTEMPT".into(), json!(c.attempt));
        msg.properties
            .insert("DELIVERY_IN_DOUBT".into(), json!(c.in_doubt));
        let r = self.run_sequence(&p.sequence, &mut msg).await;
        verdict(r.as_ref().map(|_| ()), c, p, now_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::fault::runtime_fault;

    fn p(max_attempts: u32, drop: bool) -> ProcessorDef {
        ProcessorDef {
            name: "p".into(),
            pos: pos(),
            store: "posts".into(),
            sequence: "send".into(),
            interval: Duration::from_millis(1000),
            max_attempts,
            drop_after_max: drop,
            active: true,
            max_wait: Duration::from_secs(86_400),
        }
    }

    fn pos() -> Pos {
        Pos {
            file: "f.xml".into(),
            line: 1,
            element: "x".into(),
        }
    }

    fn claimed(attempt: u32, in_doubt: bool) -> Claimed {
        Claimed {
            id: "m".into(),
            queue: "posts".into(),
            body: "{}".into(),
            attempt,
            in_doubt,
            lease: "l".into(),
        }
    }

    fn fault(kind: FaultKind, extra: Value) -> Fault {
        runtime_fault(kind, &pos(), "words".into(), "detail".into(), extra)
    }

    const NOW: i64 = 1_000_000_000;

    #[test]
    fn a_rate_limit_or_a_budget_waits_for_its_reset_without_counting() {
        let f = fault(FaultKind::RateLimited, json!({"retryAfter": 1_000_900}));
        assert_eq!(
            verdict(Err(&f), &claimed(9, false), &p(4, true), NOW),
            Verdict::Retry {
                at_ms: 1_000_901_000,
                in_doubt: false,
                counts: false,
                reason: "rate-limited: words".into()
            }
        );
        // A reset already past: still one interval later, never a tight loop.
        let f = fault(FaultKind::RateLimited, json!({"retryAfter": 10}));
        assert!(
            matches!(verdict(Err(&f), &claimed(1, false), &p(4, true), NOW),
            Verdict::Retry { at_ms, .. } if at_ms == NOW + 1000)
        );
        let f = fault(FaultKind::BudgetExceeded, json!({"resetsAt": 1_086_400}));
        assert!(matches!(
            verdict(Err(&f), &claimed(1, true), &p(4, true), NOW),
            Verdict::Retry {
                at_ms: 1_086_400_000,
                in_doubt: true,
                counts: false,
                ..
            }
        ));
        // Capped by max.wait.
        let mut short = p(4, true);
        short.max_wait = Duration::from_secs(60);
        assert!(matches!(verdict(Err(&f), &claimed(1, false), &short, NOW),
            Verdict::Retry { at_ms, .. } if at_ms == NOW + 60_000));
    }

    #[test]
    fn what_will_not_pass_is_a_dead_letter_at_once() {
        for kind in [
            FaultKind::InvalidInput,
            FaultKind::Forbidden,
            FaultKind::NotFound,
            FaultKind::Flow,
        ] {
            assert!(matches!(
                verdict(
                    Err(&fault(kind, json!({}))),
                    &claimed(1, false),
                    &p(4, false),
                    NOW
                ),
                Verdict::Dead(_)
            ));
        }
    }

    #[test]
    fn a_duplicate_after_a_delivery_in_doubt_proves_it_was_delivered() {
        let dup = fault(
            FaultKind::Forbidden,
            json!({"problem": {"kind": "duplicate-content"}}),
        );
        assert_eq!(
            verdict(Err(&dup), &claimed(2, true), &p(4, false), NOW),
            Verdict::Delivered { reconciled: true }
        );
        // Not in doubt: a real duplicate, refused.
        assert!(matches!(
            verdict(Err(&dup), &claimed(1, false), &p(4, false), NOW),
            Verdict::Dead(_)
        ));
    }

    #[test]
    fn failures_back_off_and_mark_what_may_have_reached_x() {
        let cut = fault(FaultKind::Transport, json!({"transport": "reset"}));
        assert_eq!(
            verdict(Err(&cut), &claimed(1, false), &p(4, false), NOW),
            Verdict::Retry {
                at_ms: NOW + 1000,
                in_doubt: true,
                counts: true,
                reason: "transport: words".into()
            }
        );
        let refused = fault(FaultKind::Transport, json!({"transport": "connect"}));
        assert!(
            matches!(verdict(Err(&refused), &claimed(3, false), &p(4, false), NOW),
            Verdict::Retry { at_ms, in_doubt: false, .. } if at_ms == NOW + 4000)
        );
        // The last attempt: paused, or dropped to the dead letters.
        assert!(
            matches!(verdict(Err(&refused), &claimed(4, false), &p(4, false), NOW), Verdict::Pause(r) if r.contains("after 4 attempts"))
        );
        assert!(matches!(
            verdict(Err(&refused), &claimed(4, false), &p(4, true), NOW),
            Verdict::Dead(_)
        ));
        assert_eq!(
            verdict(Ok(()), &claimed(1, false), &p(4, true), NOW),
            Verdict::Delivered { reconciled: false }
        );
    }
}
