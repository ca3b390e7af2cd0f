//! The built component against a simulator as strict as X: the free tier's
//! 24-hour caps, X's real tier error, partial errors in 2xx answers, the
//! token endpoint's 429 and empty errors, scopes, and requests X refuses
//! (refused locally first where the connector can).

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use integrator::bindings::exports::wso2::twitter::connector as wit;
use integrator::bindings::wso2::twitter::types::{ApiClass, ApiFailure, ConnectorError};
use x_sim::{endpoint, Fault, Tier};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_tier_day_ends_at_the_24_hour_reset_not_the_15_minute_one() {
    let h = Harness::new().await;
    h.sim.set_tier(Tier::Free);
    let mut c = h.ready().await;
    for i in 0..17 {
        let r = c
            .create_tweet(&text_tweet(&format!("post {i} of the day")))
            .await
            .unwrap_or_else(|e| panic!("post {i}: {e}"));
        let day = r.meta.rate_limits.user_day.unwrap();
        assert_eq!(day.remaining, Some(16 - i));
        // The 17th answer already says when the next can go: its budget is 0.
        let expected = if i < 16 { None } else { day.reset_at_s };
        assert_eq!(r.meta.rate_limits.retry_after_s, expected, "post {i}");
    }
    let f = failure(
        c.create_tweet(&text_tweet("one too many"))
            .await
            .unwrap_err(),
    );
    let e = f.error.clone();
    let ConnectorError::Api(
        r @ ApiFailure {
            class: ApiClass::RateLimited,
            ..
        },
    ) = e.clone()
    else {
        panic!("{e:?}");
    };
    let window = r.rate_limits.window.unwrap();
    let day = r.rate_limits.user_day.unwrap();
    assert!(
        window.remaining.unwrap() > 0,
        "the 15-minute window had room"
    );
    assert_eq!(day.remaining, Some(0));
    let retry = r.rate_limits.retry_after_s.expect("a retry-after figure");
    assert_eq!(
        Some(retry),
        day.reset_at_s
            .max(r.rate_limits.app_day.unwrap().reset_at_s)
    );
    assert!(retry > now() + 23 * 3600, "the 24-hour reset: {retry}");
    assert_ne!(Some(retry), window.reset_at_s);
    let text = f.detail;
    assert!(text.contains(&retry.to_string()), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tier_error_names_the_enrollment_needed() {
    let h = Harness::new().await;
    h.sim.forbid_for_tier(endpoint::GET_ME);
    let mut c = h.ready().await;
    let f = failure(c.get_me(&get_me_request()).await.unwrap_err());
    let e = f.error.clone();
    let ConnectorError::Api(ApiFailure {
        class: ApiClass::Forbidden,
        problem: p,
        ..
    }) = &e
    else {
        panic!("{e:?}");
    };
    assert_eq!(p.kind, "client-not-enrolled");
    assert_eq!(p.reason.as_deref(), Some("client-not-enrolled"));
    assert_eq!(
        p.problem_type.as_deref(),
        Some("https://api.x.com/2/problems/client-forbidden")
    );
    assert_eq!(
        p.required_enrollment.as_deref(),
        Some("Appropriate Level of API Access")
    );
    let text = f.detail;
    assert!(
        text.contains("Appropriate Level of API Access") && text.contains("developer.x.com"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_errors_in_2xx_answers_are_typed_and_kept() {
    let h = Harness::new().await;
    let mut c = h.ready().await;
    // errors and no data: the error the first problem names.
    h.sim.push_fault(
        endpoint::GET_ME,
        Fault::Malformed(r#"{"errors":[{"type":"https://api.x.com/2/problems/resource-not-found","title":"Not Found Error","detail":"Could not find user with id: [1].","resource_type":"user","resource_id":"1","parameter":"id","value":"1"}]}"#.into()),
    );
    match connector_error(c.get_me(&get_me_request()).await.unwrap_err()) {
        ConnectorError::Api(ApiFailure {
            class: ApiClass::NotFound,
            problem: p,
            ..
        }) => {
            assert_eq!(p.status, 200);
            assert_eq!(p.errors[0].parameter.as_deref(), Some("id"));
            assert_eq!(p.errors[0].value.as_deref(), Some("1"));
            assert!(p.errors[0]
                .problem_type
                .as_deref()
                .unwrap()
                .ends_with("resource-not-found"));
        }
        e => panic!("{e:?}"),
    }
    // data and errors: the data, and the problems beside it.
    h.sim.push_fault(
        endpoint::GET_ME,
        Fault::Malformed(r#"{"data":{"id":"1","name":"N","username":"u"},"errors":[{"type":"https://api.x.com/2/problems/resource-not-found","title":"Not Found Error","detail":"Could not find post with id: [9].","resource_type":"post","parameter":"pinned_post_id","value":"9"}]}"#.into()),
    );
    let me = c.get_me(&get_me_request()).await.unwrap();
    assert_eq!(me.user.username, "u");
    assert_eq!(me.meta.errors.len(), 1);
    assert_eq!(
        me.meta.errors[0].parameter.as_deref(),
        Some("pinned_post_id")
    );
    // The spec's plain Error body keeps its code.
    h.sim.push_fault(
        endpoint::DELETE_TWEET,
        Fault::Status(400, r#"{"code":214,"message":"Bad request"}"#.into()),
    );
    match connector_error(c.delete_tweet("1").await.unwrap_err()) {
        ConnectorError::Api(ApiFailure {
            class: ApiClass::Other,
            problem: p,
            ..
        }) => {
            assert_eq!(p.errors[0].code, Some(214));
            assert_eq!(p.detail.as_deref(), Some("Bad request"));
        }
        e => panic!("{e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_s_429_and_empty_errors_keep_their_meaning() {
    let h = Harness::new().await;
    let pair = h.sim.issue_tokens(CLIENT_ID);
    let mut c = h.instance().await;
    c.init(&h.config(None, Some(&pair.refresh_token)))
        .await
        .unwrap();
    let reset = (now() + 600).to_string();
    h.sim.push_fault(
        endpoint::TOKEN,
        Fault::Raw(
            429,
            Some("application/problem+json".into()),
            vec![
                ("x-rate-limit-limit".into(), "5".into()),
                ("x-rate-limit-remaining".into(), "0".into()),
                ("x-rate-limit-reset".into(), reset.clone()),
            ],
            r#"{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}"#.into(),
        ),
    );
    match connector_error(c.get_me(&get_me_request()).await.unwrap_err()) {
        ConnectorError::Api(
            r @ ApiFailure {
                class: ApiClass::RateLimited,
                ..
            },
        ) => {
            assert_eq!(
                r.rate_limits.retry_after_s.map(|t| t.to_string()),
                Some(reset)
            );
        }
        e => panic!("{e:?}"),
    }
    h.sim.push_fault(
        endpoint::TOKEN,
        Fault::Raw(503, None, vec![], String::new()),
    );
    match connector_error(c.get_me(&get_me_request()).await.unwrap_err()) {
        ConnectorError::Api(ApiFailure {
            class: ApiClass::Other,
            problem: p,
            ..
        }) => assert_eq!(p.status, 503),
        e => panic!("{e:?}"),
    }
    // The refresh token was never spent: the next call refreshes with it.
    c.get_me(&get_me_request()).await.unwrap();
    assert_eq!(h.sim.stats().reuses_detected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_are_checked_as_the_spec_lists_them() {
    let h = Harness::new().await;
    let pair = h
        .sim
        .issue_tokens_with_scope(CLIENT_ID, "tweet.read users.read offline.access");
    let mut c = h.instance().await;
    c.init(&h.config(Some(&pair.access_token), Some(&pair.refresh_token)))
        .await
        .unwrap();
    c.get_me(&get_me_request())
        .await
        .expect("getMe needs tweet.read users.read");
    match connector_error(
        c.create_tweet(&text_tweet("no write scope"))
            .await
            .unwrap_err(),
    ) {
        ConnectorError::Api(ApiFailure {
            class: ApiClass::Forbidden,
            problem: p,
            ..
        }) => {
            assert!(
                p.detail.as_deref().unwrap().contains("tweet.write"),
                "{p:?}"
            )
        }
        e => panic!("{e:?}"),
    }
}

/// A raw request with a live bearer token, past the connector's own checks
/// (plain HTTP/1.1 on loopback).
async fn raw(
    h: &Harness,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let pair = h.sim.issue_tokens(CLIENT_ID);
    let addr = h.sim.addr();
    let (method, path, body) = (
        method.to_string(),
        path.to_string(),
        body.unwrap_or("").to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            pair.access_token,
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str(body).unwrap_or_default())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_refuses_what_x_refuses_and_the_connector_refuses_it_first() {
    let h = Harness::new().await;
    h.sim.add_media(&["1234"]);
    let mut c = h.ready().await;
    // A media-only post: the connector sends text "", as the spec wants.
    let mut media_only = text_tweet("");
    media_only.text = None;
    media_only.media = Some(wit::Media {
        media_ids: vec!["1234".into()],
        tagged_user_ids: vec![],
        description: None,
        title: None,
        embeddable: None,
        preview_media_id: None,
        call_to_actions: None,
    });
    c.create_tweet(&media_only).await.expect("media only");
    assert_eq!(h.sim.stats().tweet_bodies.last().unwrap()["text"], "");
    // Without text at all, X (and the simulator) refuses.
    let (status, v) = raw(
        &h,
        "POST",
        "/2/tweets",
        Some(r#"{"media":{"media_ids":["1234"]}}"#),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(v.to_string().contains("$.text: is missing"), "{v}");
    // 140 family emoji are 280 weighted: valid for both, never stricter than X.
    let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}".repeat(140);
    c.create_tweet(&text_tweet(&family))
        .await
        .expect("140 family emoji");
    // 281 Latin characters: the connector refuses before sending; so would X.
    let long = "a".repeat(281);
    assert_eq!(
        kind_of(c.create_tweet(&text_tweet(&long)).await.unwrap_err()),
        "invalid-input"
    );
    let (status, _) = raw(
        &h,
        "POST",
        "/2/tweets",
        Some(&serde_json::json!({"text": long}).to_string()),
    )
    .await;
    assert_eq!(status, 400);
    // Unknown fields, enum values, ids, exclusions, empty posts.
    for (body, needle) in [
        (
            r#"{"text":"x","colour":"red"}"#,
            "does not allow additional properties",
        ),
        (r#"{"text":"x","reply_settings":"everyone"}"#, "enumeration"),
        (r#"{"text":"x","quote_tweet_id":"12a"}"#, "regex pattern"),
        (
            r#"{"text":"x","media":{"media_ids":["1"]},"poll":{"options":["a","b"],"duration_minutes":30}}"#,
            "cannot be used together",
        ),
        (r#"{"text":"   "}"#, "empty"),
    ] {
        let (status, v) = raw(&h, "POST", "/2/tweets", Some(body)).await;
        assert_eq!(status, 400, "{body}: {v}");
        assert!(v.to_string().contains(needle), "{body}: {v}");
        assert_eq!(v["type"], "https://api.x.com/2/problems/invalid-request");
    }
    let mut bad = text_tweet("x");
    bad.reply_settings = Some("everyone".into());
    assert_eq!(
        kind_of(c.create_tweet(&bad).await.unwrap_err()),
        "invalid-input"
    );
    // getMe: unknown fields are X's 400; the spec's current names work.
    let (status, v) = raw(&h, "GET", "/2/users/me?user.fields=shoe_size", None).await;
    assert_eq!(status, 400, "{v}");
    assert!(v.to_string().contains("shoe_size"));
    let (status, v) = raw(
        &h,
        "GET",
        "/2/users/me?user.fields=public_metrics&expansions=pinned_post_id&post.fields=created_at",
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(v["data"]["public_metrics"]["post_count"].is_number());
    assert_eq!(v["includes"]["posts"][0]["id"], v["data"]["pinned_post_id"]);
    // Created posts carry edit_history_post_ids, as the current spec has it.
    let r = c.create_tweet(&text_tweet("edit history")).await.unwrap();
    assert_eq!(r.edit_history_tweet_ids, vec![r.id.clone()]);
    // Every answer in this test kept the spec's contract (checked on drop).
    assert!(
        h.sim.stats().contract_violations.is_empty(),
        "{:?}",
        h.sim.stats().contract_violations
    );
}
