//! A token store in a directory: one JSON file per family, changed only
//! under a lock file, replaced atomically.
//!
//! Plain `std::fs`, so the same code runs natively (its tests) and inside
//! the component, where std's file calls are `wasi:filesystem` on the
//! directory the host preopens.
//!
//! Why a lock file: `wasi:filesystem` 0.2 has no advisory locks (`flock`
//! and `fcntl` locks are not in the API), so two processes sharing the
//! directory exclude each other with the one atomic step it does have:
//! creating a file that must not exist (`O_EXCL`). The lock is held for
//! the few milliseconds of one read-check-write; a lock older than
//! [`STALE_LOCK`] is taken to be a crashed holder's and removed. What
//! that means: if a process stalls inside a save for longer than that
//! (a suspended VM), another may enter too; the version check still
//! refuses the second writer unless both read before either wrote.
//! On a network filesystem without atomic exclusive create (old NFS), do
//! not share the directory between machines.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A lock file older than this is a crashed holder's.
pub const STALE_LOCK: Duration = Duration::from_secs(30);
/// How long a call waits for the lock before the store is "unavailable".
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Whose tokens (the WIT `family-key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyKey {
    pub connection: String,
    pub client_id: String,
    pub api_origin: String,
}

/// One token set (the WIT `token-set`). `Debug` never shows a token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub expires_at_ms: Option<u64>,
    pub obtained_at_ms: Option<u64>,
    pub origin: String,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |t: &Option<String>| t.as_ref().map(|_| "[redacted]");
        f.debug_struct("TokenSet")
            .field("access_token", &shown(&self.access_token))
            .field("refresh_token", &shown(&self.refresh_token))
            .field("expires_at_ms", &self.expires_at_ms)
            .field("obtained_at_ms", &self.obtained_at_ms)
            .field("origin", &self.origin)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The stored version is not the expected one; carries the current one.
    Conflict(u64),
    Unavailable(String),
}

/// What one family's file holds.
#[derive(Serialize, Deserialize)]
struct Family {
    family: FamilyKey,
    version: u64,
    tokens: Option<TokenSet>,
    lease: Option<Lease>,
    /// Lease ids are unique per family: the next one to hand out.
    next_lease: u64,
}

#[derive(Serialize, Deserialize)]
struct Lease {
    id: u64,
    expires_at_ms: u64,
}

pub struct FileStore {
    dir: PathBuf,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn unavailable(what: &str, path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("token directory: {what} {}: {e}", path.display()))
}

/// Removes the lock file when the critical section ends, however it ends.
struct LockGuard(PathBuf);

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

impl FileStore {
    pub fn new(dir: impl Into<PathBuf>) -> FileStore {
        FileStore { dir: dir.into() }
    }

    /// The family's file name: a digest, so no key text reaches a path.
    fn name(key: &FamilyKey) -> String {
        let mut h = Sha256::new();
        for part in [&key.connection, &key.client_id, &key.api_origin] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn lock(&self, name: &str) -> Result<LockGuard, StoreError> {
        let path = self.dir.join(format!("{name}.lock"));
        let started = Instant::now();
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(LockGuard(path)),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let stale = fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > STALE_LOCK);
                    if stale {
                        let _ = fs::remove_file(&path);
                        continue;
                    }
                    if started.elapsed() > LOCK_WAIT {
                        return Err(unavailable(
                            "still locked after 10 s:",
                            &path,
                            "is another process stuck?",
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(unavailable("cannot lock", &path, e)),
            }
        }
    }

    fn read(&self, name: &str, key: &FamilyKey) -> Result<Option<Family>, StoreError> {
        let path = self.dir.join(format!("{name}.json"));
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unavailable("cannot read", &path, e)),
        };
        let family: Family =
            serde_json::from_slice(&bytes).map_err(|e| unavailable("cannot parse", &path, e))?;
        if &family.family != key {
            return Err(unavailable("holds another family:", &path, "left alone"));
        }
        Ok(Some(family))
    }

    /// Temp file, its data synced, renamed over the family's file: a
    /// reader (or a crash) sees the old file or the new one, never a part.
    fn write(&self, name: &str, family: &Family) -> Result<(), StoreError> {
        let path = self.dir.join(format!("{name}.json"));
        let tmp = self.dir.join(format!("{name}.json.tmp"));
        let bytes =
            serde_json::to_vec(family).map_err(|e| unavailable("cannot encode", &path, e))?;
        let written = File::create(&tmp).and_then(|mut f| {
            f.write_all(&bytes)?;
            f.sync_all()
        });
        written
            .and_then(|()| fs::rename(&tmp, &path))
            .map_err(|e| {
                let _ = fs::remove_file(&tmp);
                unavailable("cannot write", &path, e)
            })?;
        // The rename itself reaches the disk with the directory's sync,
        // where the host's filesystem lets a directory be opened.
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Runs `change` on the family under its lock and writes it back when
    /// `change` says so.
    fn update<T>(
        &self,
        key: &FamilyKey,
        change: impl FnOnce(&mut Family) -> Result<(T, bool), StoreError>,
    ) -> Result<T, StoreError> {
        let name = Self::name(key);
        let _lock = self.lock(&name)?;
        let mut family = self.read(&name, key)?.unwrap_or(Family {
            family: key.clone(),
            version: 0,
            tokens: None,
            lease: None,
            next_lease: 1,
        });
        let (out, changed) = change(&mut family)?;
        if changed {
            self.write(&name, &family)?;
        }
        Ok(out)
    }

    pub fn load(&self, key: &FamilyKey) -> Result<Option<(u64, TokenSet)>, StoreError> {
        // A reader needs no lock: the file is replaced whole.
        let family = self.read(&Self::name(key), key)?;
        Ok(family.and_then(|f| f.tokens.map(|t| (f.version, t))))
    }

    /// Compare-and-swap on the version; durable when it returns.
    pub fn save(
        &self,
        key: &FamilyKey,
        expected: u64,
        tokens: &TokenSet,
    ) -> Result<u64, StoreError> {
        self.update(key, |f| {
            if f.version != expected {
                return Err(StoreError::Conflict(f.version));
            }
            f.version += 1;
            f.tokens = Some(tokens.clone());
            Ok((f.version, true))
        })
    }

    pub fn acquire_lease(&self, key: &FamilyKey, ttl: Duration) -> Result<Option<u64>, StoreError> {
        let now = now_ms();
        self.update(key, |f| {
            if f.lease.as_ref().is_some_and(|l| l.expires_at_ms > now) {
                return Ok((None, false));
            }
            let id = f.next_lease;
            f.next_lease += 1;
            f.lease = Some(Lease {
                id,
                expires_at_ms: now.saturating_add(ttl.as_millis() as u64),
            });
            Ok((Some(id), true))
        })
    }

    /// Gives a lease back; one that lapsed and was taken over is left alone.
    pub fn release_lease(&self, key: &FamilyKey, lease: u64) -> Result<(), StoreError> {
        self.update(key, |f| {
            if f.lease.as_ref().is_some_and(|l| l.id == lease) {
                f.lease = None;
                Ok(((), true))
            } else {
                Ok(((), false))
            }
        })
    }
}

#[cfg(test)]
mod tests;
