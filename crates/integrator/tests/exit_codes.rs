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
