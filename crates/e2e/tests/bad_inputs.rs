//! The bad-input matrix, part one: hostile values for `init` and the
//! operations (ids with path segments, CR/LF in values bound for a header
//! or a URL, huge strings, deeply nested JSON, numbers out of range, unknown
//! fields, wrong types), each refused before the network with an error
//! naming the parameter; the simulator proves nothing was sent. Part two
//! (flow XML, `serve`'s HTTP API) is crates/integrator/tests/bad_inputs.rs;
//! tests/validation.rs has the everyday mistakes.

mod common;

use common::*;
use integrator::bindings::wso2::twitter::types::ConnectorError;

fn nested(depth: usize) -> String {
    format!(
        r#"{{"media_ids":{}"1"{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_are_refused_naming_the_parameter() {
    let h = Harness::new().await;
    let huge = "9".repeat(100_000);
    let long_name = "a".repeat(100_000);
    let deep = nested(10_000);
    let ids_101 = (1..=101)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let init = |extra: &[(&str, &str)]| {
        let mut p = vec![("clientId", "c"), ("accessToken", "a")];
        p.extend_from_slice(extra);
        kv(&p)
    };
    type Case<'a> = (&'a str, Vec<(String, String)>, &'a str);
    let init_cases: Vec<Case> = vec![
        ("init", init(&[("retryCount", "11")]), "retryCount"),
        ("init", init(&[("retryCount", "two")]), "retryCount"),
        ("init", init(&[("retryDelay", "0")]), "retryDelay"),
        ("init", init(&[("maxRetryWait", "900001")]), "maxRetryWait"),
        (
            "init",
            init(&[("waitOnRateLimit", "yes")]),
            "waitOnRateLimit",
        ),
        ("init", init(&[("timeout", "99999999999")]), "timeout"),
        (
            "init",
            init(&[("apiUrl", "https://u:p@api.x.com")]),
            "apiUrl",
        ),
        (
            "init",
            init(&[("apiUrl", "https://api.x.com/\r\nHost: evil")]),
            "apiUrl",
        ),
        (
            "init",
            init(&[("apiUrl", "https://api.x.com/?q=1")]),
            "apiUrl",
        ),
        (
            "init",
            init(&[("connectionName", &long_name)]),
            "connectionName",
        ),
        (
            "init",
            init(&[("connectionName", "a\nb")]),
            "connectionName",
        ),
    ];
    let op_cases: Vec<Case> = vec![
        ("getUserById", kv(&[("id", "1\r\nX-Evil: 1")]), "id"),
        ("getUserById", kv(&[("id", "1/../../2/tweets")]), "id"),
        ("getUserById", kv(&[("id", &huge)]), "id"),
        ("getUserById", kv(&[("id", "-5")]), "id"),
        ("getUserByUsername", kv(&[("username", "a/b")]), "username"),
        (
            "getUserByUsername",
            kv(&[("username", &long_name)]),
            "username",
        ),
        (
            "getUserByUsername",
            kv(&[("username", "a%2Fb")]),
            "username",
        ),
        ("getUsersLookup", kv(&[("ids", "1,2,x")]), "ids[2]"),
        ("getUsersLookup", kv(&[("ids", &ids_101)]), "ids"),
        (
            "getFollowers",
            kv(&[("id", "1"), ("max_results", "1001")]),
            "max_results",
        ),
        (
            "getFollowers",
            kv(&[("id", "1"), ("max_results", "-1")]),
            "max_results",
        ),
        (
            "getFollowers",
            kv(&[("id", "1"), ("max_results", "1e2")]),
            "max_results",
        ),
        (
            "getFollowers",
            kv(&[("id", "1"), ("pagination_token", "ab\r\ncd")]),
            "pagination_token",
        ),
        (
            "getFollowers",
            kv(&[("id", "1"), ("pagination_token", "a&b=c")]),
            "pagination_token",
        ),
        (
            "getFollowers",
            kv(&[("id", "1"), ("user_fields", "id\r\nname")]),
            "user_fields",
        ),
        ("searchTweets", kv(&[("query", &long_name)]), "query"),
        (
            "searchTweets",
            kv(&[("query", "rust"), ("start_time", "yesterday")]),
            "start_time",
        ),
        (
            "searchTweets",
            kv(&[("query", "rust"), ("start_time", "2026-13-45T00:00:00Z")]),
            "start_time",
        ),
        (
            "searchTweets",
            kv(&[("query", "rust"), ("sort_order", "random")]),
            "sort_order",
        ),
        (
            "createTweet",
            kv(&[("text", "x"), ("media", &deep)]),
            "media",
        ),
        (
            "createTweet",
            kv(&[("text", "x"), ("media", "[1,2]")]),
            "media",
        ),
        (
            "createTweet",
            kv(&[("text", "x"), ("media", r#"{"media_ids":[1]}"#)]),
            "media",
        ),
        (
            "createTweet",
            kv(&[
                ("text", "x"),
                ("poll", r#"{"options":["a","b"],"duration_minutes":"60"}"#),
            ]),
            "poll",
        ),
        (
            "createTweet",
            kv(&[
                ("text", "x"),
                ("poll", r#"{"options":["a","b"],"duration_minutes":1e20}"#),
            ]),
            "poll",
        ),
        ("createTweet", kv(&[("text", &huge)]), "text"),
        ("deleteTweet", kv(&[("id", "1%2F2")]), "id"),
        (
            "likeTweet",
            kv(&[("id", "1"), ("tweet_id", "1\r\n2")]),
            "tweet_id",
        ),
        ("uploadMedia", kv(&[("media", "!!! not base64")]), "media"),
        (
            "uploadMedia",
            kv(&[("media", "R0lGODlh"), ("media_category", "weird")]),
            "media_category",
        ),
        (
            "getDirectMessages",
            kv(&[("dm_event_fields", "text,secret")]),
            "dm_event_fields",
        ),
    ];
    let mut c = h.instance().await;
    let mut wrong = Vec::new();
    let mut counted = 0;
    for (op, params, parameter) in &init_cases {
        check(&mut c, op, params, parameter, &mut wrong).await;
        counted += 1;
    }
    let mut c = h.ready().await;
    let before = h.sim.stats().total_requests();
    for (op, params, parameter) in &op_cases {
        check(&mut c, op, params, parameter, &mut wrong).await;
        counted += 1;
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(
        h.sim.stats().total_requests(),
        before,
        "nothing reached the simulator"
    );
    println!("{counted} hostile values refused before the network");
}

async fn check(
    c: &mut integrator::ConnectorInstance,
    op: &str,
    params: &[(String, String)],
    parameter: &str,
    wrong: &mut Vec<String>,
) {
    let shown = |p: &[(String, String)]| {
        p.iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.chars().take(40).collect::<String>().escape_debug()
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    match c.invoke(op, params).await {
        Ok(_) => wrong.push(format!("{op} {}: accepted", shown(params))),
        Err(e) => match connector_error(e) {
            ConnectorError::InvalidInput(i) if i.parameter == parameter && !i.rule.is_empty() => {}
            e => wrong.push(format!("{op} {}: {e:?}", shown(params))),
        },
    }
}
