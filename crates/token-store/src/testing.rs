//! Test support: a real `redis-server` for tests, either the one `.ci/run`
//! started (`INTEGRATOR_TEST_REDIS_URL`) or a private one spawned from PATH.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Redis for a test. Dropping it stops a server it started.
pub struct RedisServer {
    url: String,
    port: u16,
    child: Option<Child>,
    dir: Option<PathBuf>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl RedisServer {
    /// The Redis `.ci/run` started, if `INTEGRATOR_TEST_REDIS_URL` is set;
    /// else a private one. Tests sharing it use distinct connection names.
    pub fn shared() -> RedisServer {
        match std::env::var("INTEGRATOR_TEST_REDIS_URL") {
            Ok(url) if !url.trim().is_empty() => RedisServer {
                port: 0,
                url,
                child: None,
                dir: None,
            },
            _ => Self::private(),
        }
    }

    /// A server of this test's own (on a free port, persistence in a fresh
    /// directory with `appendonly yes`, so a stop and restart keeps the data).
    pub fn private() -> RedisServer {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("token-store-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for redis");
        let mut s = RedisServer {
            url: format!("redis://127.0.0.1:{port}/0"),
            port,
            child: None,
            dir: Some(dir),
        };
        s.start();
        s
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// (Re)starts a private server on its port and directory.
    pub fn start(&mut self) {
        let dir = self
            .dir
            .clone()
            .expect("only a private server is started here");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): install it (Debian: apt-get install -y redis-server) or set INTEGRATOR_TEST_REDIS_URL"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops a private server (SIGTERM, as a service manager would).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signals a child we started.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }

    /// Freezes a private server (SIGSTOP): connections hang as with a dead host.
    pub fn pause(&self) {
        if let Some(c) = &self.child {
            // SAFETY: signals a child we started.
            unsafe { libc::kill(c.id() as i32, libc::SIGSTOP) };
        }
    }

    pub fn resume(&self) {
        if let Some(c) = &self.child {
            // SAFETY: signals a child we started.
            unsafe { libc::kill(c.id() as i32, libc::SIGCONT) };
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.resume();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
