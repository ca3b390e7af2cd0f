//! The embedded default store: one SQLite file in WAL mode, shared safely by
//! the runtime processes of one machine.
//!
//! A save is a compare-and-swap on the family's version inside one
//! `BEGIN IMMEDIATE` transaction (the write lock is taken before the read,
//! so two processes cannot both see the old version), committed with
//! `synchronous=FULL`: when `save` returns, the rotated tokens survive a
//! crash of the process and of the machine. Leases are rows with an expiry
//! and a holder (see [`crate::holder`]).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::private_fs;
use crate::seal::{Sealer, StoreKey};
use crate::{
    display_path, holder, new_lease_id, now_ms, FamilyInfo, FamilyKey, LeaseInfo, StoreError,
    StoredTokens, TokenStore, Versioned,
};

/// How long a writer waits for another process's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS families (
    connection    TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    api_origin    TEXT NOT NULL,
    version       INTEGER NOT NULL,
    origin        TEXT NOT NULL,
    access_token  TEXT,
    refresh_token TEXT,
    sealed        INTEGER NOT NULL,
    expires_at    INTEGER,
    obtained_at   INTEGER,
    created_at    INTEGER NOT NULL,
    refreshed_at  INTEGER,
    refresh_count INTEGER NOT NULL,
    PRIMARY KEY (connection, client_id, api_origin)
);
CREATE TABLE IF NOT EXISTS leases (
    connection TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    api_origin TEXT NOT NULL,
    lease      INTEGER NOT NULL,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (connection, client_id, api_origin)
);
";

pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    sealer: Sealer,
}

