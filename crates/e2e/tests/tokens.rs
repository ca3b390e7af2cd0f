//! Tokens through the built component: refresh ahead of expiry and after a
//! 401, rotation without reuse, spent refresh tokens, public and
//! confidential clients, two instances of one connection.

mod common;

use std::time::Duration;

use common::*;
use integrator::bindings::wso2::twitter::types::{ApiClass, ApiFailure, ConnectorError};
use x_sim::endpoint;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_driven_refresh_rotates_without_reuse() {
    let h = Harness::new().await;
    // A 1 s lifetime is refreshed once half of it is gone: with calls 0.6 s
    // apart, every call must refresh first.
    h.sim.set_access_token_ttl(Duration::from_secs(1));
    let pair = h.sim.issue_tokens(CLIENT_ID);
    let mut c = h.instance().await;
    c.init(&h.config(None, Some(&pair.refresh_token)))
        .await
        .unwrap();
    for i in 0..6 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        c.get_me(&get_me_request())
            .await
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
    }
    // And calls within the first half of its life use it as it is.
    c.get_me(&get_me_request()).await.unwrap();
    let s = h.sim.stats();
    assert_eq!(
        s.refreshes, 6,
        "one refresh per expired token, none while fresh"
    );
    assert_eq!(s.reuses_detected, 0);
    assert_eq!(s.unauthorized, 0, "proactive: no call was refused");

    // A long lifetime: the refreshed token is reused until it nears expiry.
    h.sim.set_access_token_ttl(Duration::from_secs(7200));
    let mut c = h.ready().await;
    let before = h.sim.stats().refreshes;
    for _ in 0..20 {
        c.get_me(&get_me_request()).await.unwrap();
    }
    assert_eq!(h.sim.stats().refreshes, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_refreshes_once_and_replays() {
    let h = Harness::new().await;
    let mut c = h.ready().await;
    // The guest was given no expiry: it learns from the 401.
    h.sim.expire_access_tokens();
    let t = c
        .create_tweet(&text_tweet("after 401"))
        .await
        .expect("replayed");
    assert_eq!(t.text, "after 401");
    let s = h.sim.stats();
    assert_eq!(s.unauthorized, 1);
    assert_eq!(s.refreshes, 1);
    assert_eq!(s.requests_to(endpoint::CREATE_TWEET), 2);
    assert_eq!(
        s.tweet_bodies.len(),
        1,
        "only the replay got past the bearer check"
    );

    // No refresh token: the 401 stands, and nothing is refreshed.
    let pair = h.sim.issue_tokens(CLIENT_ID);
    let mut only_access = h.instance().await;
    only_access
        .init(&h.config(Some(&pair.access_token), None))
        .await
        .unwrap();
    h.sim.expire_access_tokens();
    assert_eq!(
        kind_of(only_access.get_me(&get_me_request()).await.unwrap_err()),
        "unauthorized"
    );
    assert_eq!(h.sim.stats().refreshes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_is_never_refreshed() {
    let h = Harness::new().await;
    let mut c = h.ready().await;
    c.create_tweet(&text_tweet("same words")).await.unwrap();
    match connector_error(c.create_tweet(&text_tweet("same words")).await.unwrap_err()) {
        ConnectorError::Api(ApiFailure {
            class: ApiClass::Forbidden,
            problem: p,
            ..
        }) => {
            assert_eq!(p.kind, "duplicate-content");
            assert_eq!(p.status, 403);
            assert!(p.detail.unwrap().contains("duplicate content"));
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(h.sim.stats().refreshes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spent_refresh_token_fails_once_then_stays_quiet() {
    let h = Harness::new().await;
    let pair = h.sim.issue_tokens(CLIENT_ID);
    // Someone else spends the refresh token first (the WSO2 4.0 bug, in effect).
    let other = reqwest_free_refresh(&h.sim.url(), &pair.refresh_token).await;
    assert_eq!(other, 200);
    let mut c = h.instance().await;
    c.init(&h.config(None, Some(&pair.refresh_token)))
        .await
        .unwrap();
    match connector_error(c.get_me(&get_me_request()).await.unwrap_err()) {
        ConnectorError::Oauth(r) => {
            assert_eq!(r.code.as_deref(), Some("invalid_request"));
            assert_eq!(
                r.description.as_deref(),
                Some("Value passed for the token was invalid.")
            );
            assert_eq!(r.status, Some(400));
            assert!(r.hint.contains("re-authorize"), "{}", r.hint);
        }
        e => panic!("{e:?}"),
    }
    let token_calls = h.sim.stats().requests_to(endpoint::TOKEN);
    for _ in 0..3 {
        assert_eq!(
            kind_of(c.get_me(&get_me_request()).await.unwrap_err()),
            "refresh-failed"
        );
    }
    assert_eq!(
        h.sim.stats().requests_to(endpoint::TOKEN),
        token_calls,
        "the refused token is never sent again"
    );
    assert_eq!(h.sim.stats().reuses_detected, 1);
}

/// A raw refresh-token grant over plain HTTP, outside the connector.
async fn reqwest_free_refresh(base: &str, refresh_token: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let body =
        format!("grant_type=refresh_token&client_id={CLIENT_ID}&refresh_token={refresh_token}");
    let req = format!(
        "POST /2/oauth2/token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_and_confidential_clients() {
    let h = Harness::new().await;
    h.sim.add_client("confidential", Some("s3cret-value"));
    h.sim.set_access_token_ttl(Duration::from_secs(30));

    // Public: client_id in the body.
    let pair = h.sim.issue_tokens(CLIENT_ID);
    let mut public = h.instance().await;
    public
        .init(&h.config(None, Some(&pair.refresh_token)))
        .await
        .unwrap();
    public.get_me(&get_me_request()).await.unwrap();
    let last = h.sim.stats().token_requests.last().cloned().unwrap();
    assert_eq!(last.get("client_id").map(String::as_str), Some(CLIENT_ID));
    assert_eq!(
        last.get("grant_type").map(String::as_str),
        Some("refresh_token")
    );

    // Confidential: HTTP Basic, and the sim refuses it without the secret.
    let pair = h.sim.issue_tokens("confidential");
    let mut conf = h.instance().await;
    let mut cfg = h.config(None, Some(&pair.refresh_token));
    cfg.connection_name = Some("conf".into());
    cfg.client_id = "confidential".into();
    cfg.client_secret = Some("s3cret-value".into());
    conf.init(&cfg).await.unwrap();
    conf.get_me(&get_me_request())
        .await
        .expect("basic auth refresh");
    let last = h.sim.stats().token_requests.last().cloned().unwrap();
    assert!(!last.contains_key("client_id"), "Basic auth, not the body");

    let pair = h.sim.issue_tokens("confidential");
    let mut wrong = h.instance().await;
    let mut cfg = h.config(None, Some(&pair.refresh_token));
    cfg.connection_name = Some("wrong".into());
    cfg.client_id = "confidential".into();
    cfg.client_secret = Some("not-the-secret".into());
    wrong.init(&cfg).await.unwrap();
    let f = failure(wrong.get_me(&get_me_request()).await.unwrap_err());
    match &f.error {
        ConnectorError::Oauth(r) => {
            assert_eq!(r.code.as_deref(), Some("unauthorized_client"));
            assert!(r.hint.contains("clientSecret"));
            let shown = format!("{r:?} {} {}", f.message, f.detail);
            assert!(!shown.contains("not-the-secret"));
            assert!(!shown.contains(&pair.refresh_token));
        }
        e => panic!("{e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_of_one_connection_share_the_rotation() {
    let h = Harness::new().await;
    h.sim.set_access_token_ttl(Duration::from_secs(1));
    let pair = h.sim.issue_tokens(CLIENT_ID);
    let cfg = h.config(None, Some(&pair.refresh_token));
    let mut a = h.instance().await;
    let mut b = h.instance().await;
    a.init(&cfg).await.unwrap();
    b.init(&cfg).await.unwrap();
    for round in 0..5 {
        if round > 0 {
            // Past half the token's life: the next call refreshes.
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        a.get_me(&get_me_request()).await.expect("a");
        b.get_me(&get_me_request()).await.expect("b");
    }
    let s = h.sim.stats();
    assert_eq!(
        s.reuses_detected, 0,
        "no instance spent a token the other had rotated"
    );
    assert_eq!(s.refreshes, 5, "a refreshes each round, b adopts its set");
    // A third instance started later from the same config adopts the newest set.
    let mut c = h.instance().await;
    c.init(&cfg).await.unwrap();
    c.get_me(&get_me_request())
        .await
        .expect("c adopts the stored family");
    assert_eq!(h.sim.stats().reuses_detected, 0);
}

/// Two instances of one connection call at the same moment, when neither
/// holds an access token yet and again when X answers both with 401: one
/// refresh each time (the other instance waits on the lease and adopts the
/// result), and no refresh token is ever sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_calling_at_once_refresh_once_at_the_start_and_on_a_401() {
    let h = Harness::new().await;
    // X's latency makes the two calls overlap: the refresh is still in
    // flight when the second instance asks for a token.
    h.sim
        .set_latency(endpoint::TOKEN, Some(Duration::from_millis(300)));
    h.sim
        .set_latency(endpoint::GET_ME, Some(Duration::from_millis(200)));
    let pair = h.sim.issue_tokens(CLIENT_ID);
    let cfg = h.config(None, Some(&pair.refresh_token));
    let mut a = h.instance().await;
    let mut b = h.instance().await;
    a.init(&cfg).await.unwrap();
    b.init(&cfg).await.unwrap();

    let me = get_me_request();
    let (ra, rb) = tokio::join!(a.get_me(&me), b.get_me(&me));
    ra.expect("a at the first refresh");
    rb.expect("b at the first refresh");
    let s = h.sim.stats();
    assert_eq!(s.refreshes, 1, "one refresh for both");
    assert_eq!(s.reuses_detected, 0);
    assert_eq!(s.requests[&endpoint::TOKEN], 1, "no token request refused");

    // X forgets the access token: both calls are answered 401 at once.
    h.sim.expire_access_tokens();
    let (ra, rb) = tokio::join!(a.get_me(&me), b.get_me(&me));
    ra.expect("a after the 401");
    rb.expect("b after the 401");
    let s = h.sim.stats();
    assert_eq!(s.unauthorized, 2, "both calls met the 401");
    assert_eq!(s.refreshes, 2, "one refresh for both 401s");
    assert_eq!(s.reuses_detected, 0);
    assert_eq!(s.revoked_families, 0);
    assert_eq!(s.requests[&endpoint::TOKEN], 2);
    assert_eq!(
        s.max_in_flight[&endpoint::GET_ME],
        2,
        "the two instances' calls overlapped"
    );
    // Both go on with the newest set.
    a.get_me(&me).await.expect("a afterwards");
    b.get_me(&me).await.expect("b afterwards");
    assert_eq!(h.sim.stats().refreshes, 2);
}
