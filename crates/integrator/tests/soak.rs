//! A soak of `serve`: 64 clients for SOAK_SECS (20 s in the test command;
//! `SOAK_SECS=300` for the documented run) posting, reading and deleting
//! through examples/api.xml against the simulator while faults are injected
//! (503s on reads, 500s and dropped connections on posts, delays). It
//! checks what must hold: no post lost (every 201 is at X), none duplicated
//! (each text reaches X at most once), no refresh token reused. It prints
//! figures (requests, outcomes, throughput, the process's memory after
//! warm-up and at the end) and asserts no time or memory target: those are
//! for reading (docs/reliability.md).

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;
use x_sim::{endpoint, Fault};

const CLIENTS: usize = 64;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn serve_under_64_clients_and_faults_loses_and_duplicates_no_post() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let live = LiveSim::start();
    let sim = &live.sim;
    let pair = sim.issue_tokens("cli-client");
    let url = sim.url();
    let served = Served::start(
        &["examples/api.xml"],
        &[
            ("X_API_URL", &url),
            ("X_CLIENT_ID", "cli-client"),
            ("X_REFRESH_TOKEN", &pair.refresh_token),
            ("X_MAX_ACTIVE", "32"),
        ],
    );
    let pid = served.child.id();
    let addr = served.addr.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(HashMap::<String, u64>::new()));
    let posted = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let seq = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut clients = Vec::new();
    for n in 0..CLIENTS {
        let (addr, stop, outcomes, posted, seq) = (
            addr.clone(),
            stop.clone(),
            outcomes.clone(),
            posted.clone(),
            seq.clone(),
        );
        clients.push(std::thread::spawn(move || {
            let mut mine: Vec<String> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let i = seq.fetch_add(1, Ordering::Relaxed);
                let (label, answer) = match (i + n as u64) % 4 {
                    0 | 1 => ("GET /x/me", request_to(&addr, "GET", "/x/me", None)),
                    2 => {
                        let text = format!("soak {n} {i}");
                        let a = request_to(
                            &addr,
                            "POST",
                            "/x/tweets",
                            Some(&format!(r#"{{"text":"{text}"}}"#)),
                        );
                        if let Ok((201, _, v)) = &a {
                            let id = v["id"].as_str().unwrap_or_default().to_string();
                            posted.lock().unwrap().push((text, id.clone()));
                            mine.push(id);
                        }
                        ("POST /x/tweets", a)
                    }
                    _ => match mine.pop() {
                        Some(id) => (
                            "DELETE /x/tweets/{id}",
                            request_to(&addr, "DELETE", &format!("/x/tweets/{id}"), None),
                        ),
                        None => ("GET /x/me", request_to(&addr, "GET", "/x/me", None)),
                    },
                };
                let key = match answer {
                    Ok((status, _, _)) => format!("{label} {status}"),
                    Err(e) => format!("{label} failed: {}", e.kind()),
                };
                *outcomes.lock().unwrap().entry(key).or_default() += 1;
            }
        }));
    }
    // Faults, a few a second, and memory samples.
    let mut samples = Vec::new();
    let mut tick = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(250));
        tick += 1;
        match tick % 4 {
            0 => sim.push_fault(endpoint::GET_ME, Fault::Status(503, "{}".into())),
            1 => sim.push_fault(endpoint::CREATE_TWEET, Fault::Status(500, "{}".into())),
            2 => sim.push_fault(endpoint::CREATE_TWEET, Fault::Drop),
            _ => sim.push_fault(endpoint::GET_ME, Fault::Delay(Duration::from_millis(300))),
        }
        samples.push((started.elapsed(), rss_kib(pid)));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let elapsed = started.elapsed();
    let stats = sim.stats();

    // No post lost: every 201 a client got is a post X holds (or deleted).
    let posted = posted.lock().unwrap();
    let bodies: HashMap<String, u64> =
        stats.tweet_bodies.iter().fold(HashMap::new(), |mut m, b| {
            *m.entry(b["text"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
            m
        });
    let lost: Vec<&(String, String)> = posted
        .iter()
        .filter(|(text, _)| !bodies.contains_key(text))
        .collect();
    assert!(
        lost.is_empty(),
        "posts answered 201 that X never got: {lost:?}"
    );
    // None duplicated: each text reached X at most once.
    let twice: Vec<(&String, &u64)> = bodies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "posts X got more than once: {twice:?}");
    assert_eq!(stats.reuses_detected, 0, "a refresh token was sent twice");

    let outcomes = outcomes.lock().unwrap();
    let total: u64 = outcomes.values().sum();
    let warm = samples
        .iter()
        .find(|(t, _)| *t >= elapsed / 4)
        .map_or(0, |s| s.1);
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let end = samples.last().map_or(0, |s| s.1);
    let mut lines: Vec<String> = outcomes
        .iter()
        .map(|(k, v)| format!("  {k}: {v}"))
        .collect();
    lines.sort();
    println!(
        "soak: {CLIENTS} clients, {:.0} s, {total} requests ({:.0}/s), {} posts accepted, {} bodies at X, 0 lost, 0 duplicated\n  rss after warm-up {warm} KiB, peak {peak} KiB, at the end {end} KiB\n{}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        posted.len(),
        stats.tweet_bodies.len(),
        lines.join("\n")
    );
    assert!(served.stop().success());
}
