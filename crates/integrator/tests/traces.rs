//! Traces over OTLP: `integrator run` with OTEL_EXPORTER_OTLP_ENDPOINT set
//! sends one span per flow and one per X call to a collector (here a
//! loopback stand-in that records what it receives), the calls children of
//! the flow, with names and outcomes and no token anywhere.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use support::*;

/// What a collector received: path, content type, body.
type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

fn collector() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let got: Received = Arc::default();
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            let path = line.split(' ').nth(1).unwrap_or("").to_string();
            let (mut len, mut content_type) = (0usize, String::new());
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let lower = h.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if let Some(v) = lower.strip_prefix("content-type:") {
                    content_type = v.trim().to_string();
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let json = content_type.contains("json");
            sink.lock().unwrap().push((path, content_type, body));
            let (ct, answer) = if json {
                ("application/json", "{}")
            } else {
                ("application/x-protobuf", "")
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: {ct}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, got)
}

struct Span {
    name: String,
    trace: String,
    id: String,
    parent: String,
    attrs: Value,
    status: i64,
}

fn spans(got: &Received) -> Vec<Span> {
    let mut out = Vec::new();
    for (path, _, body) in got.lock().unwrap().iter() {
        assert_eq!(path, "/v1/traces");
        let v: Value = serde_json::from_slice(body).unwrap();
        for rs in v["resourceSpans"].as_array().unwrap() {
            let service = rs["resource"]["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["key"] == "service.name")
                .map(|a| a["value"]["stringValue"].clone());
            assert_eq!(service, Some(Value::from("integrator")));
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for s in ss["spans"].as_array().unwrap() {
                    let mut attrs = serde_json::Map::new();
                    for a in s["attributes"].as_array().into_iter().flatten() {
                        let v = &a["value"];
                        let v = v
                            .get("stringValue")
                            .or(v.get("intValue"))
                            .or(v.get("boolValue"))
                            .cloned()
                            .unwrap_or(Value::Null);
                        attrs.insert(a["key"].as_str().unwrap().to_string(), v);
                    }
                    out.push(Span {
                        name: s["name"].as_str().unwrap().to_string(),
                        trace: s["traceId"].as_str().unwrap_or("").to_string(),
                        id: s["spanId"].as_str().unwrap_or("").to_string(),
                        parent: s["parentSpanId"].as_str().unwrap_or("").to_string(),
                        attrs: Value::Object(attrs),
                        status: s["status"]["code"].as_i64().unwrap_or(0),
                    });
                }
            }
        }
    }
    out
}

fn run_main(live: &LiveSim, refresh: &str, otel: &[(&str, &str)]) -> std::process::Output {
    let url = live.sim.url();
    let mut env = vec![
        ("X_API_URL", url.as_str()),
        ("X_CLIENT_ID", "cli-client"),
        ("X_REFRESH_TOKEN", refresh),
        ("INTEGRATOR_TOKEN_STORE", "memory"),
    ];
    env.extend_from_slice(otel);
    run(&["run", "examples/main.xml"], &env)
}

#[test]
fn one_span_per_flow_and_per_x_call_with_no_token_in_them() {
    let live = LiveSim::start();
    let pair = live.sim.issue_tokens("cli-client");
    let (endpoint, got) = collector();
    let o = run_main(
        &live,
        &pair.refresh_token,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let spans = spans(&got);
    let flow: Vec<&Span> = spans.iter().filter(|s| s.name == "flow main").collect();
    assert_eq!(
        flow.len(),
        1,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let flow = flow[0];
    assert_eq!(flow.attrs["flow.sequence"], "main");
    assert!(flow.parent.is_empty(), "the flow is the root");
    let calls: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name.starts_with("twitter."))
        .collect();
    let names: Vec<&str> = calls.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for op in ["getMe", "createTweet", "deleteTweet"] {
        let c = calls
            .iter()
            .find(|s| s.name == format!("twitter.{op}"))
            .unwrap_or_else(|| panic!("no span for {op}: {names:?}"));
        assert_eq!(
            (c.trace.as_str(), c.parent.as_str()),
            (flow.trace.as_str(), flow.id.as_str())
        );
        assert_eq!(c.attrs["operation"], op);
        assert_eq!(c.attrs["connection"], "X_CONNECTION");
        assert_eq!(c.attrs["outcome"], "ok");
        assert_ne!(c.status, 2, "not an error");
    }
    let post = calls
        .iter()
        .find(|s| s.name == "twitter.createTweet")
        .unwrap();
    assert_eq!(
        post.attrs["http.response.status_code"]
            .to_string()
            .trim_matches('"'),
        "201"
    );
    // No token in anything sent to the collector.
    let st = live.sim.stats();
    let all: Vec<u8> = got
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, _, b)| b.clone())
        .collect();
    let text = String::from_utf8_lossy(&all);
    for t in st
        .tokens_issued
        .iter()
        .chain([&pair.refresh_token, &pair.access_token])
    {
        assert!(!text.contains(t.as_str()), "a token in the traces");
    }
}

#[test]
fn a_failed_call_is_an_error_span_and_protobuf_is_the_default() {
    let live = LiveSim::start();
    let (endpoint, got) = collector();
    // A refresh token X never issued: the first call fails, main's
    // onError sequence catches it (exit 3).
    let o = run_main(
        &live,
        "not-a-token-x-issued",
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let received = got.lock().unwrap().clone();
    assert!(!received.is_empty(), "no traces sent");
    for (path, content_type, body) in &received {
        assert_eq!(path, "/v1/traces");
        assert_eq!(content_type, "application/x-protobuf");
        let text = String::from_utf8_lossy(body);
        assert!(
            text.contains("twitter.getMe") && text.contains("flow main"),
            "{text}"
        );
        assert!(text.contains("refresh-failed"), "the outcome is in it");
        assert!(
            !text.contains("not-a-token-x-issued"),
            "a token in the traces"
        );
    }
}
