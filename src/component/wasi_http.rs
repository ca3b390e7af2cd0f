//! wasi:http as the connector's [`HttpClient`]: one outgoing request per
//! call, body written after `handle`, response read with a size cap.

use std::time::Duration;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;

use crate::error::{TransportError, TransportKind};
use crate::http::{HttpClient, Request, Response, MAX_BODY_BYTES};

pub(super) struct WasiHttp;

/// A host's error text as a cause: its first line, at most 200 characters.
/// Hosts render errors with `{:?}`, which carries a whole backtrace when
/// the host runs with RUST_BACKTRACE set; that must never reach an answer.
fn host_text(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    let mut out: String = line.chars().take(200).collect();
    if out.len() < line.len() {
        out.push('…');
    }
    out
}

fn transport(kind: TransportKind, cause: impl Into<String>) -> TransportError {
    TransportError::new(kind, cause)
}

fn from_error_code(code: &ErrorCode) -> TransportError {
    use ErrorCode as E;
    let kind = match code {
        E::DnsTimeout | E::DnsError(_) => TransportKind::Dns,
        E::DestinationNotFound
        | E::DestinationUnavailable
        | E::DestinationIpProhibited
        | E::DestinationIpUnroutable
        | E::ConnectionRefused => TransportKind::Connect,
        E::ConnectionTerminated | E::HttpResponseIncomplete | E::HttpProtocolError => {
            TransportKind::Reset
        }
        E::ConnectionTimeout | E::ConnectionReadTimeout | E::ConnectionWriteTimeout => {
            TransportKind::Timeout
        }
        E::TlsProtocolError | E::TlsCertificateError | E::TlsAlertReceived(_) => TransportKind::Tls,
        E::HttpRequestDenied => TransportKind::Denied,
        E::HttpResponseBodySize(_) | E::HttpResponseHeaderSectionSize(_) => TransportKind::TooLarge,
        _ => TransportKind::Other,
    };
    transport(kind, host_text(&format!("{code:?}")))
}

fn stream_error(e: StreamError, what: &str) -> TransportError {
    match e {
        StreamError::Closed => transport(TransportKind::Reset, format!("{what}: stream closed")),
        StreamError::LastOperationFailed(err) => match wasip2::http::types::http_error_code(&err) {
            Some(code) => from_error_code(&code),
            None => {
                // Hosts do not always attach an error code to a stream error;
                // their text still tells a stall from a cut.
                let text = host_text(&err.to_debug_string());
                let lower = text.to_ascii_lowercase();
                let kind = if lower.contains("timeout") || lower.contains("timed out") {
                    TransportKind::Timeout
                } else if lower.contains("body size") || lower.contains("too large") {
                    TransportKind::TooLarge
                } else {
                    TransportKind::Reset
                };
                transport(kind, format!("{what}: {text}"))
            }
        },
    }
}

fn method(m: &http::Method) -> Method {
    match *m {
        http::Method::GET => Method::Get,
        http::Method::POST => Method::Post,
        http::Method::PUT => Method::Put,
        http::Method::DELETE => Method::Delete,
        http::Method::PATCH => Method::Patch,
        http::Method::HEAD => Method::Head,
        http::Method::OPTIONS => Method::Options,
        ref other => Method::Other(other.as_str().to_string()),
    }
}

