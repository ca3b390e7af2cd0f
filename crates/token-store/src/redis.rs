//! The store for several machines: one Redis (7 or later) shared by every
//! runtime process of a connection.
//!
//! A family is a hash; a save is a Lua script that compares the version and
//! writes the new set atomically (Redis runs scripts one at a time). The
//! lease is a key set with `SET NX PX` and given back by a compare-and-delete
//! script, so a holder whose lease lapsed and was taken over cannot delete
//! the new holder's. How durable an acknowledged save is depends on the
//! server's persistence: run it with `appendonly yes` (and `appendfsync
//! always` to survive a power cut) when it keeps the only copy of a token.

use std::collections::HashMap;
use std::time::Duration;

use ::redis::{Connection, RedisResult, Script, Value};
use sha2::{Digest, Sha256};

use crate::redis_link::RedisLink;
use crate::seal::{Sealer, StoreKey};
use crate::{
    holder, new_lease_id, now_ms, FamilyInfo, FamilyKey, LeaseInfo, StoreError, StoredTokens,
    TokenStore, Versioned,
};

const PREFIX: &str = "wso2-twitter-integrator";
/// Connect, read and write timeouts: a stopped Redis fails a call quickly
/// instead of holding it.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

const SAVE: &str = r"
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if cur ~= tonumber(ARGV[1]) then return {0, cur} end
local origin = redis.call('HGET', KEYS[1], 'origin')
local created, refreshed, count
if origin == ARGV[2] then
  created = redis.call('HGET', KEYS[1], 'created_at')
  refreshed = ARGV[3]
  count = tonumber(redis.call('HGET', KEYS[1], 'refresh_count') or '0') + 1
else
  created = ARGV[3]
  refreshed = ''
  count = 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'version', cur + 1, 'origin', ARGV[2], 'created_at', created,
  'refreshed_at', refreshed, 'refresh_count', count, unpack(ARGV, 4))
return {1, cur + 1}
";

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

pub struct RedisStore {
    link: RedisLink,
    sealer: Sealer,
    save: Script,
    release: Script,
}

/// `redis://user:secret@host/0` → `redis://user:***@host/0`.
/// A Redis URL as it may be shown: the password (everything between the
/// scheme's `:` after the user and the last `@`) replaced by `***`.
pub fn without_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

