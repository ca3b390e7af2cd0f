//! `integrator auth login` and `auth revoke` end to end: the binary, the
//! built component and the simulator's consent page, with a test client
//! that follows the printed URL the way a browser would.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;
use x_sim::{endpoint, Consent};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `auth login`, its output collected as it comes.
struct Login {
    child: Child,
    out: Arc<Mutex<Vec<String>>>,
}

impl Login {
    fn start(sim_url: &str, port: u16, store: &str, extra: &[&str]) -> Login {
        let mut c = integrator();
        c.args([
            "auth",
            "login",
            "--connection",
            "X_CONNECTION",
            "--client-id",
            "cli-client",
        ])
        .args(["--port", &port.to_string(), "--api-url", sim_url])
        .args(["--authorize-url", &format!("{sim_url}/i/oauth2/authorize")])
        .args(["--no-browser", "--token-store", store, "-vv"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        Login::spawn(c)
    }

    /// Runs `c` (an `auth login` command), collecting its output as it comes.
    fn spawn(mut c: std::process::Command) -> Login {
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sink = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
        }
        Login { child, out }
    }

    fn text(&self) -> String {
        self.out.lock().unwrap().join("\n")
    }

    /// The consent URL it printed.
    fn url(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(u) = self
                .out
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.starts_with("http") && l.contains("/i/oauth2/authorize?"))
            {
                return u.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no URL printed:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn finish(mut self) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let code = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "login did not finish:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100));
        (code, self.text())
    }
}

/// GET an absolute http URL; the answer and its `location`.
fn get(url: &str) -> (u16, Option<String>, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    use std::io::{Read, Write};
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .map(str::to_string);
    (status, location, body.to_string())
}

fn query_param(url: &str, name: &str) -> String {
    let q = url.split_once('?').unwrap().1;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Follows the consent URL like a browser: X's page, then the redirect to
/// the callback (optionally rewritten first). Returns the callback's answer.
fn consent(url: &str, mut rewrite: impl FnMut(String) -> String) -> (u16, String) {
    let (status, location, body) = get(url);
    assert_eq!(status, 302, "X's consent page: {body}");
    let callback = rewrite(location.expect("a redirect to the callback"));
    let (status, _, body) = get(&callback);
    (status, body)
}

struct Setup {
    live: LiveSim,
    port: u16,
    store: String,
}

fn setup() -> Setup {
    let live = LiveSim::start();
    let port = free_port();
    live.sim
        .register_redirect_uri("cli-client", &format!("http://127.0.0.1:{port}/callback"));
    let store = tempdir().join("tokens.db").to_str().unwrap().to_string();
    Setup { live, port, store }
}

fn run_main(s: &Setup) -> serde_json::Value {
    let url = s.live.sim.url();
    let o = run(
        &["run", "examples/main.xml"],
        &[
            ("X_API_URL", url.as_str()),
            ("X_CLIENT_ID", "cli-client"),
            ("INTEGRATOR_TOKEN_STORE", s.store.as_str()),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    stdout_json(&o)
}

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
    let v = run_main(&s);
    assert_eq!(v["user"]["username"], "sandbox_dev", "{v}");
    // Then a refresh works.
    sim.expire_access_tokens();
    let v = run_main(&s);
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
    let v = run_main(&s);
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

#[test]
fn a_wrong_state_is_refused_and_nothing_is_stored() {
    let s = setup();
    let login = Login::start(&s.live.sim.url(), s.port, &s.store, &[]);
    let url = login.url();
    let (status, page) = consent(&url, |c| {
        let state = query_param(&c, "state");
        c.replace(&format!("state={state}"), "state=forged")
    });
    assert_eq!(status, 400, "{page}");
    let (code, out) = login.finish();
    assert_eq!(code, 1);
    assert!(out.contains("state does not match"), "{out}");
    assert_eq!(
        s.live.sim.stats().code_exchanges,
        0,
        "the code was never sent"
    );
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

fn tokens_listed(store: &str) -> Vec<serde_json::Value> {
    let o = run(
        &["tokens", "list", "--json"],
        &[("INTEGRATOR_TOKEN_STORE", store)],
    );
    stdout_json(&o)["families"].as_array().unwrap().clone()
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
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("NOT_SET_ANYWHERE"), "{}", stderr(&o));
}
