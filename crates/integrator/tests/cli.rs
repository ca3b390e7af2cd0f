//! End to end through the `integrator` binary: example flows run and served
//! against the sandbox or a simulator on loopback, with the built component.

mod support;

use std::time::{Duration, Instant};

use support::*;
use x_sim::{endpoint, Simulator};

#[test]
fn main_job_runs_against_the_sandbox() {
    let o = run(&["run", "--sandbox", "examples/main.xml"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = stdout_json(&o);
    assert_eq!(v["user"]["username"], "sandbox_dev");
    assert_eq!(v["deleted"], true);
    assert!(v["tweet"]["id"]
        .as_str()
        .unwrap()
        .chars()
        .all(|c| c.is_ascii_digit()));
    assert!(
        stderr(&o).contains("signed in as @sandbox_dev"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_pay_per_use_sandbox_answers_402_when_its_credits_are_gone() {
    // Enough for the getMe ($0.010): the post finds the balance gone.
    let o = run(
        &[
            "run",
            "--sandbox",
            "--sandbox-credits=0.01",
            "examples/main.xml",
        ],
        &[],
    );
    let v = stdout_json(&o);
    assert_eq!(v["error"]["kind"], "credits-depleted", "{v}");
    assert_eq!(v["error"]["status"], 402, "{v}");
    assert!(
        v["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("add credits"),
        "{v}"
    );
    // A bad amount is refused naming the flag.
    let o = run(
        &[
            "run",
            "--sandbox",
            "--sandbox-credits=five",
            "examples/main.xml",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--sandbox-credits"), "{}", stderr(&o));
}

#[test]
fn results_carry_their_cost_at_the_operator_s_price_table() {
    let dir = tempdir();
    let flow = dir.join("post.xml");
    std::fs::write(
        &flow,
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <localEntry key="X"><twitter.init><clientId>sandbox-client</clientId></twitter.init></localEntry>
  <sequence name="main">
    <twitter.createTweet configKey="X"><text>see https://example.com/costs</text><responseVariable>tweet</responseVariable></twitter.createTweet>
    <payloadFactory media-type="json"><format>{"cost": ${vars.tweet.attributes.cost}}</format></payloadFactory>
  </sequence>
</definitions>"#,
    )
    .unwrap();
    let flow = flow.to_str().unwrap();
    // The shipped table: X's $0.20 for a post with a URL.
    let o = run(&["run", "--sandbox", flow], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cost = &stdout_json(&o)["cost"];
    assert_eq!(cost["usd"], "0.20", "{cost}");
    assert_eq!(cost["items"][0]["unit"], "Content: Create (with URL)");
    assert_eq!(cost["pricesEffective"], "2026-02-06");

    // The operator's table, from the file `--prices` names.
    let shipped =
        std::fs::read_to_string(root().join("crates/x-pricing/prices/x-api-payg.json")).unwrap();
    let table = dir.join("prices.json");
    std::fs::write(
        &table,
        shipped
            .replace("\"0.200\"", "\"0.25\"")
            .replace("2026-02-06", "2026-12-01"),
    )
    .unwrap();
    let prices = format!("--prices={}", table.display());
    let o = run(&["run", "--sandbox", &prices, flow], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cost = &stdout_json(&o)["cost"];
    assert_eq!(
        (&cost["usd"], &cost["pricesEffective"]),
        (&"0.25".into(), &"2026-12-01".into())
    );

    // A broken one stops the start, naming the file and what is wrong.
    std::fs::write(&table, shipped.replace("\"Posts: Read\"", "\"Post: Read\"")).unwrap();
    let o = run(&["run", "--sandbox", &prices, flow], &[]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "a configuration problem: {}",
        stderr(&o)
    );
    let err = stderr(&o);
    assert!(
        err.contains("prices.json") && err.contains("unknown unit `Post: Read`"),
        "{err}"
    );
}

#[test]
fn compile_ahead_makes_the_first_run_load_from_the_cache() {
    let home = tempdir();
    let env = [("XDG_CACHE_HOME", home.to_str().unwrap())];
    let o = run(&["compile"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("compiled: "), "{}", stderr(&o));
    let o = run(&["compile"], &env);
    assert!(
        stderr(&o).starts_with("already compiled: "),
        "{}",
        stderr(&o)
    );
    assert_eq!(load_kind(&home), "Cached");

    // A cache that cannot be kept fails the command, not the first run.
    let file = home.join("not-a-directory");
    std::fs::write(&file, "").unwrap();
    let o = run(&["compile"], &[("XDG_CACHE_HOME", file.to_str().unwrap())]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "a configuration problem: {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("did not keep it"), "{}", stderr(&o));
}

#[test]
fn the_packaged_zip_loads_too() {
    let zip = std::fs::read_dir(root().join("dist"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "zip"))
        .expect("build.sh packages a zip");
    let o = run(
        &[
            "run",
            "--sandbox",
            "--connector",
            zip.to_str().unwrap(),
            "examples/operations.xml",
            "--sequence",
            "get_me",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout_json(&o)["data"]["username"], "sandbox_dev");
}

#[test]
fn each_operation_against_a_simulator_with_tokens_from_the_environment() {
    let live = LiveSim::start();
    let pair = live.sim.issue_tokens("cli-client");
    let url = live.sim.url();
    let env = [
        ("X_API_URL", url.as_str()),
        ("X_CLIENT_ID", "cli-client"),
        ("X_ACCESS_TOKEN", pair.access_token.as_str()),
        ("X_REFRESH_TOKEN", pair.refresh_token.as_str()),
    ];
    let o = run(
        &[
            "run",
            "examples/operations.xml",
            "--sequence",
            "get_me",
            "-vv",
        ],
        &env,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let me = stdout_json(&o);
    assert_eq!(me["data"]["username"], "sandbox_dev");
    assert_eq!(me["includes"]["tweets"][0]["text"], "pinned");
    // -vv tracing is on, and still no token appears anywhere.
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(all.contains("integrator"), "tracing printed something");
    assert!(!all.contains(&pair.access_token) && !all.contains(&pair.refresh_token));

    let o = run(
        &[
            "run",
            "examples/operations.xml",
            "--sequence",
            "create_tweet",
            "--var",
            "text=from the cli",
            "--var",
            r#"poll={"options":["a","b"],"duration_minutes":30}"#,
        ],
        &env,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let tweet = stdout_json(&o);
    let id = tweet["data"]["id"].as_str().unwrap().to_string();
    let sent = live.sim.stats().tweet_bodies.last().cloned().unwrap();
    assert_eq!(sent["text"], "from the cli");
    assert_eq!(sent["poll"]["duration_minutes"], 30);

    let o = run(
        &[
            "run",
            "examples/operations.xml",
            "--sequence",
            "delete_tweet",
            "--var",
            &format!("id={id}"),
        ],
        &env,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let d = stdout_json(&o);
    assert_eq!(d["deleted"], true);
    assert_eq!(d["status"], 200);
    let s = live.sim.stats();
    assert_eq!(s.requests_to(endpoint::DELETE_TWEET), 1);
    assert_eq!(s.requests_to(endpoint::GET_ME), 1);
}

#[test]
fn a_private_ca_is_trusted_through_ssl_cert_file() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt.block_on(Simulator::start_tls()).unwrap();
    sim.add_client("tls-client", None);
    let pair = sim.issue_tokens("tls-client");
    let dir = tempdir();
    let ca = dir.join("private-ca.pem");
    std::fs::write(&ca, sim.cert_pem().unwrap()).unwrap();
    let url = sim.url();
    assert!(url.starts_with("https://"));
    let env = [
        ("X_API_URL", url.as_str()),
        ("X_CLIENT_ID", "tls-client"),
        ("X_ACCESS_TOKEN", pair.access_token.as_str()),
    ];
    // Not trusted by default: a typed TLS error, caught by the flow.
    let o = run(
        &["run", "examples/faults.xml", "--sequence", "get_me"],
        &env,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v = stdout_json(&o);
    assert_eq!(v["caught"]["transport"], "tls", "{v}");
    // Trusted through SSL_CERT_FILE.
    let mut with_ca = env.to_vec();
    let ca_path = ca.to_str().unwrap().to_string();
    with_ca.push(("SSL_CERT_FILE", &ca_path));
    let o = run(
        &["run", "examples/faults.xml", "--sequence", "get_me"],
        &with_ca,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout_json(&o), serde_json::json!({"ok": true}));
    assert_eq!(sim.stats().requests_to(endpoint::GET_ME), 1);
}

#[test]
fn secrets_in_log_lines_are_redacted() {
    let dir = tempdir();
    let flow = dir.join("log-secret.xml");
    std::fs::write(
        &flow,
        r#"<sequence name="main">
  <log><message>token=${secret.X_ACCESS_TOKEN} client=${env.X_CLIENT_ID}</message></log>
  <payloadFactory media-type="json"><format>{"ok": true}</format></payloadFactory>
</sequence>"#,
    )
    .unwrap();
    let o = run(
        &["run", flow.to_str().unwrap()],
        &[
            ("X_ACCESS_TOKEN", "very-secret-access-token"),
            ("X_CLIENT_ID", "public-id"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(!err.contains("very-secret-access-token"), "{err}");
    assert!(err.contains("token=******** client=public-id"), "{err}");
}

#[test]
fn faults_are_caught_by_on_error_or_end_the_run() {
    let o = run(
        &[
            "run",
            "--sandbox",
            "examples/faults.xml",
            "--sequence",
            "duplicate",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v = stdout_json(&o);
    assert_eq!(v["caught"]["kind"], "forbidden");
    assert_eq!(v["caught"]["problem"]["kind"], "duplicate-content");
    assert_eq!(v["caught"]["status"], 403);
    assert!(v["caught"]["message"]
        .as_str()
        .unwrap()
        .contains("duplicate content"));
    assert_eq!(v["advice"], "change the text: X refuses duplicates");

    let o = run(
        &[
            "run",
            "--sandbox",
            "examples/faults.xml",
            "--sequence",
            "invalid",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v = stdout_json(&o);
    assert_eq!(v["caught"]["kind"], "invalid-input");
    assert_eq!(v["caught"]["parameter"], "id");

    let o = run(
        &[
            "run",
            "--sandbox",
            "examples/faults.xml",
            "--sequence",
            "uncaught",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("uncaught fault"), "{err}");
    assert!(
        err.contains("examples/faults.xml:36: <twitter.deleteTweet>"),
        "{err}"
    );
    assert!(err.contains("not-found"), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn a_host_outside_the_allowlist_is_denied_and_logged() {
    let o = run(
        &[
            "run",
            "--sandbox",
            "--allow-host",
            "api.x.com",
            "examples/faults.xml",
            "--sequence",
            "get_me",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v = stdout_json(&o);
    assert_eq!(v["caught"]["kind"], "transport");
    assert_eq!(v["caught"]["transport"], "denied");
    let err = stderr(&o);
    assert!(err.contains("denied"), "{err}");
    assert!(err.contains("outside the allowed hosts"), "{err}");
}

#[test]
fn a_silent_server_times_out_within_the_connection_timeout() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let _hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().take(4).flatten() {
            held.push(s);
        }
        std::thread::sleep(Duration::from_secs(10));
    });
    let started = Instant::now();
    let o = run(
        &["run", "examples/faults.xml", "--sequence", "get_me"],
        &[
            ("X_API_URL", &url),
            ("X_TIMEOUT", "500"),
            ("X_CLIENT_ID", "c"),
            ("X_ACCESS_TOKEN", "token-never-answered"),
        ],
    );
    let took = started.elapsed();
    assert!(o.status.success(), "{}", stderr(&o));
    let v = stdout_json(&o);
    assert_eq!(v["caught"]["kind"], "transport");
    assert_eq!(v["caught"]["transport"], "timeout", "{v}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[test]
fn malformed_flows_are_refused_with_file_line_and_element() {
    let dir = tempdir();
    let cases = [
        (
            "<sequence name=\"main\">\n  <twitter.init><clientId>c</clientId></twitter.init>\n  <twitter.createTweet>\n    <txt>hello</txt>\n  </twitter.createTweet>\n</sequence>",
            ":4: <txt>",
            "not a parameter of createTweet",
        ),
        ("<sequence name=\"main\">\n\n  <twitter.deleteTweet/>\n</sequence>", ":3: <twitter.deleteTweet>", "requires the parameter `id`"),
        ("<sequence name=\"main\">\n  <twitter.retweet/>\n</sequence>", ":2: <twitter.retweet>", "not an operation"),
        ("<sequence name=\"main\">\n  <send/>\n</sequence>", ":2: <send>", "unknown element"),
        ("<sequence name=\"main\">\n  <log><message>${vars.x ==}</message></log>\n</sequence>", ":2: <message>", "in `${vars.x ==}`"),
        ("<sequence name=\"main\">\n  <twitter.getMe configKey=\"NOPE\"/>\n</sequence>", ":2: <twitter.getMe>", "configKey `NOPE`"),
        ("<sequence name=\"main\">\n  <log>\n</sequence>", ":3:", "not well-formed"),
        ("<sequence name=\"main\" onError=\"missing\">\n</sequence>", ":1: <sequence>", "onError names no sequence"),
        // Names that used to be accepted and then did nothing.
        ("<sequence name=\"main\">\n  <log><message>${attributes.statusCode}</message></log>\n</sequence>", ":2: <message>", "unknown name `attributes`"),
        ("<sequence name=\"main\">\n  <property name=\"a\" value=\"b\" scope=\"registry\"/>\n</sequence>", ":2: <property>", "unknown property scope `registry`"),
        ("<sequence name=\"main\">\n  <log><message>${contain(vars.a, 'b')}</message></log>\n</sequence>", ":2: <message>", "unknown function `contain`"),
    ];
    for (i, (xml, at, message)) in cases.iter().enumerate() {
        let f = dir.join(format!("bad{i}.xml"));
        std::fs::write(&f, xml).unwrap();
        let o = run(&["run", "--sandbox", f.to_str().unwrap()], &[]);
        assert_eq!(o.status.code(), Some(2), "case {i}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(&format!("bad{i}.xml{at}")), "case {i}: {err}");
        assert!(err.contains(message), "case {i}: {err}");
        assert!(
            !err.contains("sandbox: connection"),
            "case {i}: nothing ran: {err}"
        );
    }
}

#[test]
fn a_sequence_calling_itself_is_stopped() {
    let dir = tempdir();
    let f = dir.join("loop.xml");
    std::fs::write(&f, "<definitions>\n<sequence name=\"main\">\n  <sequence key=\"main\"/>\n</sequence>\n</definitions>").unwrap();
    let o = run(&["run", f.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("nested deeper than 64"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_descriptor_that_does_not_match_the_component_is_refused() {
    let dir = tempdir();
    let xml = std::fs::read_to_string(root().join("connector.xml")).unwrap().replace(
        "<operation name=\"deleteTweet\" export=\"delete-tweet\"",
        "<operation name=\"bookmarkTweet\" export=\"bookmark-tweet\"><parameter name=\"id\" required=\"true\"/></operation>\n<operation name=\"deleteTweet\" export=\"delete-tweet\"",
    )
    .replace("wasm=\"dist/twitter-connector.wasm\"", &format!("wasm=\"{}\"", root().join("dist/twitter-connector.wasm").display()));
    let descriptor = dir.join("connector.xml");
    std::fs::write(&descriptor, xml).unwrap();
    let o = run(
        &[
            "check",
            "--connector",
            descriptor.to_str().unwrap(),
            "examples/main.xml",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(4), "the package is the configuration");
    let err = stderr(&o);
    assert!(
        err.contains("bookmarkTweet (export `bookmark-tweet`)"),
        "{err}"
    );
    let o = run(&["check", "examples/main.xml", "examples/api.xml"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn serve_answers_each_operation_and_stops_on_sigterm() {
    let served = Served::start(&["--sandbox", "examples/api.xml"], &[]);
    let (status, _, me) = served.request("GET", "/x/me?fields=created_at", None);
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["data"]["username"], "sandbox_dev");
    assert!(me["data"]["created_at"].is_string());

    let (status, headers, tweet) =
        served.request("POST", "/x/tweets", Some(r#"{"text":"served"}"#));
    assert_eq!(status, 201, "{tweet}");
    let id = tweet["id"].as_str().unwrap().to_string();
    assert!(
        headers.contains(&("location".into(), format!("/x/tweets/{id}"))),
        "{headers:?}"
    );

    let (status, _, dup) = served.request("POST", "/x/tweets", Some(r#"{"text":"served"}"#));
    assert_eq!(status, 403, "{dup}");
    assert_eq!(dup["error"]["kind"], "forbidden");

    let (status, _, bad) = served.request("DELETE", "/x/tweets/not-an-id", None);
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["error"]["kind"], "invalid-input");

    let (status, _, deleted) = served.request("DELETE", &format!("/x/tweets/{id}"), None);
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["data"]["deleted"], true);

    let (status, _, _) = served.request("GET", "/x/nowhere", None);
    assert_eq!(status, 404);
    let (status, _, _) = served.request("PUT", "/x/me", None);
    assert_eq!(status, 405);
    assert!(served.stop().success());
}

#[test]
fn served_requests_reuse_one_connection_to_x() {
    let live = LiveSim::start();
    let pair = live.sim.issue_tokens("cli-client");
    let url = live.sim.url();
    let served = Served::start(
        &["examples/api.xml"],
        &[
            ("X_API_URL", &url),
            ("X_CLIENT_ID", "cli-client"),
            ("X_REFRESH_TOKEN", &pair.refresh_token),
        ],
    );
    for _ in 0..50 {
        let (status, _, me) = served.request("GET", "/x/me", None);
        assert_eq!(status, 200, "{me}");
    }
    let s = live.sim.stats();
    assert_eq!(s.requests_to(endpoint::GET_ME), 50);
    assert_eq!(s.refreshes, 1, "one long-lived instance holds the tokens");
    assert_eq!(
        s.connections, 1,
        "one keep-alive connection for the token call and 50 API calls"
    );
    assert!(served.stop().success());
}
