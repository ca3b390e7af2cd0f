//! Concurrent calls on one connection under `integrator serve`: a pool of
//! component instances per connection, several keep-alive connections (or
//! one HTTP/2 connection) to X, one token refresh for all of them.

mod support;

use std::time::{Duration, Instant};

use support::*;
use x_sim::{endpoint, Simulator};

fn env_for(url: &str, refresh: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![
        ("X_API_URL".to_string(), url.to_string()),
        ("X_CLIENT_ID".to_string(), "cli-client".to_string()),
        ("X_REFRESH_TOKEN".to_string(), refresh.to_string()),
        ("INTEGRATOR_TOKEN_STORE".to_string(), "memory".to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

fn serve(env: &[(String, String)], extra_args: &[&str]) -> Served {
    let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut args = vec!["examples/api.xml"];
    args.extend_from_slice(extra_args);
    Served::start(&args, &e)
}

/// `n` GET /x/me at once; the answers in order.
fn burst(addr: &str, n: usize) -> Vec<Answer> {
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let addr = addr.to_string();
            std::thread::spawn(move || request_to(&addr, "GET", "/x/me", None))
        })
        .collect();
    calls
        .into_iter()
        .map(|c| c.join().unwrap().expect("an HTTP answer"))
        .collect()
}

#[test]
fn sixty_four_concurrent_calls_at_expiry_run_side_by_side_with_one_refresh() {
    let live = LiveSim::start();
    let sim = &live.sim;
    sim.set_access_token_ttl(Duration::from_secs(4));
    sim.set_latency(endpoint::GET_ME, Some(Duration::from_millis(100)));
    let pair = sim.issue_tokens("cli-client");
    let env = env_for(&sim.url(), &pair.refresh_token, &[("X_MAX_ACTIVE", "64")]);
    let s = serve(&env, &[]);
    assert_eq!(s.request("GET", "/x/me", None).0, 200);
    assert_eq!(sim.stats().refreshes, 1);
    // Past half the token's life: every call of the burst finds it expiring.
    std::thread::sleep(Duration::from_millis(2_100));
    let started = Instant::now();
    let answers = burst(&s.addr, 64);
    let took = started.elapsed();
    for (i, (status, _, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "call {i}: {body}");
    }
    let st = sim.stats();
    assert_eq!(st.refreshes, 2, "exactly one refresh for the 64 calls");
    assert_eq!((st.reuses_detected, st.revoked_families), (0, 0));
    assert!(
        st.max_in_flight_at(endpoint::GET_ME) > 1,
        "the calls reached X side by side"
    );
    assert!(st.connections > 1, "several keep-alive connections to X");
    assert!(
        st.connections <= 1 + 64,
        "bounded: {} connections",
        st.connections
    );
    // Queued behind one instance, 64 calls of 100 ms would take 6.4 s.
    assert!(took < Duration::from_secs(4), "took {took:?}");
    // Sequential calls afterwards reuse the kept-alive connections.
    let before = sim.stats().connections;
    for _ in 0..10 {
        assert_eq!(s.request("GET", "/x/me", None).0, 200);
    }
    assert_eq!(sim.stats().connections, before);
}

#[test]
fn an_exhausted_pool_fails_fast_or_after_max_wait_time_naming_the_limit() {
    let live = LiveSim::start();
    let sim = &live.sim;
    sim.set_latency(endpoint::GET_ME, Some(Duration::from_millis(800)));
    let pair = sim.issue_tokens("cli-client");
    let env = env_for(
        &sim.url(),
        &pair.refresh_token,
        &[
            ("X_MAX_ACTIVE", "2"),
            ("X_EXHAUSTED_ACTION", "WHEN_EXHAUSTED_FAIL"),
        ],
    );
    let s = serve(&env, &[]);
    assert_eq!(s.request("GET", "/x/me", None).0, 200);
    let started = Instant::now();
    let answers = burst(&s.addr, 6);
    let ok = answers.iter().filter(|a| a.0 == 200).count();
    let refused: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert_eq!((ok, refused.len()), (2, 4), "{answers:?}");
    for (_, _, body) in &refused {
        assert_eq!(body["error"]["kind"], "pool-exhausted", "{body}");
        let m = body["error"]["message"].as_str().unwrap();
        assert!(
            m.contains("maxActiveConnections = 2") && m.contains("FAIL"),
            "{m}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(s);

    // WAIT with maxWaitTime: the extra calls wait 300 ms, then fail. (A
    // new process on the memory store: a new authorization.)
    let pair = sim.issue_tokens("cli-client");
    let env = env_for(
        &sim.url(),
        &pair.refresh_token,
        &[("X_MAX_ACTIVE", "2"), ("X_MAX_WAIT", "300")],
    );
    let s = serve(&env, &[]);
    let answers = burst(&s.addr, 6);
    let ok = answers.iter().filter(|a| a.0 == 200).count();
    let waited: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert_eq!((ok, waited.len()), (2, 4), "{answers:?}");
    for (_, _, body) in &waited {
        let m = body["error"]["message"].as_str().unwrap();
        assert!(
            m.contains("maxWaitTime = 300 ms") && m.contains("X_CONNECTION"),
            "{m}"
        );
    }
    // A bad pool parameter names itself and the rule.
    drop(s);
    let env = env_for(&sim.url(), "unused", &[("X_MAX_ACTIVE", "0")]);
    let s = serve(&env, &[]);
    let (status, _, body) = s.request("GET", "/x/me", None);
    assert_eq!(status, 400, "{body}");
    let m = body["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("maxActiveConnections") && m.contains("from 1 to 256"),
        "{m}"
    );
}

#[test]
fn an_idle_pool_shrinks() {
    let live = LiveSim::start();
    let sim = &live.sim;
    sim.set_latency(endpoint::GET_ME, Some(Duration::from_millis(100)));
    let pair = sim.issue_tokens("cli-client");
    let env = env_for(
        &sim.url(),
        &pair.refresh_token,
        &[
            ("X_MAX_ACTIVE", "8"),
            ("X_MIN_EVICTION", "200"),
            ("X_EVICTION_INTERVAL", "50"),
        ],
    );
    let s = serve(&env, &["-v"]);
    for (status, _, body) in burst(&s.addr, 8) {
        assert_eq!(status, 200, "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.log_text().contains("evicted idle instances") {
        assert!(Instant::now() < deadline, "no eviction:\n{}", s.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    // And it grows again on demand.
    assert_eq!(s.request("GET", "/x/me", None).0, 200);
}

#[test]
fn one_http2_connection_carries_concurrent_calls_where_x_offers_it() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sim: Simulator = rt.block_on(Simulator::start_tls_h2()).unwrap();
    sim.add_client("cli-client", None);
    sim.set_latency(endpoint::GET_ME, Some(Duration::from_millis(100)));
    let pair = sim.issue_tokens("cli-client");
    let ca = tempdir().join("ca.pem");
    std::fs::write(&ca, sim.cert_pem().unwrap()).unwrap();
    let ca = ca.to_str().unwrap().to_string();
    let env = env_for(
        &sim.url(),
        &pair.refresh_token,
        &[("X_MAX_ACTIVE", "32"), ("SSL_CERT_FILE", &ca)],
    );
    let s = serve(&env, &[]);
    for (status, _, body) in burst(&s.addr, 32) {
        assert_eq!(status, 200, "{body}");
    }
    let st = sim.stats();
    assert_eq!(st.h2_connections, 1, "HTTP/2 negotiated");
    assert_eq!(st.connections, 1, "one connection multiplexes every call");
    assert!(st.max_in_flight_at(endpoint::GET_ME) > 1);
    assert_eq!(st.refreshes, 1);
}
