//! The guest's only way out: `wasi:http/outgoing-handler` requests arrive in
//! [`WasiHttpHooks::send_request`], where they are checked against the
//! connection's allowlist, bounded in time and size, and sent over one
//! pooled keep-alive client (rustls, system roots, `SSL_CERT_FILE`).

pub mod connect_error;
pub mod connection_pool;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::time::Sleep;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use connection_pool::{parts, Pool, PoolError, Release};

/// Response bodies above this are cut with `HttpResponseBodySize`.
pub const DEFAULT_MAX_BODY: u64 = 4 << 20;

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>;

/// The shared, pooled HTTP(S) client: one per runtime, so every instance
/// reuses the same keep-alive connections.
#[derive(Clone)]
pub struct HttpClient {
    pool: Pool,
}

impl HttpClient {
    /// Trusts the system roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` honoured)
    /// plus `extra_roots_pem` (e.g. the sandbox's own certificate).
    pub fn new(extra_roots_pem: Option<&str>) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if let Some(pem) = extra_roots_pem {
            for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(pem.as_bytes()) {
                roots.add(cert?)?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new_with_resolver(connect_error::MarkingResolver::default());
        http.enforce_http(false);
        http.set_nodelay(true);
        // No connector-wide connect timeout: each request's own (within
        // its connection's timeout, see `send_request`) applies.
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Ok(HttpClient {
            pool: Pool::new(connector),
        })
    }
}

/// Origins (scheme, host, port) an instance may reach. Shared with the
/// runtime, which fills it from the connection's `apiUrl` at `init`. Checked
/// on every request, so without building strings.
#[derive(Clone, Default)]
pub struct Allowlist(Arc<RwLock<Vec<(String, String, u16)>>>);

impl Allowlist {
    pub fn allow_url(&self, url: &str) -> bool {
        let Ok(uri) = url.parse::<http::Uri>() else {
            return false;
        };
        let Some((scheme, host, port)) = parts(&uri) else {
            return false;
        };
        let entry = (scheme.to_ascii_lowercase(), host.to_ascii_lowercase(), port);
        let mut list = self.0.write().unwrap_or_else(|p| p.into_inner());
        if !list.contains(&entry) {
            list.push(entry);
        }
        true
    }

    pub fn allows(&self, uri: &http::Uri) -> bool {
        let Some((scheme, host, port)) = parts(uri) else {
            return false;
        };
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|(s, h, p)| {
                *p == port && s.eq_ignore_ascii_case(scheme) && h.eq_ignore_ascii_case(host)
            })
    }

