//! Guaranteed delivery through the real binary against the simulator:
//! `<store>` and a message processor (examples/queue.xml) with the SQLite
//! and Redis stores. A queue drains through X's rate-limit window, waiting
//! for each reset; survives a SIGKILL of the runtime mid-queue; puts what
//! will not pass in the dead letters; reconciles a post whose answer was
//! lost; and two processes on one Redis queue deliver each message once.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use support::*;
use token_store::testing::RedisServer;
use x_sim::endpoint;

fn serve_queue(live: &LiveSim, store: &str, refresh: &str, extra: &[(&str, &str)]) -> Served {
    let url = live.sim.url();
    let mut env = vec![
        ("X_API_URL", url.as_str()),
        ("X_CLIENT_ID", "cli-client"),
        ("X_REFRESH_TOKEN", refresh),
        ("INTEGRATOR_TOKEN_STORE", store),
    ];
    env.extend_from_slice(extra);
    Served::start(&["examples/queue.xml", "-v"], &env)
}

fn enqueue(s: &Served, text: &str) -> String {
    let (status, _, body) = s.request(
        "POST",
        "/queue/posts",
        Some(&format!(r#"{{"text":"{text}"}}"#)),
    );
    assert_eq!(status, 202, "{body}");
    body["queued"].as_str().unwrap().to_string()
}

fn created(live: &LiveSim) -> Vec<String> {
    live.sim.stats().created_texts
}

fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn queue_json(store: &str) -> serde_json::Value {
    let o = run(&["queue", "list", "--json", "--token-store", store], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout_json(&o)
}

/// No text created twice, and every one of `texts` created.
fn each_once(live: &LiveSim, texts: &[String]) {
    let mut seen: HashMap<String, u32> = HashMap::new();
    for t in created(live) {
        *seen.entry(t).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "posted twice: {twice:?}");
    let missing: Vec<_> = texts.iter().filter(|t| !seen.contains_key(*t)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
}

#[test]
fn fifty_posts_drain_through_a_window_of_twenty_and_survive_a_sigkill() {
    let live = LiveSim::start();
    // X's 15-minute window of 20 posts, on a faster clock: 20 per 4 s.
    live.sim
        .set_rate_limit(endpoint::CREATE_TWEET, 20, Duration::from_secs(4));
    let pair = live.sim.issue_tokens("cli-client");
    let store = tempdir().join("state.db");
    let store = store.to_str().unwrap();
    let s = serve_queue(&live, store, &pair.refresh_token, &[]);
    let texts: Vec<String> = (0..50).map(|i| format!("queued post number {i}")).collect();
    let started = Instant::now();
    for t in &texts {
        enqueue(&s, t);
    }
    // The first window: 20 go out, the rest wait for its reset.
    wait_for("the first 20", 10, || created(&live).len() >= 20);
    std::thread::sleep(Duration::from_millis(1500));
    let first_window = created(&live).len();
    if started.elapsed() < Duration::from_millis(3800) {
        assert_eq!(first_window, 20, "only the window's 20 before its reset");
    }
    let q = queue_json(store);
    let waiting = q["messages"].as_array().unwrap().len();
    assert_eq!(waiting, 50 - first_window, "{q}");
    let stalled = q["messages"][0]["lastError"].as_str().unwrap_or("");
    assert!(stalled.starts_with("rate-limited"), "{q}");
    // A 429 was answered, and the processor waited for the reset: not a
    // tight loop of 429s.
    let refused = live.sim.stats().requests_to(endpoint::CREATE_TWEET) as usize - first_window;
    assert!(
        refused <= 3,
        "{refused} requests refused in the first window"
    );

    // SIGKILL in the middle of the second window, then a new process on
    // the same store.
    wait_for("a few more", 15, || {
        created(&live).len() >= first_window + 5
    });
    s.kill();
    let after_kill = created(&live).len();
    let s = serve_queue(&live, store, &pair.refresh_token, &[]);
    wait_for("all 50", 30, || created(&live).len() >= 50);
    // Let a last in-doubt redelivery settle, then nothing is left.
    wait_for("an empty queue", 10, || {
        queue_json(store)["messages"].as_array().unwrap().is_empty()
    });
    each_once(&live, &texts);
    assert_eq!(created(&live).len(), 50);
    let took = started.elapsed();
    eprintln!(
        "queue: 50 posts through a window of 20 per 4 s in {:.1} s ({} before the kill), {} requests to X, {} refused with 429",
        took.as_secs_f64(),
        after_kill,
        live.sim.stats().requests_to(endpoint::CREATE_TWEET),
        live.sim.stats().requests_to(endpoint::CREATE_TWEET) - 50,
    );
    assert!(
        took >= Duration::from_secs(8),
        "three windows: at least two resets"
    );
    // One 429 per window at most (each wait ends past X's reset), and one
    // more for the new process, which does not know the window yet.
    let refused = live.sim.stats().requests_to(endpoint::CREATE_TWEET) - 50;
    assert!(refused <= 4, "{refused} requests refused with 429");
    drop(s);
}

#[test]
fn what_will_not_pass_goes_to_the_dead_letters_and_operators_retry_or_drop_it() {
    let live = LiveSim::start();
    let pair = live.sim.issue_tokens("cli-client");
    let store = tempdir().join("state.db");
    let store = store.to_str().unwrap();
    let s = serve_queue(&live, store, &pair.refresh_token, &[]);
    let bad = enqueue(&s, "");
    let good = enqueue(&s, "after the bad one");
    wait_for("the good one", 10, || {
        created(&live).contains(&"after the bad one".to_string())
    });
    let q = queue_json(store);
    let all = q["messages"].as_array().unwrap();
    assert_eq!(all.len(), 1, "{q}");
    assert_eq!(all[0]["id"], bad.as_str());
    assert_eq!(all[0]["state"], "dead");
    assert_eq!(all[0]["attempts"], 1, "given up at once");
    let err = all[0]["lastError"].as_str().unwrap();
    assert!(
        err.starts_with("invalid-input") && err.contains("`text`"),
        "{err}"
    );
    assert_eq!(
        live.sim.stats().tweet_bodies.len(),
        1,
        "the bad one never reached X"
    );
    let _ = good;

    // show, pause, retry (back in the queue, held while paused), drop.
    let o = run(&["queue", "show", &bad, "--token-store", store], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout_json(&o)["message"]["payload"]["text"], "");
    let ok = |args: &[&str]| {
        let mut a = vec!["queue"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["--token-store", store]);
        let o = run(&a, &[]);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    };
    ok(&["pause", "posts"]);
    ok(&["retry", &bad]);
    std::thread::sleep(Duration::from_millis(800));
    let q = queue_json(store);
    assert_eq!(q["messages"][0]["state"], "waiting", "{q}");
    assert_eq!(
        live.sim.stats().tweet_bodies.len(),
        1,
        "paused: nothing sent"
    );
    ok(&["drop", &bad]);
    assert!(queue_json(store)["messages"].as_array().unwrap().is_empty());
    ok(&["resume", "posts"]);
    // An unknown id is an error.
    let o = run(&["queue", "retry", "nope", "--token-store", store], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no dead letter `nope`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_post_whose_answer_was_lost_is_reconciled_not_posted_twice() {
    let live = LiveSim::start();
    let pair = live.sim.issue_tokens("cli-client");
    let store = tempdir().join("state.db");
    let store = store.to_str().unwrap();
    // X creates the post, and its answer stalls past the timeout.
    live.sim.push_fault(
        endpoint::CREATE_TWEET,
        x_sim::Fault::StalledBody(Duration::from_secs(5)),
    );
    let s = serve_queue(&live, store, &pair.refresh_token, &[("X_TIMEOUT", "1000")]);
    enqueue(&s, "sent once, answered never");
    wait_for("the queue to empty", 20, || {
        queue_json(store)["messages"].as_array().unwrap().is_empty()
    });
    // Sent twice, created once: X refused the second as a duplicate,
    // which proves the first was posted.
    assert_eq!(live.sim.stats().requests_to(endpoint::CREATE_TWEET), 2);
    assert_eq!(created(&live), ["sent once, answered never"]);
    assert!(s.log_text().contains("(reconciled)"), "{}", s.log_text());
}

#[test]
fn two_processes_on_one_redis_queue_deliver_each_message_once_even_when_one_is_killed() {
    let live = LiveSim::start();
    let redis = RedisServer::private();
    let pair = live.sim.issue_tokens("cli-client");
    let a = serve_queue(&live, redis.url(), &pair.refresh_token, &[]);
    let b = serve_queue(&live, redis.url(), &pair.refresh_token, &[]);
    let texts: Vec<String> = (0..40).map(|i| format!("shared queue post {i}")).collect();
    for (i, t) in texts.iter().enumerate() {
        enqueue(if i % 2 == 0 { &a } else { &b }, t);
    }
    wait_for("some delivered", 15, || created(&live).len() >= 10);
    a.kill();
    wait_for("all 40", 30, || created(&live).len() >= 40);
    wait_for("an empty queue", 10, || {
        queue_json(redis.url())["messages"]
            .as_array()
            .unwrap()
            .is_empty()
    });
    each_once(&live, &texts);
    assert_eq!(created(&live).len(), 40);
    // Both took part before the kill.
    let delivered_by = |s: &Served| s.log_text().matches("delivered").count();
    assert!(delivered_by(&b) > 0, "{}", b.log_text());
    let st = live.sim.stats();
    assert_eq!((st.reuses_detected, st.revoked_families), (0, 0));
}

/// Several machines share one Redis for tokens, budgets and queues: two
/// processes with a daily budget of $0.30 (20 posts at $0.015) post 20 of
/// 30 queued messages between them, and the other 10 wait for the budget's
/// reset at midnight UTC, never a tight retry.
#[test]
fn two_processes_share_one_budget_and_the_rest_waits_for_its_reset() {
    let live = LiveSim::start();
    let redis = RedisServer::private();
    let pair = live.sim.issue_tokens("cli-client");
    let budget = [("X_MAX_SPEND_PER_DAY", "0.30")];
    let a = serve_queue(&live, redis.url(), &pair.refresh_token, &budget);
    let b = serve_queue(&live, redis.url(), &pair.refresh_token, &budget);
    for i in 0..30 {
        enqueue(
            if i % 2 == 0 { &a } else { &b },
            &format!("budgeted post {i}"),
        );
    }
    wait_for("the budget's 20", 15, || created(&live).len() >= 20);
    wait_for("the head to wait for the budget", 10, || {
        queue_json(redis.url())["messages"][0]["lastError"]
            .as_str()
            .is_some_and(|e| e.starts_with("budget-exceeded"))
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(created(&live).len(), 20, "the budget holds across both");
    let q = queue_json(redis.url());
    let waiting = q["messages"].as_array().unwrap();
    assert_eq!(waiting.len(), 10, "{q}");
    let midnight = {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        (now / 86_400 + 1) * 86_400 * 1000
    };
    assert!(waiting[0]["dueAt"].as_i64().unwrap() >= midnight, "{q}");
    assert_eq!(waiting[0]["attempts"], 0, "a wait is not a failed attempt");
    // Nothing was sent past the budget.
    assert_eq!(live.sim.stats().requests_to(endpoint::CREATE_TWEET), 20);
    let o = run(&["usage", "--json", "--token-store", redis.url()], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(out.contains("0.3"), "{out}");
}

/// Throughput of one processor with no limit in the way (a figure for the
/// docs, not an assertion on time).
#[test]
fn queue_throughput_figure() {
    let live = LiveSim::start();
    let pair = live.sim.issue_tokens("cli-client");
    let store = tempdir().join("state.db");
    let store = store.to_str().unwrap();
    let s = serve_queue(&live, store, &pair.refresh_token, &[]);
    let n = 200;
    let started = Instant::now();
    for i in 0..n {
        enqueue(&s, &format!("throughput post {i}"));
    }
    let stored = started.elapsed();
    wait_for("all delivered", 60, || created(&live).len() >= n);
    let all = started.elapsed();
    eprintln!(
        "queue throughput: {n} posts stored in {:.2} s ({:.0}/s over HTTP), all delivered {:.2} s after the first ({:.0} posts/s through one processor, SQLite)",
        stored.as_secs_f64(),
        n as f64 / stored.as_secs_f64(),
        all.as_secs_f64(),
        n as f64 / all.as_secs_f64()
    );
    let texts: Vec<String> = (0..n).map(|i| format!("throughput post {i}")).collect();
    each_once(&live, &texts);
}
