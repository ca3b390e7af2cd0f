//! `integrator auth login` and `auth revoke` end to end: the binary, the
//! built component and the simulator's consent page, with a test client
//! that follows the printed URL the way a browser would.

mod support;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::login::*;
use support::*;
use x_sim::{endpoint, Consent};

#[test]
fn login_then_a_flow_without_tokens_then_a_refresh_then_revoke() {
    let s = setup();
    let sim = &s.live.sim;
    let login = Login::start(&sim.url(), s.port, &s.store, &[]);
    let url = login.url();
    let text = login.text();
    assert!(
        text.contains(&format!("http://127.0.0.1:{}/callback", s.port)),
        "{text}"
    );
    let (status, page) = consent(&url, |c| c);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Authorized"), "{page}");
    let (code, out) = login.finish();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Authorized @sandbox_dev (Sandbox Developer) for connection `X_CONNECTION`"),
        "{out}"
    );
    // -vv, and still no code, verifier or token anywhere; the state only
    // inside the consent URL the user must open.
    let st = sim.stats();
    assert_eq!(st.code_exchanges, 1);
    for secret in st
        .codes_issued
        .iter()
        .chain(&st.code_verifiers)
        .chain(&st.tokens_issued)
    {
        assert!(
            !out.contains(secret.as_str()),
            "a secret in the output:\n{out}"
        );
    }
    let state = query_param(&url, "state");
    assert!(state.len() >= 32);
    for line in out.lines().filter(|l| l.contains(&state)) {
        assert!(
            line.contains("/i/oauth2/authorize?"),
            "the state outside the URL: {line}"
        );
    }
    assert!(query_param(&url, "scope").contains("offline.access"));

    // A flow with no tokens in it runs on the stored family.
    let v = run_main(&s, 0);
    assert_eq!(v["user"]["username"], "sandbox_dev", "{v}");
    // Then a refresh works.
    sim.expire_access_tokens();
    let v = run_main(&s, 0);
    assert_eq!(v["deleted"], true, "{v}");
    let st = sim.stats();
    assert_eq!((st.refreshes, st.reuses_detected), (1, 0));

    // Revoke: X revokes the family, the store forgets it.
    let o = run(
        &["auth", "revoke", "--connection", "X_CONNECTION"],
        &[("INTEGRATOR_TOKEN_STORE", s.store.as_str())],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Revoked"));
    assert_eq!(sim.stats().revocations, 1);
    // The next call fails with refresh-failed and the login hint.
    let v = run_main(&s, 3);
    assert_eq!(v["error"]["kind"], "refresh-failed", "{v}");
    assert!(
        v["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("integrator auth login --connection X_CONNECTION"),
        "{v}"
    );
    // Nothing left to revoke.
    let o = run(
        &["auth", "revoke", "--connection", "X_CONNECTION"],
        &[("INTEGRATOR_TOKEN_STORE", s.store.as_str())],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no tokens are stored"),
        "{}",
        stderr(&o)
    );
}

/// A request to the callback without this login's `state` (a forged
/// denial, a stale or forged state, none at all: one `<img>` on any page
/// the user visits can send one) is answered and ignored; the login goes
/// on and the real callback still completes it.
#[test]
fn callbacks_without_this_login_s_state_are_ignored() {
    let s = setup();
    let login = Login::start(&s.live.sim.url(), s.port, &s.store, &[]);
    let url = login.url();
    let callback = format!("http://127.0.0.1:{}/callback", s.port);
    for forged in [
        format!("{callback}?error=access_denied&state=forged"),
        format!("{callback}?error=access_denied"),
        format!("{callback}?code=abc&state=x"),
        format!("{callback}?state="),
        callback.clone(),
    ] {
        let (status, _, page) = get(&forged);
        assert_eq!(status, 400, "{forged}: {page}");
        assert!(page.contains("Not this login"), "{page}");
    }
    let (status, page) = consent(&url, |c| {
        let state = query_param(&c, "state");
        c.replace(&format!("state={state}"), "state=forged")
    });
    assert_eq!(status, 400, "{page}");
    assert_eq!(s.live.sim.stats().code_exchanges, 0, "no code was sent");
    // Still waiting: the real consent logs in.
    let (status, page) = consent(&url, |c| c);
    assert_eq!(status, 200, "{page}");
    let (code, out) = login.finish();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ignored a request to the callback"), "{out}");
    assert_eq!(s.live.sim.stats().code_exchanges, 1);
}

/// X's error text echoing the code and the PKCE verifier it was sent:
/// neither reaches the page nor the terminal.
#[test]
fn a_code_or_verifier_echoed_by_the_token_endpoint_is_masked() {
    let s = setup();
    let sent = Arc::new(Mutex::new(String::new()));
    let seen_body = sent.clone();
    let echo = Hostile::start(move |seen| {
        *seen_body.lock().unwrap() = seen.body.clone();
        let decoded: String = form_urlencoded::parse(seen.body.as_bytes())
            .map(|(k, v)| format!("{k}={v} "))
            .collect();
        json_reply(
            400,
            &format!(
                r#"{{"error":"invalid_request","error_description":{}}}"#,
                serde_json::to_string(&format!("bad request: {decoded}")).unwrap()
            ),
        )
    });
    let login = Login::start_at(&echo.url(), &s.live.sim.url(), s.port, &s.store, &[]);
    let (status, page) = consent(&login.url(), |c| c);
    assert_eq!(status, 400, "{page}");
    let (code, out) = login.finish();
    assert_eq!(code, 1, "{out}");
    let body = sent.lock().unwrap().clone();
    let field = |k: &str| {
        form_urlencoded::parse(body.as_bytes())
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no {k} in {body}"))
    };
    let (code_value, verifier) = (field("code"), field("code_verifier"));
    assert!(
        out.contains("bad request:") && page.contains("bad request:"),
        "{out}\n{page}"
    );
    for secret in [&code_value, &verifier] {
        assert!(
            !out.contains(secret.as_str()),
            "{secret} in the terminal:\n{out}"
        );
        assert!(
            !page.contains(secret.as_str()),
            "{secret} on the page:\n{page}"
        );
    }
}

/// Out of descriptors, the callback server backs off instead of spinning;
/// connections are capped; a request head that trickles in is cut.
#[test]
fn the_callback_server_holds_up_against_hostile_clients() {
    use std::io::{Read, Write};
    let s = setup();
    let login = Login::start(&s.live.sim.url(), s.port, &s.store, &[]);
    let url = login.url();
    let pid = login.child.id();
    let addr = format!("127.0.0.1:{}", s.port);

    // The connection cap: 16 idle connections, the 17th is told 503.
    let held: Vec<_> = (0..16)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = std::net::TcpStream::connect(&addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = String::new();
    let _ = extra.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    drop(held);

    // Out of descriptors: the soft limit lowered to what is open now, plus
    // a few (the hard limit stays, so it can be raised back).
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(
        unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) },
        0
    );
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as u64;
    let limit = libc::rlimit {
        rlim_cur: open + 2,
        rlim_max: old.rlim_max,
    };
    assert_eq!(
        unsafe {
            libc::prlimit(
                pid as i32,
                libc::RLIMIT_NOFILE,
                &limit,
                std::ptr::null_mut(),
            )
        },
        0
    );
    let flood: Vec<_> = (0..10)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    // A spinning accept loop burns ~200 ticks in 2 s; backing off, a few.
    assert!(
        used < 40,
        "{used} ticks of CPU in 2 s while out of descriptors:\n{}",
        login.text()
    );
    drop(flood);
    assert_eq!(
        unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, &old, std::ptr::null_mut()) },
        0,
        "{}",
        login.text()
    );

    // A head trickling in, one byte a second, is cut at the header timeout.
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = Instant::now();
    let cut = loop {
        let mut buf = [0u8; 64];
        if slow.write_all(b"G").is_err() || matches!(slow.read(&mut buf), Ok(0)) {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the slow head was never cut"
        );
        std::thread::sleep(Duration::from_millis(900));
    };
    assert!(cut >= Duration::from_secs(9), "cut after {cut:?}");

    // And the real callback still logs in.
    let (status, page) = consent(&url, |c| c);
    assert_eq!(status, 200, "{page}");
    assert_eq!(login.finish().0, 0);
}

