//! What `serve` answers when X (or anything on its origin) misbehaves: echoes
//! the secrets it was sent, sends broken bodies, statuses and ids, or
//! drips. Nothing secret and no host internals may reach an answer or a log.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use support::*;

const SECRET: &str = "client-secret-value-42";
const R0: &str = "REFRESH-FROM-CONFIG-0000";
const A1: &str = "ROTATED-ACCESS-1111111";
const R1: &str = "ROTATED-REFRESH-1111111";

fn env(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("X_API_URL", url.to_string()),
        ("X_CLIENT_ID", "echo-app".to_string()),
        ("X_CLIENT_SECRET", SECRET.to_string()),
        ("X_REFRESH_TOKEN", R0.to_string()),
        ("INTEGRATOR_TOKEN_STORE", "memory".to_string()),
        ("RUST_BACKTRACE", "1".to_string()),
    ]
}

fn serve_against(url: &str, flow: &str) -> Served {
    let e = env(url);
    let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Served::start(&[flow, "-vv"], &pairs)
}

/// A flow like examples/api.xml, with a confidential client and the status
/// and headers under the test's control.
fn flow() -> String {
    let p = tempdir().join("api.xml");
    std::fs::write(
        &p,
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <localEntry key="X"><twitter.init>
    <connectionName>X</connectionName>
    <apiUrl>${env.X_API_URL}</apiUrl>
    <timeout>${env.X_TIMEOUT}</timeout>
    <clientId>${env.X_CLIENT_ID}</clientId>
    <clientSecret>${secret.X_CLIENT_SECRET}</clientSecret>
    <refreshToken>${secret.X_REFRESH_TOKEN}</refreshToken>
  </twitter.init></localEntry>
  <api name="x" context="/x">
    <resource methods="GET" uri-template="/me"><inSequence>
      <twitter.getMe configKey="X"><overwriteBody>true</overwriteBody></twitter.getMe>
      <respond/></inSequence>
      <faultSequence><sequence key="fault"/></faultSequence></resource>
    <resource methods="POST" uri-template="/tweets"><inSequence>
      <twitter.createTweet configKey="X"><text>${payload.text}</text><responseVariable>t</responseVariable></twitter.createTweet>
      <property name="Location" expression="/x/tweets/${vars.t.payload.data.id}" scope="transport"/>
      <payloadFactory media-type="json"><format>{"ok": true}</format></payloadFactory>
      <respond/></inSequence>
      <faultSequence><sequence key="fault"/></faultSequence></resource>
    <resource methods="GET" uri-template="/status"><inSequence>
      <property name="HTTP_SC" expression="${params.queryParams.sc}" scope="axis2"/>
      <payloadFactory media-type="json"><format>{"ok": true}</format></payloadFactory>
      <respond/></inSequence></resource>
  </api>
  <sequence name="fault">
    <property name="HTTP_SC" value="502" scope="axis2"/>
    <payloadFactory media-type="json"><format>{"error": {"kind": "${properties.ERROR_CODE}", "message": "${properties.ERROR_MESSAGE}", "detail": "${properties.ERROR_DETAIL}"}}</format></payloadFactory>
    <respond/>
  </sequence>
</definitions>"#,
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

fn token_ok() -> Reply {
    json_reply(
        200,
        &format!(
            r#"{{"token_type":"bearer","expires_in":7200,"access_token":"{A1}","refresh_token":"{R1}","scope":"tweet.read tweet.write users.read offline.access"}}"#
        ),
    )
}

fn escape(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

#[test]
fn secrets_echoed_by_the_upstream_appear_in_no_answer_and_no_log() {
    let calls = Arc::new(AtomicU32::new(0));
    let n = calls.clone();
    let upstream = Hostile::start(move |seen| {
        let echo = format!("{}\n{}", seen.head, seen.body);
        match (seen.path.as_str(), n.fetch_add(1, Ordering::SeqCst)) {
            // First refresh: refused, echoing the whole token request
            // (Basic header, the config's refresh token).
            ("/2/oauth2/token", 0) => json_reply(
                400,
                &format!(
                    r#"{{"error":"invalid_client","error_description":{}}}"#,
                    escape(&echo)
                ),
            ),
            ("/2/oauth2/token", _) => token_ok(),
            // The API refuses, echoing the (rotated) bearer token.
            _ => json_reply(
                403,
                &format!(
                    r#"{{"title":"Forbidden","type":"about:blank","status":403,"detail":{}}}"#,
                    escape(&echo)
                ),
            ),
        }
    });
    let served = serve_against(&upstream.url(), &flow());
    let (s1, _, b1) = served.request("GET", "/x/me", None);
    let (s2, _, b2) = served.request("GET", "/x/me", None);
    assert_eq!((s1, s2), (502, 502), "{b1} {b2}");
    let answers = format!("{b1}{b2}");
    assert!(
        answers.contains("refresh-failed") && answers.contains("forbidden"),
        "{answers}"
    );
    assert!(
        answers.contains("********"),
        "the echoes were there, masked: {answers}"
    );
    std::thread::sleep(Duration::from_millis(200));
    let log = served.log_text();
    let b64 = base64::engine::general_purpose::STANDARD;
    let basic = b64.encode(format!("echo-app:{SECRET}"));
    for secret in [SECRET, R0, A1, R1, basic.as_str()] {
        assert!(
            !answers.contains(secret),
            "{secret} in an answer: {answers}"
        );
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

#[test]
fn broken_bodies_bad_ids_and_odd_statuses_get_clear_answers_without_host_internals() {
    let upstream = Hostile::start(|seen| {
        match seen.path.as_str() {
        "/2/oauth2/token" => token_ok(),
        // A created post whose id carries CR/LF.
        "/2/tweets" => json_reply(201, r#"{"data":{"id":"123\r\nX-Evil: 1","text":"t"}}"#),
        // A malformed chunked body.
        p if p.starts_with("/2/users/me") => Reply::Raw(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".to_vec(),
        ),
        _ => json_reply(404, "{}"),
    }
    });
    let served = serve_against(&upstream.url(), &flow());
    // No host backtrace in the answer, with RUST_BACKTRACE=1 set.
    let (status, _, body) = served.request("GET", "/x/me", None);
    assert_eq!(status, 502, "{body}");
    let text = body.to_string();
    for bad in ["backtrace", "stack", "src/", ".rs:", "\\n  "] {
        assert!(!text.contains(bad), "`{bad}` in {text}");
    }
    assert!(text.len() < 600, "a short cause: {text}");
    assert_eq!(body["error"]["kind"], "transport", "{body}");
    // An id that cannot go into a header: 502 naming the header.
    let (status, headers, body) = served.request("POST", "/x/tweets", Some(r#"{"text":"hi"}"#));
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`Location`"),
        "{body}"
    );
    assert!(!headers.iter().any(|(k, _)| k == "x-evil"));
    assert!(headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "application/json"));
    // HTTP_SC outside 200..599 is never forwarded.
    for sc in ["101", "999", "42"] {
        let (status, _, body) = served.request("GET", &format!("/x/status?sc={sc}"), None);
        assert_eq!(status, 502, "{sc}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(sc));
    }
    let (status, _, _) = served.request("GET", "/x/status?sc=299", None);
    assert_eq!(status, 299);
}

#[test]
fn unusable_json_in_a_2xx_body_is_a_malformed_response() {
    for body in [
        format!(
            r#"{{"data":{{"deleted":true}},"x":{}1{}}}"#,
            "[".repeat(300),
            "]".repeat(300)
        ),
        r#"{"data":{"id":"1","name":"n","username":"u"},"n":1e999999}"#.to_string(),
    ] {
        let b = body.clone();
        let upstream = Hostile::start(move |seen| match seen.path.as_str() {
            "/2/oauth2/token" => token_ok(),
            _ => json_reply(200, &b),
        });
        let served = serve_against(&upstream.url(), &flow());
        let (status, _, answer) = served.request("GET", "/x/me", None);
        assert_eq!(status, 502, "{answer}");
        assert_eq!(answer["error"]["kind"], "malformed-response", "{answer}");
    }
}

#[test]
fn a_dripping_upstream_is_cut_at_the_connection_timeout() {
    let upstream = Hostile::start(|seen| match seen.path.as_str() {
        "/2/oauth2/token" => token_ok(),
        _ => Reply::Drip(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 60\r\n\r\n"
                .into(),
            vec![b' '; 60],
            Duration::from_millis(500),
        ),
    });
    let mut e = env(&upstream.url());
    e.push(("X_TIMEOUT", "2000".into()));
    let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let served = Served::start(&[&flow()], &pairs);
    let started = Instant::now();
    let (status, _, body) = served.request("GET", "/x/me", None);
    let took = started.elapsed();
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["kind"], "transport", "{body}");
    assert!(
        took < Duration::from_millis(3500),
        "the 2 s timeout bounds the whole call: took {took:?}"
    );
}
