//! `auth login` driven like a user would: the running command, a client
//! that follows the consent URL like a browser, and the main flow after it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `auth login`, its output collected as it comes.
pub struct Login {
    pub child: Child,
    pub out: Arc<Mutex<Vec<String>>>,
}

impl Login {
    pub fn start(sim_url: &str, port: u16, store: &str, extra: &[&str]) -> Login {
        Login::start_at(sim_url, sim_url, port, store, extra)
    }

    /// With the token endpoint (`--api-url`) somewhere else than X's
    /// consent page.
    pub fn start_at(api_url: &str, sim_url: &str, port: u16, store: &str, extra: &[&str]) -> Login {
        let mut c = integrator();
        c.args([
            "auth",
            "login",
            "--connection",
            "X_CONNECTION",
            "--client-id",
            "cli-client",
        ])
        .args(["--port", &port.to_string(), "--api-url", api_url])
        .args(["--authorize-url", &format!("{sim_url}/i/oauth2/authorize")])
        .args(["--no-browser", "--token-store", store, "-vv"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        Login::spawn(c)
    }

    /// Runs `c` (an `auth login` command), collecting its output as it comes.
    pub fn spawn(mut c: std::process::Command) -> Login {
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

    pub fn text(&self) -> String {
        self.out.lock().unwrap().join("\n")
    }

    /// The consent URL it printed.
    pub fn url(&self) -> String {
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

    pub fn finish(mut self) -> (i32, String) {
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
pub fn get(url: &str) -> (u16, Option<String>, String) {
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

pub fn query_param(url: &str, name: &str) -> String {
    let q = url.split_once('?').unwrap().1;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Follows the consent URL like a browser: X's page, then the redirect to
/// the callback (optionally rewritten first). Returns the callback's answer.
pub fn consent(url: &str, mut rewrite: impl FnMut(String) -> String) -> (u16, String) {
    let (status, location, body) = get(url);
    assert_eq!(status, 302, "X's consent page: {body}");
    let callback = rewrite(location.expect("a redirect to the callback"));
    let (status, _, body) = get(&callback);
    (status, body)
}

pub struct Setup {
    pub live: LiveSim,
    pub port: u16,
    pub store: String,
}

pub fn setup() -> Setup {
    let live = LiveSim::start();
    let port = free_port();
    live.sim
        .register_redirect_uri("cli-client", &format!("http://127.0.0.1:{port}/callback"));
    let store = tempdir().join("tokens.db").to_str().unwrap().to_string();
    Setup { live, port, store }
}

/// Runs examples/main.xml on the stored tokens; `expect` is the exit code
/// (0, or 3 when its onError sequence caught a fault).
pub fn run_main(s: &Setup, expect: i32) -> serde_json::Value {
    let url = s.live.sim.url();
    let o = run(
        &["run", "examples/main.xml"],
        &[
            ("X_API_URL", url.as_str()),
            ("X_CLIENT_ID", "cli-client"),
            ("INTEGRATOR_TOKEN_STORE", s.store.as_str()),
        ],
    );
    assert_eq!(o.status.code(), Some(expect), "{}", stderr(&o));
    stdout_json(&o)
}

pub fn tokens_listed(store: &str) -> Vec<serde_json::Value> {
    let o = run(
        &["tokens", "list", "--json"],
        &[("INTEGRATOR_TOKEN_STORE", store)],
    );
    stdout_json(&o)["families"].as_array().unwrap().clone()
}

pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after `comm`.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}
