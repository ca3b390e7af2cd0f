//! The ledger in an SQLite file (the token store's, by default): each
//! reservation is one `BEGIN IMMEDIATE` transaction, so the write lock is
//! taken before the sums are read and two processes cannot both fit under
//! a budget that holds one of them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::period::{self, Day};
use crate::{
    admit, settle_items, Exceeded, LedgerError, Limits, Reservation, Settled, Spend, SpendLedger,
    Totals, UsageRow, RESERVATION_TTL_S,
};

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ledger_spent (
    key    TEXT NOT NULL,
    period TEXT NOT NULL,
    micros INTEGER NOT NULL,
    PRIMARY KEY (key, period)
);
CREATE TABLE IF NOT EXISTS ledger_held (
    id         TEXT PRIMARY KEY,
    key        TEXT NOT NULL,
    day        INTEGER NOT NULL,
    month      TEXT NOT NULL,
    micros     INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_seen (
    key      TEXT NOT NULL,
    day      INTEGER NOT NULL,
    unit     TEXT NOT NULL,
    resource TEXT NOT NULL,
    PRIMARY KEY (key, day, unit, resource)
);
CREATE TABLE IF NOT EXISTS ledger_usage (
    key       TEXT NOT NULL,
    day       INTEGER NOT NULL,
    operation TEXT NOT NULL,
    calls     INTEGER NOT NULL,
    micros    INTEGER NOT NULL,
    PRIMARY KEY (key, day, operation)
);
";

pub struct SqliteLedger {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl SqliteLedger {
    /// Opens (creating) the ledger's tables in the file at `path`.
    pub fn open(path: &Path) -> Result<SqliteLedger, LedgerError> {
        let fail = |e: rusqlite::Error| {
            LedgerError::Unavailable(format!("sqlite {}: {e}", path.display()))
        };
        let conn = Connection::open(path).map_err(fail)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        // NORMAL, not the token store's FULL: in WAL mode a commit survives
        // a crash of the process; a power cut may lose the last few, which
        // costs a budget a few calls' worth, where a lost token costs a
        // user's re-authorization. Each call commits twice.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        conn.execute_batch(SCHEMA).map_err(fail)?;
        Ok(SqliteLedger {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut c)
            .map_err(|e| LedgerError::Unavailable(format!("sqlite {}: {e}", self.path.display())))
    }
}

fn spent(tx: &Connection, key: &str, period: &str) -> rusqlite::Result<u64> {
    Ok(tx
        .query_row(
            "SELECT micros FROM ledger_spent WHERE key = ?1 AND period = ?2",
            params![key, period],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .unwrap_or(0) as u64)
}

fn add_spent(tx: &Connection, key: &str, period: &str, micros: u64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO ledger_spent (key, period, micros) VALUES (?1, ?2, ?3)
         ON CONFLICT (key, period) DO UPDATE SET micros = micros + ?3",
        params![key, period, micros as i64],
    )?;
    Ok(())
}

impl SpendLedger for SqliteLedger {
    fn reserve(
        &self,
        key: &str,
        limits: &Limits,
        estimate: u64,
        now: i64,
    ) -> Result<Result<Reservation, Exceeded>, LedgerError> {
        let day = period::day_of(now);
        let month = period::month_name(day);
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM ledger_held WHERE expires_at <= ?1", params![now])?;
            let held = |filter: &str, value: &dyn rusqlite::ToSql| -> rusqlite::Result<u64> {
                let sql = format!(
                    "SELECT COALESCE(SUM(micros), 0) FROM ledger_held WHERE key = ?1 AND {filter} = ?2"
                );
                Ok(tx.query_row(&sql, params![key, value], |r| r.get::<_, i64>(0))? as u64)
            };
            let day_in_use = spent(&tx, key, &period::day_key(day))? + held("day", &day)?;
            let month_in_use = spent(&tx, key, &period::month_key(day))? + held("month", &month)?;
            let r = match admit(key, limits, day, day_in_use, month_in_use, estimate) {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            tx.execute(
                "INSERT INTO ledger_held (id, key, day, month, micros, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![r.id, key, day, month, estimate as i64, now + RESERVATION_TTL_S],
            )?;
            tx.commit()?;
            Ok(Ok(r))
        })
    }

    fn settle(&self, r: &Reservation, spend: &Spend) -> Result<Settled, LedgerError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM ledger_held WHERE id = ?1", params![r.id])?;
            let mut failed = None;
            let settled = settle_items(spend, |unit, id| {
                match tx.execute(
                    "INSERT OR IGNORE INTO ledger_seen (key, day, unit, resource) VALUES (?1, ?2, ?3, ?4)",
                    params![r.key, r.day, unit.label(), id],
                ) {
                    Ok(n) => n == 1,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
            add_spent(&tx, &r.key, &period::day_key(r.day), settled.charged)?;
            add_spent(&tx, &r.key, &period::month_key(r.day), settled.charged)?;
            tx.execute(
                "INSERT INTO ledger_usage (key, day, operation, calls, micros) VALUES (?1, ?2, ?3, 1, ?4)
                 ON CONFLICT (key, day, operation) DO UPDATE SET calls = calls + 1, micros = micros + ?4",
                params![r.key, r.day, spend.operation, settled.charged as i64],
            )?;
            tx.commit()?;
            Ok(settled)
        })
    }

    fn release(&self, r: &Reservation) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute("DELETE FROM ledger_held WHERE id = ?1", params![r.id])?;
            Ok(())
        })
    }

    fn totals(&self, key: &str, now: i64) -> Result<Totals, LedgerError> {
        let day = period::day_of(now);
        self.with(|c| {
            Ok(Totals {
                day: spent(c, key, &period::day_key(day))?,
                month: spent(c, key, &period::month_key(day))?,
            })
        })
    }

    fn usage(&self, key: Option<&str>, since: Day) -> Result<Vec<UsageRow>, LedgerError> {
        self.with(|c| {
            let mut q = c.prepare(
                "SELECT key, day, operation, calls, micros FROM ledger_usage
                 WHERE day >= ?1 AND (?2 IS NULL OR key = ?2) ORDER BY key, day, operation",
            )?;
            let rows = q.query_map(params![since, key], |r| {
                Ok(UsageRow {
                    key: r.get(0)?,
                    day: period::day_name(r.get(1)?),
                    operation: r.get(2)?,
                    calls: r.get::<_, i64>(3)? as u64,
                    usd_micros: r.get::<_, i64>(4)? as u64,
                })
            })?;
            rows.collect()
        })
    }

    fn describe(&self) -> String {
        format!("sqlite {}", self.path.display())
    }
}
