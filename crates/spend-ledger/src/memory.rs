//! The ledger in one process's memory (tests, the sandbox).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use x_pricing::BillingUnit;

use crate::period::{self, Day};
use crate::{
    admit, settle_items, Exceeded, LedgerError, Limits, Reservation, Settled, Spend, SpendLedger,
    Totals, UsageRow, RESERVATION_TTL_S,
};

#[derive(Default)]
struct State {
    /// (key, day) and (key, month) spent.
    day_spent: HashMap<(String, Day), u64>,
    month_spent: HashMap<(String, String), u64>,
    /// id → (reservation, expires at).
    held: HashMap<String, (Reservation, i64)>,
    seen: HashSet<(String, Day, BillingUnit, String)>,
    usage: BTreeMap<(String, Day, String), (u64, u64)>,
}

#[derive(Default)]
pub struct MemoryLedger {
    state: Mutex<State>,
}

impl MemoryLedger {
    pub fn new() -> MemoryLedger {
        MemoryLedger::default()
    }
}

impl SpendLedger for MemoryLedger {
    fn reserve(
        &self,
        key: &str,
        limits: &Limits,
        estimate: u64,
        now: i64,
    ) -> Result<Result<Reservation, Exceeded>, LedgerError> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let day = period::day_of(now);
        let month = period::month_name(day);
        s.held.retain(|_, (_, expires)| *expires > now);
        let held = |same: &dyn Fn(&Reservation) -> bool| -> u64 {
            s.held
                .values()
                .filter(|(r, _)| r.key == key && same(r))
                .map(|(r, _)| r.micros)
                .sum()
        };
        let day_in_use = s
            .day_spent
            .get(&(key.to_string(), day))
            .copied()
            .unwrap_or(0)
            + held(&|r| r.day == day);
        let month_in_use = s
            .month_spent
            .get(&(key.to_string(), month.clone()))
            .copied()
            .unwrap_or(0)
            + held(&|r| period::month_name(r.day) == month);
        let r = match admit(key, limits, day, day_in_use, month_in_use, estimate) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        s.held
            .insert(r.id.clone(), (r.clone(), now + RESERVATION_TTL_S));
        Ok(Ok(r))
    }

    fn settle(&self, r: &Reservation, spend: &Spend) -> Result<Settled, LedgerError> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.held.remove(&r.id);
        let settled = settle_items(spend, |unit, id| {
            s.seen.insert((r.key.clone(), r.day, unit, id.to_string()))
        });
        *s.day_spent.entry((r.key.clone(), r.day)).or_default() += settled.charged;
        *s.month_spent
            .entry((r.key.clone(), period::month_name(r.day)))
            .or_default() += settled.charged;
        let u = s
            .usage
            .entry((r.key.clone(), r.day, spend.operation.clone()))
            .or_default();
        u.0 += 1;
        u.1 += settled.charged;
        Ok(settled)
    }

    fn release(&self, r: &Reservation) -> Result<(), LedgerError> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.held.remove(&r.id);
        Ok(())
    }

    fn totals(&self, key: &str, now: i64) -> Result<Totals, LedgerError> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let day = period::day_of(now);
        Ok(Totals {
            day: s
                .day_spent
                .get(&(key.to_string(), day))
                .copied()
                .unwrap_or(0),
            month: s
                .month_spent
                .get(&(key.to_string(), period::month_name(day)))
                .copied()
                .unwrap_or(0),
        })
    }

    fn usage(&self, key: Option<&str>, since: Day) -> Result<Vec<UsageRow>, LedgerError> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Ok(s.usage
            .iter()
            .filter(|((k, d, _), _)| *d >= since && key.is_none_or(|want| want == k))
            .map(|((k, d, op), (calls, micros))| UsageRow {
                key: k.clone(),
                day: period::day_name(*d),
                operation: op.clone(),
                calls: *calls,
                usd_micros: *micros,
            })
            .collect())
    }

    fn describe(&self) -> String {
        "memory (this process only)".into()
    }
}
