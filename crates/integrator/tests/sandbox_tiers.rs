//! `--sandbox=free` reproduces the free tier's limits, and a flow reads the
//! one figure that says when to try again: `${vars.error.retryAfter}`.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use support::*;

/// A flow posting `n` times (distinct texts), its fault handler printing
/// what the connector said.
fn posting_flow(n: usize) -> String {
    let mut posts = String::new();
    for i in 0..n {
        posts.push_str(&format!(
            "<twitter.createTweet configKey=\"X\"><text>post number {i} today</text><responseVariable>last</responseVariable></twitter.createTweet>\n"
        ));
    }
    let xml = format!(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <localEntry key="X"><twitter.init><clientId>sandbox-client</clientId></twitter.init></localEntry>
  <sequence name="main" onError="capped">
    {posts}
    <payloadFactory media-type="json"><format>{{"posted": true, "limits": ${{vars.last.attributes.rateLimits}}}}</format></payloadFactory>
  </sequence>
  <sequence name="capped">
    <payloadFactory media-type="json"><format>{{"error": ${{vars.error}}}}</format></payloadFactory>
  </sequence>
</definitions>"#
    );
    let p = tempdir().join("posts.xml");
    std::fs::write(&p, xml).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn the_free_tier_caps_posts_at_17_a_day_and_says_when_to_retry() {
    let flow = posting_flow(18);
    let o = run(&["run", "--sandbox=free", &flow], &[]);
    // Caught by the flow's onError sequence, which does not mark it handled.
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let v = stdout_json(&o);
    let e = &v["error"];
    assert_eq!(e["kind"], "rate-limited", "{v}");
    assert_eq!(e["status"], 429);
    let limits = &e["rateLimits"];
    assert_eq!(limits["userDay"]["limit"], 17);
    assert_eq!(limits["userDay"]["remaining"], 0);
    assert!(
        limits["window"]["remaining"].as_u64().unwrap() > 0,
        "{limits}"
    );
    let retry = e["retryAfter"].as_u64().expect("retryAfter");
    assert_eq!(e["retryAfter"], limits["retryAfter"]);
    assert!(retry >= limits["userDay"]["reset"].as_u64().unwrap());
    assert_ne!(e["retryAfter"], limits["window"]["reset"]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(retry > now + 23 * 3600, "{retry}");
    assert!(e["message"].as_str().is_some());

    // Pay-per-use (the default sandbox): Pro's 15-minute windows, 10,000
    // posts a day per app, and 18 posts are fine ($0.27 of the $5 credits).
    let o = run(&["run", "--sandbox", &flow], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = stdout_json(&o);
    assert_eq!(v["posted"], true, "{v}");
    assert_eq!(v["limits"]["window"]["limit"], 100);
    assert!(v["limits"]["userDay"].is_null());
    assert_eq!(v["limits"]["appDay"]["limit"], 10_000);
    assert!(v["limits"]["retryAfter"].is_null());
    // A tier the sandbox does not know names the choices.
    let o = run(&["run", "--sandbox=enterprise", &flow], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("payg, free, basic or pro"),
        "{}",
        stderr(&o)
    );
}
