//! `integrator auth login` and `auth revoke`: getting a connection's first
//! tokens in one command (OAuth 2.0 code flow with PKCE, done by the
//! component), and giving them back.
//!
//! Login: a loopback callback server at `http://127.0.0.1:PORT/callback`,
//! the consent URL printed (and opened in a browser where one is
//! available), the callback awaited with a timeout and Ctrl-C, the code
//! exchanged at once (X's codes live 30 seconds), the tokens stored by the
//! component in the token store, and the account named. The PKCE verifier
//! never leaves the component; no code, verifier or token is printed or
//! logged (the consent URL, which the user must open, carries the `state`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail};
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use token_store::{FamilyKey, TokenStore};
use tokio::sync::{mpsc, oneshot};

use integrator::bindings::exports::wso2::twitter::connector as wit;
use integrator::bindings::wso2::twitter::types::ConnectorError;
use integrator::engine::{CallError, LoadedConnector, Runtime};
use integrator::flow::redact::Redactor;
use integrator::secret::Secret;
use integrator::serve::listener::{self, AcceptBackoff, ServerLimits};

pub struct LoginOptions {
    pub connection: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    /// Empty: the scopes the operations need.
    pub scopes: Vec<String>,
    pub port: u16,
    pub api_url: Option<String>,
    pub authorize_url: Option<String>,
    pub open_browser: bool,
    /// How long to wait for the callback.
    pub wait: Duration,
}

/// The account a login authorized.
pub struct Authorized {
    pub username: String,
    pub name: String,
}

/// What the callback carried.
struct Callback {
    params: HashMap<String, String>,
    /// The page the browser gets once the login is done.
    reply: oneshot::Sender<(u16, String)>,
}

fn page(title: &str, text: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head><body><h1>{t}</h1><p>{x}</p></body></html>",
        t = esc(title),
        x = esc(text)
    )
}

/// The callback server's limits: one browser talks to it, so a few
/// connections are plenty, and a request head gets the same clock as
/// `serve`'s.
fn callback_limits() -> ServerLimits {
    ServerLimits {
        max_connections: 16,
        ..ServerLimits::default()
    }
}

/// Serves `GET /callback` on `listener`. Only a request carrying this
/// login's `state` reaches the login (`tx`); anything else (another path, a
/// forged or stale `state`, none) is answered and ignored, so a page the user
/// happens to visit cannot end or fail the login. Accept errors back off, a
/// slow request head is cut, and connections are capped, as under `serve`.
async fn callback_server(
    listener: tokio::net::TcpListener,
    state: String,
    tx: mpsc::Sender<Callback>,
) {
    let limits = callback_limits();
    let slots = listener::connection_slots(&limits);
    let mut backoff = AcceptBackoff::new();
    let state = Arc::new(state);
    let ignored = Arc::new(AtomicU32::new(0));
    loop {
        let stream = listener::accept(&listener, &mut backoff).await;
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            listener::refuse_busy(stream, limits.max_connections);
            continue;
        };
        let (io, activity) = listener::watch(stream);
        let (tx, state, ignored, seen) =
            (tx.clone(), state.clone(), ignored.clone(), activity.clone());
        let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let (tx, state, ignored, seen) =
                (tx.clone(), state.clone(), ignored.clone(), seen.clone());
            async move {
                seen.request_started();
                let (status, body) = answer_callback(req.uri(), &state, &tx, &ignored).await;
                seen.request_done();
                let resp = hyper::Response::builder()
                    .status(status)
                    .header("content-type", "text/html; charset=utf-8")
                    .header("cache-control", "no-store")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap_or_default();
                Ok::<_, Infallible>(resp)
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .max_buf_size(16 * 1024)
            .serve_connection(io, service);
        let limits = limits.clone();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                _ = conn => {}
                _ = listener::watchdog(activity, limits) => {}
            }
        });
    }
}

