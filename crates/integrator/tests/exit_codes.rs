//! Each exit code of `integrator run` (and the setup failures every command
//! shares), driven by a flow through the real binary: a script can tell a
//! flow that did its job from a caught fault, an uncaught one, a bad flow,
//! a bad configuration and a token store it cannot use.

mod support;

use support::*;

/// A flow whose `main` deletes an id the connector refuses (a fault before
/// any request), caught by `handler` when there is one.
fn flow(on_error: bool, handler_marks: Option<&str>) -> std::path::PathBuf {
    let path = tempdir().join("exit.xml");
    let mark = handler_marks
        .map(|v| format!(r#"<property name="FAULT_HANDLED" value="{v}"/>"#))
        .unwrap_or_default();
    std::fs::write(
        &path,
        format!(
            r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <sequence name="main"{on_error}>
    <twitter.init><clientId>sandbox-client</clientId></twitter.init>
    <twitter.deleteTweet><id>../users/me</id></twitter.deleteTweet>
  </sequence>
  <sequence name="handler">
    <payloadFactory media-type="json"><format>{{"caught": "${{properties.ERROR_CODE}}"}}</format></payloadFactory>
    {mark}
  </sequence>
</definitions>"#,
            on_error = if on_error { r#" onError="handler""# } else { "" },
        ),
    )
    .unwrap();
    path
}

fn code(o: &std::process::Output) -> Option<i32> {
    o.status.code()
}

#[test]
fn each_exit_code_is_driven_by_a_flow() {
    // 0: the flow ran to its end.
    let o = run(&["run", "--sandbox", "examples/main.xml"], &[]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));

    // 1: a fault nothing caught.
    let f = flow(false, None);
    let o = run(&["run", "--sandbox", f.to_str().unwrap()], &[]);
    assert_eq!(code(&o), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("uncaught fault"), "{}", stderr(&o));

    // 3: caught by onError, not marked handled: the handler's payload is
    // printed, and the exit says the job did not happen.
    let f = flow(true, None);
    let o = run(&["run", "--sandbox", f.to_str().unwrap()], &[]);
    assert_eq!(code(&o), Some(3), "{}", stderr(&o));
    assert_eq!(stdout_json(&o)["caught"], "invalid-input");
    assert!(
        stderr(&o).contains("FAULT_HANDLED"),
        "names the way out: {}",
        stderr(&o)
    );
    // Marked handled: 0. Marked false: still 3.
    let f = flow(true, Some("true"));
    let o = run(&["run", "--sandbox", f.to_str().unwrap()], &[]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let f = flow(true, Some("false"));
    let o = run(&["run", "--sandbox", f.to_str().unwrap()], &[]);
    assert_eq!(code(&o), Some(3), "{}", stderr(&o));

    // The main job without its variables and no sandbox: the onError
    // sequence reports the fault, and the exit is not 0.
    let o = run(
        &["run", "examples/main.xml", "--token-store", "memory"],
        &[],
    );
    assert_eq!(code(&o), Some(3), "{}", stderr(&o));
    assert!(stdout_json(&o)["error"]["kind"].is_string());

    // 2: a bad flow (and a bad command line).
    let bad = tempdir().join("bad.xml");
    std::fs::write(&bad, "<sequence name=\"main\"><twitter.nope/></sequence>").unwrap();
    let o = run(&["run", "--sandbox", bad.to_str().unwrap()], &[]);
    assert_eq!(code(&o), Some(2), "{}", stderr(&o));
    let o = run(
        &["run", "--sandbox", "examples/main.xml", "--var", "novalue"],
        &[],
    );
    assert_eq!(code(&o), Some(2), "{}", stderr(&o));

    // 4: the configuration: no connector package, a bad price table.
    let o = run(
        &[
            "run",
            "--sandbox",
            "--connector",
            "/nonexistent/connector.xml",
            "examples/main.xml",
        ],
        &[],
    );
    assert_eq!(code(&o), Some(4), "{}", stderr(&o));
    let prices = tempdir().join("prices.json");
    std::fs::write(&prices, "{not json").unwrap();
    let o = run(
        &[
            "run",
            "--sandbox",
            "--prices",
            prices.to_str().unwrap(),
            "examples/main.xml",
        ],
        &[],
    );
    assert_eq!(code(&o), Some(4), "{}", stderr(&o));

    // 5: a token store it cannot use, for run and for the token commands.
    let store = tempdir().join("tokens.db");
    std::fs::write(&store, b"this is not an SQLite database, not at all").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let s = store.to_str().unwrap();
    let o = run(&["run", "examples/main.xml", "--token-store", s], &[]);
    assert_eq!(code(&o), Some(5), "{}", stderr(&o));
    let o = run(&["tokens", "list", "--token-store", s], &[]);
    assert_eq!(code(&o), Some(5), "{}", stderr(&o));
}

/// `${env.NAME}` and `${secret.NAME}` unset: `check` warns, naming the
/// variable and where; `run` fails there, naming it, before anything is
/// sent; an init parameter that is only the reference is left out (the
/// connector's default applies); `??` and `exists` make a variable optional.
#[test]
fn an_unset_variable_is_a_warning_at_check_and_a_failure_at_run_never_an_empty_value() {
    let live = LiveSim::start();
    let pair = live.sim.issue_tokens("cli-client");
    let url = live.sim.url();
    let path = tempdir().join("unset.xml");
    std::fs::write(
        &path,
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <sequence name="main">
    <twitter.init>
      <apiUrl>${env.X_API_URL}</apiUrl>
      <timeout>${env.UNSET_TIMEOUT}</timeout>
      <clientId>${env.X_CLIENT_ID}</clientId>
      <refreshToken>${secret.X_REFRESH_TOKEN}</refreshToken>
    </twitter.init>
    <twitter.getMe><responseVariable>me</responseVariable></twitter.getMe>
    <property name="suffix" expression="${env.UNSET_SUFFIX ?? 'no suffix'}"/>
    <filter xpath="${exists(env.UNSET_FLAG)}">
      <then><property name="flag" value="set"/></then>
    </filter>
    <twitter.createTweet><text>posted by ${vars.me.payload.data.username}: ${env.UNSET_POST_TEXT}</text></twitter.createTweet>
  </sequence>
</definitions>"#,
    )
    .unwrap();
    let flow = path.to_str().unwrap();
    let env = [
        ("X_API_URL", url.as_str()),
        ("X_CLIENT_ID", "cli-client"),
        ("X_REFRESH_TOKEN", pair.refresh_token.as_str()),
    ];

    // check: one warning, for the text; the optional ones and the init
    // parameter that is left out are fine.
    let o = run(&["check", flow], &env);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let warnings: Vec<String> = stderr(&o)
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .map(str::to_string)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(":14: <text>")
            && warnings[0].contains("the environment variable `UNSET_POST_TEXT` is not set"),
        "{warnings:?}"
    );
    // Without the client id: check names it too.
    let o = run(&["check", flow], &env[..1]);
    assert!(
        stderr(&o).contains("`X_CLIENT_ID` is not set"),
        "{}",
        stderr(&o)
    );

    // run: getMe went out (the unset timeout left out), the post did not.
    let o = run(&["run", flow, "--token-store", "memory"], &env);
    assert_eq!(code(&o), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("uncaught fault") && err.contains(":14: <twitter.createTweet>"),
        "{err}"
    );
    assert!(
        err.contains("the environment variable `UNSET_POST_TEXT` is not set"),
        "{err}"
    );
    let st = live.sim.stats();
    assert_eq!(st.requests_to(x_sim::endpoint::GET_ME), 1);
    assert_eq!(
        st.requests_to(x_sim::endpoint::CREATE_TWEET),
        0,
        "nothing posted"
    );

    // Set, the same flow posts (a new family: the memory store forgot the
    // rotated token).
    let fresh = live.sim.issue_tokens("cli-client");
    let mut env = env.to_vec();
    env[2].1 = fresh.refresh_token.as_str();
    env.push(("UNSET_POST_TEXT", "now it is set"));
    let o = run(&["run", flow, "--token-store", "memory"], &env);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    assert_eq!(
        live.sim.stats().requests_to(x_sim::endpoint::CREATE_TWEET),
        1
    );

    // A required init parameter from an unset variable: named, nothing sent.
    let before = live.sim.stats().total_requests();
    let o = run(&["run", flow, "--token-store", "memory"], &env[..1]);
    assert_eq!(code(&o), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("`clientId` is required, and the environment variable `X_CLIENT_ID`"),
        "{}",
        stderr(&o)
    );
    assert_eq!(live.sim.stats().total_requests(), before);
}