fn hash_id(key: &FamilyKey) -> String {
    let mut h = Sha256::new();
    for part in [&key.connection, &key.client_id, &key.api_origin] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn family_key(key: &FamilyKey) -> String {
    format!("{PREFIX}:family:{}", hash_id(key))
}

fn lease_key(key: &FamilyKey) -> String {
    format!("{PREFIX}:lease:{}", hash_id(key))
}

fn lease_value(id: u64) -> String {
    format!("{id} {}", holder::this_process())
}

fn num(fields: &HashMap<String, String>, k: &str) -> Option<u64> {
    fields.get(k).and_then(|v| v.parse().ok())
}

impl RedisStore {
    /// Checks the URL; Redis itself is reached on first use.
    pub fn open(url: &str, key: Option<StoreKey>) -> Result<RedisStore, StoreError> {
        let link =
            RedisLink::open(url, "token store", IO_TIMEOUT).map_err(StoreError::Unavailable)?;
        Ok(RedisStore {
            link,
            sealer: Sealer::new(key),
            save: Script::new(SAVE),
            release: Script::new(RELEASE),
        })
    }

    /// Runs `f` on the link's connection (see [`RedisLink::with`]).
    fn with<T>(&self, f: impl FnMut(&mut Connection) -> RedisResult<T>) -> Result<T, StoreError> {
        self.link.with(f).map_err(StoreError::Unavailable)
    }

    fn backend(&self) -> String {
        format!("token store redis {}", self.link.shown())
    }

    fn scan_families(&self, conn: &mut Connection) -> RedisResult<Vec<String>> {
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = ::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{PREFIX}:family:*"))
                .arg("COUNT")
                .arg(200)
                .query(conn)?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

impl TokenStore for RedisStore {
    fn describe(&self) -> String {
        format!("redis {}", self.link.shown())
    }

    fn load(&self, key: &FamilyKey) -> Result<Option<Versioned>, StoreError> {
        let fields: HashMap<String, String> =
            self.with(|c| ::redis::cmd("HGETALL").arg(family_key(key)).query(c))?;
        let Some(version) = num(&fields, "version") else {
            return Ok(None);
        };
        let sealed = fields.get("sealed").is_some_and(|s| s == "1");
        let backend = self.backend();
        let open = |field: &str| {
            fields
                .get(field)
                .map(|v| self.sealer.open(key, field, v, sealed, &backend))
                .transpose()
        };
        Ok(Some(Versioned {
            version,
            tokens: StoredTokens {
                access_token: open("access_token")?,
                refresh_token: open("refresh_token")?,
                expires_at: num(&fields, "expires_at"),
                obtained_at: num(&fields, "obtained_at"),
                origin: fields.get("origin").cloned().unwrap_or_default(),
            },
        }))
    }

    fn save(
        &self,
        key: &FamilyKey,
        expected: u64,
        tokens: &StoredTokens,
    ) -> Result<u64, StoreError> {
        let mut fields: Vec<(&str, String)> = vec![
            ("connection", key.connection.clone()),
            ("client_id", key.client_id.clone()),
            ("api_origin", key.api_origin.clone()),
            (
                "sealed",
                if self.sealer.sealing() { "1" } else { "0" }.into(),
            ),
        ];
        if let Some(t) = &tokens.access_token {
            fields.push(("access_token", self.sealer.seal(key, "access_token", t)));
        }
        if let Some(t) = &tokens.refresh_token {
            fields.push(("refresh_token", self.sealer.seal(key, "refresh_token", t)));
        }
        if let Some(t) = tokens.expires_at {
            fields.push(("expires_at", t.to_string()));
        }
        if let Some(t) = tokens.obtained_at {
            fields.push(("obtained_at", t.to_string()));
        }
        let now = now_ms();
        let (ok, version): (i64, i64) = self.with(|c| {
            let mut inv = self.save.key(family_key(key));
            inv.arg(expected).arg(&tokens.origin).arg(now);
            for (k, v) in &fields {
                inv.arg(*k).arg(v);
            }
            let r: Vec<i64> = inv.invoke(c)?;
            Ok((
                r.first().copied().unwrap_or(0),
                r.get(1).copied().unwrap_or(0),
            ))
        })?;
        let version = u64::try_from(version).unwrap_or(0);
        if ok == 1 {
            Ok(version)
        } else {
            Err(StoreError::Conflict(version))
        }
    }

    fn acquire_lease(&self, key: &FamilyKey, ttl: Duration) -> Result<Option<u64>, StoreError> {
        let lk = lease_key(key);
        let ttl_ms = ttl.as_millis().max(1) as u64;
        self.with(|c| {
            for _ in 0..2 {
                let id = new_lease_id();
                let set: Value = ::redis::cmd("SET")
                    .arg(&lk)
                    .arg(lease_value(id))
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query(c)?;
                if !matches!(set, Value::Nil) {
                    return Ok(Some(id));
                }
                // Held: by a process on this machine that is gone? Then free it.
                let current: Option<String> = ::redis::cmd("GET").arg(&lk).query(c)?;
                match current {
                    Some(v) if v.split_once(' ').is_some_and(|(_, h)| holder::is_dead(h)) => {
                        let _: i64 = self.release.key(&lk).arg(&v).invoke(c)?;
                    }
                    Some(_) => return Ok(None),
                    // Lapsed between the two commands: try again.
                    None => {}
                }
            }
            Ok(None)
        })
    }

    fn release_lease(&self, key: &FamilyKey, lease: u64) -> Result<(), StoreError> {
        let lk = lease_key(key);
        self.with(|c| {
            let _: i64 = self.release.key(&lk).arg(lease_value(lease)).invoke(c)?;
            Ok(())
        })
    }

    fn list(&self) -> Result<Vec<FamilyInfo>, StoreError> {
        self.with(|c| {
            let mut out = Vec::new();
            for fk in self.scan_families(c)? {
                let f: HashMap<String, String> = ::redis::cmd("HGETALL").arg(&fk).query(c)?;
                let Some(version) = num(&f, "version") else {
                    continue;
                };
                let key = FamilyKey {
                    connection: f.get("connection").cloned().unwrap_or_default(),
                    client_id: f.get("client_id").cloned().unwrap_or_default(),
                    api_origin: f.get("api_origin").cloned().unwrap_or_default(),
                };
                let lk = lease_key(&key);
                let lease_val: Option<String> = ::redis::cmd("GET").arg(&lk).query(c)?;
                let pttl: i64 = ::redis::cmd("PTTL").arg(&lk).query(c)?;
                let lease = lease_val
                    .and_then(|v| v.split_once(' ').map(|(_, h)| h.to_string()))
                    .filter(|h| pttl > 0 && !holder::is_dead(h))
                    .map(|holder| LeaseInfo {
                        holder,
                        expires_at: now_ms() + pttl as u64,
                    });
                out.push(FamilyInfo {
                    key,
                    version,
                    created_at: num(&f, "created_at").unwrap_or(0),
                    refreshed_at: num(&f, "refreshed_at"),
                    refresh_count: num(&f, "refresh_count").unwrap_or(0),
                    expires_at: num(&f, "expires_at"),
                    has_refresh_token: f.contains_key("refresh_token"),
                    sealed: f.get("sealed").is_some_and(|s| s == "1"),
                    lease,
                });
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
    }

    fn forget_family(&self, key: &FamilyKey) -> Result<bool, StoreError> {
        self.with(|c| {
            let n: i64 = ::redis::cmd("DEL")
                .arg(family_key(key))
                .arg(lease_key(key))
                .query(c)?;
            Ok(n > 0)
        })
    }

    fn forget(&self, connection: &str) -> Result<usize, StoreError> {
        self.with(|c| {
            let mut n = 0;
            for fk in self.scan_families(c)? {
                let f: HashMap<String, String> = ::redis::cmd("HGETALL").arg(&fk).query(c)?;
                if f.get("connection").map(String::as_str) != Some(connection) {
                    continue;
                }
                let key = FamilyKey {
                    connection: connection.to_string(),
                    client_id: f.get("client_id").cloned().unwrap_or_default(),
                    api_origin: f.get("api_origin").cloned().unwrap_or_default(),
                };
                let _: i64 = ::redis::cmd("DEL").arg(&fk).arg(lease_key(&key)).query(c)?;
                n += 1;
            }
            Ok(n)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            without_password("redis://:hunter2@h:6379/0"),
            "redis://:***@h:6379/0"
        );
        assert_eq!(
            without_password("redis://u:hunter2@h/1"),
            "redis://u:***@h/1"
        );
        assert_eq!(without_password("redis://h:6379/0"), "redis://h:6379/0");
    }
}
