//! The simulator's HTTP(S) server on loopback.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::body::SimBody;
use crate::state::{Action, Client, Fault, State, Stats, TokenPair};
use crate::Endpoint;

/// A self-signed certificate for `localhost` / `127.0.0.1`, so tests and
/// benchmarks exercise real TLS on loopback.
#[derive(Clone)]
pub struct Tls {
    /// PEM of the certificate; clients trust it as their root.
    /// (Errors while making it are strings: the simulator is test tooling.)
    pub cert_pem: String,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl Tls {
    /// HTTP/1.1 only, by ALPN.
    pub fn self_signed() -> Result<Self, String> {
        Self::self_signed_alpn(&[b"http/1.1"])
    }

    /// HTTP/2 and HTTP/1.1 by ALPN, as X offers them.
    pub fn self_signed_h2() -> Result<Self, String> {
        Self::self_signed_alpn(&[b"h2", b"http/1.1"])
    }

    fn self_signed_alpn(alpn: &[&[u8]]) -> Result<Self, String> {
        let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
        let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .map_err(|e| e.to_string())?;
        let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
        let der = rustls::pki_types::CertificateDer::from(cert.der().to_vec());
        let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| e.to_string())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(vec![der], key_der)
            .map_err(|e| e.to_string())?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Tls {
            cert_pem: cert.pem(),
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// A running simulator. Dropping it stops the server.
pub struct Simulator {
    addr: SocketAddr,
    tls: Option<Tls>,
    state: Arc<Mutex<State>>,
    connections: Arc<AtomicU64>,
    h2_connections: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
}

impl Simulator {
    /// Serves plain HTTP on `127.0.0.1` (a free port).
    pub async fn start() -> std::io::Result<Simulator> {
        Self::start_on("127.0.0.1:0", None).await
    }

    /// Serves HTTPS with a fresh self-signed certificate.
    pub async fn start_tls() -> std::io::Result<Simulator> {
        let tls = Tls::self_signed().map_err(std::io::Error::other)?;
        Self::start_on("127.0.0.1:0", Some(tls)).await
    }

    /// Serves HTTPS offering HTTP/2 (and HTTP/1.1) by ALPN, as X does.
    pub async fn start_tls_h2() -> std::io::Result<Simulator> {
        let tls = Tls::self_signed_h2().map_err(std::io::Error::other)?;
        Self::start_on("127.0.0.1:0", Some(tls)).await
    }

    pub async fn start_on(bind: &str, tls: Option<Tls>) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::new()));
        let connections = Arc::new(AtomicU64::new(0));
        let h2_connections = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(accept_loop(
            listener,
            tls.clone(),
            state.clone(),
            (connections.clone(), h2_connections.clone()),
            stopped,
        ));
        Ok(Simulator {
            addr,
            tls,
            state,
            connections,
            h2_connections,
            stop,
        })
    }

