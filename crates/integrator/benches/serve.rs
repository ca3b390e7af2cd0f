//! `integrator serve` in front of the simulator answering getMe in 100 ms,
//! with 1 and 64 concurrent clients: requests/s, p50, p99 and the peak RSS
//! of the serve process, next to the ideal (clients / latency). A report,
//! not a timed test.
//!
//! Run: `./build.sh && cargo bench -p integrator --bench serve`
//! (BENCH_SECONDS sets each run's length, default 5).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;
use x_sim::endpoint;

const LATENCY: Duration = Duration::from_millis(100);

struct Row {
    label: String,
    clients: usize,
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: usize,
    rss_mib: f64,
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn measure(label: &str, clients: usize, max_active: &str, seconds: u64) -> Row {
    let live = LiveSim::start();
    live.sim.set_contract_checks(false);
    live.sim.set_latency(endpoint::GET_ME, Some(LATENCY));
    let pair = live.sim.issue_tokens("cli-client");
    let url = live.sim.url();
    let s = Served::start(
        &["examples/api.xml"],
        &[
            ("X_API_URL", &url),
            ("X_CLIENT_ID", "cli-client"),
            ("X_REFRESH_TOKEN", &pair.refresh_token),
            ("INTEGRATOR_TOKEN_STORE", "memory"),
            ("X_MAX_ACTIVE", max_active),
            ("X_MAX_WAIT", "60000"),
        ],
    );
    // Warm up: the refresh, and instances for every client.
    let warm: Vec<_> = (0..clients)
        .map(|_| {
            let a = s.addr.clone();
            std::thread::spawn(move || request_to(&a, "GET", "/x/me", None))
        })
        .collect();
    for w in warm {
        let _ = w.join();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(0usize));
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (addr, stop, lat, err) = (
                s.addr.clone(),
                stop.clone(),
                latencies.clone(),
                errors.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match request_to(&addr, "GET", "/x/me", None) {
                        Ok((200, _, _)) => lat.lock().unwrap().push(t.elapsed()),
                        _ => *err.lock().unwrap() += 1,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let elapsed = started.elapsed();
    let rss_mib = peak_rss_mib(s.child.id());
    let mut l = latencies.lock().unwrap().clone();
    l.sort();
    let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
    let errors = *errors.lock().unwrap();
    Row {
        label: label.into(),
        clients,
        rps: l.len() as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        errors,
        rss_mib,
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs with no
    // time to spare: one short pass then.
    let quick =
        std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 1 } else { 5 });
    let rows = vec![
        measure("pool (default 32)", 1, "32", seconds),
        measure("pool of 64", 64, "64", seconds),
        measure("one instance (before)", 64, "1", seconds),
    ];
    println!(
        "\nserve in front of X with {} ms latency ({} s per run)",
        LATENCY.as_millis(),
        seconds
    );
    println!("| instances | clients | requests/s | ideal | of ideal | p50 | p99 | p99 / latency | errors | peak RSS |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let ideal = r.clients as f64 / LATENCY.as_secs_f64();
        println!(
            "| {} | {} | {:.1} | {:.0} | {:.0}% | {:.1} ms | {:.1} ms | {:.2}x | {} | {:.0} MiB |",
            r.label,
            r.clients,
            r.rps,
            ideal,
            100.0 * r.rps / ideal,
            r.p50.as_secs_f64() * 1000.0,
            r.p99.as_secs_f64() * 1000.0,
            r.p99.as_secs_f64() / LATENCY.as_secs_f64(),
            r.errors,
            r.rss_mib
        );
    }
}
