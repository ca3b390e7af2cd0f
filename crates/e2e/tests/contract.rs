//! The contract: every body sent matches the vendored OpenAPI schema, and
//! the component exports and imports what the WIT says.

mod common;

use common::*;
use integrator::bindings::exports::wso2::twitter::connector as wit;
use serde_json::Value;

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
    // Bodies of every shape, not X's rules on writes: an Enterprise app,
    // media ids as if uploaded.
    h.sim.set_enterprise(true);
    h.sim.add_media(&["1", "2"]);
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
    let areas = ["tweets", "users", "lists", "direct-messages", "media"];
    let expected: Vec<String> = std::iter::once("connector")
        .chain(areas)
        .map(|i| format!("wso2:twitter/{i}@0.1.0"))
        .collect();
    assert_eq!(exports, expected);
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

/// A valid value for a parameter, for the widest request an operation can
/// send: every value of a list, the largest page.
fn widest(p: &twitter_connector::ops::Param) -> Option<String> {
    use twitter_connector::ops::Kind;
    Some(match p.kind {
        Kind::Id | Kind::Conversation => "1564781240977719296".into(),
        Kind::Ids => "1564781240977719296,2000000000000000001".into(),
        Kind::Username => "user_1".into(),
        Kind::Count(_, hi) => hi.to_string(),
        Kind::Token => "pg00000000000001".into(),
        Kind::Time => "2026-02-06T00:00:00Z".into(),
        Kind::List(values) => values.join(","),
        Kind::OneOf(values) => values[0].into(),
        Kind::Text(..) | Kind::Search | Kind::PostText => "rust".into(),
        Kind::Flag => "true".into(),
        Kind::Attachments => "1".into(),
        Kind::Pages => "2".into(),
        Kind::Base64 => "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==".into(),
        // The typed requests' JSON shapes are checked above; plain strings have no rule.
        Kind::Json(_) | Kind::Str => return None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_of_every_operation_keeps_the_spec() {
    use twitter_connector::ops;
    let h = Harness::new().await;
    h.sim.set_enterprise(true);
    let mut c = h.ready().await;
    let mut sent = 0;
    for op in ops::catalog::OPERATIONS {
        // Each parameter with its widest value (uploadMedia's media_type
        // and category left to the bytes, so they agree).
        let params: Vec<(&str, String)> = op
            .params
            .iter()
            .filter(|p| {
                !(op.name == "uploadMedia" && matches!(p.name, "media_type" | "media_category"))
            })
            .filter_map(|p| widest(p).map(|v| (p.name, v)))
            .collect();
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let before = h.sim.stats().total_requests();
        // X may refuse (an id that is not there): the request is what is checked.
        let _ = c.invoke(op.name, &kv(&pairs)).await;
        let after = h.sim.stats().total_requests();
        assert!(after > before, "{} sent nothing", op.name);
        sent += after - before;
    }
    let stats = h.sim.stats();
    assert!(sent >= 37, "{sent}");
    assert!(
        stats.request_violations.is_empty(),
        "requests off the spec: {:#?}",
        stats.request_violations
    );
    assert!(
        stats.contract_violations.is_empty(),
        "answers off the spec: {:#?}",
        stats.contract_violations
    );
}
