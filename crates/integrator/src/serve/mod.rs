//! `integrator serve`: `<api context=..>` resources over HTTP, each request
//! running its resource's inSequence (and faultSequence) on a message made
//! from the request.

pub mod listener;
pub mod operator;
pub mod request;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::flow::redact::Redactor;
use crate::flow::Integrator;
use listener::{AcceptBackoff, ServerLimits, Verdict};
use request::Refusal;

fn error_body(kind: &str, message: &str) -> Value {
    json!({"error": {"kind": kind, "message": message}})
}

/// An answer: JSON body with every known secret redacted, the flow's
/// headers (a header HTTP cannot carry, e.g. one with CR/LF from upstream
/// data, turns the answer into a 502 naming it, not a silent empty 200).
pub fn answer(
    redactor: &Redactor,
    status: u16,
    body: &Value,
    headers: &[(String, String)],
) -> hyper::Response<Full<Bytes>> {
    let mut resp = hyper::Response::new(Full::new(Bytes::new()));
    let mut status = status;
    let mut body_text = body.to_string();
    for (k, v) in headers {
        match (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(&redactor.output(v)),
        ) {
            (Ok(name), Ok(value)) => {
                resp.headers_mut().append(name, value);
            }
            _ => {
                resp.headers_mut().clear();
                status = 502;
                body_text = error_body(
                    "invalid-response",
                    &format!("the flow set a response header `{k}` that HTTP cannot carry (control characters or an invalid name)"),
                )
                .to_string();
                break;
            }
        }
    }
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    *resp.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    *resp.body_mut() = Full::new(Bytes::from(redactor.output(&body_text)));
    resp
}

/// A plain error answer.
fn refuse(
    integrator: &Integrator,
    status: u16,
    kind: &str,
    message: &str,
    close: bool,
) -> hyper::Response<Full<Bytes>> {
    let mut r = answer(
        &integrator.redactor,
        status,
        &error_body(kind, message),
        &[],
    );
    if close {
        r.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    r
}

enum BodyError {
    TooLarge,
    Malformed,
    Busy,
}

/// Reads a request body within the per-request limit, holding its bytes
/// against the server-wide budget until the request is done.
async fn read_body(
    body: Incoming,
    limits: &ServerLimits,
    budget: &Arc<Semaphore>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), BodyError> {
    let mut body = body;
    let mut buf = BytesMut::new();
    let mut held: Option<OwnedSemaphorePermit> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Malformed)?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        if buf.len() + data.len() > limits.max_request_body {
            return Err(BodyError::TooLarge);
        }
        let n = u32::try_from(data.len()).map_err(|_| BodyError::TooLarge)?;
        let permit = budget
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| BodyError::Busy)?;
        match &mut held {
            Some(h) => h.merge(permit),
            None => held = Some(permit),
        }
        buf.extend_from_slice(data);
    }
    Ok((buf.freeze(), held))
}

