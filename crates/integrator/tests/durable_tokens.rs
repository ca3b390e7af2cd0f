//! Tokens outlive the process: the `integrator` binary and the built
//! component against the simulator (single-use rotating refresh tokens,
//! reuse revokes the family), with the SQLite and Redis token stores.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use support::*;
use token_store::testing::RedisServer;
use x_sim::endpoint;

/// The environment of a flow connected to the simulator.
fn env_for(url: &str, refresh: &str) -> Vec<(String, String)> {
    vec![
        ("X_API_URL".into(), url.into()),
        ("X_CLIENT_ID".into(), "cli-client".into()),
        ("X_REFRESH_TOKEN".into(), refresh.into()),
    ]
}

fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn served(store: &str, env: &[(String, String)]) -> Served {
    let mut e = pairs(env);
    e.push(("INTEGRATOR_TOKEN_STORE", store));
    Served::start(&["examples/api.xml"], &e)
}

fn tokens_list(store: &str, extra_env: &[(&str, &str)]) -> serde_json::Value {
    let mut env = vec![("INTEGRATOR_TOKEN_STORE", store)];
    env.extend_from_slice(extra_env);
    let o = run(&["tokens", "list", "--json"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout_json(&o)
}

#[test]
fn the_main_job_runs_again_and_again_on_the_same_environment() {
    let live = LiveSim::start();
    let pair = live.sim.issue_tokens("cli-client");
    let state = tempdir();
    let env = env_for(&live.sim.url(), &pair.refresh_token);
    let mut e = pairs(&env);
    // The default store: $XDG_STATE_HOME/wso2-twitter-integrator/tokens.db.
    let state_dir = state.to_str().unwrap().to_string();
    e.push(("XDG_STATE_HOME", &state_dir));
    for i in 0..20 {
        // Every run finds its access token refused, so every run refreshes.
        live.sim.expire_access_tokens();
        let o = run(&["run", "examples/main.xml"], &e);
        assert!(o.status.success(), "run {i}: {}", stderr(&o));
        let v = stdout_json(&o);
        assert_eq!(v["deleted"], true, "run {i}: {v}");
        let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
        assert!(
            !all.contains(&pair.refresh_token),
            "run {i} printed a token"
        );
    }
    let s = live.sim.stats();
    assert_eq!(s.refreshes, 20);
    assert_eq!(s.reuses_detected, 0, "no run spent a refresh token twice");
    assert_eq!(s.revoked_families, 0);

    use std::os::unix::fs::PermissionsExt;
    let dir = state.join("wso2-twitter-integrator");
    let db = dir.join("tokens.db");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&db), 0o600);
    // What `tokens list` tells of it, and nothing secret.
    let listed = tokens_list(db.to_str().unwrap(), &[]);
    let fam = &listed["families"][0];
    assert_eq!(fam["connection"], "X_CONNECTION");
    assert_eq!(fam["clientId"], "cli-client");
    assert_eq!(fam["apiOrigin"], live.sim.url());
    assert_eq!(fam["refreshCount"], 20);
    assert!(fam["lease"].is_null());
    let table = run(
        &["tokens", "list"],
        &[("INTEGRATOR_TOKEN_STORE", db.to_str().unwrap())],
    );
    let text = String::from_utf8_lossy(&table.stdout).to_string();
    assert!(
        text.contains("X_CONNECTION") && text.contains("REFRESHES"),
        "{text}"
    );
    assert!(!text.contains(&pair.refresh_token));
    // Forget it: the next run starts again from the config's (spent) token,
    // which X refuses, with the re-authorize hint.
    let o = run(
        &["tokens", "forget", "X_CONNECTION"],
        &[("INTEGRATOR_TOKEN_STORE", db.to_str().unwrap())],
    );
    assert!(
        o.status.success() && stderr(&o).contains("forgot 1"),
        "{}",
        stderr(&o)
    );
    assert!(tokens_list(db.to_str().unwrap(), &[])["families"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn without_a_durable_store_the_second_run_would_spend_a_rotated_token() {
    // The defect the store fixes, shown with --token-store memory: the
    // second run sends the spent config token and X revokes the family.
    let live = LiveSim::start();
    let pair = live.sim.issue_tokens("cli-client");
    let env = env_for(&live.sim.url(), &pair.refresh_token);
    let mut e = pairs(&env);
    e.push(("INTEGRATOR_TOKEN_STORE", "memory"));
    let first = run(
        &["run", "examples/operations.xml", "--sequence", "get_me"],
        &e,
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let second = run(
        &["run", "examples/operations.xml", "--sequence", "get_me"],
        &e,
    );
    assert!(!second.status.success());
    assert!(
        stderr(&second).contains("refresh-failed"),
        "{}",
        stderr(&second)
    );
    assert_eq!(live.sim.stats().reuses_detected, 1);
}

/// Kills `integrator serve` 50 times at random moments with calls in
/// flight, some while a token request is held at X (before it rotates),
/// and restarts it on the same store.
#[test]
fn serve_killed_at_random_moments_never_loses_or_reuses_a_token() {
    let live = LiveSim::start();
    let sim = &live.sim;
    sim.set_access_token_ttl(Duration::from_secs(2));
    sim.set_latency(endpoint::TOKEN, Some(Duration::from_millis(300)));
    let pair = sim.issue_tokens("cli-client");
    let store = tempdir().join("tokens.db");
    let store = store.to_str().unwrap().to_string();
    let env = env_for(&sim.url(), &pair.refresh_token);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15
        ^ SystemTime::now()
            .elapsed()
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut held_kills = 0;
    for round in 0..50 {
        let s = served(&store, &env);
        // Every call after a restart succeeds.
        let (status, _, me) = s.request("GET", "/x/me", None);
        assert_eq!(status, 200, "round {round}: {me}\n{}", s.log_text());
        // Calls in flight from four clients until the kill.
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let (addr, stop) = (s.addr.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let _ = request_to(&addr, "GET", "/x/me", None);
                    }
                })
            })
            .collect();
        let started = Instant::now();
        let while_held = round % 2 == 1;
        let target = Duration::from_millis(50 + next(700));
        let mut last_in_flight = 0;
        let mut hold_seen: Option<Instant> = None;
        loop {
            let st = sim.stats();
            let in_flight = st.in_flight_at(endpoint::TOKEN);
            if in_flight > last_in_flight {
                hold_seen = Some(Instant::now());
            }
            if in_flight == 0 {
                hold_seen = None;
            }
            last_in_flight = in_flight;
            // X rotates a held request 300 ms after it arrived: a kill in the
            // first 200 ms of a hold lands before the rotation. A kill just
            // after a rotation, before the runtime committed it, would lose
            // the token at real X too (the response never arrives in time),
            // so kills keep 150 ms away from one.
            let fresh_hold = hold_seen.is_some_and(|t| t.elapsed() < Duration::from_millis(200));
            let recent_rotation = st
                .last_refresh
                .is_some_and(|t| t.elapsed().unwrap_or_default() < Duration::from_millis(150));
            let kill = if while_held {
                fresh_hold && !recent_rotation
            } else {
                started.elapsed() >= target && !recent_rotation && (in_flight == 0 || fresh_hold)
            };
            if kill {
                if in_flight > 0 {
                    held_kills += 1;
                }
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "round {round}: no moment to kill"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        s.kill();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        let st = sim.stats();
        assert_eq!(
            st.reuses_detected, 0,
            "round {round}: a token was spent twice"
        );
        assert_eq!(st.revoked_families, 0, "round {round}");
    }
    assert!(
        held_kills >= 25,
        "only {held_kills} kills landed on a held token request"
    );
    // After it all, the service still acts for the same family.
    let s = served(&store, &env);
    for _ in 0..5 {
        let (status, _, me) = s.request("GET", "/x/me", None);
        assert_eq!(status, 200, "{me}");
    }
    let st = sim.stats();
    assert_eq!((st.reuses_detected, st.revoked_families), (0, 0));
    assert!(st.refreshes >= 25, "rotations happened: {}", st.refreshes);
}

/// Two `serve` processes on one store; 64 concurrent calls at expiry.
fn two_processes_one_refresh(store: &str) {
    let live = LiveSim::start();
    let sim = &live.sim;
    sim.set_access_token_ttl(Duration::from_secs(10));
    sim.set_latency(endpoint::GET_ME, Some(Duration::from_millis(20)));
    let pair = sim.issue_tokens("cli-client");
    let env = env_for(&sim.url(), &pair.refresh_token);
    let a = served(store, &env);
    let b = served(store, &env);
    assert_eq!(a.request("GET", "/x/me", None).0, 200);
    assert_eq!(b.request("GET", "/x/me", None).0, 200);
    assert_eq!(sim.stats().refreshes, 1, "b adopted a's tokens");
    // Half the 10 s lifetime gone: the next call on either side refreshes.
    std::thread::sleep(Duration::from_millis(5_200));
    let before = sim.stats().refreshes;
    let calls: Vec<_> = (0..64)
        .map(|i| {
            let addr = if i % 2 == 0 {
                a.addr.clone()
            } else {
                b.addr.clone()
            };
            std::thread::spawn(move || request_to(&addr, "GET", "/x/me", None))
        })
        .collect();
    for (i, c) in calls.into_iter().enumerate() {
        let (status, _, body) = c.join().unwrap().unwrap();
        assert_eq!(status, 200, "call {i}: {body}");
    }
    let st = sim.stats();
    assert_eq!(
        st.refreshes - before,
        1,
        "exactly one refresh for 64 calls in two processes"
    );
    assert_eq!(st.reuses_detected, 0);
    assert_eq!(st.requests_to(endpoint::GET_ME), 66);
}

#[test]
fn two_processes_sharing_sqlite_refresh_once() {
    let store = tempdir().join("tokens.db");
    two_processes_one_refresh(store.to_str().unwrap());
}

#[test]
fn two_processes_sharing_redis_refresh_once() {
    let redis = RedisServer::shared();
    two_processes_one_refresh(redis.url());
}

#[test]
fn a_corrupt_store_file_stops_before_anything_is_sent() {
    let live = LiveSim::start();
    let pair = live.sim.issue_tokens("cli-client");
    let db = tempdir().join("tokens.db");
    std::fs::write(
        &db,
        "garbage that is not SQLite at all, long enough for a header ....",
    )
    .unwrap();
    // Owner-only, as a store file must be: what is refused is its contents.
    std::fs::set_permissions(&db, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let env = env_for(&live.sim.url(), &pair.refresh_token);
    let mut e = pairs(&env);
    let db = db.to_str().unwrap().to_string();
    e.push(("INTEGRATOR_TOKEN_STORE", &db));
    let o = run(
        &["run", "examples/operations.xml", "--sequence", "get_me"],
        &e,
    );
    assert_eq!(o.status.code(), Some(5), "a store problem: {}", stderr(&o));
    assert!(
        stderr(&o).contains("not an SQLite database") && stderr(&o).contains(&db),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        live.sim.stats().total_requests(),
        0,
        "nothing was sent to X"
    );
}

#[test]
fn a_wrong_store_key_is_a_clear_error_never_a_new_family() {
    let live = LiveSim::start();
    let pair = live.sim.issue_tokens("cli-client");
    let db = tempdir().join("sealed.db");
    let db = db.to_str().unwrap().to_string();
    let env = env_for(&live.sim.url(), &pair.refresh_token);
    let good = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let wrong = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";
    let with_key = |key: &str| {
        let mut e = pairs(&env);
        e.push(("INTEGRATOR_TOKEN_STORE", db.as_str()));
        e.push(("INTEGRATOR_STORE_KEY", key));
        run(
            &["run", "examples/operations.xml", "--sequence", "get_me"],
            &e,
        )
    };
    let o = with_key(good);
    assert!(o.status.success(), "{}", stderr(&o));
    let raw = std::fs::read(&db).unwrap();
    let wal = std::fs::read(format!("{db}-wal")).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&[raw, wal].concat()).contains(&pair.refresh_token));
    let before = live.sim.stats();
    // Wrong key: refused with the reason, nothing sent to X.
    live.sim.expire_access_tokens();
    let o = with_key(wrong);
    assert_eq!(o.status.code(), Some(5), "a store problem");
    assert!(stderr(&o).contains("wrong store key"), "{}", stderr(&o));
    assert!(!stderr(&o).contains(wrong));
    let after = live.sim.stats();
    assert_eq!(after.refreshes, before.refreshes, "no refresh attempted");
    assert_eq!(
        after.requests_to(endpoint::TOKEN),
        before.requests_to(endpoint::TOKEN)
    );
    // A malformed key names the rule.
    let o = with_key("not-a-key");
    assert_eq!(o.status.code(), Some(5), "a store problem");
    assert!(
        stderr(&o).contains("INTEGRATOR_STORE_KEY must be 32"),
        "{}",
        stderr(&o)
    );
    // The right key again: the same family goes on.
    let o = with_key(good);
    assert!(o.status.success(), "{}", stderr(&o));
    let st = live.sim.stats();
    assert_eq!((st.reuses_detected, st.revoked_families), (0, 0));
    assert!(tokens_list(&db, &[])["families"][0]["sealed"]
        .as_bool()
        .unwrap());
}

#[test]
fn a_stopped_redis_fails_calls_clearly_and_they_go_on_when_it_is_back() {
    let live = LiveSim::start();
    let sim = &live.sim;
    let mut redis = RedisServer::private();
    let pair = sim.issue_tokens("cli-client");
    let env = env_for(&sim.url(), &pair.refresh_token);
    let s = served(redis.url(), &env);
    assert_eq!(s.request("GET", "/x/me", None).0, 200);
    redis.stop();
    // X now refuses the access token: a refresh is needed, and the store is down.
    sim.expire_access_tokens();
    let refreshes = sim.stats().refreshes;
    let (status, _, body) = s.request("GET", "/x/me", None);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["kind"], "token-store");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("redis") && message.contains("no token refresh was sent"),
        "{message}"
    );
    assert_eq!(sim.stats().refreshes, refreshes, "no refresh attempted");
    redis.start();
    let (status, _, body) = s.request("GET", "/x/me", None);
    assert_eq!(status, 200, "{body}");
    let st = sim.stats();
    assert_eq!(st.refreshes, refreshes + 1);
    assert_eq!(
        (st.reuses_detected, st.revoked_families),
        (0, 0),
        "the same family goes on"
    );
}

