//! What each connection spent at X's pay-per-use prices, per UTC day and
//! month (as X bills), and the budgets that stop a call before it is sent.
//!
//! A call is **reserved** before it is sent: its estimate (the component's,
//! from what it is about to send) is checked against what the connection
//! spent and has reserved in the day and the month, and held, all in one
//! atomic step of the store, so processes and machines sharing the store
//! cannot overspend together. After the call the reservation is **settled**
//! with what X charged (reads of a resource already charged today count
//! zero, as X deduplicates them), or **released** when the call failed
//! before X could charge it. A reservation whose holder died lapses after
//! [`RESERVATION_TTL_S`].
//!
//! Backends: [`SqliteLedger`] (the token store's file, several processes on
//! one machine), [`RedisLedger`] (several machines), [`MemoryLedger`].
//! The rules are here, once ([`check`], [`settle_items`]); backends only
//! make them atomic.

mod memory;
pub mod period;
mod redis;
mod sqlite;

pub use memory::MemoryLedger;
pub use redis::RedisLedger;
pub use sqlite::SqliteLedger;
use x_pricing::{BillingUnit, Per};

use period::Day;

/// How long a reservation holds when its call never settles (the holder
/// died): longer than any call may take (timeouts are at most 10 minutes).
pub const RESERVATION_TTL_S: i64 = 15 * 60;

/// A connection's budgets in micro-dollars (`maxSpendPerDay`,
/// `maxSpendPerMonth`); `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub per_day: Option<u64>,
    pub per_month: Option<u64>,
}

impl Limits {
    pub fn none(&self) -> bool {
        self.per_day.is_none() && self.per_month.is_none()
    }
}

/// Which budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Day,
    Month,
}

impl Budget {
    /// The parameter that sets it.
    pub fn parameter(self) -> &'static str {
        match self {
            Budget::Day => "maxSpendPerDay",
            Budget::Month => "maxSpendPerMonth",
        }
    }
}

/// A call refused because its estimate would pass a budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    pub budget: Budget,
    pub limit: u64,
    /// Spent and reserved in the period, before this call.
    pub spent: u64,
    pub estimate: u64,
    /// Unix second the period ends (UTC).
    pub resets_at_s: i64,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let usd = x_pricing::format_usd;
        write!(
            f,
            "{} of USD {} would be passed: USD {} spent (or held by calls in flight) {}, this call USD {}; it resets at {} (unix seconds, UTC)",
            self.budget.parameter(),
            usd(self.limit),
            usd(self.spent),
            match self.budget {
                Budget::Day => "today",
                Budget::Month => "this month",
            },
            usd(self.estimate),
            self.resets_at_s
        )
    }
}

/// A held estimate, to settle or release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: String,
    pub key: String,
    pub day: Day,
    pub micros: u64,
}

impl Reservation {
    /// A call no budget holds: nothing is reserved before it, settling it
    /// only records what X billed (no store call before the call).
    pub fn unheld(key: &str, now: i64) -> Reservation {
        Reservation {
            id: String::new(),
            key: key.to_string(),
            day: period::day_of(now),
            micros: 0,
        }
    }

    /// Whether the ledger holds it (and a failed call must give it back).
    pub fn is_held(&self) -> bool {
        !self.id.is_empty()
    }
}

/// One unit a call was billed in (the component's `cost-item`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendItem {
    pub unit: BillingUnit,
    pub count: u32,
    pub usd_micros: u64,
    /// The resources a read returned.
    pub resources: Vec<String>,
}

/// What a call was billed, by operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spend {
    pub operation: String,
    pub items: Vec<SpendItem>,
}

/// What the ledger charged for a call: reads of resources already charged
/// today count zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub charged: u64,
    pub items: Vec<SpendItem>,
}

/// Spent in the current day and month (settled calls only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub day: u64,
    pub month: u64,
}

/// One line of `integrator usage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub key: String,
    pub day: String,
    pub operation: String,
    pub calls: u64,
    pub usd_micros: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerError {
    /// The store cannot be used now.
    Unavailable(String),
}

impl std::fmt::Display for LedgerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LedgerError::Unavailable(m) => write!(f, "spend ledger: {m}"),
        }
    }
}

impl std::error::Error for LedgerError {}

