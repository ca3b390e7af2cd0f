//! The thin WASI side: WIT bindings, the exported operations, wasi:http as
//! the [`HttpClient`], and the host's `token-store` import as the
//! [`TokenStore`]. All decisions live in the pure modules.

use std::cell::RefCell;
use std::time::Duration;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;

use crate::config::{self, ConnectionParams};
use crate::connector::{self as conn, Connector, GetMeRequest};
use crate::error::{ConnectorError, TransportError, TransportKind};
use crate::http::{HttpClient, Request, Response, MAX_BODY_BYTES};
use crate::response::ResponseMeta;
use crate::secret::Secret;
use crate::token::{StoreError, SystemClock, TokenSet, TokenSource, TokenStore, Versioned};
use crate::tweet;
use crate::wso2::{self, Operation};

mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "twitter-connector",
        with: {
            "wasi:http/types@0.2.12": wasip2::http::types,
            "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
        },
    });
}

use bindings::exports::wso2::twitter::connector as wit;
use bindings::wso2::twitter::token_store as store;
use bindings::wso2::twitter::types as wt;

type Live = Connector<WasiHttp, HostStore, SystemClock>;

thread_local! {
    /// One connection per instance: the host keeps an instance per connection.
    static CONNECTION: RefCell<Option<Live>> = const { RefCell::new(None) };
}

/// talc instead of std's dlmalloc: on the getMe bench a third of the guest's
/// time per call was dlmalloc; talc is the wasm allocator its benchmarks
/// (and ours) find faster, and smaller.
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

struct Component;

bindings::export!(Component with_types_in bindings);

// ---------------------------------------------------------------- wasi:http

struct WasiHttp;

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
    transport(kind, format!("{code:?}"))
}

