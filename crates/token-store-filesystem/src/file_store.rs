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
use std::time::{Duration, Instant};

use token_family::{now_ms, Changed, Family};
pub use token_family::{FamilyKey, StoreError, TokenSet};

/// A lock file older than this is a crashed holder's.
pub const STALE_LOCK: Duration = Duration::from_secs(30);
/// How long a call waits for the lock before the store is "unavailable".
const LOCK_WAIT: Duration = Duration::from_secs(10);

pub struct FileStore {
    dir: PathBuf,
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

    fn name(key: &FamilyKey) -> String {
        key.digest()
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
        Family::decode(&bytes, key)
            .map(Some)
            .map_err(|e| unavailable("the family file", &path, e))
    }

    /// Temp file, its data synced, renamed over the family's file: a
    /// reader (or a crash) sees the old file or the new one, never a part.
    fn write(&self, name: &str, family: &Family) -> Result<(), StoreError> {
        let path = self.dir.join(format!("{name}.json"));
        let tmp = self.dir.join(format!("{name}.json.tmp"));
        let written = File::create(&tmp).and_then(|mut f| {
            f.write_all(&family.encode())?;
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
        change: impl FnOnce(&mut Family) -> Result<(T, Changed), StoreError>,
    ) -> Result<T, StoreError> {
        let name = Self::name(key);
        let _lock = self.lock(&name)?;
        let mut family = self.read(&name, key)?.unwrap_or_else(|| Family::new(key));
        let (out, changed) = change(&mut family)?;
        if changed {
            self.write(&name, &family)?;
        }
        Ok(out)
    }

    pub fn load(&self, key: &FamilyKey) -> Result<Option<(u64, TokenSet)>, StoreError> {
        // A reader needs no lock: the file is replaced whole.
        Ok(self.read(&Self::name(key), key)?.and_then(|f| f.tokens()))
    }

    /// Compare-and-swap on the version; durable when it returns.
    pub fn save(
        &self,
        key: &FamilyKey,
        expected: u64,
        tokens: &TokenSet,
    ) -> Result<u64, StoreError> {
        self.update(key, |f| f.save(expected, tokens))
    }

    pub fn acquire_lease(&self, key: &FamilyKey, ttl: Duration) -> Result<Option<u64>, StoreError> {
        let now = now_ms();
        self.update(key, |f| Ok(f.acquire_lease(now, ttl.as_millis() as u64)))
    }

    /// Gives a lease back; one that lapsed and was taken over is left alone.
    pub fn release_lease(&self, key: &FamilyKey, lease: u64) -> Result<(), StoreError> {
        self.update(key, |f| Ok(((), f.release_lease(lease))))
    }
}

#[cfg(test)]
mod tests;
