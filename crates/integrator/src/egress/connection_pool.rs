//! Outbound HTTP connections, shared by every instance of a runtime: one
//! multiplexed HTTP/2 connection per origin where the server offers it in
//! TLS ALPN (X does), else HTTP/1.1 keep-alive connections, at most
//! [`Pool::MAX_PER_HOST`] requests in flight per origin.
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
//! HTTP/1.1 policy: most recently used connection first; a connection still
//! reading its response body is left alone (a concurrent request opens
//! another, up to the per-origin bound, then waits); idle connections expire
//! after [`Pool::IDLE_TIMEOUT`]; a request that never reached a reused
//! connection (closed by the server meanwhile) is retried once on a new one.
//! HTTP/2: the first connection to an https origin is made alone, so a
//! burst of first calls shares the one connection it negotiates.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connection as _, HttpConnector};

use super::connect_error::MarkingResolver;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
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

/// Marks the end of one HTTP/1.1 response: dropped when its body has been
/// read to the end or dropped, so the next request waits for the connection
/// instead of opening another, and the origin's in-flight place is freed.
pub struct Release {
    flag: Option<Arc<AtomicBool>>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Release {
    fn drop(&mut self) {
        if let Some(f) = &self.flag {
            f.store(true, Ordering::Release);
        }
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

/// One origin's connections (a handful of origins per runtime: a list).
struct Origin {
    key: Key,
    h1: Vec<Conn>,
    h2: Option<http2::SendRequest<Body>>,
    /// The origin answered a connection with HTTP/1.1: no need to make
    /// first connections one at a time any more.
    h1_known: bool,
    /// HTTP/1.1 requests in flight (until their body is read).
    in_flight: Arc<Semaphore>,
    /// Held while making a connection to an origin whose protocol is unknown.
    first_connect: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Clone)]
pub struct Pool {
    connector: HttpsConnector<HttpConnector<MarkingResolver>>,
    origins: Arc<Mutex<Vec<Origin>>>,
}

/// A URI's scheme, host and port (the scheme's default when none is given):
/// what both the pool and the egress allowlist compare, without case.
pub fn parts(uri: &http::Uri) -> Option<(&str, &str, u16)> {
    let scheme = uri.scheme_str()?;
    let https = scheme.eq_ignore_ascii_case("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    Some((scheme, uri.host()?, port))
}

type OriginRef<'a> = (bool, &'a str, u16);

impl Origin {
    /// The HTTP/2 connection, unless it closed (then it is forgotten).
    fn live_h2(&mut self) -> Option<http2::SendRequest<Body>> {
        if self.h2.as_ref().is_some_and(|s| s.is_closed()) {
            self.h2 = None;
        }
        self.h2.clone()
    }
}

enum Route {
    H2(http2::SendRequest<Body>),
    H1(Arc<Semaphore>),
}

/// What a new connection turned out to be.
enum Fresh {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

impl Pool {
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
    /// HTTP/1.1 requests in flight per origin (so connections per origin).
    pub const MAX_PER_HOST: usize = 128;

    pub fn new(connector: HttpsConnector<HttpConnector<MarkingResolver>>) -> Self {
        Pool {
            connector,
            origins: Default::default(),
        }
    }

    fn origins(&self) -> MutexGuard<'_, Vec<Origin>> {
        self.origins.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The origin's entry, made on first use.
    fn with_origin<T>(
        &self,
        (https, host, port): OriginRef<'_>,
        f: impl FnOnce(&mut Origin) -> T,
    ) -> T {
        let mut origins = self.origins();
        let i = match origins
            .iter()
            .position(|o| o.key.matches(https, host, port))
        {
            Some(i) => i,
            None => {
                origins.push(Origin {
                    key: Key {
                        https,
                        host: host.to_ascii_lowercase(),
                        port,
                    },
                    h1: Vec::new(),
                    h2: None,
                    h1_known: !https,
                    in_flight: Arc::new(Semaphore::new(Self::MAX_PER_HOST)),
                    first_connect: Default::default(),
                });
                origins.len() - 1
            }
        };
        f(&mut origins[i])
    }

    fn h2_sender(&self, key: OriginRef<'_>) -> Option<http2::SendRequest<Body>> {
        self.with_origin(key, Origin::live_h2)
    }

    /// How the next request to the origin goes: on its HTTP/2 connection,
    /// else HTTP/1.1 under the origin's in-flight bound (one lock for both:
    /// this runs on every request).
    fn route(&self, key: OriginRef<'_>) -> Route {
        self.with_origin(key, |o| match o.live_h2() {
            Some(h2) => Route::H2(h2),
            None => Route::H1(o.in_flight.clone()),
        })
    }

    /// An HTTP/1.1 connection to the origin that is idle or about to be,
    /// most recent first.
    fn checkout(&self, key: OriginRef<'_>) -> Option<Conn> {
        self.with_origin(key, |o| {
            o.h1.retain(|c| !c.sender.is_closed() && c.last_used.elapsed() < Self::IDLE_TIMEOUT);
            let i = o.h1.iter().rposition(Conn::reusable_soon)?;
            Some(o.h1.remove(i))
        })
    }

    fn checkin(&self, key: OriginRef<'_>, conn: Conn) {
        self.with_origin(key, |o| {
            if o.h1.len() >= Self::MAX_PER_HOST {
                o.h1.remove(0);
            }
            o.h1.push(conn);
        })
    }

    async fn connect(&self, uri: &http::Uri) -> Result<Fresh, PoolError> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(PoolError::Connect)?;
        let io = connector
            .call(uri.clone())
            .await
            .map_err(PoolError::Connect)?;
        if io.connected().is_negotiated_h2() {
            let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                .handshake(io)
                .await
                .map_err(PoolError::Request)?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(target: "integrator::http", "HTTP/2 connection closed: {e}");
                }
            });
            return Ok(Fresh::H2(sender));
        }
        let (sender, connection) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(PoolError::Request)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(target: "integrator::http", "connection closed: {e}");
            }
        });
        Ok(Fresh::H1(sender))
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
        // HTTP/1.1 requests carry the origin form (`/path?query`); HTTP/2
        // ones keep the absolute URI (its `:scheme` and `:authority`).
        let mut origin_form = http::uri::Parts::default();
        origin_form.path_and_query = Some(
            uri.path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
        );
        let origin_form = http::Uri::from_parts(origin_form).map_err(|_| PoolError::BadUri)?;
        let mut retried = false;
        loop {
            let in_flight = match self.route(key) {
                Route::H1(in_flight) => in_flight,
                Route::H2(h2) => {
                    *request.uri_mut() = uri.clone();
                    match self.send_h2(h2, request).await {
                        Ok(resp) => {
                            return Ok((
                                resp,
                                Release {
                                    flag: None,
                                    _permit: None,
                                },
                            ))
                        }
                        // Never sent: the connection went away meanwhile.
                        Err((Some(unsent), _)) if !retried => {
                            retried = true;
                            self.with_origin(key, |o| o.h2 = None);
                            request = unsent;
                            continue;
                        }
                        Err((_, e)) => return Err(PoolError::Request(e)),
                    }
                }
            };
            let permit = in_flight
                .acquire_owned()
                .await
                .map_err(|_| PoolError::BadUri)?;
            let (mut sender, reused) = match self.checkout(key) {
                Some(conn) => (conn.sender, true),
                None => {
                    let (first_connect, known) =
                        self.with_origin(key, |o| (o.first_connect.clone(), o.h1_known));
                    let _alone = if known {
                        None
                    } else {
                        Some(first_connect.lock_owned().await)
                    };
                    if !known && self.h2_sender(key).is_some() {
                        // Another call's connection negotiated HTTP/2 meanwhile.
                        continue;
                    }
                    let fresh = tokio::time::timeout(connect_timeout, self.connect(&uri))
                        .await
                        .map_err(|_| PoolError::ConnectTimeout)??;
                    connected.store(true, Ordering::Relaxed);
                    match fresh {
                        Fresh::H2(sender) => {
                            self.with_origin(key, |o| o.h2 = Some(sender));
                            continue;
                        }
                        Fresh::H1(sender) => {
                            self.with_origin(key, |o| o.h1_known = true);
                            (sender, false)
                        }
                    }
                }
            };
            *request.uri_mut() = origin_form.clone();
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
                    return Ok((
                        response,
                        Release {
                            flag: Some(released),
                            _permit: Some(permit),
                        },
                    ));
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

    /// One request on the origin's HTTP/2 connection; the request comes
    /// back when it was never sent.
    async fn send_h2(
        &self,
        mut sender: http2::SendRequest<Body>,
        request: http::Request<Body>,
    ) -> Result<http::Response<Incoming>, (Option<http::Request<Body>>, hyper::Error)> {
        if let Err(e) = sender.ready().await {
            return Err((Some(request), e));
        }
        sender.try_send_request(request).await.map_err(|mut e| {
            let unsent = e.take_message();
            (unsent, e.into_error())
        })
    }
}
