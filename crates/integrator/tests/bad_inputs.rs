//! The bad-input matrix, part two: hostile requests to `serve`'s HTTP API
//! (examples/api.xml) reach no X call. Each is answered 4xx with a body
//! naming what was wrong, and the simulator proves nothing was sent beyond
//! the one getMe that shows the connection works. Part one (init and the
//! operations) is crates/e2e/tests/bad_inputs.rs; the flow XML's refusals
//! are in tests/cli.rs (malformed_flows_are_refused_with_file_line_and_element)
//! and tests/front_door.rs (the nesting limits).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::*;

/// One raw request (any bytes in the body); the status and body text.
fn raw(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn hostile_requests_to_serve_reach_no_x_call() {
    let live = LiveSim::start();
    let pair = live.sim.issue_tokens("cli-client");
    let url = live.sim.url();
    let served = Served::start(
        &["examples/api.xml", "--max-request-body", "256"],
        &[
            ("X_API_URL", &url),
            ("X_CLIENT_ID", "cli-client"),
            ("X_REFRESH_TOKEN", &pair.refresh_token),
        ],
    );
    // One call that works: the connection is sound, and its token refresh
    // is out of the way.
    let (status, _, me) = served.request("GET", "/x/me", None);
    assert_eq!(status, 200, "{me}");
    let before = live.sim.stats().total_requests();

    let deep = format!(
        r#"{{"text":{}"x"{}}}"#,
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let huge_text = format!(r#"{{"text":"{}"}}"#, "y".repeat(300 * 1024));
    let cases: Vec<(&str, String, Vec<u8>, u16, &str)> = vec![
        (
            "POST",
            "/x/tweets".into(),
            b"{\"text\":\"\xff\xfe bad utf-8\"}".to_vec(),
            400,
            "is not UTF-8",
        ),
        (
            "POST",
            "/x/tweets".into(),
            deep.into_bytes(),
            400,
            "nested too deeply",
        ),
        (
            "POST",
            "/x/tweets".into(),
            b"{\"text\": ".to_vec(),
            400,
            "not valid JSON",
        ),
        ("POST", "/x/tweets".into(), huge_text.into_bytes(), 413, ""),
        (
            "POST",
            "/x/tweets".into(),
            br#"{"text":""}"#.to_vec(),
            400,
            "text",
        ),
        (
            "POST",
            "/x/tweets".into(),
            format!(r#"{{"text":"{}"}}"#, "z".repeat(281)).into_bytes(),
            400,
            "text",
        ),
        (
            "DELETE",
            "/x/tweets/1%0D%0AX-Evil:%201".into(),
            vec![],
            400,
            "id",
        ),
        (
            "DELETE",
            "/x/tweets/..%2F..%2Fusers%2Fme".into(),
            vec![],
            400,
            "id",
        ),
        (
            "DELETE",
            "/x/tweets/99999999999999999999999".into(),
            vec![],
            400,
            "id",
        ),
        (
            "GET",
            "/x/me?fields=created_at%0D%0Ax".into(),
            vec![],
            400,
            "user_fields",
        ),
        (
            "GET",
            "/x/me?fields=passwords".into(),
            vec![],
            400,
            "user_fields",
        ),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, want, names) in &cases {
        let (status, answer) = raw(&served.addr, method, path, body);
        if status != *want || !answer.contains(names) {
            wrong.push(format!(
                "{method} {path}: {status} {}",
                answer.chars().take(300).collect::<String>()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(
        live.sim.stats().total_requests(),
        before,
        "no hostile request reached X"
    );
    println!("{} hostile requests refused before X", cases.len());
    assert!(served.stop().success());
}