async fn handle(
    integrator: Arc<Integrator>,
    limits: &ServerLimits,
    budget: &Arc<Semaphore>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if let Some(r) = operator::answer_for(&integrator, limits.metrics, &parts.method, &path).await {
        return r;
    }
    let refused = |r: Refusal| refuse(&integrator, r.status, r.kind, &r.message, r.close);
    let (resource, path_params) =
        match request::route(&integrator.project, parts.method.as_str(), &path) {
            Ok(found) => found,
            Err(r) => return refused(r),
        };
    if let Err(r) = request::check_declared_length(&parts.headers, limits.max_request_body) {
        return refused(r);
    }
    let (bytes, _held) =
        match tokio::time::timeout(limits.body_timeout, read_body(body, limits, budget)).await {
            Ok(Ok(read)) => read,
            Ok(Err(BodyError::TooLarge)) => {
                return refused(request::too_large(limits.max_request_body))
            }
            Ok(Err(BodyError::Malformed)) => return refuse(
                &integrator,
                400,
                "bad-request",
                "the request body is malformed (a bad chunk, or the connection ended inside it)",
                true,
            ),
            Ok(Err(BodyError::Busy)) => {
                let mut r = refuse(
                    &integrator,
                    503,
                    "busy",
                    "the server holds as many request bytes as it may at once: try again shortly",
                    true,
                );
                r.headers_mut()
                    .insert("retry-after", http::HeaderValue::from_static("1"));
                return r;
            }
            Err(_) => {
                return refuse(
                    &integrator,
                    408,
                    "request-timeout",
                    &format!(
                        "the request body did not arrive within {} s",
                        limits.body_timeout.as_secs_f64()
                    ),
                    true,
                )
            }
        };
    let mut msg = match request::message(&parts.uri, &parts.headers, path_params, &bytes) {
        Ok(msg) => msg,
        Err(r) => return refused(r),
    };
    tracing::info!(target: "integrator::serve", method = %parts.method, path, "request");
    match integrator
        .run_with_handler(
            &resource.in_sequence,
            resource.fault_sequence.as_ref(),
            &mut msg,
        )
        .await
    {
        Ok(()) => match msg.status() {
            Some(s) if !(200..=599).contains(&s) => refuse(
                &integrator,
                502,
                "invalid-response",
                &format!(
                    "the flow set HTTP_SC to {s}, which is not a final HTTP status (200 to 599)"
                ),
                false,
            ),
            status => answer(
                &integrator.redactor,
                status.unwrap_or(200),
                &msg.payload,
                &msg.response_headers,
            ),
        },
        Err(fault) => {
            eprintln!("{}", integrator.redactor.log_line(&fault.to_string()));
            refuse(
                &integrator,
                fault.kind.http_status(),
                fault.kind.as_str(),
                &fault.message,
                false,
            )
        }
    }
}

/// Serves until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    integrator: Arc<Integrator>,
    listener: TcpListener,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let slots = listener::connection_slots(&limits);
    let budget = Arc::new(Semaphore::new(limits.max_buffered_bytes));
    let limits = Arc::new(limits);
    let mut backoff = AcceptBackoff::new();
    loop {
        tokio::select! {
            stream = listener::accept(&listener, &mut backoff) => {
                let _ = stream.set_nodelay(true);
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    listener::refuse_busy(stream, limits.max_connections);
                    continue;
                };
                let (io, activity) = listener::watch(stream);
                let (integrator, seen, limits2, budget) =
                    (integrator.clone(), activity.clone(), limits.clone(), budget.clone());
                let service = service_fn(move |req| {
                    let (integrator, seen, limits, budget) =
                        (integrator.clone(), seen.clone(), limits2.clone(), budget.clone());
                    async move {
                        seen.request_started();
                        let started = std::time::Instant::now();
                        let metrics = integrator.runtime.metrics().clone();
                        let r = handle(integrator, &limits, &budget, req).await;
                        metrics.http_request(r.status().as_u16(), started.elapsed());
                        seen.request_done();
                        Ok::<_, Infallible>(r)
                    }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .max_buf_size(64 * 1024)
                    .serve_connection(io, service);
                let watched = graceful.watch(conn);
                let limits = (*limits).clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    tokio::select! {
                        _ = watched => {}
                        verdict = listener::watchdog(activity, limits) => {
                            // Dropping the connection closes it.
                            if let Verdict::SlowHead = verdict {
                                tracing::debug!(target: "integrator::serve", "closed a connection whose request head was too slow");
                            }
                        }
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {
            tracing::warn!(target: "integrator::serve", "requests still running after 30 s: stopping anyway");
        }
    }
    Ok(())
}

/// One line per served resource (`GET http://addr/x/me`), for the start-up message.
pub fn describe_routes(integrator: &Integrator, addr: SocketAddr) -> Vec<String> {
    let mut out = Vec::new();
    for api in &integrator.project.apis {
        for r in &api.resources {
            out.push(format!(
                "{} http://{addr}{}{}",
                r.methods.join(","),
                api.context,
                r.uri_template
            ));
        }
    }
    out
}