    /// Base URL to give the connector as `apiUrl`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The certificate (PEM) clients must trust, when serving TLS.
    pub fn cert_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.cert_pem.as_str())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers an app. `secret`: confidential client.
    pub fn add_client(&self, id: &str, secret: Option<&str>) {
        self.state().add_client(Client {
            id: id.into(),
            secret: secret.map(str::to_string),
            redirect_uris: Vec::new(),
        });
    }

    /// Registers a callback URL for an app, as in the developer portal.
    pub fn register_redirect_uri(&self, client_id: &str, uri: &str) {
        if let Some(c) = self.state().clients.get_mut(client_id) {
            c.redirect_uris.push(uri.into());
        }
    }

    /// What the simulated user does on the consent page from now on.
    pub fn set_consent(&self, consent: crate::Consent) {
        self.state().consent = consent;
    }

    /// Lifetime of authorization codes issued from now on (X: 30 s).
    pub fn set_code_ttl(&self, ttl: Duration) {
        self.state().code_ttl = ttl;
    }

    /// A fresh token family for the client, as after the user authorized it.
    pub fn issue_tokens(&self, client_id: &str) -> TokenPair {
        self.state().issue(client_id)
    }

    /// A family granted only `scope` (space-separated), as when the user
    /// authorized fewer scopes.
    pub fn issue_tokens_with_scope(&self, client_id: &str, scope: &str) -> TokenPair {
        self.state().issue_with_scope(client_id, scope)
    }

    /// An authorization code bound to the PKCE `code_challenge` (S256).
    pub fn authorize(
        &self,
        client_id: &str,
        redirect_uri: &str,
        code_challenge: &str,
        scope: &str,
    ) -> String {
        self.state()
            .authorize(client_id, redirect_uri, code_challenge, scope)
    }

    /// Lifetime (`expires_in`) of access tokens issued from now on.
    pub fn set_access_token_ttl(&self, ttl: Duration) {
        self.state().access_ttl = ttl;
    }

    pub fn expire_access_tokens(&self) {
        self.state().expire_access_tokens()
    }

    /// A budget of `limit` requests per `window` for an endpoint (a window of
    /// 24 hours reports `x-user-limit-24hour-*` headers, else `x-rate-limit-*`).
    pub fn set_rate_limit(&self, endpoint: Endpoint, limit: u32, window: Duration) {
        self.state().set_rate_limit(endpoint, limit, window)
    }

    /// X takes `latency` before it acts on each request to `endpoint` (`None`:
    /// at once). A client that goes away meanwhile leaves nothing done: a
    /// token request held this way never rotates the token.
    pub fn set_latency(&self, endpoint: Endpoint, latency: Option<Duration>) {
        self.state().set_latency(endpoint, latency)
    }

    /// A budget of one kind (window, user day, app day) for an endpoint.
    pub fn set_budget(
        &self,
        endpoint: Endpoint,
        which: crate::Budgeted,
        limit: u32,
        window: Duration,
    ) {
        self.state().set_budget(endpoint, which, limit, window)
    }

    /// Every endpoint's budgets as an access tier has them (Pro by default).
    pub fn set_tier(&self, tier: crate::Tier) {
        self.state().set_tier(tier)
    }

    /// Pay-per-use credits: this balance in micro-dollars (billing on).
    pub fn set_credits(&self, balance_micros: i64) {
        self.state().set_credits(balance_micros)
    }

    /// The credits left, when billing is on.
    pub fn credits(&self) -> Option<i64> {
        self.state().credits()
    }

    /// Turns the contract check off (benchmarks) or on (the default).
    pub fn set_contract_checks(&self, on: bool) {
        self.state().contract_checks = on;
    }

    /// Makes an endpoint one the app's tier does not include: X's 403
    /// `client-forbidden` with `reason: client-not-enrolled`.
    pub fn forbid_for_tier(&self, endpoint: Endpoint) {
        self.state().forbid_for_tier(endpoint)
    }

    /// An Enterprise app: X's rule on programmatic replies and the removal
    /// of quote posts from self-serve plans do not apply.
    pub fn set_enterprise(&self, on: bool) {
        self.state().enterprise = on;
    }

    /// Media ids usable in posts as if uploaded and processed (tests that
    /// post media without uploading it).
    pub fn add_media(&self, ids: &[&str]) {
        self.state().add_media(ids)
    }

    /// Status polls a video or GIF upload needs before it is processed.
    pub fn set_media_processing_polls(&self, polls: u32) {
        self.state().media_polls = polls;
    }

    /// Queues a fault for the next request to `endpoint`.
    pub fn push_fault(&self, endpoint: Endpoint, fault: Fault) {
        self.state().push_fault(endpoint, fault)
    }

    /// Drops every queued fault (those no request consumed).
    pub fn clear_faults(&self) {
        self.state().clear_faults()
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.state().stats.clone();
        s.connections = self.connections.load(Ordering::SeqCst);
        s.h2_connections = self.h2_connections.load(Ordering::SeqCst);
        s
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        // With the `contract` feature (tests), an answer that broke X's
        // contract fails the test that made it.
        #[cfg(feature = "contract")]
        {
            let broken = std::mem::take(&mut self.state().stats.contract_violations);
            if !broken.is_empty() && !std::thread::panicking() {
                panic!("the simulator broke X's contract:\n{}", broken.join("\n"));
            }
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<Tls>,
    state: Arc<Mutex<State>>,
    (connections, h2_connections): (Arc<AtomicU64>, Arc<AtomicU64>),
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(_) => continue,
            },
            _ = stopped.changed() => return,
        };
        connections.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let tls = tls.clone();
        let mut stop = stopped.clone();
        let h2_connections = h2_connections.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(state.clone(), req));
            let builder = hyper::server::conn::http1::Builder::new();
            match tls {
                Some(tls) => {
                    let Ok(stream) = tls.acceptor.accept(stream).await else {
                        return;
                    };
                    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                        h2_connections.fetch_add(1, Ordering::SeqCst);
                        let conn = hyper::server::conn::http2::Builder::new(
                            hyper_util::rt::TokioExecutor::new(),
                        )
                        .serve_connection(TokioIo::new(stream), service);
                        tokio::select! { _ = conn => {}, _ = stop.changed() => {} }
                        return;
                    }
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    tokio::select! { _ = conn => {}, _ = stop.changed() => {} }
                }
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    tokio::select! { _ = conn => {}, _ = stop.changed() => {} }
                }
            }
        });
    }
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for Dropped {}

/// Counts a request in flight until it is answered or abandoned (hyper drops
/// the handler when the client goes away).
struct InFlight {
    state: Arc<Mutex<State>>,
    endpoint: Endpoint,
}

impl InFlight {
    fn begin(state: &Arc<Mutex<State>>, endpoint: Endpoint) -> (InFlight, Option<Duration>) {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.begin_request(endpoint);
        let latency = s.latency(endpoint);
        (
            InFlight {
                state: state.clone(),
                endpoint,
            },
            latency,
        )
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.end_request(self.endpoint);
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<SimBody>, Dropped> {
    let (parts, body) = req.into_parts();
    let body: Bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    let _in_flight = match crate::Endpoint::of(parts.method.as_str(), parts.uri.path()) {
        Some(endpoint) => {
            let (guard, latency) = InFlight::begin(&state, endpoint);
            // X's own latency comes before it acts: dropped with the
            // connection, the request leaves no trace (no rotation).
            if let Some(d) = latency {
                tokio::time::sleep(d).await;
            }
            Some(guard)
        }
        None => None,
    };
    let reply = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.handle(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
            &body,
        )
    };
    if let Some(d) = reply.delay {
        tokio::time::sleep(d).await;
    }
    let mut builder = hyper::Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        builder = builder.header(k, v);
    }
    let body = match reply.action {
        Action::Drop => return Err(Dropped),
        Action::Respond => SimBody::full(reply.body),
        Action::Stall(pause) => {
            builder = builder.header("content-length", reply.body.len().to_string());
            SimBody::stalled(reply.body, pause)
        }
        Action::Truncate => {
            builder = builder.header("content-length", (reply.body.len() + 100).to_string());
            SimBody::truncated(reply.body)
        }
    };
    builder.body(body).map_err(|_| Dropped)
}
