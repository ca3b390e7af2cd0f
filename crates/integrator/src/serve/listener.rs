//! The accept loop of `integrator serve` and its limits toward clients:
//! a cap on connections (503 beyond it), a header-read timeout, an idle
//! keep-alive timeout, and a backoff when `accept` fails (descriptors
//! exhausted), logged once per interval.
//!
//! hyper's own `header_read_timeout` starts whenever a connection waits for
//! a request head, idle or not, so it cannot tell a slow client from an idle
//! kept-alive one; a small watchdog per connection does: reads seen by the
//! connection's I/O and requests seen by the service move it between
//! idle (idle timeout: closed gracefully), reading a head (header timeout:
//! dropped) and serving (the body timeout is the handler's).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};

/// The limits of `serve` toward its clients (see docs/reliability.md).
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// A request's head must arrive within this, from its first byte.
    pub header_timeout: Duration,
    /// A request's body must arrive within this, from its head.
    pub body_timeout: Duration,
    /// A kept-alive connection waits this long for its next request.
    pub idle_timeout: Duration,
    /// Open client connections at once; beyond, new ones get 503.
    pub max_connections: usize,
    /// One request body at most (413 beyond).
    pub max_request_body: usize,
    /// Request body bytes held in memory at once, over all requests (503 beyond).
    pub max_buffered_bytes: usize,
    /// Answer `GET /metrics` (`--metrics`): off unless asked, as the
    /// metrics name the connections and operations in use.
    pub metrics: bool,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
            max_request_body: 1 << 20,
            max_buffered_bytes: 64 << 20,
            metrics: false,
        }
    }
}

const IDLE: u8 = 0;
const READING_HEAD: u8 = 1;
const SERVING: u8 = 2;

/// Where one connection is, for its watchdog.
pub struct Activity {
    phase: AtomicU8,
    since: Mutex<Instant>,
    /// Wakes the watchdog on every change of phase (a permit is kept when
    /// it is not waiting yet, so no change is missed).
    changed: Notify,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            phase: AtomicU8::new(IDLE),
            since: Mutex::new(Instant::now()),
            changed: Notify::new(),
        })
    }

    fn set(&self, phase: u8) {
        *self.since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.phase.store(phase, Ordering::Release);
        self.changed.notify_one();
    }

    /// The service began a request (its head is in).
    pub fn request_started(&self) {
        self.set(SERVING);
    }

    /// The service answered: the connection is idle until the next bytes.
    pub fn request_done(&self) {
        self.set(IDLE);
    }

    fn bytes_read(&self) {
        if self.phase.load(Ordering::Acquire) == IDLE {
            self.set(READING_HEAD);
        }
    }

    fn state(&self) -> (u8, Instant) {
        (
            self.phase.load(Ordering::Acquire),
            *self.since.lock().unwrap_or_else(|p| p.into_inner()),
        )
    }
}

/// The connection's I/O, telling the watchdog when bytes arrive.
pub struct Watched {
    io: TokioIo<TcpStream>,
    activity: Arc<Activity>,
}

impl Read for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            this.activity.bytes_read();
        }
        r
    }
}

impl Write for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// What the watchdog decided.
pub enum Verdict {
    /// Idle past the idle timeout: close gracefully.
    Idle,
    /// A request head took longer than the header timeout: drop.
    SlowHead,
}

/// Resolves when the connection overstays a limit.
pub async fn watchdog(activity: Arc<Activity>, limits: ServerLimits) -> Verdict {
    loop {
        let (phase, since) = activity.state();
        let limit = match phase {
            IDLE => Some(limits.idle_timeout),
            READING_HEAD => Some(limits.header_timeout),
            _ => None,
        };
        match limit {
            Some(limit) if since.elapsed() >= limit => {
                return if phase == IDLE {
                    Verdict::Idle
                } else {
                    Verdict::SlowHead
                };
            }
            // Until the deadline, or until the phase changes: the first byte
            // of a head starts the (shorter) header clock at once.
            Some(limit) => {
                tokio::select! {
                    _ = tokio::time::sleep(limit - since.elapsed()) => {}
                    _ = activity.changed.notified() => {}
                }
            }
            // Serving: the handler's body timeout and the call's own
            // deadline apply; wait for the answer.
            None => activity.changed.notified().await,
        }
    }
}

/// A new connection, ready for hyper: its I/O and its activity.
pub fn watch(stream: TcpStream) -> (Watched, Arc<Activity>) {
    let activity = Activity::new();
    (
        Watched {
            io: TokioIo::new(stream),
            activity: activity.clone(),
        },
        activity,
    )
}

/// Answers a connection over the cap with 503 and closes it.
pub fn refuse_busy(mut stream: TcpStream, max: usize) {
    tokio::spawn(async move {
        let body = format!(
            "{{\"error\":{{\"kind\":\"busy\",\"message\":\"the server has {max} connections open (its limit): try again shortly\"}}}}"
        );
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
        })
        .await;
    });
}

/// Accept failures (EMFILE, ENFILE, ...) back off instead of spinning, as
/// hyper's and tokio's example servers do, and are logged once per interval
/// with how many were left out.
pub struct AcceptBackoff {
    delay: Duration,
    last_log: Option<Instant>,
    suppressed: u64,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);
    const LOG_EVERY: Duration = Duration::from_secs(5);

    pub fn new() -> Self {
        AcceptBackoff {
            delay: Self::FIRST,
            last_log: None,
            suppressed: 0,
        }
    }

    pub fn succeeded(&mut self) {
        self.delay = Self::FIRST;
    }

    /// Logs (at most once per interval) and waits before the next accept.
    pub fn failed(&mut self, e: &std::io::Error) -> impl Future<Output = ()> {
        let now = Instant::now();
        if self.last_log.is_none_or(|t| now - t >= Self::LOG_EVERY) {
            tracing::warn!(
                target: "integrator::serve",
                suppressed = self.suppressed,
                "accept failed: {e} (backing off; out of file descriptors? see ulimit -n)"
            );
            self.last_log = Some(now);
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
        let wait = self.delay;
        self.delay = (self.delay * 2).min(Self::MAX);
        tokio::time::sleep(wait)
    }
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        Self::new()
    }
}

/// The connection cap.
pub fn connection_slots(limits: &ServerLimits) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(limits.max_connections))
}

/// Accepts the next connection, backing off on errors.
pub async fn accept(listener: &TcpListener, backoff: &mut AcceptBackoff) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                backoff.succeeded();
                return stream;
            }
            Err(e) => backoff.failed(&e).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn backoff_grows_and_logs_once_per_interval() {
        let mut b = AcceptBackoff::new();
        let e = std::io::Error::from_raw_os_error(libc::EMFILE);
        let started = tokio::time::Instant::now();
        for _ in 0..8 {
            b.failed(&e).await;
        }
        // 5 ms doubling: 1.275 s for 8 failures in a row, not a spin.
        assert!(started.elapsed() >= Duration::from_millis(1_200));
        assert!(b.suppressed > 0, "not every failure was logged");
        b.succeeded();
        assert_eq!(b.delay, AcceptBackoff::FIRST);
    }
}
