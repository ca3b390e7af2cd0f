//! End to end through the built component: the four operations, the generic
//! entry point with WSO2 names, rate-limit headers, and the errors of a
//! connection used wrongly.

mod common;

use std::time::Duration;

use common::*;
use integrator::bindings::exports::wso2::twitter::connector as wit;
use integrator::bindings::wso2::twitter::types::{ApiClass, ApiFailure, ConnectorError};
use serde_json::Value;
use x_sim::endpoint;

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
