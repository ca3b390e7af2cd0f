//! The ledger in Redis, for runtimes on several machines. A reservation is
//! an optimistic transaction (`WATCH` the day's and month's totals and the
//! held calls, read, decide by [`check`], `MULTI`/`EXEC`), retried when
//! another runtime changed them meanwhile: the rules stay in Rust, once.

use std::collections::HashMap;
use std::time::Duration;

use ::redis::{Connection, RedisResult};
use token_store::redis_link::RedisLink;

use crate::period::{self, Day};
use crate::{
    admit, settle_items, Exceeded, LedgerError, Limits, Reservation, Settled, Spend, SpendLedger,
    Totals, UsageRow, RESERVATION_TTL_S,
};

const PREFIX: &str = "wso2-twitter:ledger";
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Seen resources are kept past their day, then dropped by Redis.
const SEEN_TTL_S: i64 = 3 * 86_400;

pub struct RedisLedger {
    link: RedisLink,
}

fn spent_key(key: &str, period: &str) -> String {
    format!("{PREFIX}:spent:{period}:{key}")
}

fn held_key(key: &str) -> String {
    format!("{PREFIX}:held:{key}")
}

fn seen_key(key: &str, day: Day) -> String {
    format!("{PREFIX}:seen:{day}:{key}")
}

fn usage_key() -> String {
    format!("{PREFIX}:usage")
}

/// Usage fields: key, day and operation, separated by a unit separator (a
/// character none of them holds).
const SEP: char = '\u{1f}';

impl RedisLedger {
    /// Checks the URL; Redis is reached on first use.
    pub fn open(url: &str) -> Result<RedisLedger, LedgerError> {
        let link = RedisLink::open(url, "", IO_TIMEOUT).map_err(LedgerError::Unavailable)?;
        Ok(RedisLedger { link })
    }

    /// Runs `f` on the link's connection (see [`RedisLink::with`]).
    fn with<T>(&self, f: impl FnMut(&mut Connection) -> RedisResult<T>) -> Result<T, LedgerError> {
        self.link.with(f).map_err(LedgerError::Unavailable)
    }
}

/// A held call as stored: `day|month|micros|expires`.
fn parse_held(v: &str) -> Option<(Day, String, u64, i64)> {
    let mut p = v.split('|');
    Some((
        p.next()?.parse().ok()?,
        p.next()?.to_string(),
        p.next()?.parse().ok()?,
        p.next()?.parse().ok()?,
    ))
}

impl SpendLedger for RedisLedger {
    fn reserve(
        &self,
        key: &str,
        limits: &Limits,
        estimate: u64,
        now: i64,
    ) -> Result<Result<Reservation, Exceeded>, LedgerError> {
        let day = period::day_of(now);
        let month = period::month_name(day);
        let (dk, mk, hk) = (
            spent_key(key, &period::day_key(day)),
            spent_key(key, &period::month_key(day)),
            held_key(key),
        );
        self.with(|c| {
            ::redis::transaction(c, &[&dk, &mk, &hk], |c, pipe| {
                let day_spent: Option<u64> = ::redis::cmd("GET").arg(&dk).query(c)?;
                let month_spent: Option<u64> = ::redis::cmd("GET").arg(&mk).query(c)?;
                let held: HashMap<String, String> = ::redis::cmd("HGETALL").arg(&hk).query(c)?;
                let (mut held_day, mut held_month, mut lapsed) = (0, 0, Vec::new());
                for (id, v) in &held {
                    match parse_held(v) {
                        Some((_, _, _, expires)) if expires <= now => lapsed.push(id.clone()),
                        Some((d, m, micros, _)) => {
                            if d == day {
                                held_day += micros;
                            }
                            if m == month {
                                held_month += micros;
                            }
                        }
                        None => lapsed.push(id.clone()),
                    }
                }
                let day_in_use = day_spent.unwrap_or(0) + held_day;
                let month_in_use = month_spent.unwrap_or(0) + held_month;
                let r = match admit(key, limits, day, day_in_use, month_in_use, estimate) {
                    Ok(r) => r,
                    Err(e) => {
                        // Nothing to write: the unchanged keys need no EXEC.
                        ::redis::cmd("UNWATCH").query::<()>(c)?;
                        return Ok(Some(Err(e)));
                    }
                };
                pipe.hset(
                    &hk,
                    &r.id,
                    format!("{day}|{month}|{estimate}|{}", now + RESERVATION_TTL_S),
                )
                .ignore();
                for id in &lapsed {
                    pipe.hdel(&hk, id).ignore();
                }
                // `None` from EXEC: a watched key changed; the helper retries.
                let done: Option<()> = pipe.query(c)?;
                Ok(done.map(|()| Ok(r)))
            })
        })
    }

