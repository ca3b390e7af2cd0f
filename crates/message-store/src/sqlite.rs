//! The queues in an SQLite file (the token store's, by default): each
//! claim is one `BEGIN IMMEDIATE` transaction, so two processes cannot
//! both take the head.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::{
    decide, me, new_id, new_lease, Claim, Claimed, Counts, Decision, Entry, Head, MessageStore,
    QueueError, State,
};

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

// `seq` orders a queue: a new message (or a retried dead letter) gets one
// more than any row's, so it goes after everything in the table.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_messages (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    queue        TEXT NOT NULL,
    state        TEXT NOT NULL,
    body         TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    enqueued_at  INTEGER NOT NULL,
    due_at       INTEGER NOT NULL,
    lease_until  INTEGER NOT NULL DEFAULT 0,
    lease_holder TEXT NOT NULL DEFAULT '',
    lease        TEXT NOT NULL DEFAULT '',
    in_doubt     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);
CREATE INDEX IF NOT EXISTS queue_order ON queue_messages (queue, state, seq);
CREATE TABLE IF NOT EXISTS queue_paused (queue TEXT PRIMARY KEY);
";

pub struct SqliteQueue {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl SqliteQueue {
    /// Opens (creating) the queue tables in the file at `path`.
    pub fn open(path: &Path) -> Result<SqliteQueue, QueueError> {
        let fail =
            |e: rusqlite::Error| QueueError::Unavailable(format!("sqlite {}: {e}", path.display()));
        let conn = Connection::open(path).map_err(fail)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        // FULL, as for tokens: a message the flow was told is stored must
        // survive a power cut too.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(fail)?;
        conn.execute_batch(SCHEMA).map_err(fail)?;
        Ok(SqliteQueue {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, QueueError> {
        let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut c)
            .map_err(|e| QueueError::Unavailable(format!("sqlite {}: {e}", self.path.display())))
    }
}

fn entry(r: &rusqlite::Row) -> rusqlite::Result<Entry> {
    let state: String = r.get(2)?;
    let lease_until: i64 = r.get(7)?;
    Ok(Entry {
        id: r.get(0)?,
        queue: r.get(1)?,
        state: State::stored(&state, lease_until != 0),
        body: r.get(3)?,
        attempts: r.get::<_, i64>(4)? as u32,
        enqueued_at_ms: r.get(5)?,
        due_at_ms: r.get(6)?,
        in_doubt: r.get::<_, i64>(8)? != 0,
        last_error: r.get(9)?,
    })
}

const ENTRY_COLUMNS: &str =
    "id, queue, state, body, attempts, enqueued_at, due_at, lease_until, in_doubt, last_error";

impl MessageStore for SqliteQueue {
    fn describe(&self) -> String {
        format!("sqlite {}", self.path.display())
    }

    fn enqueue(&self, queue: &str, body: &str, now_ms: i64) -> Result<String, QueueError> {
        let id = new_id(now_ms);
        self.with(|c| {
            c.execute(
                "INSERT INTO queue_messages (seq, id, queue, state, body, enqueued_at, due_at)
                 VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM queue_messages), ?1, ?2, 'waiting', ?3, ?4, ?4)",
                params![id, queue, body, now_ms],
            )
        })?;
        Ok(id)
    }

