//! End to end: the built component in wasmtime, over HTTP on loopback to the
//! X API simulator.

mod common;

use std::time::Duration;

use common::*;
use integrator::bindings::exports::wso2::twitter::connector as wit;
use integrator::bindings::wso2::twitter::types::{
    ApiClass, ApiFailure, ConnectorError, TransportKind,
};
use serde_json::Value;
use x_sim::{endpoint, Fault};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_four_operations_succeed() {
    let h = Harness::new().await;
    let mut c = h.ready().await;

    let me = c
        .get_me(&wit::GetMeRequest {
            expansions: vec!["pinned_tweet_id".into()],
            tweet_fields: vec!["created_at".into()],
            user_fields: vec!["created_at".into(), "public_metrics".into()],
        })
        .await
        .expect("getMe");
    assert_eq!(me.user.username, "sandbox_dev");
    assert_eq!(me.meta.status, 200);
    let user: Value = serde_json::from_str(&me.user.json).unwrap();
    assert!(user["public_metrics"].is_object());
    let includes: Value = serde_json::from_str(me.includes.as_deref().expect("includes")).unwrap();
    assert_eq!(includes["tweets"][0]["text"], "pinned");

    let created = c
        .create_tweet(&text_tweet("hello from wasm"))
        .await
        .expect("createTweet");
    assert_eq!(created.text, "hello from wasm");
    assert_eq!(created.meta.status, 201);
    assert_eq!(created.edit_history_tweet_ids, vec![created.id.clone()]);
    assert_eq!(
        h.sim.stats().tweet_bodies.last().unwrap()["text"],
        "hello from wasm"
    );

    let deleted = c.delete_tweet(&created.id).await.expect("deleteTweet");
    assert!(deleted.deleted);
    let stats = h.sim.stats();
    assert_eq!(stats.requests_to(endpoint::GET_ME), 1);
    assert_eq!(stats.requests_to(endpoint::CREATE_TWEET), 1);
    assert_eq!(stats.requests_to(endpoint::DELETE_TWEET), 1);
    assert_eq!(stats.refreshes, 0, "a fresh access token needs no refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_entry_point_takes_wso2_names() {
    let h = Harness::new().await;
    let pair = h.sim.issue_tokens(CLIENT_ID);
    let mut c = h.instance().await;
    let init = c
        .invoke(
            "init",
            &kv(&[
                ("connectionName", "flows"),
                ("apiUrl", &h.sim.url()),
                ("timeout", "3000"),
                ("clientId", CLIENT_ID),
                ("refreshToken", &pair.refresh_token),
            ]),
        )
        .await
        .expect("init");
    let body: Value = serde_json::from_str(&init.body).unwrap();
    assert_eq!(body["connectionName"], "flows");

    let me = c
        .invoke(
            "getMe",
            &kv(&[
                ("user_fields", "created_at,description"),
                ("responseVariable", "me"),
            ]),
        )
        .await
        .expect("getMe");
    let v: Value = serde_json::from_str(&me.body).unwrap();
    assert_eq!(v["data"]["description"], "Account of the X API simulator");
    // Only a refresh token was given: the first call refreshed.
    assert_eq!(h.sim.stats().refreshes, 1);

    let created = c
        .invoke(
            "createTweet",
            &kv(&[
                ("text", "a poll"),
                ("poll", r#"{"options":["yes","no"],"duration_minutes":60}"#),
                ("reply_settings", "following"),
                ("for_super_followers_only", "false"),
            ]),
        )
        .await
        .expect("createTweet");
    let v: Value = serde_json::from_str(&created.body).unwrap();
    let id = v["data"]["id"].as_str().unwrap().to_string();
    let sent = h.sim.stats().tweet_bodies.last().cloned().unwrap();
    assert_eq!(sent["poll"]["duration_minutes"], 60);
    assert_eq!(sent["reply_settings"], "following");

    let deleted = c
        .invoke("deleteTweet", &kv(&[("id", &id)]))
        .await
        .expect("deleteTweet");
    assert!(deleted.body.contains("\"deleted\":true"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_headers_are_reported() {
    let h = Harness::new().await;
    h.sim
        .set_rate_limit(endpoint::GET_ME, 3, Duration::from_secs(900));
    h.sim
        .set_rate_limit(endpoint::CREATE_TWEET, 17, Duration::from_secs(86_400));
    let mut c = h.ready().await;
    let me = c.get_me(&get_me_request()).await.unwrap();
    let w = me.meta.rate_limits.window.expect("15-minute window");
    assert_eq!((w.limit, w.remaining), (Some(3), Some(2)));
    assert!(w.reset_at_s.unwrap() > 1_700_000_000);
    let t = c.create_tweet(&text_tweet("counting")).await.unwrap();
    let d = t.meta.rate_limits.user_day.expect("24-hour window");
    assert_eq!((d.limit, d.remaining), (Some(17), Some(16)));
    assert!(t
        .meta
        .headers
        .iter()
        .any(|(k, _)| k == "x-user-limit-24hour-remaining"));

    c.get_me(&get_me_request()).await.unwrap();
    c.get_me(&get_me_request()).await.unwrap();
    match connector_error(c.get_me(&get_me_request()).await.unwrap_err()) {
        ConnectorError::Api(
            r @ ApiFailure {
                class: ApiClass::RateLimited,
                ..
            },
        ) => {
            let w = r.rate_limits.window.unwrap();
            assert_eq!(w.remaining, Some(0));
            assert!(w.reset_at_s.is_some());
            assert_eq!(r.problem.status, 429);
            assert_eq!(r.problem.title.as_deref(), Some("Too Many Requests"));
        }
        e => panic!("{e:?}"),
    }
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_initialized_and_not_found() {
    let h = Harness::new().await;
    let mut fresh = h.instance().await;
    assert_eq!(
        kind_of(fresh.get_me(&get_me_request()).await.unwrap_err()),
        "not-initialized"
    );
    let mut c = h.ready().await;
    match connector_error(c.delete_tweet("12345").await.unwrap_err()) {
        ConnectorError::Api(ApiFailure {
            class: ApiClass::NotFound,
            problem: p,
            ..
        }) => {
            assert_eq!(p.kind, "resource-not-found");
            assert!(p.detail.unwrap().contains("12345"));
        }
        e => panic!("{e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_become_typed_errors_and_the_instance_stays_usable() {
    let h = Harness::new().await;
    let mut c = h.ready().await;
    let cases: Vec<(Fault, &str, Option<TransportKind>)> = vec![
        (Fault::Status(503, "<html>over capacity</html>".into()), "api-error", None),
        (
            Fault::Status(
                403,
                r#"{"title":"Client Forbidden","type":"https://api.x.com/2/problems/client-not-enrolled","detail":"enrollment required"}"#.into(),
            ),
            "forbidden",
            None,
        ),
        (Fault::Malformed("not json at all".into()), "malformed-response", None),
        (Fault::Malformed("".into()), "malformed-response", None),
        (Fault::Malformed("[1,2,3]".into()), "malformed-response", None),
        (Fault::Malformed(r#"{"data":{"id":5}}"#.into()), "malformed-response", None),
        (Fault::Truncated, "transport", Some(TransportKind::Reset)),
        (Fault::Drop, "transport", Some(TransportKind::Reset)),
        (Fault::Huge(2 << 20), "transport", Some(TransportKind::TooLarge)),
        (Fault::Delay(Duration::from_secs(4)), "transport", Some(TransportKind::Timeout)),
        // Headers and half the body, then silence past the 2 s timeout.
        (Fault::StalledBody(Duration::from_secs(4)), "transport", Some(TransportKind::Timeout)),
    ];
    for (fault, kind, transport) in cases {
        let label = format!("{fault:?}");
        h.sim.push_fault(endpoint::GET_ME, fault);
        let err = connector_error(c.get_me(&get_me_request()).await.unwrap_err());
        assert_eq!(kind_name(&err), kind, "{label}: {err:?}");
        if let (Some(want), ConnectorError::Transport(t)) = (transport, &err) {
            assert_eq!(t.kind, want, "{label}: {}", t.cause);
        }
        if let ConnectorError::Api(ApiFailure {
            class: ApiClass::Forbidden,
            problem: p,
            ..
        }) = &err
        {
            assert_eq!(p.kind, "client-not-enrolled");
        }
        c.get_me(&get_me_request())
            .await
            .unwrap_or_else(|e| panic!("usable after {label}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_a_transport_error() {
    let h = Harness::new().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut c = h.instance().await;
    let mut cfg = h.config(Some("access"), None);
    cfg.api_url = Some(format!("http://127.0.0.1:{port}"));
    c.init(&cfg).await.unwrap();
    match connector_error(c.get_me(&get_me_request()).await.unwrap_err()) {
        ConnectorError::Transport(t) => assert_eq!(t.kind, TransportKind::Connect, "{}", t.cause),
        e => panic!("{e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_validation_rejects_before_any_request() {
    let h = Harness::new().await;
    let mut c = h.ready().await;
    let long = "a".repeat(281);
    let cjk = "字".repeat(141);
    type Case<'a> = (&'a str, Vec<(String, String)>, &'a str);
    let cases: Vec<Case> = vec![
        ("createTweet", kv(&[("text", &long)]), "text"),
        ("createTweet", kv(&[("text", &cjk)]), "text"),
        ("createTweet", kv(&[("text", "")]), "text"),
        ("createTweet", kv(&[]), "text"),
        (
            "createTweet",
            kv(&[("text", "x"), ("media", r#"{"media_ids":[]}"#)]),
            "media.media_ids",
        ),
        (
            "createTweet",
            kv(&[
                ("text", "x"),
                ("media", r#"{"media_ids":["1","2","3","4","5"]}"#),
            ]),
            "media.media_ids",
        ),
        (
            "createTweet",
            kv(&[("text", "x"), ("media", r#"{"media_ids":["12a"]}"#)]),
            "media.media_ids[0]",
        ),
        (
            "createTweet",
            kv(&[
                ("text", "x"),
                ("poll", r#"{"options":["a"],"duration_minutes":60}"#),
            ]),
            "poll.options",
        ),
        (
            "createTweet",
            kv(&[
                ("text", "x"),
                (
                    "poll",
                    r#"{"options":["a","b","c","d","e"],"duration_minutes":60}"#,
                ),
            ]),
            "poll.options",
        ),
        (
            "createTweet",
            kv(&[
                ("text", "x"),
                (
                    "poll",
                    r#"{"options":["a","12345678901234567890123456"],"duration_minutes":60}"#,
                ),
            ]),
            "poll.options[1]",
        ),
        (
            "createTweet",
            kv(&[
                ("text", "x"),
                ("poll", r#"{"options":["a","b"],"duration_minutes":4}"#),
            ]),
            "poll.duration_minutes",
        ),
        (
            "createTweet",
            kv(&[
                ("text", "x"),
                ("poll", r#"{"options":["a","b"],"duration_minutes":10081}"#),
            ]),
            "poll.duration_minutes",
        ),
        (
            "createTweet",
            kv(&[("text", "x"), ("reply_settings", "everyone")]),
            "reply_settings",
        ),
        (
            "createTweet",
            kv(&[("text", "x"), ("quote_tweet_id", "1/2")]),
            "quote_tweet_id",
        ),
        (
            "createTweet",
            kv(&[
                ("text", "x"),
                ("reply", r#"{"in_reply_to_tweet_id":"abc"}"#),
            ]),
            "reply.in_reply_to_tweet_id",
        ),
        (
            "createTweet",
            kv(&[("text", "x"), ("reply", r#"{"exclude_reply_user_ids":[]}"#)]),
            "reply",
        ),
        (
            "createTweet",
            kv(&[
                ("media", r#"{"media_ids":["1"]}"#),
                ("poll", r#"{"options":["a","b"],"duration_minutes":5}"#),
            ]),
            "media",
        ),
        (
            "createTweet",
            kv(&[("media", r#"{"media_ids":["1"]}"#), ("quote_tweet_id", "5")]),
            "media",
        ),
        (
            "createTweet",
            kv(&[
                ("text", "x"),
                ("poll", r#"{"options":["a","b"],"duration_minutes":5}"#),
                ("quote_tweet_id", "5"),
            ]),
            "poll",
        ),
        (
            "createTweet",
            kv(&[
                ("text", "x"),
                ("card_uri", "card://1"),
                ("quote_tweet_id", "5"),
            ]),
            "card_uri",
        ),
        (
            "createTweet",
            kv(&[("text", "x"), ("geo", r#"{"place":"x"}"#)]),
            "geo",
        ),
        (
            "createTweet",
            kv(&[("text", "x"), ("for_super_followers_only", "maybe")]),
            "for_super_followers_only",
        ),
        ("createTweet", kv(&[("text", "x"), ("txt", "typo")]), "txt"),
        ("deleteTweet", kv(&[("id", "../users/me")]), "id"),
        ("deleteTweet", kv(&[("id", "12345678901234567890")]), "id"),
        ("deleteTweet", kv(&[]), "id"),
        (
            "getMe",
            kv(&[("user_fields", "id,passwords")]),
            "user_fields",
        ),
        (
            "getMe",
            kv(&[("tweet_fields", "text,bogus")]),
            "tweet_fields",
        ),
        ("getMe", kv(&[("expansions", "everything")]), "expansions"),
        ("getMe", kv(&[("user_fields", "id,id")]), "user_fields"),
        ("retweet", kv(&[]), "operation"),
    ];
    for (op, params, parameter) in cases {
        match connector_error(c.invoke(op, &params).await.unwrap_err()) {
            ConnectorError::InvalidInput(i) => {
                assert_eq!(i.parameter, parameter, "{op} {params:?}: {}", i.rule);
                assert!(!i.rule.is_empty());
            }
            e => panic!("{op} {params:?}: {e:?}"),
        }
    }
    assert_eq!(
        h.sim.stats().total_requests(),
        0,
        "nothing reached the simulator"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_rules_name_the_parameter() {
    let h = Harness::new().await;
    let mut c = h.instance().await;
    let cases: Vec<(Vec<(String, String)>, &str)> = vec![
        (
            kv(&[
                ("apiUrl", "http://api.x.com"),
                ("clientId", "c"),
                ("accessToken", "a"),
            ]),
            "apiUrl",
        ),
        (
            kv(&[
                ("apiUrl", "http://10.1.2.3:8080"),
                ("clientId", "c"),
                ("accessToken", "a"),
            ]),
            "apiUrl",
        ),
        (
            kv(&[
                ("apiUrl", "not a url"),
                ("clientId", "c"),
                ("accessToken", "a"),
            ]),
            "apiUrl",
        ),
        (kv(&[("accessToken", "a")]), "clientId"),
        (
            kv(&[("clientId", "c"), ("accessToken", "a"), ("timeout", "-5")]),
            "timeout",
        ),
        (
            kv(&[("clientId", "c"), ("accessToken", "a"), ("timeout", "0")]),
            "timeout",
        ),
        (
            kv(&[
                ("clientId", "c"),
                ("accessToken", "a"),
                ("connectionName", "a b"),
            ]),
            "connectionName",
        ),
        (
            kv(&[("clientId", "c"), ("accessToken", "a"), ("bogus", "1")]),
            "bogus",
        ),
    ];
    for (params, parameter) in cases {
        match connector_error(c.invoke("init", &params).await.unwrap_err()) {
            ConnectorError::InvalidInput(i) => assert_eq!(i.parameter, parameter, "{params:?}"),
            e => panic!("{params:?}: {e:?}"),
        }
    }
    // A refused init leaves the instance uninitialized.
    assert_eq!(
        kind_of(c.get_me(&get_me_request()).await.unwrap_err()),
        "not-initialized"
    );
    assert_eq!(h.sim.stats().total_requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_body_sent_matches_the_openapi_schema() {
    let spec: Value = serde_json::from_slice(
        &std::fs::read(spec_dir().join("openapi.json")).expect("spec/x-api/openapi.json"),
    )
    .unwrap();
    let mut schema = serde_json::json!({"$ref": "#/components/schemas/CreatePostsRequest"});
    schema["components"] = spec["components"].clone();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");

    let h = Harness::new().await;
    let mut c = h.ready().await;
    let bodies: Vec<Vec<(String, String)>> = vec![
        kv(&[("text", "plain")]),
        kv(&[
            ("text", "with poll"),
            (
                "poll",
                r#"{"options":["a","b","c"],"duration_minutes":1440,"reply_settings":"following"}"#,
            ),
        ]),
        kv(&[
            ("text", "media"),
            (
                "media",
                r#"{"media_ids":["1","2"],"tagged_user_ids":["3"]}"#,
            ),
        ]),
        kv(&[("media", r#"{"media_ids":["1"]}"#)]),
        kv(&[
            ("text", "reply"),
            (
                "reply",
                r#"{"in_reply_to_tweet_id":"99","exclude_reply_user_ids":["7"]}"#,
            ),
        ]),
        kv(&[
            ("text", "quote"),
            ("quote_tweet_id", "1234567890123456789"),
            ("reply_settings", "mentionedUsers"),
        ]),
        kv(&[
            ("text", "geo"),
            ("geo", r#"{"place_id":"df51dec6f4ee2b2c"}"#),
            ("nullcast", "true"),
        ]),
        kv(&[
            ("text", "dm"),
            (
                "direct_message_deep_link",
                "https://x.com/messages/compose?recipient_id=1",
            ),
        ]),
        kv(&[
            ("text", "sf"),
            ("for_super_followers_only", "true"),
            ("share_with_followers", "false"),
        ]),
        kv(&[
            ("text", "community"),
            ("community_id", "42"),
            ("made_with_ai", "true"),
            ("paid_partnership", "false"),
        ]),
        kv(&[("text", "card"), ("card_uri", "card://1234")]),
        kv(&[
            ("text", "edit"),
            ("edit_options", r#"{"previous_post_id":"77"}"#),
        ]),
    ];
    for params in &bodies {
        c.invoke("createTweet", params)
            .await
            .unwrap_or_else(|e| panic!("{params:?}: {e}"));
    }
    // The typed path too, with every field of the record set that can be.
    let mut t = text_tweet("typed with everything");
    t.reply = Some(wit::Reply {
        in_reply_to_tweet_id: "5".into(),
        exclude_reply_user_ids: vec![],
        auto_populate_reply_metadata: Some(true),
    });
    t.reply_settings = Some("verified".into());
    t.geo_place_id = Some("abc".into());
    t.nullcast = Some(false);
    t.direct_message_deep_link = Some("https://x.com/messages/compose".into());
    c.create_tweet(&t).await.unwrap();

    let sent = h.sim.stats().tweet_bodies;
    assert_eq!(sent.len(), bodies.len() + 1);
    for body in &sent {
        let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{body}: {errors:?}");
    }
    // The validator is not vacuous: a body X would refuse fails it.
    assert!(!validator.is_valid(&serde_json::json!({"text":"x","bogus":1})));
    assert!(
        !validator.is_valid(&serde_json::json!({"poll":{"options":["a"],"duration_minutes":5}}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_component_exports_and_imports_what_the_contract_says() {
    let h = Harness::new().await;
    let engine = h.runtime.engine();
    let component = wasmtime::component::Component::from_file(engine, component_path()).unwrap();
    let ty = component.component_type();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    assert_eq!(exports, vec!["wso2:twitter/connector@0.1.0"]);
    let (_, connector) = ty.exports(engine).next().unwrap();
    let funcs: Vec<String> = match connector.ty {
        wasmtime::component::types::ComponentItem::ComponentInstance(i) => {
            i.exports(engine).map(|(n, _)| n.to_string()).collect()
        }
        other => panic!("{other:?}"),
    };
    for f in ["init", "create-tweet", "delete-tweet", "get-me", "invoke"] {
        assert!(
            funcs.iter().any(|n| n == f),
            "missing export {f}: {funcs:?}"
        );
    }
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    assert!(
        imports
            .iter()
            .any(|n| n == "wasi:http/outgoing-handler@0.2.12"),
        "{imports:?}"
    );
    assert!(
        imports
            .iter()
            .any(|n| n == "wso2:twitter/token-store@0.1.0"),
        "{imports:?}"
    );
    // Nothing outside what std and wasi:http pull in.
    for n in &imports {
        let ok = n.starts_with("wasi:http/")
            || n.starts_with("wasi:io/")
            || n.starts_with("wasi:clocks/")
            || n.starts_with("wasi:cli/")
            || n.starts_with("wasi:random/")
            || n.starts_with("wasi:filesystem/")
            || n.starts_with("wso2:twitter/");
        assert!(ok, "unexpected import {n}");
    }
    assert!(
        !imports.iter().any(|n| n.starts_with("wasi:sockets/")),
        "no raw sockets: {imports:?}"
    );
}
