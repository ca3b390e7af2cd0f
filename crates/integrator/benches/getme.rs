//! `cargo bench -p integrator --bench getme`
//!
//! Sequential getMe calls through the runtime and the component against the
//! simulator on loopback (plain HTTP and TLS), next to a native Rust client
//! (reqwest, keep-alive) making the same request and parsing the same JSON,
//! measured in the same run and reported as ratios. Also: compile, cached
//! load and instantiate times, component size, and the process's peak memory.
//!
//! BENCH_CALLS sets the calls per measurement (default 2000).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use integrator::bindings::exports::wso2::twitter::connector as wit;
use integrator::{Runtime, RuntimeOptions};
use x_sim::Simulator;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mean(v: &[Duration]) -> Duration {
    v.iter().sum::<Duration>() / v.len() as u32
}

struct Measured {
    mean: Duration,
    median: Duration,
}

async fn native(sim: &Simulator, token: &str, calls: usize) -> Measured {
    let mut builder = reqwest::Client::builder().pool_max_idle_per_host(1);
    if let Some(pem) = sim.cert_pem() {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        builder = builder.use_preconfigured_tls(tls);
    }
    let client = builder.build().unwrap();
    let url = format!("{}/2/users/me", sim.url());
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls + 100 {
        let t = Instant::now();
        let resp = client.get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        assert!(v["data"]["username"].is_string());
        if i >= 100 {
            times.push(t.elapsed());
        }
    }
    Measured {
        mean: mean(&times),
        median: median(times),
    }
}