#[test]
fn denied_consent_and_missing_offline_access_are_clear_errors() {
    let s = setup();
    s.live.sim.set_consent(Consent::Deny);
    let login = Login::start(&s.live.sim.url(), s.port, &s.store, &[]);
    let (status, _) = consent(&login.url(), |c| c);
    assert_eq!(status, 400);
    let (code, out) = login.finish();
    assert_eq!(code, 1);
    assert!(out.contains("denied at X (access_denied)"), "{out}");

    s.live
        .sim
        .set_consent(Consent::Grant("tweet.read users.read".into()));
    let login = Login::start(&s.live.sim.url(), s.port, &s.store, &[]);
    consent(&login.url(), |c| c);
    let (code, out) = login.finish();
    assert_eq!(code, 1);
    assert!(out.contains("offline.access was not granted"), "{out}");
    assert!(tokens_listed(&s.store).is_empty(), "nothing stored");
}

#[test]
fn expired_and_reused_codes_show_x_s_own_message() {
    let s = setup();
    // A code that is already over its lifetime.
    s.live.sim.set_code_ttl(Duration::ZERO);
    let login = Login::start(&s.live.sim.url(), s.port, &s.store, &[]);
    consent(&login.url(), |c| c);
    let (code, out) = login.finish();
    assert_eq!(code, 1);
    assert!(
        out.contains("Value passed for the authorization code was invalid."),
        "{out}"
    );
    assert!(out.contains("30 seconds"), "{out}");

    // A code used once already, brought back with a new login's state.
    s.live.sim.set_code_ttl(Duration::from_secs(30));
    let first = Login::start(&s.live.sim.url(), s.port, &s.store, &[]);
    let mut used = String::new();
    consent(&first.url(), |c| {
        used = query_param(&c, "code");
        c
    });
    assert_eq!(first.finish().0, 0);
    let second = Login::start(&s.live.sim.url(), s.port, &s.store, &[]);
    consent(&second.url(), |c| {
        let fresh = query_param(&c, "code");
        c.replace(&fresh, &used)
    });
    let (code, out) = second.finish();
    assert_eq!(code, 1);
    assert!(
        out.contains("Value passed for the authorization code was invalid."),
        "{out}"
    );
}

