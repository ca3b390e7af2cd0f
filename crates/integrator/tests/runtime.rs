//! The host library with the built component: connection pooling over
//! plain HTTP and TLS, the compiled-component cache, and the descriptor.

use std::path::PathBuf;

use integrator::bindings::exports::wso2::twitter::connector as wit;
use integrator::{LoadKind, Runtime, RuntimeOptions};
use x_sim::{endpoint, Simulator};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wasm() -> Vec<u8> {
    std::fs::read(root().join("dist/twitter-connector.wasm")).expect(
        "dist/twitter-connector.wasm: run ./build.sh first (the README's test command does)",
    )
}

fn config(sim: &Simulator, refresh: &str) -> wit::ConnectionConfig {
    wit::ConnectionConfig {
        connection_name: Some("pool".into()),
        api_url: Some(sim.url()),
        timeout_ms: Some(5_000),
        client_id: "pool-client".into(),
        client_secret: None,
        access_token: None,
        refresh_token: Some(refresh.into()),
        retry: None,
    }
}

/// A client with tokens at `sim`, and a runtime with default options and
/// no code cache, with the component loaded.
fn plain_runtime(sim: &Simulator) -> (x_sim::TokenPair, Runtime, integrator::LoadedConnector) {
    sim.add_client("pool-client", None);
    let pair = sim.issue_tokens("pool-client");
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: None,
        ..RuntimeOptions::default()
    })
    .unwrap();
    let loaded = runtime.load_bytes(&wasm()).unwrap();
    (pair, runtime, loaded)
}

fn me() -> wit::GetMeRequest {
    wit::GetMeRequest {
        expansions: vec![],
        tweet_fields: vec![],
        user_fields: vec![],
    }
}

