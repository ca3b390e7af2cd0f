//! Every backend keeps the same contract, tested against the real thing: an
//! SQLite file, a running redis-server, memory. Several processes are real
//! processes (this test binary started again as a child).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use token_store::testing::RedisServer;
use token_store::{FamilyKey, Secret, StoreError, StoreKey, StoreSpec, StoredTokens, TokenStore};

fn key(conn: &str) -> FamilyKey {
    FamilyKey {
        connection: conn.into(),
        client_id: "app-1".into(),
        api_origin: "https://api.x.com".into(),
    }
}

/// A connection name no other test (or run against a shared Redis) uses.
fn unique(name: &str) -> String {
    format!("{name}-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .elapsed()
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish() % 1_000_000_000
}

fn set(access: &str, refresh: &str, origin: &str) -> StoredTokens {
    StoredTokens {
        access_token: Some(Secret::new(access)),
        refresh_token: Some(Secret::new(refresh)),
        expires_at: Some(1_900_000_000_000),
        obtained_at: Some(1_899_999_000_000),
        origin: origin.into(),
    }
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("token-store-test-{}", unique("d")));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn contract(store: &dyn TokenStore) {
    let k = key(&unique("contract"));
    assert_eq!(store.load(&k).unwrap(), None);
    assert_eq!(store.save(&k, 0, &set("A1", "R1", "o1")).unwrap(), 1);
    // Compare-and-swap: a stale writer is refused and told the version.
    assert_eq!(
        store.save(&k, 0, &set("A9", "R9", "o1")),
        Err(StoreError::Conflict(1))
    );
    assert_eq!(store.save(&k, 1, &set("A2", "R2", "o1")).unwrap(), 2);
    let v = store.load(&k).unwrap().unwrap();
    assert_eq!(v.version, 2);
    assert_eq!(v.tokens, set("A2", "R2", "o1"));
    // A set without a refresh token or expiry round-trips as such.
    let bare = StoredTokens {
        access_token: Some(Secret::new("A3")),
        refresh_token: None,
        expires_at: None,
        obtained_at: None,
        origin: "o1".into(),
    };
    assert_eq!(store.save(&k, 2, &bare).unwrap(), 3);
    assert_eq!(store.load(&k).unwrap().unwrap().tokens, bare);
    // Rotations count within a family; a new origin starts a new family.
    let info = store
        .list()
        .unwrap()
        .into_iter()
        .find(|f| f.key == k)
        .unwrap();
    assert_eq!((info.version, info.refresh_count), (3, 2));
    assert!(info.refreshed_at.is_some() && info.created_at > 0);
    assert_eq!(store.save(&k, 3, &set("B1", "S1", "o2")).unwrap(), 4);
    let info = store
        .list()
        .unwrap()
        .into_iter()
        .find(|f| f.key == k)
        .unwrap();
    assert_eq!((info.refresh_count, info.refreshed_at), (0, None));
    assert!(info.has_refresh_token);
    // Other client id or origin: another family.
    let mut other = k.clone();
    other.client_id = "app-2".into();
    assert_eq!(store.load(&other).unwrap(), None);
    other = k.clone();
    other.api_origin = "http://127.0.0.1:9".into();
    assert_eq!(store.load(&other).unwrap(), None);

    // Leases: one holder at a time, until released or lapsed.
    let l1 = store
        .acquire_lease(&k, Duration::from_secs(60))
        .unwrap()
        .unwrap();
    assert_eq!(
        store.acquire_lease(&k, Duration::from_secs(60)).unwrap(),
        None
    );
    assert!(store
        .list()
        .unwrap()
        .iter()
        .any(|f| f.key == k && f.lease.is_some()));
    store.release_lease(&k, l1).unwrap();
    let l2 = store
        .acquire_lease(&k, Duration::from_millis(100))
        .unwrap()
        .unwrap();
    assert_ne!(l1, l2);
    std::thread::sleep(Duration::from_millis(250));
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

    // Forget: every family of the connection name, nothing else.
    let keep = key(&unique("keep"));
    store.save(&keep, 0, &set("K", "K", "k")).unwrap();
    let mut second = k.clone();
    second.client_id = "app-3".into();
    store.save(&second, 0, &set("C", "C", "c")).unwrap();
    let third = key(&k.connection);
    let mut third = third;
    third.api_origin = "http://127.0.0.1:7".into();
    store.save(&third, 0, &set("D", "D", "d")).unwrap();
    assert!(store.forget_family(&third).unwrap());
    assert!(!store.forget_family(&third).unwrap());
    assert_eq!(store.load(&third).unwrap(), None);
    assert_eq!(store.forget(&k.connection).unwrap(), 2);
    assert_eq!(store.load(&k).unwrap(), None);
    assert!(store.load(&keep).unwrap().is_some());
}

#[test]
fn memory_keeps_the_contract() {
    contract(&token_store::MemoryStore::new());
}

#[test]
fn sqlite_keeps_the_contract_in_a_private_wal_file() {
    let dir = tempdir().join("state/wso2-twitter-integrator");
    let path = dir.join("tokens.db");
    let store = StoreSpec::Sqlite(path.clone()).open(None).unwrap();
    contract(store.as_ref());
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "the state directory is the owner's only");
    assert_eq!(mode(&path), 0o600, "the token file is the owner's only");
    let wal = path.with_file_name("tokens.db-wal");
    assert!(wal.exists(), "WAL mode");
    assert_eq!(mode(&wal), 0o600);
    assert!(store.describe().contains("tokens.db"));
}

