//! `serve --metrics` and the health paths, through the real binary against
//! the simulator with a real Redis token store: after a scripted run, the
//! `/metrics` page is parsed with a Prometheus text parser and each counter
//! is checked against what the simulator saw; readiness follows the store.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::*;
use token_store::testing::RedisServer;
use x_sim::endpoint;

/// A GET whose answer is text: status and body.
fn get_text(addr: &str, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    (status, content_type, body.to_string())
}

/// The scrape as (name, labels) → value.
struct Scraped(Vec<(String, HashMap<String, String>, f64)>);

impl Scraped {
    fn parse(text: &str) -> Scraped {
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        Scraped(
            scrape
                .samples
                .into_iter()
                .filter_map(|s| {
                    let v = match s.value {
                        prometheus_parse::Value::Counter(v)
                        | prometheus_parse::Value::Gauge(v)
                        | prometheus_parse::Value::Untyped(v) => v,
                        prometheus_parse::Value::Histogram(h) => {
                            h.last().map(|b| b.count).unwrap_or(0.0)
                        }
                        prometheus_parse::Value::Summary(_) => return None,
                    };
                    Some((s.metric, (*s.labels).clone(), v))
                })
                .collect(),
        )
    }

    /// The value of `name` with these labels (others may differ), summed.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _, _)| n == name)
    }
}

/// `serve --metrics` of examples/api.xml on the simulator, its tokens in
/// `redis`, with `extra` environment.
fn serve_with_metrics(
    live: &LiveSim,
    redis: &RedisServer,
    extra: &[(&str, &str)],
) -> (Served, x_sim::TokenPair) {
    let pair = live.sim.issue_tokens("cli-client");
    let url = live.sim.url();
    let mut env = vec![
        ("X_API_URL", url.as_str()),
        ("X_CLIENT_ID", "cli-client"),
        ("X_REFRESH_TOKEN", pair.refresh_token.as_str()),
    ];
    env.extend_from_slice(extra);
    let s = Served::start(
        &[
            "examples/api.xml",
            "--metrics",
            "--token-store",
            redis.url(),
        ],
        &env,
    );
    (s, pair)
}

