//! From an HTTP request to the message its resource's flow starts with:
//! the route (context, uri-template, method), the body read against its
//! declared type, the headers a flow may see. Pure (no I/O, no runtime), so
//! it is unit-tested and fuzzed (`crates/integrator/fuzz`, target `serve`)
//! on its own.

use serde_json::{Map, Value};

use crate::flow::parse::{Project, Resource};
use crate::flow::Message;

/// A request refused before its flow runs: the status, the error kind and
/// message of the JSON answer, and whether to close the connection (the
/// rest of what the client sends cannot be trusted to frame a request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
    pub close: bool,
}

impl Refusal {
    fn bad_request(message: String) -> Refusal {
        Refusal {
            status: 400,
            kind: "bad-request",
            message,
            close: true,
        }
    }
}

/// Matches `path` against a uri-template like `/tweets/{id}`; `/*` matches any rest.
pub fn match_template(template: &str, path: &str) -> Option<Map<String, Value>> {
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

/// The resource serving `method path`, with the path's parameters: 404
/// when no resource's template matches the path, 405 when one does but
/// not for this method.
pub fn route<'p>(
    project: &'p Project,
    method: &str,
    path: &str,
) -> Result<(&'p Resource, Map<String, Value>), Refusal> {
    let mut path_matched = false;
    for api in &project.apis {
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
    Err(Refusal {
        status: if path_matched { 405 } else { 404 },
        kind: "no-resource",
        message: format!("no resource for {method} {path}"),
        close: false,
    })
}

/// The answer to a body over `max` bytes.
pub fn too_large(max: usize) -> Refusal {
    Refusal {
        status: 413,
        kind: "too-large",
        message: format!("the request body is over {} KiB (its limit)", max / 1024),
        close: true,
    }
}

/// A `content-length` over `max` is refused before a byte of the body is read.
pub fn check_declared_length(headers: &http::HeaderMap, max: usize) -> Result<(), Refusal> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > max as u64 => Err(too_large(max)),
        _ => Ok(()),
    }
}

/// The message a flow starts with: the body as JSON when it parses (a body
/// that says it is JSON and does not parse is refused here, before any flow
/// reads a field of it as missing and says so), else as text; the headers
/// but the credentials; the path's and the query's parameters.
pub fn message(
    uri: &http::Uri,
    headers: &http::HeaderMap,
    path_params: Map<String, Value>,
    body: &[u8],
) -> Result<Message, Refusal> {
    let declared_json = headers
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
    let payload = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) if declared_json => {
                return Err(Refusal::bad_request(json_body_problem(body, &e)))
            }
            Err(_) => Value::String(String::from_utf8_lossy(body).into_owned()),
        }
    };
    Ok(Message {
        payload,
        headers: headers
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
        query_params: query_params(uri.query()),
        ..Message::default()
    })
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

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    http::HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn bodies_are_read_by_their_declared_type_and_credentials_stay_out() {
        let uri: http::Uri = "/x/me?a=1&b=%20".parse().unwrap();
        let json = headers(&[
            ("content-type", "application/vnd.x+json; charset=utf-8"),
            ("authorization", "Bearer secret"),
            ("cookie", "s=1"),
            ("x-trace", "t1"),
        ]);
        let m = message(&uri, &json, Map::new(), br#"{"text":"hi"}"#).unwrap();
        assert_eq!(m.payload["text"], "hi");
        assert_eq!(m.query_params["b"], " ");
        assert_eq!(
            m.headers.keys().collect::<Vec<_>>(),
            vec!["content-type", "x-trace"]
        );
        let e = message(&uri, &json, Map::new(), b"{\"text\":").unwrap_err();
        assert_eq!((e.status, e.kind, e.close), (400, "bad-request", true));
        assert!(e.message.contains("ends too early"), "{}", e.message);
        let e = message(&uri, &json, Map::new(), b"\"\xff\"").unwrap_err();
        assert!(e.message.contains("not UTF-8"), "{}", e.message);
        // Undeclared, the same bytes are text.
        let m = message(&uri, &headers(&[]), Map::new(), b"{\"text\":").unwrap();
        assert_eq!(m.payload, "{\"text\":");
        assert_eq!(
            check_declared_length(&headers(&[("content-length", "2048")]), 1024),
            Err(too_large(1024))
        );
    }
}