#[test]
fn redis_keeps_the_contract() {
    let redis = RedisServer::shared();
    let store = StoreSpec::parse(redis.url()).unwrap().open(None).unwrap();
    contract(store.as_ref());
}

fn sealed_store_checks(
    open: &dyn Fn(Option<StoreKey>) -> Arc<dyn TokenStore>,
    raw: &dyn Fn() -> Vec<u8>,
) {
    let k = key(&unique("sealed"));
    let good = StoreKey::from_bytes([3; 32]);
    let store = open(Some(good.clone()));
    store
        .save(&k, 0, &set("access-value-123", "refresh-value-456", "o"))
        .unwrap();
    let bytes = raw();
    let find = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(find(&k.connection), "the raw dump holds the family's row");
    assert!(
        !find("refresh-value-456") && !find("access-value-123"),
        "token values are sealed at rest"
    );
    assert_eq!(
        store.load(&k).unwrap().unwrap().tokens,
        set("access-value-123", "refresh-value-456", "o")
    );
    assert!(store.list().unwrap().iter().any(|f| f.key == k && f.sealed));
    // A wrong key: a clear error, never other tokens.
    let wrong = open(Some(StoreKey::from_bytes([4; 32])));
    let e = wrong.load(&k).unwrap_err().to_string();
    assert!(e.contains("wrong store key"), "{e}");
    // No key: says what to set.
    let e = open(None).load(&k).unwrap_err().to_string();
    assert!(e.contains("INTEGRATOR_STORE_KEY"), "{e}");
    // Listing needs no key and shows no token.
    let listed = format!("{:?}", open(None).list().unwrap());
    assert!(!listed.contains("refresh-value-456"));
}

#[test]
fn sqlite_seals_tokens_with_a_key() {
    let path = tempdir().join("sealed.db");
    let p = path.clone();
    sealed_store_checks(
        &|key| StoreSpec::Sqlite(p.clone()).open(key).unwrap(),
        &|| {
            let mut all = std::fs::read(&path).unwrap();
            if let Ok(w) = std::fs::read(path.with_file_name("sealed.db-wal")) {
                all.extend(w);
            }
            all
        },
    );
}