#[test]
fn metrics_match_what_x_saw_and_readiness_follows_the_token_store() {
    let live = LiveSim::start();
    let sim = &live.sim;
    let mut redis = RedisServer::private();
    let (s, pair) = serve_with_metrics(&live, &redis, &[("X_MAX_SPEND_PER_DAY", "5")]);
    assert_eq!(get_text(&s.addr, "/health/live").0, 200);
    let (status, _, body) = get_text(&s.addr, "/health/ready");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"ready\"") && body.contains("redis"),
        "{body}"
    );

    // The scripted run: reads, posts, a delete, a refresh on the way, and
    // a post the connector refuses before sending.
    for _ in 0..3 {
        assert_eq!(s.request("GET", "/x/me", None).0, 200);
    }
    let mut ids = Vec::new();
    for i in 0..2 {
        let (st, _, b) = s.request(
            "POST",
            "/x/tweets",
            Some(&format!(r#"{{"text":"metrics {i}"}}"#)),
        );
        assert_eq!(st, 201, "{b}");
        ids.push(b["id"].as_str().unwrap().to_string());
    }
    assert_eq!(
        s.request("DELETE", &format!("/x/tweets/{}", ids[0]), None)
            .0,
        200
    );
    sim.expire_access_tokens();
    assert_eq!(s.request("GET", "/x/me", None).0, 200);
    let (st, _, b) = s.request("POST", "/x/tweets", Some(r#"{"text":""}"#));
    assert_eq!(
        (st, b["error"]["kind"].as_str()),
        (400, Some("invalid-input"))
    );

    let (status, content_type, text) = get_text(&s.addr, "/metrics");
    assert_eq!(status, 200, "{text}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    for secret in sim
        .stats()
        .tokens_issued
        .iter()
        .chain([&pair.refresh_token])
    {
        assert!(!text.contains(secret.as_str()), "a token in the metrics");
    }
    let m = Scraped::parse(&text);
    let st = sim.stats();
    let conn = ("connection", "X_CONNECTION");
    let calls = |op: &str, outcome: &str| {
        m.get(
            "integrator_calls_total",
            &[conn, ("operation", op), ("outcome", outcome)],
        )
    };
    // Each call X answered once, plus the one replayed after a 401.
    assert_eq!(calls("getMe", "ok"), 4.0, "{text}");
    assert_eq!(
        calls("getMe", "ok") as u64,
        st.requests_to(endpoint::GET_ME) - st.unauthorized
    );
    assert_eq!(
        calls("createTweet", "ok") as u64,
        st.requests_to(endpoint::CREATE_TWEET)
    );
    assert_eq!(
        calls("deleteTweet", "ok") as u64,
        st.requests_to(endpoint::DELETE_TWEET)
    );
    assert_eq!(
        calls("createTweet", "invalid-input"),
        1.0,
        "refused, never sent"
    );
    assert_eq!(
        m.get(
            "integrator_call_duration_seconds",
            &[conn, ("operation", "getMe")]
        ),
        4.0,
        "one latency observation per call"
    );
    // Token requests: the first refresh (init gave only a refresh token)
    // and the one after the 401, as X counted them.
    assert_eq!(
        m.get(
            "integrator_token_requests_total",
            &[conn, ("outcome", "issued")]
        ) as u64,
        st.refreshes
    );
    assert_eq!(st.refreshes, 2);
    assert!(!m.has("integrator_token_store_errors_total"), "{text}");
    // Rate limits as X's last answer said.
    let remaining = m.get(
        "integrator_rate_limit_remaining",
        &[conn, ("operation", "getMe"), ("window", "window")],
    );
    let limit = m.get(
        "integrator_rate_limit_limit",
        &[conn, ("operation", "getMe"), ("window", "window")],
    );
    assert!(limit > 0.0 && remaining < limit, "{remaining} of {limit}");
    // Spend: what this process's calls cost, the ledger's day, the budget.
    let cost = m.get("integrator_call_cost_usd", &[conn]);
    let day = m.get("integrator_spend_usd", &[conn, ("period", "day")]);
    assert!(cost > 0.0, "{text}");
    assert!((cost - day).abs() < 1e-9, "{cost} vs {day}");
    let left = m.get("integrator_budget_left_usd", &[conn, ("period", "day")]);
    assert!((left - (5.0 - day)).abs() < 1e-9, "{left}");
    assert_eq!(m.get("integrator_spend_ledger_up", &[]), 1.0);
    // The pool, and serve's own answers.
    assert!(m.get("integrator_pool_instances_created_total", &[conn]) >= 1.0);
    assert!(m.get("integrator_pool_max_active", &[conn]) >= 1.0);
    assert_eq!(
        m.get("integrator_http_requests_total", &[("status", "200")]),
        // /health/live, /health/ready, 4 reads, 1 delete.
        7.0,
        "{text}"
    );
    assert_eq!(
        m.get("integrator_http_requests_total", &[("status", "201")]),
        2.0
    );
    assert_eq!(
        m.get("integrator_http_requests_total", &[("status", "400")]),
        1.0
    );

    // The store goes away: not ready (still live), and a call that needs
    // it is counted as a store error.
    redis.stop();
    let (status, _, body) = get_text(&s.addr, "/health/ready");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("not-ready") && body.contains("token store"),
        "{body}"
    );
    assert_eq!(get_text(&s.addr, "/health/live").0, 200);
    sim.expire_access_tokens();
    let (status, _, body) = s.request("GET", "/x/me", None);
    assert_eq!(status, 503, "{body}");
    let text = get_text(&s.addr, "/metrics").2;
    let m = Scraped::parse(&text);
    // The budget's ledger is read first (it lives in the same Redis).
    assert!(
        m.get(
            "integrator_token_store_errors_total",
            &[("call", "spend-ledger")]
        ) >= 1.0,
        "{text}"
    );
    assert_eq!(calls_of(&m, "getMe", "token-store"), 1.0, "{text}");
    assert_eq!(m.get("integrator_spend_ledger_up", &[]), 0.0, "{text}");
    redis.start();
    assert_eq!(get_text(&s.addr, "/health/ready").0, 200);
    assert_eq!(s.request("GET", "/x/me", None).0, 200);
}

fn calls_of(m: &Scraped, op: &str, outcome: &str) -> f64 {
    m.get(
        "integrator_calls_total",
        &[
            ("connection", "X_CONNECTION"),
            ("operation", op),
            ("outcome", outcome),
        ],
    )
}

#[test]
fn without_the_flag_there_is_no_metrics_page_but_health_answers() {
    let s = Served::start(&["--sandbox", "examples/api.xml"], &[]);
    assert_eq!(get_text(&s.addr, "/metrics").0, 404);
    assert_eq!(get_text(&s.addr, "/health/live").0, 200);
    let (status, _, body) = get_text(&s.addr, "/health/ready");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn token_store_failures_are_counted_by_call() {
    let live = LiveSim::start();
    let sim = &live.sim;
    let mut redis = RedisServer::private();
    let (s, _pair) = serve_with_metrics(&live, &redis, &[]);
    assert_eq!(s.request("GET", "/x/me", None).0, 200);
    redis.stop();
    sim.expire_access_tokens();
    let (status, _, body) = s.request("GET", "/x/me", None);
    assert_eq!(
        (status, body["error"]["kind"].as_str()),
        (503, Some("token-store"))
    );
    let text = get_text(&s.addr, "/metrics").2;
    let m = Scraped::parse(&text);
    let all = m.get("integrator_token_store_errors_total", &[]);
    let ledger = m.get(
        "integrator_token_store_errors_total",
        &[("call", "spend-ledger")],
    );
    assert!(all - ledger >= 1.0, "the token store's own calls: {text}");
    assert_eq!(calls_of(&m, "getMe", "token-store"), 1.0, "{text}");
    // No refresh was sent while the store was down.
    assert_eq!(
        m.get("integrator_token_requests_total", &[]) as u64,
        sim.stats().refreshes
    );
    redis.start();
    assert_eq!(s.request("GET", "/x/me", None).0, 200);
}
