//! The retry policy through the `integrator` binary and the built
//! component, against an upstream that fails on cue: reads and deletes are
//! sent again on 502 and 503, a post never; `retryCount` bounds them.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use support::*;

const ME: &str = r#"{"data":{"id":"42","name":"N","username":"retry_user"}}"#;

/// Counts requests per "METHOD path" and answers each from `script`: the
/// n-th request to a route gets the n-th status of its list (the last one
/// thereafter).
fn upstream(
    script: HashMap<&'static str, Vec<u16>>,
) -> (Hostile, Arc<Mutex<HashMap<String, u32>>>) {
    let seen = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
    let counts = seen.clone();
    let up = Hostile::start(move |s| {
        let key = format!("{} {}", s.method, s.path.split('?').next().unwrap_or(""));
        let n = {
            let mut c = counts.lock().unwrap();
            let n = c.entry(key.clone()).or_default();
            *n += 1;
            *n as usize
        };
        if key == "POST /2/oauth2/token" {
            return json_reply(
                200,
                r#"{"token_type":"bearer","expires_in":7200,"access_token":"A1","refresh_token":"R1","scope":"tweet.read tweet.write users.read offline.access"}"#,
            );
        }
        let statuses = script.get(key.as_str()).cloned().unwrap_or(vec![404]);
        let status = statuses[(n - 1).min(statuses.len() - 1)];
        match (status, key.as_str()) {
            (200, "GET /2/users/me") => json_reply(200, ME),
            (200, k) if k.starts_with("DELETE") => json_reply(200, r#"{"data":{"deleted":true}}"#),
            (s, _) => json_reply(
                s,
                &format!(
                    r#"{{"title":"Service Unavailable","detail":"failing on cue","type":"about:blank","status":{s}}}"#
                ),
            ),
        }
    });
    (up, seen)
}

fn flow(retry_count: u32) -> String {
    let p = tempdir().join("retries.xml");
    std::fs::write(
        &p,
        format!(
            r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <localEntry key="X"><twitter.init>
    <connectionName>X</connectionName>
    <apiUrl>${{env.X_API_URL}}</apiUrl>
    <timeout>3000</timeout>
    <clientId>app</clientId>
    <refreshToken>${{secret.X_REFRESH_TOKEN}}</refreshToken>
    <retryCount>{retry_count}</retryCount>
    <retryDelay>20</retryDelay>
    <maxRetryWait>5000</maxRetryWait>
  </twitter.init></localEntry>
  <sequence name="main" onError="fault">
    <twitter.getMe configKey="X"><responseVariable>me</responseVariable></twitter.getMe>
    <twitter.deleteTweet configKey="X"><id>1860000000000000001</id><responseVariable>d</responseVariable></twitter.deleteTweet>
    <twitter.createTweet configKey="X"><text>once only</text></twitter.createTweet>
  </sequence>
  <sequence name="fault">
    <payloadFactory media-type="json"><format>{{"me": "${{vars.me.payload.data.username}}", "deleted": ${{vars.d.payload.data.deleted}}, "error": ${{vars.error}}}}</format></payloadFactory>
  </sequence>
</definitions>"#
        ),
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

fn count(seen: &Mutex<HashMap<String, u32>>, key: &str) -> u32 {
    seen.lock().unwrap().get(key).copied().unwrap_or(0)
}

#[test]
fn reads_and_deletes_are_sent_again_and_a_post_never() {
    let (up, seen) = upstream(HashMap::from([
        ("GET /2/users/me", vec![503, 502, 200]),
        ("DELETE /2/tweets/1860000000000000001", vec![503, 200]),
        ("POST /2/tweets", vec![503]),
    ]));
    let url = up.url();
    let out = run(
        &["run", &flow(3)],
        &[("X_API_URL", &url), ("X_REFRESH_TOKEN", "R0")],
    );
    let v = stdout_json(&out);
    assert_eq!(v["me"], "retry_user", "{v}\n{}", stderr(&out));
    assert_eq!(v["deleted"], true, "{v}");
    assert_eq!(v["error"]["status"], 503, "{v}");
    assert_eq!(count(&seen, "GET /2/users/me"), 3);
    assert_eq!(count(&seen, "DELETE /2/tweets/1860000000000000001"), 2);
    assert_eq!(
        count(&seen, "POST /2/tweets"),
        1,
        "a post is never sent twice"
    );
}

#[test]
fn retry_count_bounds_the_attempts() {
    let (up, seen) = upstream(HashMap::from([("GET /2/users/me", vec![503])]));
    let url = up.url();
    for (retries, sent) in [(0, 1), (2, 1 + 2)] {
        seen.lock().unwrap().clear();
        let out = run(
            &["run", &flow(retries)],
            &[("X_API_URL", &url), ("X_REFRESH_TOKEN", "R0")],
        );
        let v = stdout_json(&out);
        assert_eq!(v["error"]["status"], 503, "{v}\n{}", stderr(&out));
        assert_eq!(
            count(&seen, "GET /2/users/me"),
            sent,
            "retryCount {retries}"
        );
    }
}
