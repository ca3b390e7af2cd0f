//! `integrator serve`: `<api context=..>` resources over HTTP, each request
//! running its resource's inSequence (and faultSequence) on a message made
//! from the request.

pub mod listener;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::flow::parse::Resource;
use crate::flow::{Integrator, Message};
use listener::{AcceptBackoff, ServerLimits, Verdict};

/// Matches `path` against a uri-template like `/tweets/{id}`; `/*` matches any rest.
fn match_template(template: &str, path: &str) -> Option<Map<String, Value>> {
    let template = template.split('?').next().unwrap_or("/");
    let t: Vec<&str> = template
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let p: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let mut params = Map::new();
    for (i, seg) in t.iter().enumerate() {
        if *seg == "*" {
            return Some(params);
        }
        let actual = p.get(i)?;
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            params.insert(name.to_string(), Value::String(percent_decode(actual)));
        } else if seg != actual {
            return None;
        }
    }
    (t.len() == p.len()).then_some(params)
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn query_params(q: Option<&str>) -> Map<String, Value> {
    form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect()
}

fn error_body(kind: &str, message: &str) -> Value {
    json!({"error": {"kind": kind, "message": message}})
}

/// An answer: JSON body with every known secret redacted, the flow's
/// headers (a header HTTP cannot carry, e.g. one with CR/LF from upstream
/// data, turns the answer into a 502 naming it, not a silent empty 200).
fn answer(
    integrator: &Integrator,
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
            http::HeaderValue::from_str(&integrator.redactor.output(v)),
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
    *resp.body_mut() = Full::new(Bytes::from(integrator.redactor.output(&body_text)));
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
    let mut r = answer(integrator, status, &error_body(kind, message), &[]);
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

fn find<'a>(
    integrator: &'a Integrator,
    method: &str,
    path: &str,
) -> Result<(&'a Resource, Map<String, Value>), u16> {
    let mut path_matched = false;
    for api in &integrator.project.apis {
        let Some(rest) = path.strip_prefix(api.context.as_str()) else {
            continue;
        };
        if !(rest.is_empty() || rest.starts_with('/')) {
            continue;
        }
        for r in &api.resources {
            if let Some(params) = match_template(&r.uri_template, rest) {
                path_matched = true;
                if r.methods.iter().any(|m| m == method) {
                    return Ok((r, params));
                }
            }
        }
    }
    Err(if path_matched { 405 } else { 404 })
}

/// Today's spend and budget left per connection (JSON), for operators; a
/// path no flow's API is expected to use.
pub const SPEND_STATUS_PATH: &str = "/_integrator/spend";

async fn handle(
    integrator: Arc<Integrator>,
    limits: &ServerLimits,
    budget: &Arc<Semaphore>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if path == SPEND_STATUS_PATH && parts.method == http::Method::GET {
        return match integrator.spend_status() {
            Ok(v) => answer(&integrator, 200, &v, &[]),
            Err(e) => refuse(&integrator, 503, "token-store", &e.to_string(), false),
        };
    }
    let (resource, path_params) = match find(&integrator, parts.method.as_str(), &path) {
        Ok(found) => found,
        Err(status) => {
            return refuse(
                &integrator,
                status,
                "no-resource",
                &format!("no resource for {} {path}", parts.method),
                false,
            )
        }
    };
    let max = limits.max_request_body;
    let too_large = format!("the request body is over {} KiB (its limit)", max / 1024);
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return refuse(&integrator, 413, "too-large", &too_large, true);
    }
    let (bytes, _held) =
        match tokio::time::timeout(limits.body_timeout, read_body(body, limits, budget)).await {
            Ok(Ok(read)) => read,
            Ok(Err(BodyError::TooLarge)) => {
                return refuse(&integrator, 413, "too-large", &too_large, true)
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
    let declared_json = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|ct| ct == "application/json" || ct.ends_with("+json"));
    let payload = if bytes.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            // A body that says it is JSON and is not is refused here, before
            // any flow reads a field of it as missing and says so.
            Err(e) if declared_json => {
                return refuse(
                    &integrator,
                    400,
                    "bad-request",
                    &json_body_problem(&bytes, &e),
                    true,
                )
            }
            Err(_) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
        }
    };
    let mut msg = Message {
        payload,
        headers: parts
            .headers
            .iter()
            .filter(|(k, _)| *k != http::header::AUTHORIZATION && *k != http::header::COOKIE)
            .filter_map(|(k, v)| {
                Some((
                    k.as_str().to_string(),
                    Value::String(v.to_str().ok()?.to_string()),
                ))
            })
            .collect(),
        path_params,
        query_params: query_params(parts.uri.query()),
        ..Message::default()
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
                &integrator,
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
                        let r = handle(integrator, &limits, &budget, req).await;
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

/// Why a body declared as JSON could not be read, in words for the client.
fn json_body_problem(bytes: &[u8], e: &serde_json::Error) -> String {
    if let Err(bad) = std::str::from_utf8(bytes) {
        return format!(
            "the request body is not UTF-8 (an invalid byte at offset {})",
            bad.valid_up_to()
        );
    }
    if e.to_string().contains("recursion limit") {
        return "the request body's JSON is nested too deeply (at most 128 levels)".into();
    }
    format!(
        "the request body is not valid JSON (line {}, column {}: {})",
        e.line(),
        e.column(),
        match e.classify() {
            serde_json::error::Category::Eof => "it ends too early",
            serde_json::error::Category::Syntax => "a syntax error",
            _ => "unreadable",
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let p = match_template("/tweets/{id}", "/tweets/123").unwrap();
        assert_eq!(p["id"], "123");
        assert!(match_template("/tweets/{id}", "/tweets").is_none());
        assert!(match_template("/me", "/me").unwrap().is_empty());
        assert!(match_template("/", "").is_some());
        assert!(match_template("/*", "/a/b").is_some());
        assert_eq!(match_template("/s/{q}", "/s/a%20b").unwrap()["q"], "a b");
    }
}
