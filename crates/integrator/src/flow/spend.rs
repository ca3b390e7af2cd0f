//! Spending budgets around a connector operation: its estimate reserved
//! in the ledger before it is sent (refused when it would pass a budget),
//! settled with what X billed after, or given back when it failed; and
//! what each connection spent today, for `serve`'s status.

use serde_json::{json, Value};
use spend_ledger::{Reservation, Spend, SpendItem};
use x_pricing::format_usd;

use super::connections::Slot;
use super::exec::Integrator;
use super::fault::{budget_fault, ledger_fault, operation_fault, Fault};
use super::parse::Pos;
use crate::bindings::wso2::twitter::types::ResponseMeta;
use crate::connections::Pooled;
use crate::engine::CallError;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Integrator {
    /// Holds the operation's estimate against its connection's budgets
    /// (refused before anything is sent when it would pass one; refused
    /// too when the ledger cannot be reached, since the budget cannot be
    /// checked). A connection without a budget holds nothing: no
    /// estimate, no store call before the call, only the record after.
    pub(super) async fn reserve(
        &self,
        connection: &str,
        operation: &str,
        values: &[(String, String)],
        slot: &mut Pooled<Slot>,
        pos: &Pos,
    ) -> Result<Reservation, Fault> {
        let limits = self.connections.limits(connection);
        if limits.none() {
            return Ok(Reservation::unheld(connection, unix_now()));
        }
        let estimate = match slot.instance.estimate(operation, values).await {
            Ok(cost) => cost.usd_micros,
            // Invalid input: the call itself refuses it, before sending.
            Err(CallError::Connector(_)) => 0,
            Err(e) => return Err(operation_fault(pos, connection, &e)),
        };
        match self
            .ledger
            .reserve(connection, &limits, estimate, unix_now())
        {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(exceeded)) => {
                tracing::warn!(target: "integrator::budget", connection, operation, "{exceeded}");
                Err(budget_fault(pos, connection, &exceeded))
            }
            Err(e) => {
                self.runtime.metrics().store_error("spend-ledger");
                Err(ledger_fault(pos, &e))
            }
        }
    }

    /// Replaces the reservation with what X billed (a success), or gives
    /// it back (a failure: X bills successes only); the result's cost is
    /// then what the ledger charged (a resource already read today: 0).
    pub(super) fn settle(
        &self,
        reservation: &Reservation,
        operation: &str,
        result: Result<ResponseMeta, CallError>,
    ) -> Result<ResponseMeta, CallError> {
        let mut meta = match result {
            Ok(meta) => meta,
            Err(e) => {
                if !reservation.is_held() {
                    return Err(e);
                }
                if let Err(le) = self.ledger.release(reservation) {
                    // It lapses on its own; the call's own error matters more.
                    tracing::warn!(target: "integrator::budget", "{le}");
                }
                return Err(e);
            }
        };
        let spend = Spend {
            operation: operation.to_string(),
            items: meta
                .cost
                .items
                .iter()
                .map(|i| SpendItem {
                    unit: crate::costs::unit(i.unit),
                    count: i.count,
                    usd_micros: i.usd_micros,
                    resources: i.resources.clone(),
                })
                .collect(),
        };
        // The call went through: a ledger that fails now must not turn it
        // into a failure (a flow could post again). A held reservation
        // keeps the estimate until it lapses; an unheld call goes
        // unrecorded.
        let settled = match self.ledger.settle(reservation, &spend) {
            Ok(settled) => settled,
            Err(e) => {
                tracing::warn!(target: "integrator::budget", operation, held = reservation.is_held(), "{e}: the call's spend is not recorded");
                return Ok(meta);
            }
        };
        for (item, charged) in meta.cost.items.iter_mut().zip(&settled.items) {
            item.count = charged.count;
            item.usd_micros = charged.usd_micros;
            item.resources = charged.resources.clone();
        }
        meta.cost.usd_micros = settled.charged;
        Ok(meta)
    }

    /// The metrics in Prometheus text format: the counters, then the
    /// pools and the spend as they are now.
    pub fn metrics_text(&self) -> String {
        let now = unix_now();
        let mut snapshot = crate::metrics::Snapshot {
            pools: self.connections.pool_states(),
            ..Default::default()
        };
        for (name, limits) in self.connections.budgets() {
            match self.ledger.totals(&name, now) {
                Ok(t) => snapshot.spend.push(crate::metrics::SpendState {
                    day_left: limits.per_day.map(|l| l.saturating_sub(t.day)),
                    month_left: limits.per_month.map(|l| l.saturating_sub(t.month)),
                    connection: name,
                    today: t.day,
                    this_month: t.month,
                }),
                Err(e) => {
                    tracing::warn!(target: "integrator::budget", "metrics: {e}");
                    snapshot.spend_unreadable = true;
                }
            }
        }
        for name in self.project.message_stores.keys() {
            let counted = self.queues.counts(name).and_then(|n| {
                Ok(crate::metrics::QueueState {
                    store: name.clone(),
                    waiting: n.waiting,
                    in_flight: n.in_flight,
                    dead: n.dead,
                    paused: self.queues.paused(name)?,
                })
            });
            match counted {
                Ok(q) => snapshot.queues.push(q),
                Err(e) => tracing::warn!(target: "integrator::queue", "metrics: {e}"),
            }
        }
        snapshot.queues.sort_by(|a, b| a.store.cmp(&b.store));
        self.runtime.metrics().encode(snapshot)
    }

    /// Today's and this month's spend per configured connection, with
    /// its budgets and what is left of them.
    pub fn spend_status(&self) -> Result<Value, spend_ledger::LedgerError> {
        let now = unix_now();
        let mut connections = serde_json::Map::new();
        for (name, limits) in self.connections.budgets() {
            let t = self.ledger.totals(&name, now)?;
            let budget = |limit: Option<u64>, spent: u64| match limit {
                Some(l) => {
                    json!({"limit": format_usd(l), "left": format_usd(l.saturating_sub(spent))})
                }
                None => Value::Null,
            };
            connections.insert(
                name,
                json!({
                    "today": format_usd(t.day),
                    "thisMonth": format_usd(t.month),
                    "maxSpendPerDay": budget(limits.per_day, t.day),
                    "maxSpendPerMonth": budget(limits.per_month, t.month),
                }),
            );
        }
        Ok(json!({
            "day": spend_ledger::period::day_name(spend_ledger::period::day_of(now)),
            "store": self.ledger.describe(),
            "connections": connections,
        }))
    }
}