#[test]
fn redis_seals_tokens_with_a_key() {
    let redis = RedisServer::private();
    let url = redis.url().to_string();
    let port: u16 = url
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    sealed_store_checks(
        &|key| StoreSpec::parse(&url).unwrap().open(key).unwrap(),
        &|| {
            // What the server holds: a dump of every value (DEBUG is off in
            // Redis 7, so read every field back raw).
            let store = std::process::Command::new("redis-cli")
                .args(["-p", &port.to_string(), "--no-raw", "eval"])
                .arg("local out = {} for _, k in ipairs(redis.call('KEYS', '*')) do if redis.call('TYPE', k).ok == 'hash' then for _, v in ipairs(redis.call('HGETALL', k)) do table.insert(out, v) end end end return out")
                .arg("0")
                .output()
                .expect("redis-cli");
            store.stdout
        },
    );
}

#[test]
fn a_corrupt_sqlite_file_is_a_clear_error() {
    let path = tempdir().join("tokens.db");
    std::fs::write(
        &path,
        b"this is not a database, just some text long enough to have a header........",
    )
    .unwrap();
    // Owner-only, as a store file must be: what is refused is its contents.
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let e = match StoreSpec::Sqlite(path.clone()).open(None) {
        Ok(_) => panic!("a corrupt file opened"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("not an SQLite database") && e.contains("tokens.db"),
        "{e}"
    );
}

#[test]
fn an_unreadable_store_path_is_a_clear_error() {
    // (Tests run as root here, so file modes cannot make a file unreadable:
    // a directory where the file should be can.)
    let dir = tempdir().join("tokens.db");
    std::fs::create_dir_all(&dir).unwrap();
    let e = match StoreSpec::Sqlite(dir.clone()).open(None) {
        Ok(_) => panic!("a directory opened as a store"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("is not a file") && e.contains("tokens.db"),
        "{e}"
    );
}

#[test]
fn a_stopped_redis_is_a_clear_error_and_calls_go_on_when_it_is_back() {
    let mut redis = RedisServer::private();
    let store = StoreSpec::parse(redis.url()).unwrap().open(None).unwrap();
    let k = key(&unique("outage"));
    store.save(&k, 0, &set("A", "R", "o")).unwrap();
    redis.stop();
    let e = store.load(&k).unwrap_err().to_string();
    assert!(
        e.contains("unreachable") && e.contains("redis://127.0.0.1"),
        "{e}"
    );
    assert!(store.save(&k, 1, &set("A2", "R2", "o")).is_err());
    assert!(store.acquire_lease(&k, Duration::from_secs(5)).is_err());
    redis.start();
    // The same connection object reconnects; the data survived (appendonly).
    assert_eq!(store.load(&k).unwrap().unwrap().tokens, set("A", "R", "o"));
    assert_eq!(store.save(&k, 1, &set("A2", "R2", "o")).unwrap(), 2);
}

#[test]
fn a_frozen_redis_times_out_instead_of_hanging() {
    let redis = RedisServer::private();
    let store = StoreSpec::parse(redis.url()).unwrap().open(None).unwrap();
    let k = key(&unique("frozen"));
    store.save(&k, 0, &set("A", "R", "o")).unwrap();
    redis.pause();
    let started = std::time::Instant::now();
    let e = store.load(&k).unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(10), "bounded wait");
    assert!(e.contains("redis"), "{e}");
    redis.resume();
    assert!(store.load(&k).unwrap().is_some());
}

// ------------------------------------------------------ several processes

/// This test binary as a child process that plays `role` (see `child_process`).
fn child_command(role: &str, spec: &str, conn: &str) -> std::process::Command {
    let mut c = std::process::Command::new(std::env::current_exe().unwrap());
    c.args([
        "--ignored",
        "--exact",
        "child_process",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("TOKEN_STORE_CHILD", role)
    .env("TOKEN_STORE_SPEC", spec)
    .env("TOKEN_STORE_CONN", conn);
    c
}

/// Runs `role` in a child process; waits for it.
fn child(role: &str, spec: &str, conn: &str) -> std::process::Output {
    child_command(role, spec, conn).output().unwrap()
}

/// Not a test: what a child process does (see `child`).
#[test]
#[ignore]
fn child_process() {
    let (Ok(role), Ok(spec), Ok(conn)) = (
        std::env::var("TOKEN_STORE_CHILD"),
        std::env::var("TOKEN_STORE_SPEC"),
        std::env::var("TOKEN_STORE_CONN"),
    ) else {
        return;
    };
    let store = StoreSpec::parse(&spec).unwrap().open(None).unwrap();
    let k = key(&conn);
    match role.as_str() {
        // Takes the lease for a minute and exits without giving it back.
        "crash-holding-lease" => {
            assert!(store
                .acquire_lease(&k, Duration::from_secs(60))
                .unwrap()
                .is_some());
        }
        // Takes the lease, says so, and holds it (alive) until its stdin
        // closes; then exits without giving it back.
        "hold-lease-while-alive" => {
            assert!(store
                .acquire_lease(&k, Duration::from_secs(60))
                .unwrap()
                .is_some());
            println!("lease-held");
            let mut rest = String::new();
            let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut rest);
        }
        // 50 compare-and-swap increments of the access token's counter.
        "increment" => {
            for _ in 0..50 {
                loop {
                    let cur = store.load(&k).unwrap().unwrap();
                    let n: u64 = cur
                        .tokens
                        .access_token
                        .as_ref()
                        .unwrap()
                        .expose()
                        .parse()
                        .unwrap();
                    let mut next = cur.tokens.clone();
                    next.access_token = Some(Secret::new((n + 1).to_string()));
                    match store.save(&k, cur.version, &next) {
                        Ok(_) => break,
                        Err(StoreError::Conflict(_)) => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
}

fn processes_share_the_store(spec: &str) {
    let store = StoreSpec::parse(spec).unwrap().open(None).unwrap();
    // Four processes, 50 CAS increments each: none lost.
    let conn = unique("counter");
    let k = key(&conn);
    let mut start = set("0", "R", "o");
    start.refresh_token = None;
    store.save(&k, 0, &start).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (spec, conn) = (spec.to_string(), conn.clone());
            std::thread::spawn(move || child("increment", &spec, &conn))
        })
        .collect();
    for h in handles {
        let o = h.join().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
    let end = store.load(&k).unwrap().unwrap();
    assert_eq!(end.tokens.access_token.unwrap().expose(), "200");
    assert_eq!(end.version, 201);

    // A live holder on this machine keeps its lease; once it is gone, the
    // lease is free at once (well before its minute is up).
    let conn = unique("alive");
    let mut holder = child_command("hold-lease-while-alive", spec, &conn)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(holder.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("lease-held") {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert!(n > 0, "the holder ended before taking the lease: {seen}");
        seen.push_str(&line);
    }
    for _ in 0..3 {
        assert_eq!(
            store
                .acquire_lease(&key(&conn), Duration::from_secs(60))
                .unwrap(),
            None,
            "a live holder on this machine keeps its lease"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    assert!(
        store
            .acquire_lease(&key(&conn), Duration::from_secs(60))
            .unwrap()
            .is_some(),
        "the holder exited: its lease is free"
    );

    // A holder that died holding the lease blocks no one on this machine.
    let conn = unique("crash");
    let o = child("crash-holding-lease", spec, &conn);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(
        store
            .acquire_lease(&key(&conn), Duration::from_secs(60))
            .unwrap()
            .is_some(),
        "a dead holder's lease is free at once"
    );
}

#[test]
fn sqlite_is_shared_by_processes() {
    let path = tempdir().join("shared.db");
    processes_share_the_store(path.to_str().unwrap());
}

#[test]
fn redis_is_shared_by_processes() {
    let redis = RedisServer::shared();
    processes_share_the_store(redis.url());
}