    fn settle(&self, r: &Reservation, spend: &Spend) -> Result<Settled, LedgerError> {
        let sk = seen_key(&r.key, r.day);
        self.with(|c| {
            let mut failed = None;
            let settled = settle_items(spend, |unit, id| {
                let added: RedisResult<i64> = ::redis::cmd("SADD")
                    .arg(&sk)
                    .arg(format!("{}{SEP}{id}", unit.label()))
                    .query(c);
                added.map(|n| n == 1).unwrap_or_else(|e| {
                    failed = Some(e);
                    false
                })
            });
            if let Some(e) = failed {
                return Err(e);
            }
            let field =
                |what: &str| format!("{}{SEP}{}{SEP}{}{SEP}{what}", r.key, r.day, spend.operation);
            ::redis::pipe()
                .atomic()
                .hdel(held_key(&r.key), &r.id)
                .ignore()
                .incr(spent_key(&r.key, &period::day_key(r.day)), settled.charged)
                .ignore()
                .incr(
                    spent_key(&r.key, &period::month_key(r.day)),
                    settled.charged,
                )
                .ignore()
                .hincr(usage_key(), field("calls"), 1)
                .ignore()
                .hincr(usage_key(), field("micros"), settled.charged)
                .ignore()
                .expire(&sk, SEEN_TTL_S)
                .ignore()
                .query::<()>(c)?;
            Ok(settled)
        })
    }

    fn release(&self, r: &Reservation) -> Result<(), LedgerError> {
        self.with(|c| {
            ::redis::cmd("HDEL")
                .arg(held_key(&r.key))
                .arg(&r.id)
                .query::<()>(c)
        })
    }

    fn totals(&self, key: &str, now: i64) -> Result<Totals, LedgerError> {
        let day = period::day_of(now);
        self.with(|c| {
            let d: Option<u64> = ::redis::cmd("GET")
                .arg(spent_key(key, &period::day_key(day)))
                .query(c)?;
            let m: Option<u64> = ::redis::cmd("GET")
                .arg(spent_key(key, &period::month_key(day)))
                .query(c)?;
            Ok(Totals {
                day: d.unwrap_or(0),
                month: m.unwrap_or(0),
            })
        })
    }

    fn usage(&self, key: Option<&str>, since: Day) -> Result<Vec<UsageRow>, LedgerError> {
        let all: HashMap<String, u64> =
            self.with(|c| ::redis::cmd("HGETALL").arg(usage_key()).query(c))?;
        let mut rows: std::collections::BTreeMap<(String, Day, String), (u64, u64)> =
            Default::default();
        for (field, n) in all {
            let parts: Vec<&str> = field.split(SEP).collect();
            let [k, d, op, what] = parts[..] else {
                continue;
            };
            let Ok(d) = d.parse::<Day>() else { continue };
            if d < since || key.is_some_and(|want| want != k) {
                continue;
            }
            let e = rows.entry((k.to_string(), d, op.to_string())).or_default();
            match what {
                "calls" => e.0 = n,
                "micros" => e.1 = n,
                _ => {}
            }
        }
        Ok(rows
            .into_iter()
            .map(|((key, d, operation), (calls, usd_micros))| UsageRow {
                key,
                day: period::day_name(d),
                operation,
                calls,
                usd_micros,
            })
            .collect())
    }

    fn describe(&self) -> String {
        format!("redis {}", self.link.shown())
    }
}
