//! The store against a real directory: what the WIT's `token-store`
//! promises (the same checks as the runtime stores' contract suite), and
//! several holders at once, each with its own `FileStore` as separate
//! processes would have.

use super::*;
use std::sync::{Arc, Barrier};
use std::time::SystemTime;

fn tempdir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "token-store-filesystem-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn key(conn: &str) -> FamilyKey {
    FamilyKey {
        connection: conn.into(),
        client_id: "app-1".into(),
        api_origin: "https://api.x.com".into(),
    }
}

fn set(access: &str, refresh: &str) -> TokenSet {
    TokenSet {
        access_token: Some(access.into()),
        refresh_token: Some(refresh.into()),
        expires_at_ms: Some(1_900_000_000_000),
        obtained_at_ms: Some(1_899_999_000_000),
        origin: "o1".into(),
    }
}

#[test]
fn versions_are_a_compare_and_swap_and_survive_a_new_store() {
    let dir = tempdir();
    let store = FileStore::new(&dir);
    let k = key("c");
    assert_eq!(store.load(&k).unwrap(), None);
    assert_eq!(store.save(&k, 0, &set("A1", "R1")).unwrap(), 1);
    assert_eq!(
        store.save(&k, 0, &set("A9", "R9")),
        Err(StoreError::Conflict(1))
    );
    assert_eq!(store.save(&k, 1, &set("A2", "R2")).unwrap(), 2);
    // Another process, the same directory.
    let other = FileStore::new(&dir);
    assert_eq!(other.load(&k).unwrap(), Some((2, set("A2", "R2"))));
    // Other client id or origin: another family.
    let mut k2 = k.clone();
    k2.client_id = "app-2".into();
    assert_eq!(other.load(&k2).unwrap(), None);
    k2 = k.clone();
    k2.api_origin = "http://127.0.0.1:9".into();
    assert_eq!(other.load(&k2).unwrap(), None);
    // No temp or lock file is left behind.
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with(".json"));
}

#[test]
fn leases_go_to_one_holder_until_released_or_lapsed() {
    let store = FileStore::new(tempdir());
    let k = key("c");
    let l1 = store
        .acquire_lease(&k, Duration::from_secs(60))
        .unwrap()
        .unwrap();
    assert_eq!(
        store.acquire_lease(&k, Duration::from_secs(60)).unwrap(),
        None
    );
    store.release_lease(&k, l1).unwrap();
    let l2 = store
        .acquire_lease(&k, Duration::from_millis(50))
        .unwrap()
        .unwrap();
    assert_ne!(l1, l2);
    std::thread::sleep(Duration::from_millis(120));
    let l3 = store
        .acquire_lease(&k, Duration::from_secs(60))
        .unwrap()
        .unwrap();
    // The lapsed holder's release leaves the new holder's lease alone.
    store.release_lease(&k, l2).unwrap();
    assert_eq!(
        store.acquire_lease(&k, Duration::from_secs(60)).unwrap(),
        None
    );
    store.release_lease(&k, l3).unwrap();
    // A lease taken before any tokens were saved does not make a version.
    assert_eq!(store.load(&k).unwrap(), None);
    assert_eq!(store.save(&k, 0, &set("A", "R")).unwrap(), 1);
}

#[test]
fn holders_at_once_get_one_lease_and_one_winning_save() {
    let dir = tempdir();
    let k = key("race");
    FileStore::new(&dir).save(&k, 0, &set("A0", "R0")).unwrap();
    let holders = 8;
    let barrier = Arc::new(Barrier::new(holders));
    let outcomes: Vec<(bool, bool)> = (0..holders)
        .map(|i| {
            let (dir, k, barrier) = (dir.clone(), k.clone(), barrier.clone());
            std::thread::spawn(move || {
                let store = FileStore::new(dir);
                barrier.wait();
                let leased = store
                    .acquire_lease(&k, Duration::from_secs(60))
                    .unwrap()
                    .is_some();
                // Every holder read version 1; only one may move it on.
                let saved = store.save(&k, 1, &set(&format!("A{i}"), &format!("R{i}")));
                (leased, saved.is_ok())
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(outcomes.iter().filter(|o| o.0).count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| o.1).count(), 1, "{outcomes:?}");
    assert_eq!(FileStore::new(&dir).load(&k).unwrap().unwrap().0, 2);
}

#[test]
fn a_crashed_holder_s_stale_lock_is_broken() {
    let dir = tempdir();
    let store = FileStore::new(&dir);
    let k = key("c");
    let lock = dir.join(format!("{}.lock", FileStore::name(&k)));
    File::create(&lock).unwrap();
    // Made stale: its time set back past STALE_LOCK.
    let old = SystemTime::now() - STALE_LOCK - Duration::from_secs(5);
    File::options()
        .write(true)
        .open(&lock)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(store.save(&k, 0, &set("A", "R")).unwrap(), 1);
    assert!(!lock.exists());
}

#[test]
fn a_damaged_file_is_a_clear_error_never_a_token() {
    let dir = tempdir();
    let store = FileStore::new(&dir);
    let k = key("c");
    store.save(&k, 0, &set("SECRET-A", "SECRET-R")).unwrap();
    let file = dir.join(format!("{}.json", FileStore::name(&k)));
    let mut text = fs::read_to_string(&file).unwrap();
    text.truncate(text.len() / 2);
    fs::write(&file, text).unwrap();
    let e = store.load(&k).unwrap_err();
    let shown = format!("{e:?}");
    assert!(shown.contains("cannot parse"), "{shown}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert_eq!(
        store
            .save(&k, 1, &set("B", "B"))
            .map_err(|e| matches!(e, StoreError::Unavailable(_))),
        Err(true)
    );
    assert!(!format!("{:?}", set("SECRET-A", "SECRET-R")).contains("SECRET"));
}