async fn connector(
    runtime: &Runtime,
    loaded: &integrator::LoadedConnector,
    sim: &Simulator,
    calls: usize,
) -> Measured {
    let pair = sim.issue_tokens("bench");
    let mut c = runtime.instantiate(loaded).await.unwrap();
    c.init(&wit::ConnectionConfig {
        connection_name: Some(format!("bench-{}", sim.url().len())),
        api_url: Some(sim.url()),
        timeout_ms: Some(10_000),
        client_id: "bench".into(),
        client_secret: None,
        access_token: Some(pair.access_token),
        refresh_token: Some(pair.refresh_token),
        retry: None,
    })
    .await
    .unwrap();
    let req = wit::GetMeRequest {
        expansions: vec![],
        tweet_fields: vec![],
        user_fields: vec![],
    };
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls + 100 {
        let t = Instant::now();
        let me = c.get_me(&req).await.unwrap();
        assert_eq!(me.user.username, "sandbox_dev");
        if i >= 100 {
            times.push(t.elapsed());
        }
    }
    Measured {
        mean: mean(&times),
        median: median(times),
    }
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    // reqwest's rustls build takes the process-wide crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let calls: usize = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    // BENCH_WASM=path times another build of the component (A/B of build
    // settings in one session).
    let wasm_path = std::env::var_os("BENCH_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("dist/twitter-connector.wasm"));
    let wasm = std::fs::read(&wasm_path)
        .unwrap_or_else(|e| panic!("{}: {e} (run ./build.sh first)", wasm_path.display()));

    println!("getMe, {calls} sequential calls per row after 100 warm-up calls; simulator on loopback, keep-alive, same process");
    println!();
    println!("| tokio runtime | transport | native reqwest (mean / median) | runtime + component (mean / median) | ratio (mean) |");
    println!("|---|---|---|---|---|");
    let mut ratios = Vec::new();
    let mut load = None;
    // BENCH_FLAVOR=current|multi runs one tokio flavor (for profiling).
    let flavor_only = std::env::var("BENCH_FLAVOR").unwrap_or_default();
    for flavor in ["current-thread", "multi-thread (2 workers)"] {
        if !flavor_only.is_empty() && !flavor.starts_with(flavor_only.as_str()) {
            continue;
        }
        let rt = if flavor == "current-thread" {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
        };
        let wasm = wasm.clone();
        // Measured inside a task, as `serve` runs requests.
        let (rows, figures) =
            rt.block_on(async move { tokio::spawn(measure(calls, wasm)).await.unwrap() });
        for (name, n, c) in &rows {
            let ratio = c.mean.as_secs_f64() / n.mean.as_secs_f64();
            println!(
                "| {flavor} | {name} | {} / {} | {} / {} | {ratio:.2}× |",
                us(n.mean),
                us(n.median),
                us(c.mean),
                us(c.median)
            );
            ratios.push((
                format!("{flavor}, {name}"),
                ratio,
                c.mean.saturating_sub(n.mean),
            ));
        }
        load.get_or_insert(figures);
    }
    let (compiled, cached, instantiate, call) = load.unwrap();
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| component size | {} KiB |", wasm.len() / 1024);
    println!(
        "| compile (cranelift, no cache) | {:.1} ms |",
        compiled.as_secs_f64() * 1e3
    );
    println!(
        "| load from the disk cache | {:.2} ms |",
        cached.as_secs_f64() * 1e3
    );
    println!(
        "| instantiate (pooling allocator, median of 50) | {} |",
        us(instantiate)
    );
    println!(
        "| one call into the component, no I/O (median of 2000) | {} |",
        us(call)
    );
    println!(
        "| peak RSS of the bench process | {} MiB |",
        peak_rss_kib() / 1024
    );
    println!();
    for (name, r, extra) in ratios {
        let verdict = if r <= 1.3 { "within" } else { "above" };
        println!(
            "{name}: {r:.2}x the native client ({} more per call), {verdict} the 1.3x target",
            us(extra)
        );
    }
}

type Rows = Vec<(&'static str, Measured, Measured)>;

async fn measure(calls: usize, wasm: Vec<u8>) -> (Rows, (Duration, Duration, Duration, Duration)) {
    let plain = Simulator::start().await.unwrap();
    let tls = Simulator::start_tls().await.unwrap();
    for s in [&plain, &tls] {
        s.add_client("bench", None);
        // Under `cargo bench` the simulator is built with its contract check;
        // it would be measured with the calls.
        s.set_contract_checks(false);
    }
    // Compile (no cache), then load from the disk cache.
    let cache = std::env::temp_dir().join(format!("integrator-bench-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let options = RuntimeOptions {
        extra_roots_pem: tls.cert_pem().map(str::to_string),
        cache_dir: Some(cache.clone()),
        ..RuntimeOptions::default()
    };
    let compiled = Runtime::new(options.clone())
        .unwrap()
        .load_bytes(&wasm)
        .unwrap();
    // Under INTEGRATOR_PERFMAP the measured runtime compiles in memory, so
    // perf resolves the guest's symbols through the perf map.
    let profiling = std::env::var_os("INTEGRATOR_PERFMAP").is_some();
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: if profiling {
            None
        } else {
            options.cache_dir.clone()
        },
        ..options
    })
    .unwrap();
    let loaded = runtime.load_bytes(&wasm).unwrap();
    assert!(profiling || loaded.load_kind == integrator::LoadKind::Cached);
    let _ = std::fs::remove_dir_all(&cache);

    // The fixed cost of one call into the component, no I/O: an id refused
    // by local validation.
    let mut c = runtime.instantiate(&loaded).await.unwrap();
    let mut call_times = Vec::new();
    for _ in 0..2000 {
        let t = Instant::now();
        assert!(c.delete_tweet("not-an-id").await.is_err());
        call_times.push(t.elapsed());
    }
    drop(c);
    let mut inst_times = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let i = runtime.instantiate(&loaded).await.unwrap();
        inst_times.push(t.elapsed());
        drop(i);
    }

    let mut rows = Vec::new();
    // BENCH_ONLY=native|connector runs one side (for profiling).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    for (name, sim) in [("plain HTTP", &plain), ("TLS", &tls)] {
        let token = sim.issue_tokens("bench").access_token;
        let n = native(sim, &token, if only == "connector" { 1 } else { calls }).await;
        let c = connector(
            &runtime,
            &loaded,
            sim,
            if only == "native" { 1 } else { calls },
        )
        .await;
        rows.push((name, n, c));
    }
    (
        rows,
        (
            compiled.load_time,
            loaded.load_time,
            median(inst_times),
            median(call_times),
        ),
    )
}
