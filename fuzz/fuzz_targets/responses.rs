//! Any answer X (or anything on its origin) could send: a status, headers
//! and a body. Reading it must give a typed result or error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twitter_connector::response;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let status = 100 + u16::from_le_bytes([data[0], data[1]]) % 500;
    // The next bytes, up to a NUL, are header lines `name: value`.
    let rest = &data[2..];
    let (head, body) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&[][..], rest),
    };
    let mut builder = http::Response::builder().status(status);
    for line in head.split(|b| *b == b'\n') {
        if let Some(i) = line.iter().position(|b| *b == b':') {
            let (name, value) = (&line[..i], &line[i + 1..]);
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name),
                http::HeaderValue::from_bytes(value.trim_ascii()),
            ) {
                builder = builder.header(n, v);
            }
        }
    }
    let Ok(resp) = builder.body(body.to_vec()) else {
        return;
    };
    // What the connector does with every answer, in its order.
    if json_budget::check(resp.body()).is_err() {
        return;
    }
    let _ = response::meta(&resp);
    if resp.status().is_success() {
        let _ = response::checked(&resp);
    } else {
        let e = response::error_for(&resp);
        let _ = e.to_string();
    }
});
