//! Every operation of the catalog through the built component, against the
//! simulator: its success path (what X answers, what it costs, in the unit
//! the simulator's own table bills), every request within the spec's
//! parameters and schemas (the simulator checks each one it receives),
//! and every parameter's rule refused before anything is sent.

mod common;

use common::*;
use integrator::ConnectorInstance;
use serde_json::Value;
use twitter_connector::ops::{self, Kind, Param, Shape};
use x_sim::{Endpoint, Simulator};

/// The account the simulator's tokens act for, and users it starts with.
const ME: &str = "1564781240977719296";
const USER_1: &str = "2000000000000000001";
const USER_6: &str = "2000000000000000006";
/// A seeded post by USER_1 that mentions the account.
const MENTION: &str = "1860000000000000001";
const OTHER_POST: &str = "1860000000000000002";
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn call(c: &mut ConnectorInstance, op: &str, params: &[(&str, &str)]) -> Value {
    let meta = c
        .invoke(op, &kv(params))
        .await
        .unwrap_or_else(|e| panic!("{op}: {}", failure(e).detail));
    serde_json::from_str(&meta.body).unwrap_or_else(|e| panic!("{op}: {e}: {}", meta.body))
}

/// The unit the simulator bills an operation in, by its own table.
fn sim_unit(op: &str) -> x_pricing::BillingUnit {
    match op {
        "createTweet" => x_pricing::BillingUnit::ContentCreate,
        "deleteTweet" => x_pricing::BillingUnit::InteractionDelete,
        "getMe" => x_pricing::BillingUnit::UserRead,
        _ => {
            let id = ops::find(op).unwrap().operation_id;
            x_sim::routes::by_operation(id)
                .unwrap_or_else(|| panic!("the simulator serves no {id}"))
                .unit
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_works_end_to_end_within_the_spec() {
    let h = Harness::new().await;
    let mut c = h.ready().await;
    let upload = b64(PNG);
    // (operation, parameters, what the answer must hold)
    let mut done: Vec<&str> = Vec::new();
    let mut run = async |op: &'static str, params: Vec<(&str, String)>| -> Value {
        let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let meta = c
            .invoke(op, &kv(&p))
            .await
            .unwrap_or_else(|e| panic!("{op}: {}", failure(e).detail));
        let body: Value = serde_json::from_str(&meta.body).unwrap();
        // Every result says what it cost, in the unit X bills it in.
        let spec = ops::find(op).unwrap();
        let first = meta
            .cost
            .items
            .first()
            .unwrap_or_else(|| panic!("{op}: no cost in {body}"));
        assert_eq!(integrator::costs::unit(first.unit), sim_unit(op), "{op}");
        if spec.shape == Shape::Write {
            assert_eq!(first.count, 1, "{op}");
        }
        done.push(op);
        body
    };
    let s = |v: &str| v.to_string();

    // Media first: its id goes into a post.
    let media = run("uploadMedia", vec![("media", upload.clone())]).await;
    let media_id = media["data"]["id"].as_str().unwrap().to_string();
    let post = run(
        "createTweet",
        vec![
            ("text", s("with an image")),
            ("media", format!(r#"{{"media_ids":["{media_id}"]}}"#)),
        ],
    )
    .await;
    let post_id = post["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(run("getMe", vec![]).await["data"]["id"], ME);

    // Tweets.
    assert_eq!(
        run(
            "getTweetById",
            vec![
                ("id", post_id.clone()),
                ("tweet_fields", s("author_id,created_at")),
                ("expansions", s("author_id"))
            ]
        )
        .await["includes"]["users"][0]["id"],
        ME
    );
    let lookup = run(
        "getTweetsLookup",
        vec![("ids", format!("{post_id},{MENTION},99"))],
    )
    .await;
    assert_eq!(lookup["data"].as_array().unwrap().len(), 2);
    assert_eq!(lookup["errors"][0]["resource_id"], "99");
    assert_eq!(
        run(
            "likeTweet",
            vec![("user_id", s(ME)), ("tweet_id", s(MENTION))]
        )
        .await["data"]["liked"],
        true
    );
    assert_eq!(
        run(
            "getLikedTweetsList",
            vec![("id", s(ME)), ("max_results", s("5"))]
        )
        .await["data"][0]["id"],
        MENTION
    );
    assert_eq!(
        run("unlikeTweet", vec![("id", s(ME)), ("tweet_id", s(MENTION))]).await["data"]["liked"],
        false
    );
    assert_eq!(
        run(
            "createRetweet",
            vec![("user_id", s(ME)), ("tweet_id", s(OTHER_POST))]
        )
        .await["data"]["retweeted"],
        true
    );
    let home = run(
        "getUserHomeTimeline",
        vec![
            ("id", s(ME)),
            ("max_results", s("2")),
            ("exclude", s("replies")),
        ],
    )
    .await;
    assert_eq!(home["data"][0]["id"], post_id.as_str(), "newest first");
    assert!(home["meta"]["next_token"].is_string());
    assert_eq!(
        run(
            "getUserMentionsTimeline",
            vec![("id", s(ME)), ("start_time", s("2026-01-01T00:00:00Z"))]
        )
        .await["data"][0]["id"],
        MENTION
    );
    assert_eq!(
        run(
            "getUserTweetsTimeline",
            vec![("id", s(ME)), ("since_id", s("1"))]
        )
        .await["data"][0]["id"],
        post_id.as_str()
    );
    let found = run(
        "searchTweets",
        vec![
            ("query", s("rust wasm")),
            ("sort_order", s("recency")),
            ("max_results", s("10")),
        ],
    )
    .await;
    assert_eq!(found["data"][0]["id"], OTHER_POST);

    // Users.
    assert_eq!(
        run(
            "getUserById",
            vec![("id", s(USER_1)), ("user_fields", s("created_at"))]
        )
        .await["data"]["username"],
        "user_1"
    );
    assert_eq!(
        run("getUserByUsername", vec![("username", s("user_1"))]).await["data"]["id"],
        USER_1
    );
    assert_eq!(
        run("getUsersLookup", vec![("ids", format!("{ME},{USER_1}"))]).await["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        run(
            "getFollowers",
            vec![("id", s(ME)), ("max_results", s("1000"))]
        )
        .await["data"]
            .as_array()
            .unwrap()
            .len(),
        x_sim::SEEDED_FOLLOWERS
    );
    assert_eq!(
        run("getFollowingUsers", vec![("id", s(ME))]).await["meta"]["result_count"],
        5
    );
    assert_eq!(
        run(
            "followUser",
            vec![("id", s(ME)), ("target_user_id", s(USER_6))]
        )
        .await["data"]["following"],
        true
    );
    assert_eq!(
        run(
            "unfollowUser",
            vec![("id", s(ME)), ("target_user_id", s(USER_6))]
        )
        .await["data"]["following"],
        false
    );
    assert_eq!(
        run(
            "muteUser",
            vec![("id", s(ME)), ("target_user_id", s(USER_6))]
        )
        .await["data"]["muting"],
        true
    );
    assert_eq!(
        run("getMutedUsers", vec![("id", s(ME))]).await["data"][0]["id"],
        USER_6
    );
    assert_eq!(
        run(
            "unmuteUser",
            vec![("source_user_id", s(ME)), ("target_user_id", s(USER_6))]
        )
        .await["data"]["muting"],
        false
    );
    assert_eq!(
        run(
            "blockUser",
            vec![("id", s(ME)), ("target_user_id", s(USER_6))]
        )
        .await["data"]["blocking"],
        true
    );
    assert_eq!(
        run("getBlockedUsers", vec![("id", s(ME))]).await["data"][0]["id"],
        USER_6
    );
    assert_eq!(
        run(
            "unblockUser",
            vec![("id", s(ME)), ("target_user_id", s(USER_6))]
        )
        .await["data"]["blocking"],
        false
    );

    // Lists.
    let list = run(
        "createList",
        vec![
            ("name", s("connector")),
            ("description", s("made by a test")),
            ("private", s("true")),
        ],
    )
    .await;
    let list_id = list["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        run(
            "updateList",
            vec![("id", list_id.clone()), ("name", s("renamed"))]
        )
        .await["data"]["updated"],
        true
    );
    let got = run(
        "getListById",
        vec![
            ("id", list_id.clone()),
            ("list_fields", s("private,description")),
        ],
    )
    .await;
    assert_eq!(
        (
            got["data"]["name"].as_str(),
            got["data"]["private"].as_bool()
        ),
        (Some("renamed"), Some(true))
    );
    assert_eq!(
        run("deleteList", vec![("id", list_id)]).await["data"]["deleted"],
        true
    );
    assert_eq!(
        run("getFollowingLists", vec![("id", s(ME))]).await["meta"]["result_count"],
        2
    );
    assert_eq!(
        run(
            "getListsMemberships",
            vec![("id", s(ME)), ("list_fields", s("member_count"))]
        )
        .await["meta"]["result_count"],
        3
    );

    // Direct messages.
    let sent = run(
        "sendNewDirectMessage",
        vec![
            ("participant_id", s(USER_1)),
            ("text", s("hello")),
            ("attachments", media_id.clone()),
        ],
    )
    .await;
    let conversation = sent["data"]["dm_conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    run(
        "addDirectMessage",
        vec![
            ("dm_conversation_id", conversation.clone()),
            ("text", s("again")),
        ],
    )
    .await;
    let events = run(
        "getDirectMessages",
        vec![
            ("event_types", s("MessageCreate")),
            ("dm_event_fields", s("text,sender_id")),
        ],
    )
    .await;
    assert_eq!(events["data"][0]["text"], "again");
    assert_eq!(
        events["data"][0]["dm_conversation_id"],
        conversation.as_str()
    );

    assert_eq!(
        run("deleteTweet", vec![("id", post_id)]).await["data"]["deleted"],
        true
    );

    // Every operation of the catalog ran, each through its own endpoint.
    let all: Vec<&str> = ops::catalog::OPERATIONS.iter().map(|o| o.name).collect();
    let mut missing: Vec<&&str> = all.iter().filter(|o| !done.contains(o)).collect();
    missing.sort();
    assert!(missing.is_empty(), "not exercised: {missing:?}");
    let stats = h.sim.stats();
    for op in ops::catalog::OPERATIONS
        .iter()
        .filter(|o| !ops::TYPED.contains(&o.name))
    {
        if op.name == "uploadMedia" {
            continue;
        }
        assert!(
            stats.requests_to(Endpoint::Api(
                x_sim::routes::by_operation(op.operation_id)
                    .unwrap()
                    .operation_id
            )) >= 1,
            "{}",
            op.name
        );
    }
    assert!(
        stats.contract_violations.is_empty(),
        "answers off the spec: {:#?}",
        stats.contract_violations
    );
    assert!(
        stats.request_violations.is_empty(),
        "requests off the spec: {:#?}",
        stats.request_violations
    );
}

/// A value that breaks a parameter's rule (none for a plain string).
fn bad_value(p: &Param) -> Option<String> {
    Some(match p.kind {
        Kind::Str => return None,
        Kind::Id => "12/../34".into(),
        Kind::Ids => "1,x".into(),
        Kind::Username => "not a name".into(),
        Kind::Conversation => "1-2-3".into(),
        Kind::Count(_, hi) => (hi + 1).to_string(),
        Kind::Token => "a&b=c".into(),
        Kind::Time => "2026-02-30T00:00:00Z".into(),
        Kind::List(_) => "id,bogus".into(),
        Kind::OneOf(_) => "bogus".into(),
        Kind::Text(_, hi) => "x".repeat(hi as usize + 1),
        Kind::Flag => "yes".into(),
        Kind::Search => "q".repeat(513),
        Kind::Attachments => r#"[{"media_id":"1","x":2}]"#.into(),
        Kind::Pages => "0".into(),
        Kind::Base64 => "not base64!".into(),
        Kind::PostText => "x".repeat(281),
        Kind::Json(_) => "{not json".into(),
    })
}

/// A value that keeps a parameter's rule.
fn good_value(p: &Param) -> String {
    match p.kind {
        Kind::Id | Kind::Ids | Kind::Conversation => "123".into(),
        Kind::Username => "user_1".into(),
        Kind::Text(..) | Kind::Search | Kind::PostText => "hello".into(),
        Kind::Base64 => b64(PNG),
        _ => unreachable!("{} is never required", p.name),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_parameter_s_rule_is_checked_before_anything_is_sent() {
    let h = Harness::new().await;
    let mut c = h.ready().await;
    let before = h.sim.stats().total_requests();
    let mut checked = 0;
    for op in ops::catalog::OPERATIONS {
        let mut required: Vec<(&str, String)> = op
            .params
            .iter()
            .filter(|p| p.required)
            .map(|p| (p.name, good_value(p)))
            .collect();
        // createTweet needs text (or media) beside whatever is tested.
        if op.name == "createTweet" {
            required.push(("text", "hello".into()));
        }
        for p in op.params {
            let Some(bad) = bad_value(p) else { continue };
            // Each parameter alone with a broken value, beside valid required ones.
            let mut params: Vec<(&str, String)> = required
                .iter()
                .filter(|(n, _)| *n != p.name)
                .cloned()
                .collect();
            params.push((p.name, bad));
            let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let e = connector_error(
                c.invoke(op.name, &kv(&pairs))
                    .await
                    .expect_err(&format!("{} {} accepted", op.name, p.name)),
            );
            let integrator::bindings::wso2::twitter::types::ConnectorError::InvalidInput(i) = e
            else {
                panic!("{} {}: {e:?}", op.name, p.name);
            };
            assert!(
                i.parameter.starts_with(p.name)
                    || p.alias.is_some_and(|a| i.parameter == a)
                    || (op.name == "createTweet" && p.name == "media"),
                "{}: {} was refused as {}: {}",
                op.name,
                p.name,
                i.parameter,
                i.rule
            );
            checked += 1;
        }
        // And each required one left out.
        for p in op
            .params
            .iter()
            .filter(|p| p.required && op.name != "createTweet")
        {
            let params: Vec<(&str, &str)> = required
                .iter()
                .filter(|(n, _)| *n != p.name)
                .map(|(k, v)| (*k, v.as_str()))
                .collect();
            let e = connector_error(c.invoke(op.name, &kv(&params)).await.expect_err(op.name));
            assert_eq!(
                kind_name(&e),
                "invalid-input",
                "{} without {}",
                op.name,
                p.name
            );
            checked += 1;
        }
    }
    assert!(checked >= 240, "{checked} checks");
    assert_eq!(
        h.sim.stats().total_requests(),
        before,
        "a refused call sent a request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_pages_follows_next_token_and_stops_on_a_rate_limit() {
    let h = Harness::new().await;
    let mut c = h.ready().await;
    let followers = Endpoint::Api("getUsersFollowers");
    let all = call(
        &mut c,
        "getFollowers",
        &[
            ("id", ME),
            ("max_results", "10"),
            ("maxPages", "3"),
            ("user_fields", "created_at"),
        ],
    )
    .await;
    let ids: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        x_sim::SEEDED_FOLLOWERS,
        "three pages of 10, 10 and 5"
    );
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
    assert_eq!(all["meta"]["pages"], 3);
    assert!(all["meta"].get("next_token").is_none());
    assert_eq!(h.sim.stats().requests_to(followers), 3);

    // Fewer pages than there are: where to go on.
    let two = call(
        &mut c,
        "getFollowers",
        &[("id", ME), ("max_results", "10"), ("maxPages", "2")],
    )
    .await;
    assert_eq!(two["data"].as_array().unwrap().len(), 20);
    assert_eq!(two["meta"]["stopped"], "max-pages");
    let token = two["meta"]["next_token"].as_str().unwrap().to_string();
    let rest = call(
        &mut c,
        "getFollowers",
        &[
            ("id", ME),
            ("max_results", "10"),
            ("pagination_token", &token),
        ],
    )
    .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 5);

    // A read that starts from a token follows on from it, one token a request.
    let from = call(
        &mut c,
        "getFollowers",
        &[
            ("id", ME),
            ("max_results", "10"),
            ("pagination_token", &token),
            ("maxPages", "2"),
        ],
    )
    .await;
    assert_eq!(from["data"].as_array().unwrap().len(), 5);
    assert_eq!(from["data"][0]["id"], rest["data"][0]["id"]);

    // Any other failure after the first page (a 500: not sent again): what
    // was read (and billed), and the failure.
    h.sim.push_fault(followers, x_sim::Fault::Normal);
    h.sim.push_fault(
        followers,
        x_sim::Fault::Status(
            500,
            r#"{"title":"Internal Error","type":"about:blank","status":500}"#.into(),
        ),
    );
    let meta = c
        .invoke(
            "getFollowers",
            &kv(&[("id", ME), ("max_results", "10"), ("maxPages", "3")]),
        )
        .await
        .unwrap();
    let broken: Value = serde_json::from_str(&meta.body).unwrap();
    assert_eq!(broken["data"].as_array().unwrap().len(), 10);
    assert_eq!(broken["meta"]["stopped"], "error");
    assert_eq!(broken["meta"]["error"]["kind"], "api-error");
    assert!(broken["meta"]["next_token"].is_string());
    assert_eq!(meta.cost.items[0].count, 10);

    // A rate limit after the first page: what was read, and when to go on.
    h.sim
        .set_rate_limit(followers, 2, std::time::Duration::from_secs(900));
    let meta = c
        .invoke(
            "getFollowers",
            &kv(&[("id", ME), ("max_results", "10"), ("maxPages", "3")]),
        )
        .await
        .unwrap();
    let cut: Value = serde_json::from_str(&meta.body).unwrap();
    assert_eq!(cut["data"].as_array().unwrap().len(), 20);
    assert_eq!(cut["meta"]["stopped"], "rate-limited");
    assert!(cut["meta"]["retry_after"].as_u64().is_some());
    assert_eq!(
        meta.rate_limits.retry_after_s,
        cut["meta"]["retry_after"].as_u64()
    );
    assert!(cut["meta"]["next_token"].is_string());
    // Billed for the 20 it returned.
    assert_eq!(meta.cost.items[0].count, 20);
    // A rate limit on the first page is the usual typed error.
    let e = c
        .invoke("getFollowers", &kv(&[("id", ME)]))
        .await
        .unwrap_err();
    assert_eq!(kind_of(e), "rate-limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_s_rules_on_replies_and_quotes_are_named() {
    let h = Harness::new().await;
    let mut c = h.ready().await;
    let reply_to = |id: &str| format!(r#"{{"in_reply_to_tweet_id":"{id}"}}"#);
    // A reply to a post whose author did not mention the account.
    let e = failure(
        c.invoke(
            "createTweet",
            &kv(&[("text", "a reply"), ("reply", &reply_to(OTHER_POST))]),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(kind_name(&e.error), "forbidden");
    assert!(
        e.message.contains("not been mentioned"),
        "X's words stay: {}",
        e.message
    );
    assert!(
        e.detail.contains("2026-02-23") && e.detail.contains("mentioned this app's account"),
        "{}",
        e.detail
    );
    // A reply to a post that mentions it, and to the account's own post, go through.
    call(
        &mut c,
        "createTweet",
        &[("text", "thanks!"), ("reply", &reply_to(MENTION))],
    )
    .await;
    let own = call(&mut c, "createTweet", &[("text", "a thread")]).await;
    call(
        &mut c,
        "createTweet",
        &[
            ("text", "a thread, 2/2"),
            ("reply", &reply_to(own["data"]["id"].as_str().unwrap())),
        ],
    )
    .await;
    // A quote post on a self-serve plan.
    let e = failure(
        c.invoke(
            "createTweet",
            &kv(&[("text", "quoting"), ("quote_tweet_id", MENTION)]),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(kind_name(&e.error), "forbidden");
    assert!(
        e.detail.contains("quote posts") && e.detail.contains("2026-04-20"),
        "{}",
        e.detail
    );
    // An Enterprise app is spared both.
    h.sim.set_enterprise(true);
    call(
        &mut c,
        "createTweet",
        &[
            ("text", "enterprise reply"),
            ("reply", &reply_to(OTHER_POST)),
        ],
    )
    .await;
    call(
        &mut c,
        "createTweet",
        &[("text", "enterprise quote"), ("quote_tweet_id", MENTION)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_scope_says_which_to_ask_for() {
    let h = Harness::new().await;
    let mut c = h
        .ready_with_scope("tweet.read users.read offline.access")
        .await;
    let e = failure(
        c.invoke("likeTweet", &kv(&[("id", ME), ("tweet_id", MENTION)]))
            .await
            .unwrap_err(),
    );
    assert_eq!(kind_name(&e.error), "forbidden");
    assert!(
        e.detail.contains("like.write") && e.detail.contains("authorize again"),
        "{}",
        e.detail
    );
    let e = failure(
        c.invoke("uploadMedia", &kv(&[("media", &b64(PNG))]))
            .await
            .unwrap_err(),
    );
    assert!(e.detail.contains("media.write"), "{}", e.detail);
    // Reads within the scope work.
    call(&mut c, "getUserById", &[("id", USER_1)]).await;
    // An endpoint the app's access tier does not include is X's tier 403,
    // with where to enroll, and no talk of scopes.
    h.sim.forbid_for_tier(Endpoint::Api("searchPostsRecent"));
    let e = failure(
        c.invoke("searchTweets", &kv(&[("query", "rust")]))
            .await
            .unwrap_err(),
    );
    assert_eq!(kind_name(&e.error), "forbidden");
    assert!(
        e.detail.contains("client-not-enrolled") && e.detail.contains("enroll"),
        "{}",
        e.detail
    );
    assert!(!e.detail.contains("scopes"), "{}", e.detail);
}

fn gif_of(len: usize) -> Vec<u8> {
    let mut bytes = b"GIF89a".to_vec();
    bytes.resize(len, 0x2a);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_upload_of_a_few_mib_is_processed_then_posted() {
    let sim = Simulator::start().await.unwrap();
    sim.set_media_processing_polls(2);
    let h = Harness::with_sim(sim).await;
    let mut c = h.ready().await;
    let bytes = gif_of(3 * (1 << 20) + 12_345);
    let up = call(&mut c, "uploadMedia", &[("media", &b64(&bytes))]).await;
    assert_eq!(up["data"]["processing_info"]["state"], "succeeded");
    let stats = h.sim.stats();
    assert_eq!(stats.media_appends, 4, "1 MiB chunks");
    assert_eq!(stats.media_bytes, bytes.len() as u64);
    assert_eq!(stats.media_status_polls, 2, "polled until processed");
    assert_eq!(
        stats.requests_to(Endpoint::Api("mediaUpload")),
        0,
        "not the one-request upload"
    );
    let id = up["data"]["id"].as_str().unwrap();
    let post = call(
        &mut c,
        "createTweet",
        &[
            ("text", "a gif"),
            ("media", &format!(r#"{{"media_ids":["{id}"]}}"#)),
        ],
    )
    .await;
    assert!(post["data"]["id"].is_string());
    assert_eq!(
        h.sim.stats().tweet_bodies.last().unwrap()["media"]["media_ids"][0],
        id
    );
    assert!(
        h.sim.stats().request_violations.is_empty(),
        "{:?}",
        h.sim.stats().request_violations
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_is_polled_until_x_has_processed_it() {
    let sim = Simulator::start().await.unwrap();
    sim.set_media_processing_polls(3);
    let h = Harness::with_sim(sim).await;
    let mut c = h.ready().await;
    let mut mp4 = b"\0\0\0\x18ftypmp42".to_vec();
    mp4.resize(200_000, 1);
    let started = std::time::Instant::now();
    let up = call(
        &mut c,
        "uploadMedia",
        &[("media", &b64(&mp4)), ("media_category", "tweet_video")],
    )
    .await;
    assert_eq!(up["data"]["processing_info"]["state"], "succeeded");
    assert_eq!(h.sim.stats().media_status_polls, 3);
    // X said check_after_secs 1 each time, and the connector waited.
    assert!(started.elapsed() >= std::time::Duration::from_secs(3));
    // A post with a media id X has not finished is refused by X, typed.
    let e = c
        .invoke(
            "createTweet",
            &kv(&[("text", "x"), ("media", r#"{"media_ids":["42"]}"#)]),
        )
        .await
        .unwrap_err();
    assert_eq!(kind_of(e), "api-error");
}

#[test]
fn the_runtime_allows_an_upload_what_the_component_takes() {
    use integrator::engine::allowance;
    assert_eq!(allowance::MEDIA_CHUNK_BYTES, ops::media::CHUNK_BYTES);
    assert_eq!(allowance::MAX_PROCESSING_SECS, ops::MAX_PROCESSING_SECS);
}
