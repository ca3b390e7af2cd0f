//! `integrator serve`: `<api context=..>` resources over HTTP, each request
//! running its resource's inSequence (and faultSequence) on a message made
//! from the request.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

use super::exec::{Fault, Integrator, Message};
use super::parse::Resource;

/// Request bodies above this are refused with 413.
const MAX_REQUEST_BODY: usize = 1 << 20;

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

fn json_response(
    status: u16,
    body: &Value,
    headers: &[(String, String)],
) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::from_static(b"{}"))))
}

/// The HTTP status an uncaught fault answers with.
fn fault_status(f: &Fault) -> u16 {
    match f.kind.as_str() {
        "invalid-input" => 400,
        "unauthorized" | "refresh-failed" => 401,
        "forbidden" => 403,
        "not-found" => 404,
        "rate-limited" => 429,
        "transport" | "malformed-response" | "api-error" => 502,
        _ => 500,
    }
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

async fn handle(
    integrator: Arc<Integrator>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let (resource, path_params) = match find(&integrator, parts.method.as_str(), &path) {
        Ok(found) => found,
        Err(status) => {
            return json_response(
                status,
                &json!({"error": {"kind": "no-resource", "message": format!("no resource for {} {path}", parts.method)}}),
                &[],
            )
        }
    };
    let bytes = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return json_response(
                413,
                &json!({"error": {"kind": "too-large", "message": "request body over 1 MiB"}}),
                &[],
            )
        }
    };
    let payload = if bytes.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => v,
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
        Ok(()) => json_response(
            msg.status().unwrap_or(200),
            &msg.payload,
            &msg.response_headers,
        ),
        Err(fault) => {
            eprintln!("{}", integrator.redactor.redact(&fault.to_string()));
            json_response(
                fault_status(&fault),
                &json!({"error": {"kind": fault.kind, "message": fault.message}}),
                &[],
            )
        }
    }
}

/// Serves until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    integrator: Arc<Integrator>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(target: "integrator::serve", "accept failed: {e}");
                        continue;
                    }
                };
                let integrator = integrator.clone();
                let service = service_fn(move |req| {
                    let integrator = integrator.clone();
                    async move { Ok::<_, Infallible>(handle(integrator, req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                let watched = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = watched.await;
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