    pub fn clear(&self) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

fn origin(uri: &http::Uri) -> Option<String> {
    let (scheme, host, port) = parts(uri)?;
    Some(format!("{scheme}://{host}:{port}").to_ascii_lowercase())
}

pub fn origin_of_str(url: &str) -> Option<String> {
    origin(&url.parse::<http::Uri>().ok()?)
}

/// Does an operator policy entry admit `url`? Entries are origins
/// (`https://api.x.com`), or hosts with an optional port (`api.x.com`,
/// `127.0.0.1:8080`).
pub fn policy_permits(policy: &[String], url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    let Some(origin) = origin(&uri) else {
        return false;
    };
    let host = uri.host().unwrap_or("").to_ascii_lowercase();
    policy.iter().any(|entry| {
        if entry.contains("://") {
            origin_of_str(entry).as_ref() == Some(&origin)
        } else {
            match entry
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            {
                Some((h, port)) => h.eq_ignore_ascii_case(&host) && uri.port_u16() == Some(port),
                None => entry.eq_ignore_ascii_case(&host),
            }
        }
    })
}

/// Per-instance hooks: the shared client, this instance's allowlist and caps.
pub struct Outbound {
    pub client: HttpClient,
    pub allow: Allowlist,
    /// Cap on each timeout (the connection's `timeout`, set at init).
    pub timeout_cap: Arc<RwLock<Duration>>,
    pub max_body: u64,
    pub timer: TimerSlot,
    /// When the current call must be done by (set per call by the runtime):
    /// every request of the call, refresh, replay and retries included, ends
    /// by then; each one also ends within the timeout of its own start.
    pub call_deadline: Arc<Mutex<Option<tokio::time::Instant>>>,
    /// The connection the instance serves (set at init), for the metrics.
    pub connection: Option<Arc<str>>,
    /// Where token requests are counted.
    pub metrics: Arc<crate::metrics::Metrics>,
}

fn effective(asked: Option<Duration>, cap: Duration) -> Duration {
    asked.map_or(cap, |a| a.min(cap))
}

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> SendFuture {
        if !self.allow.allows(request.uri()) {
            // Log the origin only: the path and query could carry ids, never tokens,
            // but the origin is all an operator needs.
            tracing::warn!(
                target: "integrator::guard",
                origin = origin(request.uri()).unwrap_or_else(|| "?".into()),
                "denied: the connector tried to reach a host outside its connection's apiUrl"
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let mut cap = *self.timeout_cap.read().unwrap_or_else(|p| p.into_inner());
        // One request, head and body, ends within the connection's timeout
        // (a server dripping a byte at a time cannot hold it longer), and
        // within the call's deadline, which allows for its retries.
        let now = tokio::time::Instant::now();
        if let Some(d) = *self.call_deadline.lock().unwrap_or_else(|p| p.into_inner()) {
            cap = cap.min(d.saturating_duration_since(now));
        }
        let deadline = Some(now + cap);
        let connect = effective(options.and_then(|o| o.connect_timeout), cap);
        let first_byte = effective(options.and_then(|o| o.first_byte_timeout), cap);
        let between = effective(options.and_then(|o| o.between_bytes_timeout), cap);
        let pool = self.client.pool.clone();
        let max_body = self.max_body;
        // A request to the token endpoint is counted by how it ended: the
        // refreshes (and refresh failures) operators watch.
        let token_request = (request.method() == http::Method::POST
            && request.uri().path().ends_with(TOKEN_PATH))
        .then(|| {
            (
                self.metrics.clone(),
                self.connection.clone().unwrap_or_else(|| Arc::from("")),
            )
        });
        let count = move |outcome: crate::metrics::TokenOutcome| {
            if let Some((metrics, connection)) = &token_request {
                metrics.token_request(connection, outcome);
            }
        };
        tracing::debug!(target: "integrator::http", method = %request.method(), uri = %redact_query(request.uri()), "send");
        let mut timer = self.timer.take();
        let sent = async move {
            // Waiting for a pooled connection and for the head each get the
            // first-byte timeout; a new connection gets the connect timeout
            // and restarts the first-byte clock.
            timer.arm(first_byte);
            let connected = AtomicBool::new(false);
            let mut rearmed = false;
            let request = pool.send(request, connect, &connected);
            let mut request = std::pin::pin!(request);
            let resp = std::future::poll_fn(|cx| match request.as_mut().poll(cx) {
                Poll::Ready(r) => Poll::Ready(Some(r)),
                Poll::Pending => {
                    if !rearmed && connected.load(Ordering::Relaxed) {
                        rearmed = true;
                        timer.arm(first_byte);
                    }
                    timer.poll_elapsed(cx).map(|()| None)
                }
            })
            .await;
            let (resp, release) = match resp {
                None => return Err(HttpError::ConnectionReadTimeout),
                Some(Err(PoolError::Connect(e))) => return Err(connect_error::classify(&*e)),
                Some(Err(PoolError::ConnectTimeout)) => return Err(HttpError::ConnectionTimeout),
                Some(Err(PoolError::BadUri)) => return Err(HttpError::HttpRequestUriInvalid),
                Some(Err(PoolError::Request(e))) => {
                    return Err(
                        if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
                            HttpError::ConnectionTerminated
                        } else {
                            HttpError::HttpProtocolError
                        },
                    );
                }
                Some(Ok(r)) => r,
            };
            if let Some(len) = resp
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
            {
                if len > max_body {
                    return Err(HttpError::HttpResponseBodySize(Some(len)));
                }
            }
            let resp = resp.map(|body| {
                GuardedBody::new(body, release, timer, between, deadline, max_body).boxed_unsync()
            });
            Ok((resp, Box::new(async { Ok(()) }) as IoFuture))
        };
        Box::new(async move {
            let r = sent.await;
            count(match &r {
                Ok((resp, _)) if resp.status().is_success() => crate::metrics::TokenOutcome::Issued,
                Ok(_) => crate::metrics::TokenOutcome::Refused,
                Err(_) => crate::metrics::TokenOutcome::NoAnswer,
            });
            r
        })
    }
}

/// The token endpoint's path under any `apiUrl` (the component's
/// `Connection::token_url`).
const TOKEN_PATH: &str = "/2/oauth2/token";

/// One reusable timer per instance for the first-byte and between-bytes
/// deadlines. A fresh `tokio::time::Sleep` per request costs a timer-wheel
/// insert and, when it is the earliest timer, a wake-up of the I/O driver
/// (an eventfd write) on every call; re-arming a timer that is still in the
/// wheel to a later deadline only moves a number. Requests of one instance
/// run one at a time, so one slot suffices; an overlapping request makes its
/// own timer.
#[derive(Clone, Default)]
pub struct TimerSlot(Arc<Mutex<Option<Pin<Box<Sleep>>>>>);

impl TimerSlot {
    fn take(&self) -> SlotTimer {
        SlotTimer {
            sleep: self.0.lock().unwrap_or_else(|p| p.into_inner()).take(),
            slot: self.clone(),
        }
    }
}

/// A timer borrowed from a [`TimerSlot`], returned to it on drop.
struct SlotTimer {
    sleep: Option<Pin<Box<Sleep>>>,
    slot: TimerSlot,
}

impl SlotTimer {
    fn arm(&mut self, after: Duration) {
        let deadline = tokio::time::Instant::now() + after;
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().reset(deadline),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
    }

    fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

impl Drop for SlotTimer {
    fn drop(&mut self) {
        if let Some(sleep) = self.sleep.take() {
            let mut slot = self.slot.0.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(sleep);
            }
        }
    }
}

/// The URI as logged: the query is dropped (it never holds a token, but
/// keeping logs to the path keeps them short and safe by construction).
pub fn redact_query(uri: &http::Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority().map(|a| a.as_str()).unwrap_or("?"),
        uri.path()
    )
}

/// A response body with a between-bytes timeout and a size cap.
struct GuardedBody {
    inner: Incoming,
    /// Dropped at the end of the body: the connection may serve the next request.
    release: Option<Release>,
    between: Duration,
    /// The call's deadline: a body dripping a byte at a time ends by then.
    deadline: Option<tokio::time::Instant>,
    timer: SlotTimer,
    seen: u64,
    max: u64,
}

impl GuardedBody {
    fn new(
        inner: Incoming,
        release: Release,
        timer: SlotTimer,
        between: Duration,
        deadline: Option<tokio::time::Instant>,
        max: u64,
    ) -> Self {
        let mut body = GuardedBody {
            inner,
            release: Some(release),
            between,
            deadline,
            timer,
            seen: 0,
            max,
        };
        body.rearm();
        body
    }

    /// The next byte is due within `between`, and never after the deadline.
    fn rearm(&mut self) {
        let mut wait = self.between;
        if let Some(d) = self.deadline {
            wait = wait.min(d.saturating_duration_since(tokio::time::Instant::now()));
        }
        self.timer.arm(wait);
    }
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.seen += d.len() as u64;
                    if this.seen > this.max {
                        return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(
                            this.seen,
                        )))));
                    }
                }
                this.rearm();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                let incomplete = e.is_incomplete_message() || e.is_closed();
                // A typed code, never the error's text: its `{:?}` may carry
                // a host backtrace, and the guest would quote it.
                tracing::debug!(target: "integrator::http", "response body failed: {e}");
                Poll::Ready(Some(Err(if incomplete {
                    HttpError::HttpResponseIncomplete
                } else {
                    HttpError::HttpProtocolError
                })))
            }
            Poll::Ready(None) => {
                this.release = None;
                Poll::Ready(None)
            }
            Poll::Pending => match this.timer.poll_elapsed(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let a = Allowlist::default();
        assert!(a.allow_url("http://127.0.0.1:8080"));
        assert!(a.allows(&"http://127.0.0.1:8080/2/users/me?x=1".parse().unwrap()));
        assert!(!a.allows(&"http://127.0.0.1:8081/2/users/me".parse().unwrap()));
        assert!(!a.allows(&"https://127.0.0.1:8080/".parse().unwrap()));
        assert!(!a.allows(&"http://evil.example/".parse().unwrap()));
        a.allow_url("https://api.x.com");
        assert!(a.allows(&"https://API.X.COM:443/2/tweets".parse().unwrap()));
    }

    #[test]
    fn policy_entries_are_origins_or_hosts() {
        let p = vec![
            "api.x.com".to_string(),
            "http://127.0.0.1:9000".to_string(),
            "localhost:81".to_string(),
        ];
        assert!(policy_permits(&p, "https://api.x.com"));
        assert!(policy_permits(&p, "http://127.0.0.1:9000"));
        assert!(!policy_permits(&p, "http://127.0.0.1:9001"));
        assert!(policy_permits(&p, "http://localhost:81"));
        assert!(!policy_permits(&p, "http://localhost:82"));
        assert!(!policy_permits(&p, "https://evil.example"));
    }
}
