//! Any request to `serve` (method, target, headers, body) against the
//! routes of examples/api.xml: routed or refused with 404/405, its body
//! read or refused with 400 naming the problem, and an answer echoing its
//! query as response headers made or turned into a 502; never a panic.
//! Input: one byte choosing the method, the request target up to the first
//! newline, `name: value` header lines up to an empty line, then the body.
#![no_main]

use std::sync::OnceLock;

use integrator::descriptor;
use integrator::flow::parse::Project;
use integrator::flow::redact::Redactor;
use integrator::serve::{answer, request};
use libfuzzer_sys::fuzz_target;

const MAX_BODY: usize = 64 * 1024;

fn project() -> &'static Project {
    static P: OnceLock<Project> = OnceLock::new();
    P.get_or_init(|| {
        let (d, _) = descriptor::parse(include_str!("../../../../connector.xml"), "connector.xml")
            .expect("connector.xml parses");
        integrator::flow::check_source("api.xml", include_str!("../../../../examples/api.xml"), &d)
            .expect("examples/api.xml is a valid flow")
    })
}

/// The next line of `data` from `at`, and where the one after it starts.
fn line(data: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = data.get(at..)?;
    let end = rest.iter().position(|b| *b == b'\n')?;
    Some((&rest[..end], at + end + 1))
}

fuzz_target!(|data: &[u8]| {
    let Some((&m, _)) = data.split_first() else {
        return;
    };
    let method = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"][usize::from(m) % 6];
    let Some((target, mut at)) = line(data, 1) else {
        return;
    };
    // A target or header hyper would not parse never reaches the handler.
    let Ok(uri) = http::Uri::try_from(target) else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    while let Some((l, next)) = line(data, at) {
        at = next;
        if l.is_empty() {
            break;
        }
        let Some(colon) = l.iter().position(|b| *b == b':') else {
            return;
        };
        let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(&l[..colon]),
            http::HeaderValue::from_bytes(l[colon + 1..].trim_ascii()),
        ) else {
            return;
        };
        headers.append(name, value);
    }
    let body = data.get(at..).unwrap_or_default();

    let (_, path_params) = match request::route(project(), method, uri.path()) {
        Ok(found) => found,
        Err(r) => {
            assert!(r.status == 404 || r.status == 405, "{r:?}");
            return;
        }
    };
    if request::check_declared_length(&headers, MAX_BODY).is_err() || body.len() > MAX_BODY {
        return;
    }
    match request::message(&uri, &headers, path_params, body) {
        Ok(msg) => {
            assert!(!msg.headers.contains_key("authorization"));
            assert!(!msg.headers.contains_key("cookie"));
            let echoed: Vec<(String, String)> = msg
                .query_params
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            let r = answer(&Redactor::default(), 200, &msg.payload, &echoed);
            assert!(r.status() == 200 || r.status() == 502, "{}", r.status());
        }
        Err(r) => assert_eq!((r.status, r.kind), (400, "bad-request"), "{r:?}"),
    }
});
