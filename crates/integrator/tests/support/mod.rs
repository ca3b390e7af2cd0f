//! Shared set-up of the tests that drive the `integrator` binary: the
//! command with a clean environment, a simulator on its own runtime, a
//! served API, and plain HTTP requests to it.

#![allow(dead_code)]

pub mod login;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use x_sim::Simulator;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh directory under the system's temp dir.
pub fn tempdir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "integrator-test-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The `integrator` binary with a clean environment: no X_* variables, no
/// store settings, and a state directory of its own, so no test ever reads
/// or writes a real token store.
pub fn integrator() -> Command {
    assert!(
        root().join("dist/twitter-connector.wasm").exists(),
        "dist/twitter-connector.wasm is missing: run ./build.sh first (the README's test command does)"
    );
    let mut c = Command::new(env!("CARGO_BIN_EXE_integrator"));
    c.current_dir(root())
        .env("INTEGRATOR_CONNECTOR", root().join("connector.xml"))
        .env("XDG_CACHE_HOME", root().join("target/test-cli-cache"))
        .env("XDG_STATE_HOME", tempdir())
        .env_remove("INTEGRATOR_LOG")
        .stdin(Stdio::null());
    for k in [
        "X_API_URL",
        "X_CLIENT_ID",
        "X_ACCESS_TOKEN",
        "X_REFRESH_TOKEN",
        "X_TIMEOUT",
        "X_CLIENT_SECRET",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "INTEGRATOR_TOKEN_STORE",
        "INTEGRATOR_STORE_KEY",
        "INTEGRATOR_STORE_KEY_FILE",
    ] {
        c.env_remove(k);
    }
    c
}

pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = integrator();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("integrator runs")
}

pub fn stdout_json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// An HTTP answer: status, headers (lower-case names), JSON body (`Null` if none).
pub type Answer = (u16, Vec<(String, String)>, Value);

/// A simulator on its own runtime thread, for runs that are not `--sandbox`.
pub struct LiveSim {
    pub sim: Simulator,
    _rt: tokio::runtime::Runtime,
}

impl LiveSim {
    pub fn start() -> LiveSim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sim = rt.block_on(Simulator::start()).unwrap();
        sim.add_client("cli-client", None);
        LiveSim { sim, _rt: rt }
    }
}

/// A served API, stopped with SIGTERM (or killed) when dropped.
pub struct Served {
    pub child: std::process::Child,
    pub addr: String,
    /// Everything the process wrote to stderr so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Served {
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Served {
        let mut c = integrator();
        c.arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        Self::from_child(c.spawn().unwrap())
    }

    /// A `serve` child spawned by the caller (stderr piped), once it listens.
    pub fn from_child(mut child: std::process::Child) -> Served {
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                panic!(
                    "serve exited before listening:\n{}",
                    log.lock().unwrap().join("\n")
                );
            };
            log.lock().unwrap().push(line.clone());
            if let Some(a) = line.strip_prefix("integrator: listening on http://") {
                break a.to_string();
            }
        };
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Served { child, addr, log }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// One request on a new connection; `Err` when the connection fails
    /// (the process was killed meanwhile).
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> std::io::Result<Answer> {
        request_to(&self.addr, method, path, body)
    }

    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        self.try_request(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log_text()))
    }

    pub fn stop(mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash or an OOM kill would, and reap it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request with `Connection: close`.
pub fn request_to(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<Answer> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let Some((head, body)) = raw.split_once("\r\n\r\n") else {
        return Err(std::io::Error::other(format!("no HTTP answer: {raw:?}")));
    };
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    Ok((
        status,
        headers,
        serde_json::from_str(body).unwrap_or(Value::Null),
    ))
}

/// A request as a hostile upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub head: String,
    pub body: String,
}

/// A raw HTTP/1.1 upstream on loopback that answers each request with
/// whatever `answer` writes (status line, headers and body, as bytes, or a
/// body dripped slowly), one connection per request. For tests of what the
/// runtime does with a hostile or broken X.
pub struct Hostile {
    pub addr: String,
}

pub enum Reply {
    /// Raw bytes, written at once.
    Raw(Vec<u8>),
    /// A head, then the body one byte per interval.
    Drip(String, Vec<u8>, Duration),
}

impl Hostile {
    pub fn start(answer: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Hostile {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let answer = answer.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    loop {
                        let Some(seen) = read_request(&mut stream) else {
                            return;
                        };
                        match answer(&seen) {
                            Reply::Raw(bytes) => {
                                if stream.write_all(&bytes).is_err() {
                                    return;
                                }
                            }
                            Reply::Drip(head, body, every) => {
                                if stream.write_all(head.as_bytes()).is_err() {
                                    return;
                                }
                                for b in body {
                                    std::thread::sleep(every);
                                    if stream.write_all(&[b]).is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    }
                });
            }
        });
        Hostile { addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A JSON answer with a content length.
pub fn json_reply(status: u16, body: &str) -> Reply {
    Reply::Raw(
        format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).ok()?;
    let mut first = head.lines().next().unwrap_or("").split(' ');
    Some(Seen {
        method: first.next().unwrap_or("").to_string(),
        path: first.next().unwrap_or("").to_string(),
        head,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// How `check` made the component ready with this cache home (`Compiled`
/// or `Cached`), from its `connector ready` log line.
#[allow(dead_code)] // not every test binary asks
pub fn load_kind(cache_home: &std::path::Path) -> String {
    let o = run(
        &["check", "examples/main.xml", "-v"],
        &[("XDG_CACHE_HOME", cache_home.to_str().unwrap())],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    let line = e
        .lines()
        .find(|l| l.contains("connector ready"))
        .unwrap_or_else(|| panic!("no load kind in:\n{e}"));
    ["Compiled", "Cached"]
        .into_iter()
        .find(|k| line.contains(k))
        .unwrap_or_else(|| panic!("no load kind in: {line}"))
        .to_string()
}