pub trait SpendLedger: Send + Sync {
    /// Holds `estimate` for a call of connection `key` at Unix second
    /// `now`, or says which budget it would pass.
    fn reserve(
        &self,
        key: &str,
        limits: &Limits,
        estimate: u64,
        now: i64,
    ) -> Result<Result<Reservation, Exceeded>, LedgerError>;
    /// Replaces the reservation with what the call was billed.
    fn settle(&self, reservation: &Reservation, spend: &Spend) -> Result<Settled, LedgerError>;
    /// Gives the reservation back: the call failed before X could bill it.
    fn release(&self, reservation: &Reservation) -> Result<(), LedgerError>;
    /// Spent by `key` in the day and month of `now`.
    fn totals(&self, key: &str, now: i64) -> Result<Totals, LedgerError>;
    /// What was spent from day `since` on, per connection, day and
    /// operation; one connection's with `key`.
    fn usage(&self, key: Option<&str>, since: Day) -> Result<Vec<UsageRow>, LedgerError>;
    /// Where it is kept (no secret).
    fn describe(&self) -> String;
}

/// Whether `estimate` fits beside what the day and the month hold.
pub fn check(
    limits: &Limits,
    day: Day,
    day_in_use: u64,
    month_in_use: u64,
    estimate: u64,
) -> Result<(), Exceeded> {
    let over =
        |limit: Option<u64>, in_use: u64| limit.filter(|l| in_use.saturating_add(estimate) > *l);
    if let Some(limit) = over(limits.per_day, day_in_use) {
        return Err(Exceeded {
            budget: Budget::Day,
            limit,
            spent: day_in_use,
            estimate,
            resets_at_s: period::day_ends(day),
        });
    }
    if let Some(limit) = over(limits.per_month, month_in_use) {
        return Err(Exceeded {
            budget: Budget::Month,
            limit,
            spent: month_in_use,
            estimate,
            resets_at_s: period::month_ends(day),
        });
    }
    Ok(())
}

/// A reservation of `estimate` for `key` on `day`, when [`check`] lets it
/// fit beside what the day and the month hold.
pub fn admit(
    key: &str,
    limits: &Limits,
    day: Day,
    day_in_use: u64,
    month_in_use: u64,
    estimate: u64,
) -> Result<Reservation, Exceeded> {
    check(limits, day, day_in_use, month_in_use, estimate)?;
    Ok(Reservation {
        id: format!("{:032x}", rand::random::<u128>()),
        key: key.to_string(),
        day,
        micros: estimate,
    })
}

/// The items as charged: a per-resource item keeps only the resources
/// `first_today` says were not charged yet today (and marks them).
pub fn settle_items(
    spend: &Spend,
    mut first_today: impl FnMut(BillingUnit, &str) -> bool,
) -> Settled {
    let items: Vec<SpendItem> = spend
        .items
        .iter()
        .map(|i| {
            if i.unit.per() != Per::Resource || i.resources.is_empty() {
                return i.clone();
            }
            let price = i.usd_micros / u64::from(i.count.max(1));
            let fresh: Vec<String> = i
                .resources
                .iter()
                .filter(|r| first_today(i.unit, r))
                .cloned()
                .collect();
            SpendItem {
                unit: i.unit,
                count: fresh.len() as u32,
                usd_micros: price * fresh.len() as u64,
                resources: fresh,
            }
        })
        .collect();
    Settled {
        charged: items.iter().map(|i| i.usd_micros).sum(),
        items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refuses_what_would_pass_it_and_says_when_it_resets() {
        let limits = Limits {
            per_day: Some(50_000),
            per_month: Some(1_000_000),
        };
        assert!(check(&limits, 20_000, 30_000, 30_000, 15_000).is_ok());
        let e = check(&limits, 20_000, 45_000, 45_000, 15_000).unwrap_err();
        assert_eq!((e.budget, e.spent), (Budget::Day, 45_000));
        assert_eq!(e.resets_at_s, period::day_ends(20_000));
        let m = check(&limits, 20_000, 0, 990_000, 15_000).unwrap_err();
        assert_eq!(m.budget, Budget::Month);
        assert!(
            m.to_string().contains("maxSpendPerMonth of USD 1.00"),
            "{m}"
        );
        assert!(check(&Limits::default(), 0, u64::MAX, u64::MAX, 1).is_ok());
    }

    #[test]
    fn reads_of_a_resource_already_charged_today_count_zero() {
        let spend = Spend {
            operation: "getMe".into(),
            items: vec![
                SpendItem {
                    unit: BillingUnit::UserRead,
                    count: 1,
                    usd_micros: 10_000,
                    resources: vec!["7".into()],
                },
                SpendItem {
                    unit: BillingUnit::ContentCreate,
                    count: 1,
                    usd_micros: 15_000,
                    resources: vec![],
                },
            ],
        };
        let mut seen = std::collections::HashSet::new();
        let first = settle_items(&spend, |u, r| seen.insert((u, r.to_string())));
        assert_eq!(first.charged, 25_000);
        let again = settle_items(&spend, |u, r| seen.insert((u, r.to_string())));
        assert_eq!(again.charged, 15_000);
        assert_eq!(again.items[0].count, 0);
    }
}
