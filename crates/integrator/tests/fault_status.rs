//! The status `serve` answers a fault with is the same whether a fault
//! sequence catches it (`${vars.error.status}`) or nothing does: one map,
//! `FaultKind::http_status`. Measured from outside, a refused call of an
//! exhausted pool and a call while the token store is down answered 500
//! when uncaught, 503 when caught.

mod support;

use std::time::Duration;

use support::*;
use token_store::testing::RedisServer;
use x_sim::endpoint;

/// api.xml's `GET /x/me`, with and without a fault sequence.
fn flow() -> String {
    let p = tempdir().join("uncaught.xml");
    std::fs::write(
        &p,
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <localEntry key="X"><twitter.init>
    <connectionName>X</connectionName>
    <apiUrl>${env.X_API_URL}</apiUrl>
    <clientId>cli-client</clientId>
    <refreshToken>${secret.X_REFRESH_TOKEN}</refreshToken>
    <maxActiveConnections>${env.X_MAX_ACTIVE}</maxActiveConnections>
    <exhaustedAction>${env.X_EXHAUSTED_ACTION}</exhaustedAction>
  </twitter.init></localEntry>
  <api name="x" context="/x">
    <resource methods="GET" uri-template="/uncaught"><inSequence>
      <twitter.getMe configKey="X"><overwriteBody>true</overwriteBody></twitter.getMe>
      <respond/></inSequence></resource>
    <resource methods="GET" uri-template="/caught"><inSequence>
      <twitter.getMe configKey="X"><overwriteBody>true</overwriteBody></twitter.getMe>
      <respond/></inSequence>
      <faultSequence>
        <property name="HTTP_SC" expression="${vars.error.status}" scope="axis2"/>
        <payloadFactory media-type="json"><format>{"error": {"kind": "${properties.ERROR_CODE}"}}</format></payloadFactory>
        <respond/>
      </faultSequence></resource>
  </api>
</definitions>"#,
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

fn get_both(s: &Served, path: &str) -> Vec<Answer> {
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let (addr, path) = (s.addr.clone(), path.to_string());
            std::thread::spawn(move || request_to(&addr, "GET", &path, None).unwrap())
        })
        .collect();
    calls.into_iter().map(|c| c.join().unwrap()).collect()
}

#[test]
fn an_exhausted_pool_answers_503_caught_or_not() {
    let live = LiveSim::start();
    live.sim
        .set_latency(endpoint::GET_ME, Some(Duration::from_millis(600)));
    let pair = live.sim.issue_tokens("cli-client");
    let s = Served::start(
        &[&flow(), "--token-store", "memory"],
        &[
            ("X_API_URL", &live.sim.url()),
            ("X_REFRESH_TOKEN", &pair.refresh_token),
            ("X_MAX_ACTIVE", "1"),
            ("X_EXHAUSTED_ACTION", "WHEN_EXHAUSTED_FAIL"),
        ],
    );
    assert_eq!(s.request("GET", "/x/uncaught", None).0, 200);
    for path in ["/x/uncaught", "/x/caught"] {
        let answers = get_both(&s, path);
        let refused: Vec<_> = answers.iter().filter(|a| a.0 != 200).collect();
        assert_eq!(refused.len(), 2, "{path}: {answers:?}");
        for (status, _, body) in refused {
            assert_eq!(*status, 503, "{path}: {body}");
            assert_eq!(body["error"]["kind"], "pool-exhausted", "{path}: {body}");
        }
    }
}

#[test]
fn a_token_store_that_is_down_answers_503_caught_or_not() {
    let live = LiveSim::start();
    let mut redis = RedisServer::private();
    let pair = live.sim.issue_tokens("cli-client");
    let s = Served::start(
        &[&flow(), "--token-store", redis.url()],
        &[
            ("X_API_URL", &live.sim.url()),
            ("X_REFRESH_TOKEN", &pair.refresh_token),
        ],
    );
    assert_eq!(s.request("GET", "/x/uncaught", None).0, 200);
    redis.stop();
    for path in ["/x/uncaught", "/x/caught"] {
        // A refresh is needed, and the store is down.
        live.sim.expire_access_tokens();
        let (status, _, body) = s.request("GET", path, None);
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body["error"]["kind"], "token-store", "{path}: {body}");
    }
}