fn explain(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            "the file is not an SQLite database (corrupt, or another kind of file): move it away to start a new store; the tokens in it cannot be read".into()
        }
        Some(ErrorCode::DatabaseCorrupt) => {
            "the database is corrupt: restore it from a backup or move it away; the tokens in it cannot be read".into()
        }
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => format!(
            "locked by another process for over {} s",
            BUSY_TIMEOUT.as_secs()
        ),
        Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) | Some(ErrorCode::ReadOnly) => {
            format!("cannot be opened for writing ({e})")
        }
        _ => e.to_string(),
    }
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`, which must be
    /// private (see [`crate::private_fs`]): a new directory is made 0700
    /// and a new file 0600; a symlink, someone else's file or directory, a
    /// directory others can write or a file others can read is refused
    /// with what to fix, and never chmod-ed.
    pub fn open(path: &Path, key: Option<StoreKey>) -> Result<SqliteStore, StoreError> {
        let shown = display_path(path);
        let fail = |m: String| StoreError::Unavailable(format!("token store sqlite {shown}: {m}"));
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        private_fs::ensure_private_dir(dir, "the token store's directory").map_err(fail)?;
        let created = match private_fs::open_private_file(path, "the token store").map_err(fail)? {
            private_fs::Opened::Created(_) => true,
            private_fs::Opened::Existing(_) => false,
        };
        // SQLite makes these beside the file (with the file's mode); one
        // planted there as a link or by someone else would receive tokens.
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            private_fs::check_if_present(Path::new(&side), "the token store's journal")
                .map_err(fail)?;
        }
        // NOFOLLOW: the file checked above is the file opened, even if the
        // path was swapped for a link in between.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| fail(explain(&e)))?;
        let store = SqliteStore {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            sealer: Sealer::new(key),
        };
        if !created {
            store.check_is_ours().map_err(fail)?;
        }
        store.init().map_err(|e| fail(explain(&e)))?;
        Ok(store)
    }

    /// An existing database is a token store (ours, or empty), never
    /// another application's, which would get our tables and WAL mode. The
    /// runtime's spend ledger keeps its `ledger_*` tables beside ours, and
    /// its message stores their `queue_*` tables.
    fn check_is_ours(&self) -> Result<(), String> {
        let c = self.conn();
        let foreign: Vec<String> = c
            .prepare(
                "SELECT name FROM sqlite_master
                 WHERE name NOT IN ('families', 'leases') AND name NOT LIKE 'sqlite_%'
                   AND name NOT LIKE 'ledger\\_%' ESCAPE '\\'
                   AND name NOT LIKE 'queue\\_%' ESCAPE '\\' LIMIT 3",
            )
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(|e| explain(&e))?;
        if foreign.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "is another database (it holds tables {}): give the token store a file of its own",
                foreign.join(", ")
            ))
        }
    }

    fn init(&self) -> rusqlite::Result<()> {
        let mut c = self.conn();
        c.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: readers never block the writer, and processes share the file.
        let _mode: String = c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        // FULL: a commit is on disk when it returns (a rotated refresh token
        // exists nowhere else).
        c.pragma_update(None, "synchronous", "FULL")?;
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
                Some(format!(
                    "made by a newer integrator (schema {version}, this one knows {SCHEMA_VERSION})"
                )),
            ));
        }
        tx.execute_batch(SCHEMA)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fail(&self, e: rusqlite::Error) -> StoreError {
        StoreError::Unavailable(format!(
            "token store sqlite {}: {}",
            display_path(&self.path),
            explain(&e)
        ))
    }

    fn backend(&self) -> String {
        format!("token store sqlite {}", display_path(&self.path))
    }
}

impl TokenStore for SqliteStore {
    fn describe(&self) -> String {
        format!("sqlite {}", display_path(&self.path))
    }

    fn load(&self, key: &FamilyKey) -> Result<Option<Versioned>, StoreError> {
        type Row = (
            i64,
            String,
            Option<String>,
            Option<String>,
            bool,
            Option<i64>,
            Option<i64>,
        );
        let row: Option<Row> = self
            .conn()
            .query_row(
                "SELECT version, origin, access_token, refresh_token, sealed, expires_at, obtained_at
                 FROM families WHERE connection = ?1 AND client_id = ?2 AND api_origin = ?3",
                params![key.connection, key.client_id, key.api_origin],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
            )
            .optional()
            .map_err(|e| self.fail(e))?;
        let Some((version, origin, access, refresh, sealed, expires_at, obtained_at)) = row else {
            return Ok(None);
        };
        let backend = self.backend();
        let open = |field: &str, v: Option<String>| {
            v.map(|v| self.sealer.open(key, field, &v, sealed, &backend))
                .transpose()
        };
        Ok(Some(Versioned {
            version: to_u64(version),
            tokens: StoredTokens {
                access_token: open("access_token", access)?,
                refresh_token: open("refresh_token", refresh)?,
                expires_at: expires_at.map(to_u64),
                obtained_at: obtained_at.map(to_u64),
                origin,
            },
        }))
    }

    fn save(
        &self,
        key: &FamilyKey,
        expected: u64,
        tokens: &StoredTokens,
    ) -> Result<u64, StoreError> {
        let access = tokens
            .access_token
            .as_ref()
            .map(|t| self.sealer.seal(key, "access_token", t));
        let refresh = tokens
            .refresh_token
            .as_ref()
            .map(|t| self.sealer.seal(key, "refresh_token", t));
        let mut c = self.conn();
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.fail(e))?;
        let current: Option<(i64, String, i64, Option<i64>, i64)> = tx
            .query_row(
                "SELECT version, origin, created_at, refreshed_at, refresh_count
                 FROM families WHERE connection = ?1 AND client_id = ?2 AND api_origin = ?3",
                params![key.connection, key.client_id, key.api_origin],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(|e| self.fail(e))?;
        let version = current.as_ref().map(|c| to_u64(c.0)).unwrap_or(0);
        if version != expected {
            return Err(StoreError::Conflict(version));
        }
        let now = to_i64(now_ms());
        // A save in the same family is a rotation; another origin starts a new family.
        let (created_at, refreshed_at, refresh_count) = match &current {
            Some((_, origin, created, _, count)) if *origin == tokens.origin => {
                (*created, Some(now), count + 1)
            }
            _ => (now, None, 0),
        };
        tx.execute(
            "INSERT INTO families (connection, client_id, api_origin, version, origin,
                 access_token, refresh_token, sealed, expires_at, obtained_at,
                 created_at, refreshed_at, refresh_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (connection, client_id, api_origin) DO UPDATE SET
                 version = excluded.version, origin = excluded.origin,
                 access_token = excluded.access_token, refresh_token = excluded.refresh_token,
                 sealed = excluded.sealed, expires_at = excluded.expires_at,
                 obtained_at = excluded.obtained_at, created_at = excluded.created_at,
                 refreshed_at = excluded.refreshed_at, refresh_count = excluded.refresh_count",
            params![
                key.connection,
                key.client_id,
                key.api_origin,
                to_i64(version + 1),
                tokens.origin,
                access,
                refresh,
                self.sealer.sealing(),
                tokens.expires_at.map(to_i64),
                tokens.obtained_at.map(to_i64),
                created_at,
                refreshed_at,
                refresh_count,
            ],
        )
        .map_err(|e| self.fail(e))?;
        tx.commit().map_err(|e| self.fail(e))?;
        Ok(version + 1)
    }

    fn acquire_lease(&self, key: &FamilyKey, ttl: Duration) -> Result<Option<u64>, StoreError> {
        let mut c = self.conn();
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.fail(e))?;
        let now = now_ms();
        let held: Option<(String, i64)> = tx
            .query_row(
                "SELECT holder, expires_at FROM leases
                 WHERE connection = ?1 AND client_id = ?2 AND api_origin = ?3",
                params![key.connection, key.client_id, key.api_origin],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.fail(e))?;
        if let Some((holder, until)) = held {
            if to_u64(until) > now && !holder::is_dead(&holder) {
                return Ok(None);
            }
        }
        let id = new_lease_id();
        tx.execute(
            "INSERT OR REPLACE INTO leases (connection, client_id, api_origin, lease, holder, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                key.connection,
                key.client_id,
                key.api_origin,
                to_i64(id),
                holder::this_process(),
                to_i64(now + ttl.as_millis() as u64),
            ],
        )
        .map_err(|e| self.fail(e))?;
        tx.commit().map_err(|e| self.fail(e))?;
        Ok(Some(id))
    }

    fn release_lease(&self, key: &FamilyKey, lease: u64) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "DELETE FROM leases WHERE connection = ?1 AND client_id = ?2 AND api_origin = ?3 AND lease = ?4",
                params![key.connection, key.client_id, key.api_origin, to_i64(lease)],
            )
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn list(&self) -> Result<Vec<FamilyInfo>, StoreError> {
        let c = self.conn();
        let mut stmt = c
            .prepare(
                "SELECT f.connection, f.client_id, f.api_origin, f.version, f.created_at,
                        f.refreshed_at, f.refresh_count, f.expires_at,
                        f.refresh_token IS NOT NULL, f.sealed, l.holder, l.expires_at
                 FROM families f LEFT JOIN leases l
                   ON l.connection = f.connection AND l.client_id = f.client_id
                  AND l.api_origin = f.api_origin
                 ORDER BY f.connection, f.client_id, f.api_origin",
            )
            .map_err(|e| self.fail(e))?;
        let now = now_ms();
        let rows = stmt
            .query_map([], |r| {
                let lease: Option<(String, i64)> = match (r.get(10)?, r.get(11)?) {
                    (Some(h), Some(e)) => Some((h, e)),
                    _ => None,
                };
                Ok(FamilyInfo {
                    key: FamilyKey {
                        connection: r.get(0)?,
                        client_id: r.get(1)?,
                        api_origin: r.get(2)?,
                    },
                    version: to_u64(r.get(3)?),
                    created_at: to_u64(r.get(4)?),
                    refreshed_at: r.get::<_, Option<i64>>(5)?.map(to_u64),
                    refresh_count: to_u64(r.get(6)?),
                    expires_at: r.get::<_, Option<i64>>(7)?.map(to_u64),
                    has_refresh_token: r.get(8)?,
                    sealed: r.get(9)?,
                    lease: lease
                        .filter(|(h, e)| to_u64(*e) > now && !holder::is_dead(h))
                        .map(|(holder, e)| LeaseInfo {
                            holder,
                            expires_at: to_u64(e),
                        }),
                })
            })
            .map_err(|e| self.fail(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.fail(e))
    }

    fn forget_family(&self, key: &FamilyKey) -> Result<bool, StoreError> {
        let mut c = self.conn();
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.fail(e))?;
        let n = tx
            .execute(
                "DELETE FROM families WHERE connection = ?1 AND client_id = ?2 AND api_origin = ?3",
                params![key.connection, key.client_id, key.api_origin],
            )
            .map_err(|e| self.fail(e))?;
        tx.execute(
            "DELETE FROM leases WHERE connection = ?1 AND client_id = ?2 AND api_origin = ?3",
            params![key.connection, key.client_id, key.api_origin],
        )
        .map_err(|e| self.fail(e))?;
        tx.commit().map_err(|e| self.fail(e))?;
        Ok(n > 0)
    }

    fn forget(&self, connection: &str) -> Result<usize, StoreError> {
        let mut c = self.conn();
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.fail(e))?;
        let n = tx
            .execute("DELETE FROM families WHERE connection = ?1", [connection])
            .map_err(|e| self.fail(e))?;
        tx.execute("DELETE FROM leases WHERE connection = ?1", [connection])
            .map_err(|e| self.fail(e))?;
        tx.commit().map_err(|e| self.fail(e))?;
        Ok(n)
    }
}
