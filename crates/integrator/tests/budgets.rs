//! Spending budgets through the `integrator` binary and the built
//! component against the simulator's billing: refused before the network,
//! held across processes on the SQLite and Redis stores, reported by
//! `integrator usage` and `serve`'s status.

mod support;

use std::time::Duration;

use support::*;
use token_store::testing::RedisServer;
use x_sim::endpoint;

fn flow(dir: &std::path::Path, connection: &str, body: &str) -> String {
    let p = dir.join(format!("{connection}.xml"));
    std::fs::write(
        &p,
        format!(
            r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <localEntry key="X"><twitter.init>
    <connectionName>{connection}</connectionName>
    <apiUrl>${{env.X_API_URL}}</apiUrl>
    <clientId>cli-client</clientId>
    <refreshToken>${{secret.X_REFRESH_TOKEN_{connection}}}</refreshToken>
    <maxSpendPerDay>0.05</maxSpendPerDay>
  </twitter.init></localEntry>
  <sequence name="main" onError="refused">
    {body}
  </sequence>
  <sequence name="refused">
    <payloadFactory media-type="json"><format>{{"error": ${{vars.error}}}}</format></payloadFactory>
  </sequence>
</definitions>"#
        ),
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

fn post(n: usize) -> String {
    format!(
        r#"<twitter.createTweet configKey="X"><text>post {n} of the budget</text><responseVariable>p{n}</responseVariable></twitter.createTweet>"#
    )
}

#[test]
fn a_budget_lets_three_posts_through_and_refuses_the_fourth_before_the_network() {
    let live = LiveSim::start();
    live.sim.set_credits(5_000_000);
    // A token family per connection.
    let budgeted = live.sim.issue_tokens("cli-client");
    let reader = live.sim.issue_tokens("cli-client");
    let dir = tempdir();
    let db = dir.join("tokens.db");
    let db = db.to_str().unwrap();
    let env = [
        ("X_API_URL", live.sim.url()),
        ("X_REFRESH_TOKEN_BUDGETED", budgeted.refresh_token.clone()),
        ("X_REFRESH_TOKEN_READER", reader.refresh_token.clone()),
        ("INTEGRATOR_TOKEN_STORE", db.to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let body: String = (1..=4).map(post).collect();
    let o = run(&["run", &flow(&dir, "BUDGETED", &body)], &env);
    let v = stdout_json(&o);
    let e = &v["error"];
    assert_eq!(e["kind"], "budget-exceeded", "{v}");
    assert_eq!(
        (&e["budget"], &e["limit"]),
        (&"maxSpendPerDay".into(), &"0.05".into())
    );
    assert_eq!(
        (&e["spent"], &e["estimate"]),
        (&"0.045".into(), &"0.015".into())
    );
    assert_eq!(e["status"], 402);
    assert!(e["resetsAt"].as_i64().unwrap() % 86_400 == 0, "{e}");
    // The fourth never reached X.
    assert_eq!(live.sim.stats().requests_to(endpoint::CREATE_TWEET), 3);

    // The next process on the same store finds the day's spend.
    let o = run(&["run", &flow(&dir, "BUDGETED", &post(5))], &env);
    assert_eq!(stdout_json(&o)["error"]["kind"], "budget-exceeded");
    assert_eq!(live.sim.stats().requests_to(endpoint::CREATE_TWEET), 3);

    // A re-read of the same user in one day costs zero, as X bills it
    // (on another connection: this one's day is spent).
    let reads = r#"<twitter.getMe configKey="X"><responseVariable>a</responseVariable></twitter.getMe>
    <twitter.getMe configKey="X"><responseVariable>b</responseVariable></twitter.getMe>
    <payloadFactory media-type="json"><format>{"first": ${vars.a.attributes.cost.usd}, "again": ${vars.b.attributes.cost.usd}}</format></payloadFactory>"#;
    let o = run(&["run", &flow(&dir, "READER", reads)], &env);
    let v = stdout_json(&o);
    assert_eq!(
        (&v["first"], &v["again"]),
        // The template writes the amounts as JSON numbers.
        (&serde_json::json!(0.01), &serde_json::json!(0.0)),
        "{v}"
    );
    assert_eq!(live.sim.stats().charges.by_unit["User: Read"], (1, 10_000));

    // `integrator usage` shows the ledger.
    let o = run(&["usage", "--json"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = stdout_json(&o);
    let by_op = |op: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["operation"] == op)
            .cloned()
            .unwrap_or_else(|| panic!("{op} in {rows}"))
    };
    assert_eq!(
        (&by_op("createTweet")["calls"], &by_op("createTweet")["usd"]),
        (&3.into(), &"0.045".into())
    );
    assert_eq!(
        (&by_op("getMe")["calls"], &by_op("getMe")["usd"]),
        (&2.into(), &"0.01".into())
    );
    assert_eq!(by_op("createTweet")["connection"], "BUDGETED");
    assert_eq!(by_op("getMe")["connection"], "READER");
    let o = run(&["usage", "--connection", "READER"], &env);
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        table.contains("READER") && !table.contains("BUDGETED"),
        "{table}"
    );
}

/// Two `serve` processes on one store, each firing 32 posts at once at a
/// budget that holds 10 (and the read before them): exactly 10 reach X,
/// and the status says so.
fn two_processes_cannot_overspend_together(store: &str) {
    let live = LiveSim::start();
    live.sim.set_credits(5_000_000);
    // Slow answers: the reservations of both processes overlap.
    live.sim
        .set_latency(endpoint::CREATE_TWEET, Some(Duration::from_millis(50)));
    let pair = live.sim.issue_tokens("cli-client");
    let env = [
        ("X_API_URL", live.sim.url()),
        ("X_CLIENT_ID", "cli-client".to_string()),
        ("X_REFRESH_TOKEN", pair.refresh_token.clone()),
        ("INTEGRATOR_TOKEN_STORE", store.to_string()),
        ("X_MAX_SPEND_PER_DAY", "0.16".to_string()),
        ("X_MAX_ACTIVE", "32".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = Served::start(&["examples/api.xml"], &env);
    let b = Served::start(&["examples/api.xml"], &env);
    // Both connections configured (and the token refreshed once) first.
    assert_eq!(a.request("GET", "/x/me", None).0, 200);
    assert_eq!(b.request("GET", "/x/me", None).0, 200);
    let spent_on_reads = live.sim.stats().charges.total_micros;
    assert_eq!(spent_on_reads, 10_000, "the same user, charged once today");

    let calls: Vec<_> = (0..64)
        .map(|i| {
            let addr = if i % 2 == 0 {
                a.addr.clone()
            } else {
                b.addr.clone()
            };
            std::thread::spawn(move || {
                let body = format!(r#"{{"text": "racing post {i}"}}"#);
                request_to(&addr, "POST", "/x/tweets", Some(&body)).expect("an answer")
            })
        })
        .collect();
    let answers: Vec<Answer> = calls.into_iter().map(|c| c.join().unwrap()).collect();
    let created = answers.iter().filter(|a| a.0 == 201).count();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.0 == 402).collect();
    // $0.16 less the $0.010 read leaves room for 10 posts of $0.015.
    assert_eq!(created, 10, "{answers:?}");
    assert_eq!(refused.len(), 54);
    assert_eq!(live.sim.stats().requests_to(endpoint::CREATE_TWEET), 10);
    assert!(
        refused
            .iter()
            .all(|a| a.2["error"]["kind"] == "budget-exceeded"),
        "{:?}",
        refused[0]
    );

    let (status, _, s) = a.request("GET", "/_integrator/spend", None);
    assert_eq!(status, 200, "{s}");
    let c = &s["connections"]["X_CONNECTION"];
    assert_eq!(c["today"], "0.16", "{s}");
    assert_eq!(c["maxSpendPerDay"]["left"], "0.00", "{s}");
}

#[test]
fn two_processes_on_sqlite_cannot_overspend_together() {
    let dir = tempdir();
    two_processes_cannot_overspend_together(dir.join("tokens.db").to_str().unwrap());
}

#[test]
fn two_processes_on_redis_cannot_overspend_together() {
    // A server of its own: the budget's key is the connection's name, and a
    // shared server would keep today's spend from an earlier run.
    let server = RedisServer::private();
    two_processes_cannot_overspend_together(server.url());
}