impl HttpClient for WasiHttp {
    fn send(&self, request: Request, timeout: Duration) -> Result<Response, TransportError> {
        let (parts, body) = request.into_parts();
        let other = |what: &str| transport(TransportKind::Other, what.to_string());
        // Fields first, then the request that takes ownership of them.
        let mut headers: Vec<(String, Vec<u8>)> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
            .collect();
        // A known length lets the host send head and body in one write
        // instead of chunked encoding with a separate terminating chunk.
        if !body.is_empty() && !parts.headers.contains_key(http::header::CONTENT_LENGTH) {
            headers.push(("content-length".into(), body.len().to_string().into_bytes()));
        }
        let fields = Fields::from_list(&headers)
            .map_err(|e| transport(TransportKind::Other, format!("header refused: {e:?}")))?;
        let req = OutgoingRequest::new(fields);
        // A new outgoing-request is a GET (wasi:http types.wit): one host
        // call fewer on the getMe path.
        if parts.method != http::Method::GET {
            req.set_method(&method(&parts.method))
                .map_err(|_| other("method refused"))?;
        }
        let scheme = match parts.uri.scheme_str() {
            Some("http") => Scheme::Http,
            _ => Scheme::Https,
        };
        req.set_scheme(Some(&scheme))
            .map_err(|_| other("scheme refused"))?;
        req.set_authority(parts.uri.authority().map(|a| a.as_str()))
            .map_err(|_| other("authority refused"))?;
        req.set_path_with_query(parts.uri.path_and_query().map(|p| p.as_str()))
            .map_err(|_| other("path refused"))?;
        let options = RequestOptions::new();
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        // A host that does not support an option refuses it; the call still
        // has the host's own limits then.
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));
        // A request without a body never takes its body stream: the host then
        // sends it as empty at once, with no stream to drain or finish.
        let outgoing_body = if body.is_empty() {
            None
        } else {
            Some(req.body().map_err(|_| other("request body taken twice"))?)
        };
        // handle() before writing the body: the host starts the request and
        // streams the body as it is written.
        let future =
            outgoing_handler::handle(req, Some(options)).map_err(|e| from_error_code(&e))?;
        let finished = match outgoing_body {
            None => Ok(()),
            Some(outgoing_body) => (|| {
                {
                    let stream = outgoing_body
                        .write()
                        .map_err(|_| other("request body stream taken twice"))?;
                    // blocking-write-and-flush takes at most 4096 bytes per call.
                    for chunk in body.chunks(4096) {
                        stream
                            .blocking_write_and_flush(chunk)
                            .map_err(|e| stream_error(e, "writing the request body"))?;
                    }
                }
                OutgoingBody::finish(outgoing_body, None).map_err(|e| from_error_code(&e))
            })(),
        };
        let response = loop {
            match future.get() {
                Some(Ok(r)) => break r,
                Some(Err(())) => return Err(other("response taken twice")),
                None => future.subscribe().block(),
            }
        };
        // When the request failed (refused, TLS, denied), the body stream
        // closes too: the response's error is the one that tells why.
        let incoming = match (response, finished) {
            (Err(code), _) => return Err(from_error_code(&code)),
            (Ok(_), Err(write_error)) => return Err(write_error),
            (Ok(resp), Ok(())) => resp,
        };
        let status = http::StatusCode::from_u16(incoming.status())
            .map_err(|_| other("response status out of range"))?;
        let entries = incoming.headers().entries();
        let mut headers = http::HeaderMap::with_capacity(entries.len());
        for (name, value) in entries {
            // The host validated both; a refusal here means a broken host.
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| other("response header name refused"))?;
            let value = http::HeaderValue::from_maybe_shared(bytes::Bytes::from(value))
                .map_err(|_| other("response header value refused"))?;
            headers.append(name, value);
        }
        // With a declared length, the read that would only report the end is
        // skipped (hosts frame the body by it and refuse a longer one).
        let declared: Option<usize> = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body_resource = incoming
            .consume()
            .map_err(|_| other("response body taken twice"))?;
        let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(MAX_BODY_BYTES));
        {
            let stream = body_resource
                .stream()
                .map_err(|_| other("response body stream taken twice"))?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => {
                        if buf.len() + chunk.len() > MAX_BODY_BYTES {
                            return Err(transport(
                                TransportKind::TooLarge,
                                format!("response body over {MAX_BODY_BYTES} bytes"),
                            ));
                        }
                        buf.extend_from_slice(&chunk);
                        if declared == Some(buf.len()) {
                            break;
                        }
                    }
                    Err(StreamError::Closed) => break,
                    Err(e) => return Err(stream_error(e, "reading the response body")),
                }
            }
        }
        // Dropping the body without `finish` skips a trailers future we never read.
        drop(body_resource);
        drop(incoming);
        let mut response = http::Response::new(buf);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}