async fn thousand_calls_one_connection(sim: Simulator) {
    sim.add_client("pool-client", None);
    let pair = sim.issue_tokens("pool-client");
    let runtime = Runtime::new(RuntimeOptions {
        extra_roots_pem: sim.cert_pem().map(str::to_string),
        cache_dir: Some(root().join("target/test-component-cache")),
        ..RuntimeOptions::default()
    })
    .unwrap();
    let loaded = runtime.load_bytes(&wasm()).unwrap();
    let mut c = runtime.instantiate(&loaded).await.unwrap();
    c.init(&config(&sim, &pair.refresh_token)).await.unwrap();
    for i in 0..1000 {
        c.get_me(&me())
            .await
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
    }
    let s = sim.stats();
    assert_eq!(s.requests_to(endpoint::GET_ME), 1000);
    assert_eq!(s.refreshes, 1);
    assert_eq!(
        s.connections, 1,
        "keep-alive: one connection (and handshake) for 1001 requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sequential_calls_open_one_connection() {
    thousand_calls_one_connection(Simulator::start().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_too_with_a_private_root() {
    thousand_calls_one_connection(Simulator::start_tls().await.unwrap()).await;
}

/// A host name that does not resolve is told apart from a refused
/// connection by the error's type (the runtime's resolver marks it), not by
/// searching its text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_does_not_resolve_is_a_dns_error() {
    let sim = Simulator::start().await.unwrap();
    let (pair, runtime, loaded) = plain_runtime(&sim);
    let mut c = runtime.instantiate(&loaded).await.unwrap();
    let mut cfg = config(&sim, &pair.refresh_token);
    // RFC 6761: `.invalid` never resolves.
    cfg.api_url = Some("https://x-connector-test.invalid".into());
    c.init(&cfg).await.unwrap();
    match c.get_me(&me()).await.unwrap_err() {
        integrator::CallError::Connector(e) => {
            assert_eq!(
                integrator::flow::FaultKind::of(&e.error).as_str(),
                "transport"
            );
            assert!(e.detail.contains("(dns)"), "{}", e.detail);
        }
        other => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_a_tls_error() {
    let sim = Simulator::start_tls().await.unwrap();
    // No extra root: the simulator's self-signed certificate is not trusted.
    let (pair, runtime, loaded) = plain_runtime(&sim);
    let mut c = runtime.instantiate(&loaded).await.unwrap();
    c.init(&config(&sim, &pair.refresh_token)).await.unwrap();
    match c.get_me(&me()).await.unwrap_err() {
        integrator::CallError::Connector(e) => {
            assert_eq!(
                integrator::flow::FaultKind::of(&e.error).as_str(),
                "transport"
            );
            let d = &e.detail;
            assert!(d.contains("(tls)"), "{d}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(
        sim.stats().total_requests(),
        0,
        "nothing was sent over the untrusted connection"
    );
}

#[test]
fn the_compiled_component_is_cached_on_disk() {
    let dir = std::env::temp_dir().join(format!("integrator-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = || RuntimeOptions {
        cache_dir: Some(dir.clone()),
        ..RuntimeOptions::default()
    };
    let first = Runtime::new(opts()).unwrap().load_bytes(&wasm()).unwrap();
    assert_eq!(first.load_kind, LoadKind::Compiled);
    let second = Runtime::new(opts()).unwrap().load_bytes(&wasm()).unwrap();
    assert_eq!(second.load_kind, LoadKind::Cached);
    assert_eq!(first.hash, second.hash);
    for f in ["init", "create-tweet", "delete-tweet", "get-me", "invoke"] {
        assert!(second.exports.iter().any(|e| e == f), "{f}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_descriptor_maps_every_operation_to_an_export() {
    let package = integrator::descriptor::load(&root().join("connector.xml")).unwrap();
    let runtime = Runtime::new(RuntimeOptions::default()).unwrap();
    let loaded = runtime.load_bytes(&package.wasm).unwrap();
    integrator::descriptor::check_against(&package.descriptor, &loaded.exports).unwrap();
    let names: Vec<&str> = package
        .descriptor
        .operations
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(names.len(), 37, "init, WSO2's 35, uploadMedia: {names:?}");
    assert_eq!(&names[..3], ["init", "createTweet", "deleteTweet"]);
    for op in [
        "getMe",
        "likeTweet",
        "getFollowers",
        "createList",
        "sendNewDirectMessage",
        "uploadMedia",
    ] {
        assert!(names.contains(&op), "{op}");
    }
}

/// The host repeats none of the connection's defaults and re-reads none of
/// its parameters: the component says what it fills in, and what `init`
/// validated (origin, timeout) is what the host arms its guard with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_returns_the_validated_connection_and_the_component_its_defaults() {
    let sim = Simulator::start().await.unwrap();
    let (pair, runtime, loaded) = plain_runtime(&sim);
    let d = runtime.connection_defaults(&loaded).await.unwrap();
    assert_eq!(
        (
            d.connection_name.as_str(),
            d.api_url.as_str(),
            d.timeout_ms,
            d.max_timeout_ms
        ),
        ("TWITTER_CONNECTION_1", "https://api.x.com", 10_000, 600_000)
    );
    let mut c = runtime.instantiate(&loaded).await.unwrap();
    let mut cfg = config(&sim, &pair.refresh_token);
    cfg.api_url = Some(format!("{}/", sim.url()));
    cfg.timeout_ms = Some(2_500);
    let info = c.init(&cfg).await.unwrap();
    assert_eq!(info.api_url, sim.url());
    assert_eq!(info.api_origin, sim.url());
    assert_eq!(info.timeout_ms, 2_500);
    c.get_me(&me()).await.unwrap();
    // Through the flows' entry point too: the same connection-info, as JSON.
    let meta = c
        .invoke(
            "init",
            &[
                ("apiUrl".to_string(), sim.url()),
                ("clientId".to_string(), "pool-client".to_string()),
                ("connectionName".to_string(), "pool".to_string()),
            ],
        )
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&meta.body).unwrap();
    assert_eq!(body["apiOrigin"], sim.url());
    assert_eq!(body["timeoutMs"], 10_000);
    c.get_me(&me()).await.unwrap();
}