#[test]
fn an_unregistered_callback_and_a_busy_port_are_clear_errors() {
    let s = setup();
    // The app registered another callback URL: X shows an error page and
    // never redirects; the login times out saying what to register.
    let other = free_port();
    let login = Login::start(&s.live.sim.url(), other, &s.store, &["--timeout", "2"]);
    let (status, _, page) = get(&login.url());
    assert_eq!(status, 400);
    assert!(
        page.contains("does not match a callback URL registered"),
        "{page}"
    );
    let (code, out) = login.finish();
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!("register http://127.0.0.1:{other}/callback")),
        "{out}"
    );
    // The callback port is taken.
    let _busy = std::net::TcpListener::bind(("127.0.0.1", s.port)).unwrap();
    let login = Login::start(&s.live.sim.url(), s.port, &s.store, &[]);
    let (code, out) = login.finish();
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!("the callback port {} is in use", s.port)),
        "{out}"
    );
    assert_eq!(s.live.sim.stats().requests_to(endpoint::TOKEN), 0);
}

#[test]
fn a_confidential_client_logs_in_with_its_secret_from_the_environment() {
    let s = setup();
    let sim = &s.live.sim;
    sim.add_client("conf-client", Some("conf-secret-value-123"));
    sim.register_redirect_uri(
        "conf-client",
        &format!("http://127.0.0.1:{}/callback", s.port),
    );
    let mut c = integrator();
    c.args([
        "auth",
        "login",
        "--connection",
        "CONF",
        "--client-id",
        "conf-client",
    ])
    .args([
        "--client-secret-env",
        "MY_SECRET",
        "--port",
        &s.port.to_string(),
    ])
    .args(["--api-url", &sim.url()])
    .args([
        "--authorize-url",
        &format!("{}/i/oauth2/authorize", sim.url()),
    ])
    .args(["--no-browser", "--token-store", &s.store, "-vv"])
    .env("MY_SECRET", "conf-secret-value-123")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let login = Login::spawn(c);
    let (status, _) = consent(&login.url(), |c| c);
    assert_eq!(status, 200);
    let (code, out) = login.finish();
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("conf-secret-value-123"), "{out}");
    let st = sim.stats();
    assert_eq!(st.code_exchanges, 1);
    // HTTP Basic, as X wants for a confidential client: no client_id in the body.
    let exchange = st.token_requests.last().unwrap();
    assert_eq!(exchange["grant_type"], "authorization_code");
    assert!(!exchange.contains_key("client_id"), "{exchange:?}");
    // A missing secret variable is a setup error naming it.
    let o = run(
        &[
            "auth",
            "login",
            "--connection",
            "CONF",
            "--client-id",
            "conf-client",
            "--client-secret-env",
            "NOT_SET_ANYWHERE",
            "--no-browser",
        ],
        &[("INTEGRATOR_TOKEN_STORE", s.store.as_str())],
    );
    assert_eq!(o.status.code(), Some(4), "a configuration problem");
    assert!(stderr(&o).contains("NOT_SET_ANYWHERE"), "{}", stderr(&o));
}