#[test]
fn a_refresh_that_succeeds_while_the_store_is_down_is_held_and_saved_later() {
    let live = LiveSim::start();
    let sim = &live.sim;
    let mut redis = RedisServer::private();
    let pair = sim.issue_tokens("cli-client");
    let env = env_for(&sim.url(), &pair.refresh_token);
    let s = served(redis.url(), &env);
    assert_eq!(s.request("GET", "/x/me", None).0, 200);
    let refreshes = sim.stats().refreshes;
    // The next refresh is held at X for a while; the store stops meanwhile.
    sim.set_latency(endpoint::TOKEN, Some(Duration::from_millis(1_500)));
    sim.expire_access_tokens();
    let addr = s.addr.clone();
    let call = std::thread::spawn(move || request_to(&addr, "GET", "/x/me", None));
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.stats().in_flight_at(endpoint::TOKEN) == 0 {
        assert!(Instant::now() < deadline, "no token request came");
        std::thread::sleep(Duration::from_millis(5));
    }
    redis.stop();
    let (status, _, body) = call.join().unwrap().unwrap();
    assert_eq!(sim.stats().refreshes, refreshes + 1, "X rotated the token");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["kind"], "token-store");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("held in memory"),
        "{body}"
    );
    // Still down: the next call fails the same way and sends no refresh.
    sim.set_latency(endpoint::TOKEN, None);
    let (status, _, _) = s.request("GET", "/x/me", None);
    assert_eq!(status, 503);
    assert_eq!(sim.stats().refreshes, refreshes + 1);
    // Back: the held set is saved and used; the spent token is never sent.
    redis.start();
    let (status, _, body) = s.request("GET", "/x/me", None);
    assert_eq!(status, 200, "{body}");
    let st = sim.stats();
    assert_eq!(
        st.refreshes,
        refreshes + 1,
        "the held set served, no new refresh"
    );
    assert_eq!((st.reuses_detected, st.revoked_families), (0, 0));
    // A new process of the same flow finds the saved set in Redis.
    s.kill();
    sim.expire_access_tokens();
    let s = served(redis.url(), &env);
    let (status, _, body) = s.request("GET", "/x/me", None);
    assert_eq!(status, 200, "{body}");
    let st = sim.stats();
    assert_eq!(
        st.refreshes,
        refreshes + 2,
        "it refreshed from the saved token"
    );
    assert_eq!((st.reuses_detected, st.revoked_families), (0, 0));
}
