//! Our `wasi:http/outgoing-handler.handle`.
//!
//! wasmtime-wasi-http's own `handle` (http_impl.rs in 48.0) is synchronous:
//! it spawns the send as a tokio task, plus a second task for the
//! connection's I/O future, and the guest then polls the future through
//! `subscribe` + `poll` + `get`. For the connector's body-less requests
//! (getMe, deleteTweet) that is two task spawns, a cross-task wake-up and
//! four host calls per request with nothing to overlap. Here `handle` is an
//! async host function: a request without a body is sent in place and the
//! guest gets back a future that is already resolved. A request with a body
//! keeps the spawned path, since its body is written after `handle` returns.
//!
//! Everything else of `wasi:http/types` stays wasmtime-wasi-http's; the
//! request goes through the same [`WasiHttpHooks::send_request`]
//! (allowlist, timeouts, pooled client) either way.

use std::pin::Pin;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::runtime::AbortOnDropJoinHandle;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Method, Scheme};
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, HostOutgoingRequest};
use wasmtime_wasi_http::{RequestOptions, WasiHttpHooks};

use crate::bindings::wasi::http::outgoing_handler::Host;
use crate::egress::Outbound;

/// `Content-Length`, if present and well-formed (RFC 9110: `1*DIGIT`, once).
/// wasmtime-wasi-http's own check is private; a malformed value must not
/// reach the wire, since the body's framing depends on it.
fn content_length(headers: &http::HeaderMap) -> Result<Option<u64>, ErrorCode> {
    let mut values = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    let invalid = || ErrorCode::InternalError(Some("invalid content-length".into()));
    if values.next().is_some() {
        return Err(invalid());
    }
    let v = v.as_bytes();
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    std::str::from_utf8(v)
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(invalid)
}

fn method(m: Method) -> Result<http::Method, ErrorCode> {
    Ok(match m {
        Method::Get => http::Method::GET,
        Method::Head => http::Method::HEAD,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Delete => http::Method::DELETE,
        Method::Connect => http::Method::CONNECT,
        Method::Options => http::Method::OPTIONS,
        Method::Trace => http::Method::TRACE,
        Method::Patch => http::Method::PATCH,
        Method::Other(m) => http::Method::from_bytes(m.as_bytes())
            .map_err(|_| ErrorCode::HttpRequestMethodInvalid)?,
    })
}

/// The guest's request as a hyper request, checked the way wasmtime-wasi-http
/// checks it. The bool says whether it has a body.
fn to_hyper(
    req: HostOutgoingRequest,
    hooks: &mut dyn WasiHttpHooks,
) -> Result<
    (
        http::Request<wasmtime_wasi_http::p2::body::HyperOutgoingBody>,
        bool,
    ),
    ErrorCode,
> {
    if req.body.is_none() && content_length(&req.headers)?.is_some_and(|n| n != 0) {
        return Err(ErrorCode::HttpRequestBodySize(Some(0)));
    }
    let scheme = match req.scheme {
        Some(Scheme::Http) => http::uri::Scheme::HTTP,
        Some(Scheme::Https) => http::uri::Scheme::HTTPS,
        Some(Scheme::Other(s)) => {
            http::uri::Scheme::try_from(s.as_str()).map_err(|_| ErrorCode::HttpProtocolError)?
        }
        None => hooks.default_scheme().ok_or(ErrorCode::HttpProtocolError)?,
    };
    if !hooks.is_supported_scheme(&scheme) {
        return Err(ErrorCode::HttpProtocolError);
    }
    let authority = req.authority.unwrap_or_default();
    let mut uri = http::Uri::builder()
        .scheme(scheme)
        .authority(authority.as_str());
    if let Some(path) = req.path_with_query {
        uri = uri.path_and_query(path);
    }
    let uri = uri.build().map_err(|_| ErrorCode::HttpRequestUriInvalid)?;
    let mut builder = http::Request::builder()
        .method(method(req.method)?)
        .uri(uri);
    if hooks.set_host_header() {
        builder = builder.header(http::header::HOST, authority.as_str());
    }
    let has_body = req.body.is_some();
    let body = match req.body {
        Some(body) => body,
        None => Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync(),
    };
    let mut request = builder
        .body(body)
        .map_err(|e| ErrorCode::InternalError(Some(e.to_string())))?;
    // The guest's fields were validated as they were set.
    request
        .headers_mut()
        .extend(req.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok((request, has_body))
}

/// What `handle` works on: a view of the instance's state, as
/// wasmtime-wasi-http's `WasiHttpCtxView` is (so this module does not
/// depend on the state that holds it).
pub struct OutgoingView<'a> {
    pub table: &'a mut ResourceTable,
    pub outbound: &'a mut Outbound,
    pub workers: &'a mut WorkerStock,
}

/// The `HasData` of the outgoing-handler import, for the linker.
pub struct Outgoing;

impl wasmtime::component::HasData for Outgoing {
    type Data<'a> = OutgoingView<'a>;
}

impl Host for OutgoingView<'_> {
    async fn handle(
        &mut self,
        request: Resource<HostOutgoingRequest>,
        options: Option<Resource<RequestOptions>>,
    ) -> wasmtime::Result<Result<Resource<HostFutureIncomingResponse>, ErrorCode>> {
        // The options are the guest's to give away: take them out of the table.
        let options = match options {
            Some(o) => Some(self.table.delete(o)?),
            None => None,
        };
        let request = self.table.delete(request)?;
        let (request, has_body) = match to_hyper(request, self.outbound) {
            Ok(r) => r,
            Err(code) => return Ok(Err(code)),
        };
        // `Outbound` drives its connections in the pooled client's own tasks:
        // the I/O future a hook may return is a no-op here and is not run.
        let no_io = Box::new(async { Ok(()) });
        let send = self.outbound.send_request(request, options, no_io);
        let worker = self.workers.take();
        let future = if has_body {
            // The guest writes the body after `handle` returns: send in a task.
            HostFutureIncomingResponse::Pending(wasmtime_wasi::runtime::spawn(async move {
                let (resp, _io) = Pin::from(send).await?;
                Ok((resp, worker))
            }))
        } else {
            HostFutureIncomingResponse::Ready(
                Pin::from(send).await.map(|(resp, _io)| (resp, worker)),
            )
        };
        Ok(Ok(self.table.push(future)?))
    }
}

/// Handles of finished no-op tasks, spawned a batch at a time.
///
/// wasmtime-wasi-http's response type carries the handle of a task that
/// drives the connection (`AbortOnDropJoinHandle<()>`), even for a hook like
/// ours that has none. Spawning a no-op task per request costs a scheduler
/// round, and on the multi-threaded runtime it usually wakes an idle worker
/// (the new task displaces the one in the LIFO slot, which makes it
/// stealable): a futex wake and a cross-thread steal per request. A batch
/// pays that once per [`WorkerStock::BATCH`] requests (256 finished tasks are
/// about 50 KiB per instance; 64 still left the multi-thread bench 0.05x slower).
#[derive(Default)]
pub struct WorkerStock(Vec<AbortOnDropJoinHandle<()>>);

impl WorkerStock {
    const BATCH: usize = 256;

    fn take(&mut self) -> AbortOnDropJoinHandle<()> {
        if self.0.is_empty() {
            self.0
                .extend((0..Self::BATCH).map(|_| wasmtime_wasi::runtime::spawn(async {})));
        }
        self.0.pop().expect("a batch was just spawned")
    }
}