fn stream_error(e: StreamError, what: &str) -> TransportError {
    match e {
        StreamError::Closed => transport(TransportKind::Reset, format!("{what}: stream closed")),
        StreamError::LastOperationFailed(err) => match wasip2::http::types::http_error_code(&err) {
            Some(code) => from_error_code(&code),
            None => {
                // Hosts do not always attach an error code to a stream error;
                // their text still tells a stall from a cut.
                let text = err.to_debug_string();
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

// ------------------------------------------------------------ token-store

struct HostStore;

fn to_wit_tokens(t: &TokenSet) -> store::TokenSet {
    store::TokenSet {
        access_token: t.access_token.as_ref().map(|s| s.expose().to_string()),
        refresh_token: t.refresh_token.as_ref().map(|s| s.expose().to_string()),
        expires_at: t.expires_at,
        origin: t.origin.clone(),
    }
}

fn from_store_error(e: store::StoreError) -> StoreError {
    match e {
        store::StoreError::Conflict(v) => StoreError::Conflict(v),
        store::StoreError::Unavailable(m) => StoreError::Unavailable(m),
    }
}

impl TokenStore for HostStore {
    fn load(&self, connection: &str) -> Result<Option<Versioned>, StoreError> {
        let v = store::load(connection).map_err(from_store_error)?;
        Ok(v.map(|v| Versioned {
            version: v.version,
            tokens: TokenSet {
                access_token: v.tokens.access_token.map(Secret::new),
                refresh_token: v.tokens.refresh_token.map(Secret::new),
                expires_at: v.tokens.expires_at,
                origin: v.tokens.origin,
            },
        }))
    }

    fn save(&self, connection: &str, expected: u64, tokens: &TokenSet) -> Result<u64, StoreError> {
        store::save(connection, expected, &to_wit_tokens(tokens)).map_err(from_store_error)
    }

    fn acquire_lease(&self, connection: &str, ttl_ms: u32) -> Result<Option<u64>, StoreError> {
        store::acquire_lease(connection, ttl_ms).map_err(from_store_error)
    }

    fn release_lease(&self, connection: &str, lease: u64) {
        store::release_lease(connection, lease)
    }
}

// ------------------------------------------------------------ conversions

fn window(w: crate::error::RateLimitWindow) -> wt::RateLimitWindow {
    wt::RateLimitWindow {
        limit: w.limit,
        remaining: w.remaining,
        reset: w.reset,
    }
}

fn limits(l: crate::error::RateLimits) -> wt::RateLimits {
    wt::RateLimits {
        window: l.window.map(window),
        user_day: l.user_day.map(window),
        app_day: l.app_day.map(window),
    }
}

fn meta(m: ResponseMeta) -> wt::ResponseMeta {
    wt::ResponseMeta {
        status: m.status,
        rate_limits: limits(m.rate_limits),
        headers: m.headers,
        body: m.body,
    }
}

fn problem(p: crate::error::Problem) -> wt::ApiProblem {
    wt::ApiProblem {
        status: p.status,
        problem_type: p.problem_type,
        kind: p.kind,
        title: p.title,
        detail: p.detail,
        errors: p
            .errors
            .into_iter()
            .map(|e| wt::ProblemItem {
                message: e.message,
                parameters: e.parameters,
            })
            .collect(),
    }
}

fn to_wit_error(e: ConnectorError) -> wt::ConnectorError {
    use wt::ConnectorError as W;
    match e {
        ConnectorError::InvalidInput { parameter, rule } => {
            W::InvalidInput(wt::InvalidInput { parameter, rule })
        }
        ConnectorError::NotInitialized => W::NotInitialized,
        ConnectorError::Unauthorized(p) => W::Unauthorized(problem(p)),
        ConnectorError::Forbidden(p) => W::Forbidden(problem(p)),
        ConnectorError::NotFound(p) => W::NotFound(problem(p)),
        ConnectorError::RateLimited {
            limits: l,
            problem: p,
        } => W::RateLimited(wt::RateLimited {
            limits: limits(l),
            problem: problem(p),
        }),
        ConnectorError::Api(p) => W::ApiError(problem(p)),
        ConnectorError::Transport(t) => W::Transport(wt::TransportFailure {
            kind: match t.kind {
                TransportKind::Connect => wt::TransportKind::Connect,
                TransportKind::Dns => wt::TransportKind::Dns,
                TransportKind::Tls => wt::TransportKind::Tls,
                TransportKind::Timeout => wt::TransportKind::Timeout,
                TransportKind::Reset => wt::TransportKind::Reset,
                TransportKind::Denied => wt::TransportKind::Denied,
                TransportKind::TooLarge => wt::TransportKind::TooLarge,
                TransportKind::Other => wt::TransportKind::Other,
            },
            cause: t.cause,
        }),
        ConnectorError::RefreshFailed {
            error,
            description,
            status,
            hint,
        } => W::RefreshFailed(wt::RefreshFailure {
            error,
            description,
            status,
            hint,
        }),
        ConnectorError::MalformedResponse(m) => W::MalformedResponse(m),
    }
}

fn create_tweet_from_wit(r: wit::CreateTweetRequest) -> Result<tweet::CreateTweet, ConnectorError> {
    let call_to_actions = match r.media.as_ref().and_then(|m| m.call_to_actions.as_deref()) {
        Some(json) => Some(serde_json::from_str(json).map_err(|e| {
            ConnectorError::invalid(
                "media.call_to_actions",
                format!("must be a JSON object: {e}"),
            )
        })?),
        None => None,
    };
    Ok(tweet::CreateTweet {
        text: r.text,
        media: r.media.map(|m| tweet::Media {
            media_ids: m.media_ids,
            tagged_user_ids: m.tagged_user_ids,
            description: m.description,
            title: m.title,
            embeddable: m.embeddable,
            preview_media_id: m.preview_media_id,
            call_to_actions,
        }),
        poll: r.poll.map(|p| tweet::Poll {
            options: p.options,
            duration_minutes: p.duration_minutes,
            reply_settings: p.reply_settings,
        }),
        reply: r.reply.map(|p| tweet::Reply {
            in_reply_to_tweet_id: p.in_reply_to_tweet_id,
            exclude_reply_user_ids: p.exclude_reply_user_ids,
            auto_populate_reply_metadata: p.auto_populate_reply_metadata,
        }),
        quote_tweet_id: r.quote_tweet_id,
        reply_settings: r.reply_settings,
        for_super_followers_only: r.for_super_followers_only,
        direct_message_deep_link: r.direct_message_deep_link,
        geo: r.geo_place_id.map(|place_id| tweet::Geo { place_id }),
        nullcast: r.nullcast,
        community_id: r.community_id,
        share_with_followers: r.share_with_followers,
        card_uri: r.card_uri,
        edit_options: r
            .edit_previous_post_id
            .map(|previous_post_id| tweet::EditOptions { previous_post_id }),
        made_with_ai: r.made_with_ai,
        paid_partnership: r.paid_partnership,
    })
}

// ------------------------------------------------------------ operations

fn with_connection<T>(
    f: impl FnOnce(&mut Live) -> Result<T, ConnectorError>,
) -> Result<T, ConnectorError> {
    CONNECTION.with(|c| match c.borrow_mut().as_mut() {
        Some(live) => f(live),
        None => Err(ConnectorError::NotInitialized),
    })
}

fn init(params: ConnectionParams) -> Result<(String, String), ConnectorError> {
    let (connection, access, refresh) = config::validate(params)?;
    let tokens = TokenSource::new(connection.clone(), access, refresh, HostStore, SystemClock);
    let info = (connection.name.clone(), connection.api_url.clone());
    CONNECTION.with(|c| *c.borrow_mut() = Some(Connector::new(WasiHttp, connection, tokens)));
    Ok(info)
}

fn create_tweet(r: &tweet::CreateTweet) -> Result<conn::CreateTweetResult, ConnectorError> {
    with_connection(|c| c.create_tweet(r))
}

fn delete_tweet(id: &str) -> Result<conn::DeleteTweetResult, ConnectorError> {
    with_connection(|c| c.delete_tweet(id))
}

fn get_me(r: &GetMeRequest) -> Result<conn::GetMeResult, ConnectorError> {
    with_connection(|c| c.get_me(r))
}

impl wit::Guest for Component {
    fn init(config: wit::ConnectionConfig) -> Result<wit::ConnectionInfo, wt::ConnectorError> {
        init(ConnectionParams {
            connection_name: config.connection_name,
            api_url: config.api_url,
            timeout: config.timeout,
            client_id: config.client_id,
            client_secret: config.client_secret.map(Secret::new),
            access_token: config.access_token.map(Secret::new),
            refresh_token: config.refresh_token.map(Secret::new),
        })
        .map(|(connection_name, api_url)| wit::ConnectionInfo {
            connection_name,
            api_url,
        })
        .map_err(to_wit_error)
    }

    fn create_tweet(
        request: wit::CreateTweetRequest,
    ) -> Result<wit::CreateTweetResult, wt::ConnectorError> {
        create_tweet_from_wit(request)
            .and_then(|r| create_tweet(&r))
            .map(|r| wit::CreateTweetResult {
                id: r.id,
                text: r.text,
                edit_history_tweet_ids: r.edit_history_tweet_ids,
                meta: meta(r.meta),
            })
            .map_err(to_wit_error)
    }

    fn delete_tweet(id: String) -> Result<wit::DeleteTweetResult, wt::ConnectorError> {
        delete_tweet(&id)
            .map(|r| wit::DeleteTweetResult {
                deleted: r.deleted,
                meta: meta(r.meta),
            })
            .map_err(to_wit_error)
    }

    fn get_me(request: wit::GetMeRequest) -> Result<wit::GetMeResult, wt::ConnectorError> {
        get_me(&GetMeRequest {
            expansions: request.expansions,
            tweet_fields: request.tweet_fields,
            user_fields: request.user_fields,
        })
        .map(|r| wit::GetMeResult {
            user: wit::User {
                id: r.user.id,
                name: r.user.name,
                username: r.user.username,
                json: r.user.json,
            },
            includes: r.includes,
            meta: meta(r.meta),
        })
        .map_err(to_wit_error)
    }

    fn invoke(
        operation: String,
        parameters: Vec<(String, String)>,
    ) -> Result<wt::ResponseMeta, wt::ConnectorError> {
        let result = wso2::parse(&operation, &parameters).and_then(|op| match op {
            Operation::Init(p) => init(p).map(|(name, url)| ResponseMeta {
                status: 200,
                rate_limits: Default::default(),
                headers: Vec::new(),
                body: serde_json::json!({ "connectionName": name, "apiUrl": url }).to_string(),
            }),
            Operation::CreateTweet(r) => create_tweet(&r).map(|r| r.meta),
            Operation::DeleteTweet(id) => delete_tweet(&id).map(|r| r.meta),
            Operation::GetMe(r) => get_me(&r).map(|r| r.meta),
        });
        result.map(meta).map_err(to_wit_error)
    }
}