    fn claim(&self, queue: &str, now_ms: i64, lease_ms: i64) -> Result<Claim, QueueError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let head = tx
                .query_row(
                    "SELECT id, body, attempts, due_at, lease_until, lease_holder, in_doubt
                     FROM queue_messages WHERE queue = ?1 AND state = 'waiting'
                     ORDER BY seq LIMIT 1",
                    params![queue],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            Head {
                                due_at_ms: r.get(3)?,
                                lease_until_ms: r.get(4)?,
                                lease_holder: r.get(5)?,
                            },
                            r.get::<_, i64>(6)? != 0,
                        ))
                    },
                )
                .optional()?;
            let Some((id, body, attempts, head, was_in_doubt)) = head else {
                return Ok(Claim::Empty);
            };
            let in_doubt = match decide(&head, now_ms, token_store::holder::is_dead) {
                Decision::Wait(at) => return Ok(Claim::NotBefore(at)),
                Decision::Held(until) => return Ok(Claim::Held(until)),
                Decision::Take { in_doubt } => in_doubt || was_in_doubt,
            };
            let lease = new_lease();
            tx.execute(
                "UPDATE queue_messages SET attempts = attempts + 1, lease_until = ?2,
                 lease_holder = ?3, lease = ?4, in_doubt = ?5 WHERE id = ?1",
                params![id, now_ms + lease_ms, me(), lease, in_doubt as i64],
            )?;
            tx.commit()?;
            Ok(Claim::Taken(Claimed {
                id,
                queue: queue.to_string(),
                body,
                attempt: attempts as u32 + 1,
                in_doubt,
                lease,
            }))
        })
    }

    fn complete(&self, c: &Claimed) -> Result<bool, QueueError> {
        self.with(|conn| {
            conn.execute(
                "DELETE FROM queue_messages WHERE id = ?1 AND lease = ?2 AND lease_until != 0",
                params![c.id, c.lease],
            )
            .map(|n| n == 1)
        })
    }

    fn postpone(
        &self,
        c: &Claimed,
        due_at_ms: i64,
        error: &str,
        in_doubt: bool,
        counts: bool,
    ) -> Result<bool, QueueError> {
        self.with(|conn| {
            conn.execute(
                "UPDATE queue_messages SET lease_until = 0, lease_holder = '', lease = '',
                 due_at = ?3, last_error = ?4, in_doubt = ?5, attempts = attempts - ?6
                 WHERE id = ?1 AND lease = ?2 AND lease_until != 0",
                params![
                    c.id,
                    c.lease,
                    due_at_ms,
                    error,
                    in_doubt as i64,
                    (!counts) as i64
                ],
            )
            .map(|n| n == 1)
        })
    }

    fn dead_letter(&self, c: &Claimed, reason: &str) -> Result<bool, QueueError> {
        self.with(|conn| {
            conn.execute(
                "UPDATE queue_messages SET state = 'dead', lease_until = 0, lease_holder = '',
                 lease = '', last_error = ?3
                 WHERE id = ?1 AND lease = ?2 AND lease_until != 0",
                params![c.id, c.lease, reason],
            )
            .map(|n| n == 1)
        })
    }

    fn list(&self, queue: Option<&str>) -> Result<Vec<Entry>, QueueError> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {ENTRY_COLUMNS} FROM queue_messages
                 WHERE ?1 IS NULL OR queue = ?1 ORDER BY seq"
            ))?;
            let rows = st.query_map(params![queue], entry)?;
            rows.collect()
        })
    }

    fn get(&self, id: &str) -> Result<Option<Entry>, QueueError> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {ENTRY_COLUMNS} FROM queue_messages WHERE id = ?1"),
                params![id],
                entry,
            )
            .optional()
        })
    }

    fn counts(&self, queue: &str) -> Result<Counts, QueueError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT state, lease_until != 0, COUNT(*) FROM queue_messages
                 WHERE queue = ?1 GROUP BY 1, 2",
            )?;
            let mut counts = Counts::default();
            let rows = st.query_map(params![queue], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            for row in rows {
                let (state, leased, n) = row?;
                counts.add(State::stored(&state, leased), n as u64);
            }
            Ok(counts)
        })
    }

    fn retry(&self, id: &str, now_ms: i64) -> Result<bool, QueueError> {
        self.with(|c| {
            c.execute(
                "UPDATE queue_messages SET seq = (SELECT MAX(seq) + 1 FROM queue_messages),
                 state = 'waiting', attempts = 0, due_at = ?2, in_doubt = 0
                 WHERE id = ?1 AND state = 'dead'",
                params![id, now_ms],
            )
            .map(|n| n == 1)
        })
    }

    fn remove(&self, id: &str) -> Result<bool, QueueError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM queue_messages WHERE id = ?1 AND lease_until = 0",
                params![id],
            )
            .map(|n| n == 1)
        })
    }

    fn set_paused(&self, queue: &str, paused: bool) -> Result<(), QueueError> {
        self.with(|c| {
            if paused {
                c.execute(
                    "INSERT OR IGNORE INTO queue_paused (queue) VALUES (?1)",
                    params![queue],
                )?;
            } else {
                c.execute("DELETE FROM queue_paused WHERE queue = ?1", params![queue])?;
            }
            Ok(())
        })
    }

    fn paused(&self, queue: &str) -> Result<bool, QueueError> {
        self.with(|c| {
            c.query_row(
                "SELECT 1 FROM queue_paused WHERE queue = ?1",
                params![queue],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
        })
    }
}
