//! Bad input is refused before any request, naming the parameter and the rule.

mod common;

use common::*;
use integrator::bindings::wso2::twitter::types::ConnectorError;

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
