//! Shared set-up of the end-to-end tests: the built component in the
//! integrator's wasmtime host, talking HTTP to the X API simulator.

#![allow(dead_code)]

use std::path::PathBuf;

pub mod failing_store;
pub mod hosts;
pub mod relay;
pub mod spin_manifest;
use std::sync::Arc;

use integrator::bindings::exports::wso2::twitter::connector as wit;
use integrator::bindings::wso2::twitter::types::ConnectorError;
use integrator::ConnectorFailure;
use integrator::{CallError, ConnectorInstance, Runtime, RuntimeOptions};
use token_store::{MemoryStore, TokenStore};
use x_sim::Simulator;

pub const CLIENT_ID: &str = "test-client";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The component `./build.sh` produced.
pub fn component_path() -> PathBuf {
    let p = root().join("dist/twitter-connector.wasm");
    assert!(
        p.exists(),
        "{} is missing: run ./build.sh first (the README's test command does)",
        p.display()
    );
    p
}

/// The vendored X API reference (`spec/x-api`: the OpenAPI spec, text rules).
pub fn spec_dir() -> PathBuf {
    root().join("spec/x-api")
}

pub struct Harness {
    pub sim: Simulator,
    pub runtime: Runtime,
    pub loaded: integrator::LoadedConnector,
    pub store: Arc<dyn TokenStore>,
}

impl Harness {
    pub async fn new() -> Harness {
        Self::with_sim(Simulator::start().await.expect("simulator")).await
    }

    pub async fn with_sim(sim: Simulator) -> Harness {
        Self::with_store(sim, Arc::new(MemoryStore::new())).await
    }

    /// A harness whose runtime keeps tokens in `store`.
    pub async fn with_store(sim: Simulator, store: Arc<dyn TokenStore>) -> Harness {
        sim.add_client(CLIENT_ID, None);
        let runtime = Runtime::new(RuntimeOptions {
            extra_roots_pem: sim.cert_pem().map(str::to_string),
            token_store: store.clone(),
            cache_dir: Some(root().join("target/test-component-cache")),
            ..RuntimeOptions::default()
        })
        .expect("runtime");
        let loaded = runtime
            .load_file(&component_path())
            .expect("component loads");
        Harness {
            sim,
            runtime,
            loaded,
            store,
        }
    }

    pub async fn instance(&self) -> ConnectorInstance {
        self.runtime
            .instantiate(&self.loaded)
            .await
            .expect("instantiate")
    }

    pub fn config(&self, access: Option<&str>, refresh: Option<&str>) -> wit::ConnectionConfig {
        wit::ConnectionConfig {
            connection_name: Some("test".into()),
            api_url: Some(self.sim.url()),
            timeout_ms: Some(2_000),
            client_id: CLIENT_ID.into(),
            client_secret: None,
            access_token: access.map(str::to_string),
            refresh_token: refresh.map(str::to_string),
            retry: None,
        }
    }

    /// An instance initialized with a token pair granted only `scope`.
    pub async fn ready_with_scope(&self, scope: &str) -> ConnectorInstance {
        let pair = self.sim.issue_tokens_with_scope(CLIENT_ID, scope);
        let mut inst = self.instance().await;
        inst.init(&self.config(Some(&pair.access_token), Some(&pair.refresh_token)))
            .await
            .expect("init");
        inst
    }

    /// An instance initialized with a fresh token pair.
    pub async fn ready(&self) -> ConnectorInstance {
        let pair = self.sim.issue_tokens(CLIENT_ID);
        let mut inst = self.instance().await;
        inst.init(&self.config(Some(&pair.access_token), Some(&pair.refresh_token)))
            .await
            .expect("init");
        inst
    }
}

pub fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// A connector error as the component sent it: typed details and texts.
pub fn failure(e: CallError) -> ConnectorFailure {
    match e {
        CallError::Connector(e) => *e,
        CallError::Trap(t) => panic!("the instance trapped: {t}"),
    }
}

pub fn connector_error(e: CallError) -> ConnectorError {
    failure(e).error
}

pub fn kind_name(e: &ConnectorError) -> &'static str {
    integrator::flow::FaultKind::of(e).as_str()
}

pub fn kind_of(e: CallError) -> &'static str {
    kind_name(&connector_error(e))
}

pub fn get_me_request() -> wit::GetMeRequest {
    wit::GetMeRequest {
        expansions: vec![],
        tweet_fields: vec![],
        user_fields: vec![],
    }
}

pub fn text_tweet(text: &str) -> wit::CreateTweetRequest {
    wit::CreateTweetRequest {
        text: Some(text.into()),
        media: None,
        poll: None,
        reply: None,
        quote_tweet_id: None,
        reply_settings: None,
        for_super_followers_only: None,
        direct_message_deep_link: None,
        geo_place_id: None,
        nullcast: None,
        community_id: None,
        share_with_followers: None,
        card_uri: None,
        edit_previous_post_id: None,
        made_with_ai: None,
        paid_partnership: None,
    }
}

/// A 429 whose window resets `reset_in` (rounded up a second) from now,
/// with X's rate-limit headers.
pub fn rate_limited(reset_in: std::time::Duration) -> x_sim::Fault {
    let reset = (std::time::SystemTime::now() + reset_in)
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    x_sim::Fault::Raw(
        429,
        Some("application/problem+json".into()),
        vec![
            ("x-rate-limit-limit".into(), "75".into()),
            ("x-rate-limit-remaining".into(), "0".into()),
            ("x-rate-limit-reset".into(), reset.to_string()),
        ],
        r#"{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}"#.into(),
    )
}
