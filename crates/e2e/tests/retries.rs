//! The retry policy through the built component in the integrator's
//! wasmtime host, against the simulator: a 429 waited out when the
//! connection asks (within a host deadline that allows for it), a post
//! refused before it left sent again once X is reachable, and a retried
//! read costing what one read costs.

mod common;

use std::time::{Duration, Instant};

use common::*;
use integrator::bindings::exports::wso2::twitter::connector as wit;
use x_sim::{endpoint, Fault};

fn retry(count: u32, delay_ms: u32, wait_on_rate_limit: bool) -> Option<wit::RetrySettings> {
    Some(wit::RetrySettings {
        retry_count: Some(count),
        retry_delay_ms: Some(delay_ms),
        wait_on_rate_limit: Some(wait_on_rate_limit),
        max_retry_wait_ms: Some(10_000),
    })
}

async fn ready_with(
    h: &Harness,
    retry: Option<wit::RetrySettings>,
    timeout_ms: u32,
) -> integrator::ConnectorInstance {
    let pair = h.sim.issue_tokens(CLIENT_ID);
    let mut c = h.instance().await;
    let mut cfg = h.config(Some(&pair.access_token), Some(&pair.refresh_token));
    cfg.retry = retry;
    cfg.timeout_ms = Some(timeout_ms);
    let info = c.init(&cfg).await.expect("init");
    assert_eq!(
        info.retry_count,
        cfg.retry.as_ref().map_or(2, |r| r.retry_count.unwrap())
    );
    c
}

fn requests(h: &Harness, e: x_sim::Endpoint) -> u64 {
    h.sim.stats().requests.get(&e).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_waited_out_only_when_the_connection_asks() {
    let h = Harness::new().await;
    // Not asked: the 429 is the answer, at once, with X's windows.
    let mut c = ready_with(&h, retry(2, 50, false), 1_000).await;
    h.sim
        .push_fault(endpoint::GET_ME, rate_limited(Duration::from_secs(1)));
    let e = connector_error(c.get_me(&get_me_request()).await.unwrap_err());
    assert_eq!(kind_name(&e), "rate-limited", "{e:?}");
    assert_eq!(requests(&h, endpoint::GET_ME), 1);

    // Asked: the call waits for the reset (past the 1 s timeout, which the
    // host's deadline allows for) and then succeeds.
    let mut c = ready_with(&h, retry(2, 50, true), 1_000).await;
    h.sim
        .push_fault(endpoint::GET_ME, rate_limited(Duration::from_secs(1)));
    let started = Instant::now();
    let me = c
        .get_me(&get_me_request())
        .await
        .expect("waited for the reset");
    assert!(!me.user.id.is_empty());
    assert_eq!(requests(&h, endpoint::GET_ME), 3);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "it waited for the reset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_refused_before_it_left_is_sent_again_once() {
    let h = Harness::new().await;
    // A port nothing listens on yet: the first attempt is refused; a relay
    // to the simulator opens on it 300 ms later, before the retry (the
    // first backoff is 1 to 2 s).
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let sim_addr = h.sim.url().trim_start_matches("http://").to_string();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let relay = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        loop {
            let (mut inbound, _) = relay.accept().await.unwrap();
            let target = sim_addr.clone();
            tokio::spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(target).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    let pair = h.sim.issue_tokens(CLIENT_ID);
    let mut c = h.instance().await;
    let mut cfg = h.config(Some(&pair.access_token), Some(&pair.refresh_token));
    cfg.api_url = Some(format!("http://127.0.0.1:{port}"));
    cfg.retry = retry(2, 2_000, false);
    c.init(&cfg).await.unwrap();
    let posted = c
        .create_tweet(&text_tweet("refused, then sent once"))
        .await
        .expect("sent again after the refusal");
    let bodies = h.sim.stats().tweet_bodies;
    assert_eq!(bodies.len(), 1, "one post reached X");
    assert_eq!(bodies[0]["text"], "refused, then sent once");
    assert!(!posted.id.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_read_costs_what_one_read_costs_and_a_post_is_not_retried() {
    let h = Harness::new().await;
    let mut c = ready_with(&h, retry(3, 20, false), 2_000).await;
    let once = c.get_me(&get_me_request()).await.unwrap();
    h.sim
        .push_fault(endpoint::GET_ME, Fault::Status(503, "{}".into()));
    h.sim
        .push_fault(endpoint::GET_ME, Fault::Status(502, "{}".into()));
    let retried = c.get_me(&get_me_request()).await.unwrap();
    assert_eq!(requests(&h, endpoint::GET_ME), 4);
    assert_eq!(retried.meta.cost.usd_micros, once.meta.cost.usd_micros);
    assert_eq!(
        format!("{:?}", retried.meta.cost),
        format!("{:?}", once.meta.cost)
    );

    h.sim
        .push_fault(endpoint::CREATE_TWEET, Fault::Status(503, "{}".into()));
    let e = connector_error(
        c.create_tweet(&text_tweet("never twice"))
            .await
            .unwrap_err(),
    );
    assert_eq!(kind_name(&e), "api-error", "{e:?}");
    assert_eq!(requests(&h, endpoint::CREATE_TWEET), 1);
}
