//! Every path a secret could leak through, driven with `-vv`, and every
//! byte of output scanned for every secret the simulator ever handed out
//! (access and refresh tokens, authorization codes, PKCE verifiers): login,
//! a run that refreshes, runs that fail in each way (X's errors, a refresh
//! refused, a revoked family), revoke, `tokens list`, and `serve`'s answers
//! and log.

mod support;

use support::login::*;
use support::*;
use x_sim::{endpoint, Fault};

fn record(output: &mut String, what: &str, o: &std::process::Output) {
    output.push_str(&format!(
        "\n== {what}\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    ));
}

#[test]
fn no_secret_appears_in_any_output_of_any_path() {
    let s = setup();
    let sim = &s.live.sim;
    let url = sim.url();
    let mut output = String::new();
    let env = [
        ("X_API_URL", url.as_str()),
        ("X_CLIENT_ID", "cli-client"),
        ("INTEGRATOR_TOKEN_STORE", s.store.as_str()),
    ];
    let run_vv = |extra: &[&str]| {
        let mut args = vec!["run", "-vv"];
        args.extend_from_slice(extra);
        args.push("examples/main.xml");
        run(&args, &env)
    };

    // Login (code, verifier, first tokens).
    let login = Login::start(&url, s.port, &s.store, &[]);
    let (status, page) = consent(&login.url(), |c| c);
    assert_eq!(status, 200, "{page}");
    let (code, text) = login.finish();
    assert_eq!(code, 0, "{text}");
    output.push_str(&text);

    // Success, then a refresh, then each kind of failure X can answer.
    let o = run_vv(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    record(&mut output, "run", &o);
    sim.expire_access_tokens();
    record(&mut output, "run after expiry", &run_vv(&[]));
    let faults: Vec<(x_sim::Endpoint, Fault)> = vec![
        (endpoint::GET_ME, Fault::Status(401, r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#.into())),
        (endpoint::CREATE_TWEET, Fault::Status(503, "{}".into())),
        (endpoint::CREATE_TWEET, Fault::Status(403, r#"{"title":"Forbidden","type":"about:blank","status":403,"detail":"no"}"#.into())),
        (endpoint::GET_ME, Fault::Malformed("{not json".into())),
        (endpoint::GET_ME, Fault::Truncated),
        (endpoint::TOKEN, Fault::Status(400, r#"{"error":"invalid_request","error_description":"Value passed for the token was invalid."}"#.into())),
    ];
    for (i, (at, fault)) in faults.into_iter().enumerate() {
        if at == endpoint::TOKEN {
            sim.expire_access_tokens();
        }
        if at == endpoint::GET_ME && i == 0 {
            // 401, refresh, 401 again: unauthorized.
            sim.push_fault(at, fault.clone());
        }
        sim.push_fault(at, fault);
        record(&mut output, &format!("run with fault {i}"), &run_vv(&[]));
    }
    record(
        &mut output,
        "tokens list",
        &run(
            &["tokens", "list", "--json"],
            &[("INTEGRATOR_TOKEN_STORE", s.store.as_str())],
        ),
    );

    // serve: answers and log, a success and a failure.
    {
        let served = Served::start(&["examples/api.xml", "-vv"], &env);
        let (st, _, me) = served.request("GET", "/x/me", None);
        output.push_str(&format!("\n== serve\n{st} {me}"));
        sim.push_fault(endpoint::GET_ME, Fault::Status(500, "{}".into()));
        let (st, h, err) = served.request("GET", "/x/me", None);
        output.push_str(&format!("\n{st} {h:?} {err}"));
        let (st, _, t) = served.request("POST", "/x/tweets", Some(r#"{"text":"scan"}"#));
        output.push_str(&format!("\n{st} {t}"));
        std::thread::sleep(std::time::Duration::from_millis(200));
        output.push_str(&served.log_text());
    }

    // Revoke, then the failure of a revoked family.
    record(
        &mut output,
        "revoke",
        &run(
            &["auth", "revoke", "--connection", "X_CONNECTION", "-vv"],
            &[("INTEGRATOR_TOKEN_STORE", s.store.as_str())],
        ),
    );
    record(&mut output, "run after revoke", &run_vv(&[]));

    // Each path ran and said what happened.
    for said in [
        "signed in as @sandbox_dev",
        "\"kind\": \"unauthorized\"",
        "\"kind\": \"api-error\"",
        "\"kind\": \"forbidden\"",
        "\"kind\": \"malformed-response\"",
        "\"kind\": \"refresh-failed\"",
        "Revoked",
    ] {
        assert!(output.contains(said), "no `{said}` in:\n{output}");
    }
    let st = sim.stats();
    assert!(
        st.tokens_issued.len() >= 4,
        "tokens were issued and rotated"
    );
    assert!(st.refreshes >= 1 && st.code_exchanges == 1);
    let secrets: Vec<&String> = st
        .tokens_issued
        .iter()
        .chain(&st.codes_issued)
        .chain(&st.code_verifiers)
        .collect();
    let hits: Vec<String> = secrets
        .iter()
        .filter(|s| output.contains(s.as_str()))
        .map(|s| format!("{}…", &s[..6.min(s.len())]))
        .collect();
    assert!(
        hits.is_empty(),
        "{} of {} secrets found in {} bytes of output: {hits:?}",
        hits.len(),
        secrets.len(),
        output.len()
    );
    println!(
        "{} secrets, {} bytes of output from every path: zero hits",
        secrets.len(),
        output.len()
    );
}