async fn answer_callback(
    uri: &hyper::Uri,
    state: &str,
    tx: &mpsc::Sender<Callback>,
    ignored: &AtomicU32,
) -> (u16, String) {
    if uri.path() != "/callback" {
        return (404, page("Not found", "the login callback is /callback"));
    }
    let params: HashMap<String, String> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    // `state` first: until it matches, nothing else in the request
    // (`error`, `code`) is read.
    if params.get("state").map(String::as_str) != Some(state) {
        if ignored.fetch_add(1, Ordering::Relaxed) == 0 {
            eprintln!("(ignored a request to the callback that does not carry this login's state; still waiting)");
        }
        return (
            400,
            page(
                "Not this login",
                "This request does not carry the state of the login that is waiting, so it was ignored. If you just authorized the app, start the login again and use the URL it prints.",
            ),
        );
    }
    let (reply, answer) = oneshot::channel();
    if tx.send(Callback { params, reply }).await.is_err() {
        return (
            410,
            page(
                "Login finished",
                "This login is already over; you can close this window.",
            ),
        );
    }
    answer
        .await
        .unwrap_or((500, page("Login failed", "see the terminal")))
}

/// The component's own text, with what only this command knows added.
fn explain(e: CallError, connection: &str) -> anyhow::Error {
    match e {
        CallError::Connector(failure) => match &failure.error {
            ConnectorError::InvalidInput(i) if i.parameter == "state" => anyhow!(
                "the callback's state does not match this login ({}): it came from another or an older login; run `integrator auth login` again",
                i.rule
            ),
            ConnectorError::TokenStore(_) => anyhow!(
                "the new tokens of `{connection}` could not be stored: {}",
                failure.message
            ),
            _ => anyhow!("{}", failure.detail),
        },
        trap => anyhow!("{trap}"),
    }
}

fn open_in_browser(url: &str) -> bool {
    let graphical = std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some()
        || cfg!(target_os = "macos");
    if !graphical {
        return false;
    }
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

/// The whole login. Progress goes to stderr; the result to the caller.
pub async fn login(
    runtime: &Runtime,
    loaded: &LoadedConnector,
    opts: LoginOptions,
    cancel: impl std::future::Future<Output = ()>,
) -> anyhow::Result<Authorized> {
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "the callback port {} is in use: pass --port N (and register http://127.0.0.1:N/callback for the app)",
            opts.port
        ),
        Err(e) => bail!("cannot listen on 127.0.0.1:{}: {e}", opts.port),
    };
    let port = listener.local_addr()?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let mut instance = runtime.instantiate(loaded).await?;
    let config = wit::ConnectionConfig {
        connection_name: Some(opts.connection.clone()),
        api_url: opts.api_url.clone(),
        timeout_ms: None,
        client_id: opts.client_id.clone(),
        client_secret: opts.client_secret.as_ref().map(|s| s.expose().to_string()),
        access_token: None,
        refresh_token: None,
        retry: None,
    };
    let request = instance
        .begin_authorization(
            &config,
            &wit::AuthorizationParams {
                redirect_uri: redirect_uri.clone(),
                scopes: opts.scopes.clone(),
                authorize_url: opts.authorize_url.clone(),
            },
        )
        .await
        .map_err(|e| explain(e, &opts.connection))?;
    eprintln!("Callback URL (register it for the app in the X developer portal, under User authentication settings):\n  {redirect_uri}");
    eprintln!(
        "Open this URL in a browser and authorize the app:\n{}",
        request.url
    );
    if opts.open_browser && open_in_browser(&request.url) {
        eprintln!("(opened in your browser)");
    }
    eprintln!(
        "Waiting for the authorization (up to {} s; Ctrl-C to cancel)...",
        opts.wait.as_secs()
    );
    let (tx, mut rx) = mpsc::channel(1);
    let server = tokio::spawn(callback_server(listener, request.state.clone(), tx));
    let callback = tokio::select! {
        c = rx.recv() => c,
        _ = tokio::time::sleep(opts.wait) => None,
        _ = cancel => {
            server.abort();
            bail!("login cancelled");
        }
    };
    let Some(Callback { params, reply }) = callback else {
        server.abort();
        bail!(
            "no callback arrived within {} s: if X showed an error about the callback URL, register {redirect_uri} for the app in the developer portal, then run login again",
            opts.wait.as_secs()
        );
    };
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    // X's error text may echo the code (the component masks the verifier,
    // which only it knows) or the client secret.
    let redactor = Redactor::default();
    redactor.add(get("code"));
    if let Some(secret) = &opts.client_secret {
        redactor.add_client_credentials(&opts.client_id, secret.expose());
    }
    let outcome = if !get("error").is_empty() {
        let error = get("error");
        Err(if error == "access_denied" {
            anyhow!("the authorization was denied at X (access_denied): nothing was stored")
        } else {
            anyhow!(
                "X answered the authorization with an error: {error}{}",
                Some(get("error_description"))
                    .filter(|d| !d.is_empty())
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            )
        })
    } else {
        match instance
            .complete_authorization(get("code"), get("state"))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(explain(e, &opts.connection)),
        }
    };
    let _ = reply.send(match &outcome {
        Ok(()) => (
            200,
            page(
                "Authorized",
                "The app is authorized. You can close this window and go back to the terminal.",
            ),
        ),
        Err(e) => (
            400,
            page("Authorization failed", &redactor.output(&e.to_string())),
        ),
    });
    // Let the page reach the browser before the server goes.
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.abort();
    outcome.map_err(|e| anyhow!("{}", redactor.log_line(&format!("{e:#}"))))?;
    let me = instance
        .get_me(&wit::GetMeRequest {
            expansions: vec![],
            tweet_fields: vec![],
            user_fields: vec![],
        })
        .await
        .map_err(|e| anyhow!("the tokens are stored, but getMe failed: {e}"))?;
    Ok(Authorized {
        username: me.user.username,
        name: me.user.name,
    })
}

