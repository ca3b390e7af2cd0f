//! The store over an in-memory compare-and-swap map shared by several
//! holders, as instances share one host store.

use super::*;
use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex};

/// A value and the version its tickets compare.
type Versioned = (u64, Vec<u8>);

/// Each key's versioned value.
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<HashMap<String, Versioned>>>);

impl CasStore for Memory {
    type Ticket = (String, u64);

    fn current(&self, key: &str) -> Result<(Option<Vec<u8>>, (String, u64)), String> {
        let map = self.0.lock().unwrap();
        let (version, value) = match map.get(key) {
            Some((v, bytes)) => (*v, Some(bytes.clone())),
            None => (0, None),
        };
        Ok((value, (key.to_string(), version)))
    }

    fn swap(&self, (key, seen): (String, u64), value: Vec<u8>) -> Result<bool, String> {
        let mut map = self.0.lock().unwrap();
        let now = map.get(&key).map_or(0, |(v, _)| *v);
        if now != seen {
            return Ok(false);
        }
        map.insert(key, (now + 1, value));
        Ok(true)
    }
}

/// A store that fails, as a host's store that is down.
struct Down;

impl CasStore for Down {
    type Ticket = ();
    fn current(&self, _: &str) -> Result<(Option<Vec<u8>>, ()), String> {
        Err("no such store".into())
    }
    fn swap(&self, _: (), _: Vec<u8>) -> Result<bool, String> {
        unreachable!()
    }
}

fn key(conn: &str) -> FamilyKey {
    FamilyKey {
        connection: conn.into(),
        client_id: "app-1".into(),
        api_origin: "https://api.x.com".into(),
    }
}

fn set(a: &str) -> TokenSet {
    TokenSet {
        access_token: Some(a.into()),
        refresh_token: Some(format!("R{a}")),
        expires_at_ms: Some(1_900_000_000_000),
        obtained_at_ms: None,
        origin: "o1".into(),
    }
}

#[test]
fn versions_leases_and_other_families() {
    let mem = Memory::default();
    let store = KvStore::new(mem.clone());
    let k = key("c");
    assert_eq!(store.load(&k).unwrap(), None);
    assert_eq!(store.save(&k, 0, &set("A1")).unwrap(), 1);
    assert_eq!(store.save(&k, 0, &set("A9")), Err(StoreError::Conflict(1)));
    // Another instance, the same host store.
    let other = KvStore::new(mem.clone());
    assert_eq!(other.save(&k, 1, &set("A2")).unwrap(), 2);
    assert_eq!(store.load(&k).unwrap(), Some((2, set("A2"))));
    let mut k2 = k.clone();
    k2.client_id = "app-2".into();
    assert_eq!(store.load(&k2).unwrap(), None);

    let l1 = store.acquire_lease(&k, 60_000).unwrap().unwrap();
    assert_eq!(other.acquire_lease(&k, 60_000).unwrap(), None);
    other.release_lease(&k, l1 + 1).unwrap();
    assert_eq!(other.acquire_lease(&k, 60_000).unwrap(), None);
    store.release_lease(&k, l1).unwrap();
    assert!(other.acquire_lease(&k, 1).unwrap().is_some());
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert!(store.acquire_lease(&k, 60_000).unwrap().is_some());
    // One key for the one family written (reads write nothing), no token
    // in its name.
    let keys: Vec<String> = mem.0.lock().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("wso2-twitter/tokens/")));
}

#[test]
fn holders_at_once_get_one_lease_and_one_winning_save() {
    let mem = Memory::default();
    let k = key("race");
    KvStore::new(mem.clone()).save(&k, 0, &set("A0")).unwrap();
    let holders = 8;
    let barrier = Arc::new(Barrier::new(holders));
    let outcomes: Vec<(bool, bool)> = (0..holders)
        .map(|i| {
            let (mem, k, barrier) = (mem.clone(), k.clone(), barrier.clone());
            std::thread::spawn(move || {
                let store = KvStore::new(mem);
                barrier.wait();
                let leased = store.acquire_lease(&k, 60_000).unwrap().is_some();
                let saved = store.save(&k, 1, &set(&format!("A{i}"))).is_ok();
                (leased, saved)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(outcomes.iter().filter(|o| o.0).count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| o.1).count(), 1, "{outcomes:?}");
}

#[test]
fn a_store_that_is_down_is_unavailable_and_the_warning_is_declared_away() {
    let store = KvStore::new(Down);
    match store.load(&key("c")) {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("no such store"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(consistency_warning(None).is_some());
    assert!(consistency_warning(Some("eventual")).is_some());
    assert_eq!(consistency_warning(Some("strong")), None);
}
