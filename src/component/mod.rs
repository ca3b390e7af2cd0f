//! The thin WASI side: WIT bindings, the exported operations, wasi:http as
//! the [`HttpClient`], and the host's `token-store` import as the
//! [`TokenStore`]. All decisions live in the pure modules.

use std::cell::RefCell;

use crate::authorize;
use crate::config::{self, ConnectionParams};
use crate::connector::{self as conn, Connector, GetMeRequest};
use crate::env_config;
use crate::error::ConnectorError;
use crate::response::ResponseMeta;
use crate::retry::RetryParams;
use crate::secret::Secret;
use crate::token::{Clock, SystemClock, TokenSource};
use crate::tweet;
use crate::wso2::{self, Operation};

mod areas;
mod convert;
mod host_store;
mod wasi_http;

use convert::{create_tweet_from_wit, meta, to_wit_error};
use host_store::HostStore;
use wasi_http::WasiHttp;

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
use bindings::wso2::twitter::types as wt;

type Live = Connector<WasiHttp, HostStore, SystemClock>;

thread_local! {
    /// One connection per instance (the host pools instances per connection).
    static CONNECTION: RefCell<Option<Live>> = const { RefCell::new(None) };
    /// An authorization begun and not yet completed: its PKCE verifier and
    /// `state` never leave the instance.
    static PENDING: RefCell<Option<authorize::Pending>> = const { RefCell::new(None) };
    /// An operation found no `init`-ed connection: a plain host, which
    /// configures through the environment (see `env_config`).
    static PLAIN_HOST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Random bytes from `wasi:random` (the host's CSPRNG).
struct WasiRandom;

impl authorize::Random for WasiRandom {
    fn fill(&self, buf: &mut [u8]) {
        let bytes = wasip2::random::random::get_random_bytes(buf.len() as u64);
        buf.copy_from_slice(&bytes[..buf.len()]);
    }
}

fn params_of(config: wit::ConnectionConfig) -> ConnectionParams {
    ConnectionParams {
        connection_name: config.connection_name,
        api_url: config.api_url,
        timeout: config.timeout_ms,
        client_id: config.client_id,
        client_secret: config.client_secret.map(Secret::new),
        access_token: config.access_token.map(Secret::new),
        refresh_token: config.refresh_token.map(Secret::new),
        retry: config
            .retry
            .map(|r| RetryParams {
                count: r.retry_count,
                delay_ms: r.retry_delay_ms,
                wait_on_rate_limit: r.wait_on_rate_limit,
                max_wait_ms: r.max_retry_wait_ms,
            })
            .unwrap_or_default(),
    }
}

fn begin_authorization(
    config: wit::ConnectionConfig,
    params: wit::AuthorizationParams,
) -> Result<wit::AuthorizationRequest, ConnectorError> {
    let (connection, _, _) = config::validate(params_of(config))?;
    let info = info_of(&connection);
    let (url, pending) = authorize::begin(
        connection,
        &authorize::AuthorizationParams {
            redirect_uri: params.redirect_uri,
            scopes: params.scopes,
            authorize_url: params.authorize_url,
        },
        &WasiRandom,
    )?;
    let state = pending.state().expose().to_string();
    PENDING.with(|p| *p.borrow_mut() = Some(pending));
    Ok(wit::AuthorizationRequest {
        url,
        state,
        connection: info,
    })
}

fn complete_authorization(
    code: String,
    state: String,
) -> Result<wit::ConnectionInfo, ConnectorError> {
    // A wrong state leaves the pending authorization in place: a forged
    // callback cannot cancel the real one.
    PENDING.with(|p| authorize::check_state(p.borrow().as_ref(), &state))?;
    let pending = PENDING
        .with(|p| p.borrow_mut().take())
        .ok_or(ConnectorError::NotInitialized)?;
    let got = authorize::complete(
        &pending,
        &Secret::new(code),
        &WasiHttp,
        SystemClock.now_ms(),
    )?;
    let connection = pending.conn;
    let info = info_of(&connection);
    let (tokens, saved) =
        TokenSource::from_authorization(connection.clone(), got, HostStore, SystemClock);
    CONNECTION.with(|c| *c.borrow_mut() = Some(Connector::new(WasiHttp, connection, tokens)));
    saved.map(|()| info)
}

/// talc instead of std's dlmalloc: on the getMe bench a third of the guest's
/// time per call was dlmalloc; talc is the wasm allocator its benchmarks
/// (and ours) find faster, and smaller.
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

struct Component;

bindings::export!(Component with_types_in bindings);

/// A failed call, behind the WIT `error` resource: the host reads its
/// texts and details once, through the methods below.
pub struct Failure(ConnectorError);

fn failed(e: ConnectorError) -> wit::Error {
    // A plain host (the instance was never `init`-ed) may not be able to
    // show the `error` resource: the wasmtime CLI's `--invoke` cannot print
    // a handle. There, the one-line detail (never a token) also goes to
    // stderr. The runtime `init`s every instance and never sees this.
    if PLAIN_HOST.with(|p| p.get()) {
        eprintln!("twitter-connector: {e}");
    }
    wit::Error::new(Failure(e))
}

impl wit::GuestError for Failure {
    fn message(&self) -> String {
        self.0.message()
    }

    fn detail(&self) -> String {
        self.0.to_string()
    }

    fn details(&self) -> wt::ConnectorError {
        to_wit_error(self.0.clone())
    }
}

// ------------------------------------------------------------ operations

/// The instance's connection: the one `init` made, else (a plain host
/// calling one export on a fresh instance) one from the environment.
fn with_connection<T>(
    f: impl FnOnce(&mut Live) -> Result<T, ConnectorError>,
) -> Result<T, ConnectorError> {
    if CONNECTION.with(|c| c.borrow().is_none()) {
        init_from_env()?;
    }
    CONNECTION.with(|c| match c.borrow_mut().as_mut() {
        Some(live) => f(live),
        None => Err(ConnectorError::NotInitialized),
    })
}

/// Out of line: every export reaches it through [`with_connection`], and
/// a copy inlined into each cost the component 1 KB per export.
#[cold]
#[inline(never)]
fn init_from_env() -> Result<(), ConnectorError> {
    PLAIN_HOST.with(|p| p.set(true));
    let params = env_config::params_from_env(|k| std::env::var(k).ok())?
        .ok_or(ConnectorError::NotInitialized)?;
    init(params).map_err(env_config::in_env_terms)?;
    Ok(())
}

fn info_of(c: &config::Connection) -> wit::ConnectionInfo {
    wit::ConnectionInfo {
        connection_name: c.name.clone(),
        api_url: c.api_url.clone(),
        api_origin: c.api_origin.clone(),
        timeout_ms: u32::try_from(c.timeout.as_millis()).unwrap_or(u32::MAX),
        retry_count: c.retry.count,
        max_retry_wait_ms: u32::try_from(c.retry.max_wait.as_millis()).unwrap_or(u32::MAX),
    }
}

#[inline(never)]
fn init(params: ConnectionParams) -> Result<wit::ConnectionInfo, ConnectorError> {
    let (connection, access, refresh) = config::validate(params)?;
    let tokens = TokenSource::new(connection.clone(), access, refresh, HostStore, SystemClock);
    let info = info_of(&connection);
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
    type Error = Failure;
    type Answer = areas::Reply;

    fn init(config: wit::ConnectionConfig) -> Result<wit::ConnectionInfo, wit::Error> {
        init(params_of(config)).map_err(failed)
    }

    fn defaults() -> wit::ConnectionDefaults {
        wit::ConnectionDefaults {
            connection_name: config::DEFAULT_CONNECTION_NAME.into(),
            api_url: config::DEFAULT_API_URL.into(),
            timeout_ms: config::DEFAULT_TIMEOUT_MS,
            max_timeout_ms: config::MAX_TIMEOUT_MS,
        }
    }

    fn begin_authorization(
        config: wit::ConnectionConfig,
        params: wit::AuthorizationParams,
    ) -> Result<wit::AuthorizationRequest, wit::Error> {
        begin_authorization(config, params).map_err(failed)
    }

    fn complete_authorization(
        code: String,
        state: String,
    ) -> Result<wit::ConnectionInfo, wit::Error> {
        complete_authorization(code, state).map_err(failed)
    }

    fn revoke_authorization() -> Result<(), wit::Error> {
        with_connection(|c| c.revoke()).map_err(failed)
    }

    fn create_tweet(
        request: wit::CreateTweetRequest,
    ) -> Result<wit::CreateTweetResult, wit::Error> {
        create_tweet_from_wit(request)
            .and_then(|r| create_tweet(&r))
            .map(|r| wit::CreateTweetResult {
                id: r.id,
                text: r.text,
                edit_history_tweet_ids: r.edit_history_tweet_ids,
                meta: meta(r.meta),
            })
            .map_err(failed)
    }

    fn delete_tweet(id: String) -> Result<wit::DeleteTweetResult, wit::Error> {
        delete_tweet(&id)
            .map(|r| wit::DeleteTweetResult {
                deleted: r.deleted,
                meta: meta(r.meta),
            })
            .map_err(failed)
    }

    fn get_me(request: wit::GetMeRequest) -> Result<wit::GetMeResult, wit::Error> {
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
        .map_err(failed)
    }

    fn invoke(
        operation: String,
        parameters: Vec<(String, String)>,
    ) -> Result<wt::ResponseMeta, wit::Error> {
        let result = wso2::parse(&operation, &parameters).and_then(|op| match op {
            Operation::Init(p) => init(p).map(|c| ResponseMeta {
                status: 200,
                rate_limits: Default::default(),
                headers: Vec::new(),
                body: serde_json::json!({
                    "connectionName": c.connection_name,
                    "apiUrl": c.api_url,
                    "apiOrigin": c.api_origin,
                    "timeoutMs": c.timeout_ms,
                    "retryCount": c.retry_count,
                    "maxRetryWaitMs": c.max_retry_wait_ms,
                })
                .to_string(),
                errors: Vec::new(),
                cost: Default::default(),
            }),
            Operation::CreateTweet(r) => create_tweet(&r).map(|r| r.meta),
            Operation::DeleteTweet(id) => delete_tweet(&id).map(|r| r.meta),
            Operation::GetMe(r) => get_me(&r).map(|r| r.meta),
            Operation::Call(call) => with_connection(|c| c.run(&call)),
        });
        result.map(meta).map_err(failed)
    }

    fn estimate(
        operation: String,
        parameters: Vec<(String, String)>,
    ) -> Result<wt::CallCost, wit::Error> {
        wso2::parse(&operation, &parameters)
            .map(|op| convert::cost(crate::cost::estimate(&op)))
            .map_err(failed)
    }
}