/// The stored family of `connection`, narrowed by client id and API origin
/// when given; exactly one must remain.
pub fn find_family(
    store: &dyn TokenStore,
    connection: &str,
    client_id: Option<&str>,
    api_url: Option<&str>,
) -> anyhow::Result<FamilyKey> {
    let origin = api_url.and_then(integrator::egress::origin_of_str);
    let matches: Vec<FamilyKey> = store
        .list()
        .map_err(|e| anyhow!("{e}"))?
        .into_iter()
        .map(|f| f.key)
        .filter(|k| k.connection == connection)
        .filter(|k| client_id.is_none_or(|c| k.client_id == c))
        .filter(|k| {
            origin.as_ref().is_none_or(|o| {
                integrator::egress::origin_of_str(&k.api_origin).as_ref() == Some(o)
            })
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "no tokens are stored for connection `{connection}` in {}",
            store.describe()
        ),
        many => bail!(
            "connection `{connection}` has several stored families ({}): pass --client-id (and --api-url)",
            many.iter()
                .map(|k| format!("client {} at {}", k.client_id, k.api_origin))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

/// Revokes a stored family's refresh token at X, then forgets the family.
pub async fn revoke(
    runtime: &Runtime,
    loaded: &LoadedConnector,
    store: &dyn TokenStore,
    family: &FamilyKey,
    client_secret: Option<Secret>,
) -> anyhow::Result<()> {
    let mut instance = runtime.instantiate(loaded).await?;
    let config = wit::ConnectionConfig {
        connection_name: Some(family.connection.clone()),
        api_url: Some(family.api_origin.clone()),
        timeout_ms: None,
        client_id: family.client_id.clone(),
        client_secret: client_secret.map(|s| s.expose().to_string()),
        access_token: None,
        refresh_token: None,
        retry: None,
    };
    instance
        .init(&config)
        .await
        .map_err(|e| explain(e, &family.connection))?;
    instance
        .revoke_authorization()
        .await
        .map_err(|e| explain(e, &family.connection))?;
    store
        .forget_family(family)
        .map_err(|e| anyhow!("revoked at X, but {e}"))?;
    Ok(())
}
