//! HTTP/1.1 keep-alive connections, shared by every instance of a runtime.
//!
//! Hand-rolled on hyper's connection API instead of hyper-util's legacy
//! `Client`, for two measured reasons. (1) That pool races a fresh connect
//! against a busy connection: a request sent right after the previous
//! response was read finds its connection not yet back in the pool (hyper
//! returns it from a task that has not run yet), so it opens a second one,
//! and a connector's strictly sequential calls end up on two connections.
//! Here a connection whose response body has been read is waited for, not
//! raced. (2) That client spawns a task per request to return the
//! connection; here nothing is spawned per request, only one driver task per
//! connection.
//!
//! Policy: most recently used connection first; a connection still reading
//! its response body is left alone (a concurrent request opens another);
//! idle connections expire after [`Pool::IDLE_TIMEOUT`]; a request that
//! never reached a reused connection (closed by the server meanwhile) is
//! retried once on a new one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

type Body = HyperOutgoingBody;

/// Why a request failed.
#[derive(Debug)]
pub enum PoolError {
    /// Connecting (TCP, TLS) failed.
    Connect(Box<dyn std::error::Error + Send + Sync>),
    /// The exchange failed on an open connection.
    Request(hyper::Error),
    /// Connecting took longer than its timeout.
    ConnectTimeout,
    /// The URI has no scheme or host.
    BadUri,
}

/// Marks the end of one response: set when its body has been read to the
/// end or dropped, so the next request waits for the connection instead of
/// opening another.
pub struct Release(Arc<AtomicBool>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

struct Conn {
    sender: http1::SendRequest<Body>,
    released: Arc<AtomicBool>,
    last_used: Instant,
}

impl Conn {
    fn reusable_soon(&self) -> bool {
        self.sender.is_ready() || self.released.load(Ordering::Acquire)
    }
}

/// An origin's connections (a handful of origins per runtime: a list).
type Origin = (Key, Vec<Conn>);

#[derive(Clone)]
pub struct Pool {
    connector: HttpsConnector<HttpConnector>,
    idle: Arc<Mutex<Vec<Origin>>>,
}

/// Which connections can serve a URI: (scheme, host, port), compared
/// without case and without building a string per request.
#[derive(Clone, PartialEq, Eq)]
struct Key {
    https: bool,
    host: String,
    port: u16,
}

impl Key {
    fn matches(&self, https: bool, host: &str, port: u16) -> bool {
        self.https == https && self.port == port && self.host.eq_ignore_ascii_case(host)
    }
}

/// A URI's scheme, host and port (the scheme's default when none is given):
/// what both the pool and the egress allowlist compare, without case.
pub fn parts(uri: &http::Uri) -> Option<(&str, &str, u16)> {
    let scheme = uri.scheme_str()?;
    let https = scheme.eq_ignore_ascii_case("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    Some((scheme, uri.host()?, port))
}

impl Pool {
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
    pub const MAX_PER_HOST: usize = 8;

    pub fn new(connector: HttpsConnector<HttpConnector>) -> Self {
        Pool {
            connector,
            idle: Default::default(),
        }
    }

    /// A connection to the origin that is idle or about to be, most recent first.
    fn checkout(&self, (https, host, port): (bool, &str, u16)) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let (_, list) = idle
            .iter_mut()
            .find(|(k, _)| k.matches(https, host, port))?;
        list.retain(|c| !c.sender.is_closed() && c.last_used.elapsed() < Self::IDLE_TIMEOUT);
        let i = list.iter().rposition(Conn::reusable_soon)?;
        Some(list.remove(i))
    }

    fn checkin(&self, (https, host, port): (bool, &str, u16), conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = match idle.iter().position(|(k, _)| k.matches(https, host, port)) {
            Some(i) => &mut idle[i].1,
            None => {
                let key = Key {
                    https,
                    host: host.to_ascii_lowercase(),
                    port,
                };
                idle.push((key, Vec::new()));
                &mut idle.last_mut().expect("just pushed").1
            }
        };
        if list.len() >= Self::MAX_PER_HOST {
            list.remove(0);
        }
        list.push(conn);
    }

    async fn connect(&self, uri: &http::Uri) -> Result<http1::SendRequest<Body>, PoolError> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(PoolError::Connect)?;
        let io = connector
            .call(uri.clone())
            .await
            .map_err(PoolError::Connect)?;
        let (sender, connection) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(PoolError::Request)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(target: "integrator::http", "connection closed: {e}");
            }
        });
        Ok(sender)
    }

    /// Sends `request` (absolute URI) and returns the response head with the
    /// [`Release`] its body's reader must drop when done. A new connection
    /// must be up within `connect_timeout`; `connected` is set when one was
    /// made, so the caller can restart its first-byte clock.
    pub async fn send(
        &self,
        mut request: http::Request<Body>,
        connect_timeout: Duration,
        connected: &AtomicBool,
    ) -> Result<(http::Response<Incoming>, Release), PoolError> {
        let uri = request.uri().clone();
        let (scheme, host, port) = parts(&uri).ok_or(PoolError::BadUri)?;
        let key = (scheme.eq_ignore_ascii_case("https"), host, port);
        if !request.headers().contains_key(http::header::HOST) {
            let host = uri.authority().ok_or(PoolError::BadUri)?.as_str();
            let host = http::HeaderValue::from_str(host).map_err(|_| PoolError::BadUri)?;
            request.headers_mut().insert(http::header::HOST, host);
        }
        // HTTP/1.1 requests carry the origin form (`/path?query`).
        let mut origin_form = http::uri::Parts::default();
        origin_form.path_and_query = Some(
            uri.path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
        );
        *request.uri_mut() = http::Uri::from_parts(origin_form).map_err(|_| PoolError::BadUri)?;
        let mut retried = false;
        loop {
            let (mut sender, reused) = match self.checkout(key) {
                Some(conn) => (conn.sender, true),
                None => {
                    let sender = tokio::time::timeout(connect_timeout, self.connect(&uri))
                        .await
                        .map_err(|_| PoolError::ConnectTimeout)??;
                    connected.store(true, Ordering::Relaxed);
                    (sender, false)
                }
            };
            if let Err(e) = sender.ready().await {
                if reused {
                    continue;
                }
                return Err(PoolError::Request(e));
            }
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let released = Arc::new(AtomicBool::new(false));
                    self.checkin(
                        key,
                        Conn {
                            sender,
                            released: released.clone(),
                            last_used: Instant::now(),
                        },
                    );
                    return Ok((response, Release(released)));
                }
                Err(mut e) => match e.take_message() {
                    // Never written: the server closed a kept-alive connection.
                    Some(unsent) if reused && !retried => {
                        retried = true;
                        request = unsent;
                    }
                    _ => return Err(PoolError::Request(e.into_error())),
                },
            }
        }
    }
}
