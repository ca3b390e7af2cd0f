//! One cached connection to Redis, for the token store and the stores kept
//! beside it (the spend ledger, the message stores): connected on first
//! use, with I/O timeouts, replaced once when it turns out dead (Redis
//! restarted), never retried after a timeout (the command may have run).

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use ::redis::{Client, Connection, RedisError, RedisResult};

use crate::redis::without_password;

pub struct RedisLink {
    /// `token store redis redis://host:port/0` (no password): errors start with it.
    label: String,
    shown: String,
    client: Client,
    conn: Mutex<Option<Connection>>,
    /// How long a connect, a read or a write may take.
    io_timeout: Duration,
}

impl RedisLink {
    /// Checks the URL (Redis is reached on first use); `what` names the
    /// store in errors (`token store`), or nothing when the caller's error
    /// type already says which store it is.
    pub fn open(url: &str, what: &str, io_timeout: Duration) -> Result<RedisLink, String> {
        let shown = without_password(url);
        let label = format!("{what} redis {shown}").trim_start().to_string();
        let client =
            Client::open(url).map_err(|e| format!("{label}: not a usable Redis URL ({e})"))?;
        Ok(RedisLink {
            label,
            shown,
            client,
            conn: Mutex::new(None),
            io_timeout,
        })
    }

    /// The URL without its password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// What failed, in words an operator can act on.
    pub fn explain(&self, e: &RedisError) -> String {
        let why = if e.is_connection_refusal() {
            "unreachable (connection refused): is Redis running?".to_string()
        } else if e.is_timeout() {
            format!("no answer within {} s", self.io_timeout.as_secs())
        } else {
            e.to_string()
        };
        format!("{}: {why}", self.label)
    }

    fn connect(&self) -> RedisResult<Connection> {
        let c = self.client.get_connection_with_timeout(self.io_timeout)?;
        c.set_read_timeout(Some(self.io_timeout))?;
        c.set_write_timeout(Some(self.io_timeout))?;
        Ok(c)
    }

    fn guard(&self) -> MutexGuard<'_, Option<Connection>> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the cached connection, connecting first if needed. A
    /// cached connection that turns out dead is replaced and `f` tried once
    /// more on a new one; a timeout is not retried.
    pub fn with<T>(
        &self,
        mut f: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, String> {
        let mut guard = self.guard();
        let reused = guard.is_some();
        if guard.is_none() {
            *guard = Some(self.connect().map_err(|e| self.explain(&e))?);
        }
        let Some(conn) = guard.as_mut() else {
            return Err(format!("{}: no connection", self.label));
        };
        match f(conn) {
            Ok(v) => Ok(v),
            Err(e)
                if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() =>
            {
                *guard = None;
                if reused && !e.is_timeout() {
                    let mut fresh = self.connect().map_err(|e| self.explain(&e))?;
                    let r = f(&mut fresh).map_err(|e| self.explain(&e));
                    if r.is_ok() {
                        *guard = Some(fresh);
                    }
                    r
                } else {
                    Err(self.explain(&e))
                }
            }
            Err(e) => Err(self.explain(&e)),
        }
    }
}
