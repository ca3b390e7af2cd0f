//! X's token endpoint through the `oauth2` crate over our [`HttpClient`]:
//! the refresh-token grant, the authorization-code grant with PKCE, and
//! token revocation.

use std::cell::Cell;

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, TokenResponse, TokenUrl,
};

use crate::config::Connection;
use crate::error::{
    ApiClass, ConnectorError, OAuthFailure, OAuthReason, OAuthRequest, TransportError,
    REAUTHORIZE_HINT,
};
use crate::http::HttpClient;
use crate::response;
use crate::secret::Secret;

/// What a successful grant gave.
pub struct Obtained {
    pub access_token: Secret,
    /// `None` when X sent none (no `offline.access`): the old one is spent anyway.
    pub refresh_token: Option<Secret>,
    pub expires_at: Option<u64>,
    pub obtained_at: u64,
    /// The scopes X granted (space-separated), when it said.
    pub scope: Option<String>,
}

/// A failed grant: the error, and whether X declared the token or code dead.
pub struct Failed {
    pub error: ConnectorError,
    pub token_dead: bool,
}

impl From<ConnectorError> for Failed {
    fn from(error: ConnectorError) -> Self {
        Failed {
            error,
            token_dead: false,
        }
    }
}

/// What the token endpoint answered, kept for errors the `oauth2` crate
/// cannot type (a 429, a non-JSON error page). Only read for failures: a
/// successful answer holds tokens.
#[derive(Default)]
struct Answered {
    status: Cell<Option<u16>>,
    failure: std::cell::RefCell<Option<oauth2::HttpResponse>>,
}

fn send_with<'a>(
    http: &'a impl HttpClient,
    timeout: std::time::Duration,
    answered: &'a Answered,
) -> impl Fn(oauth2::HttpRequest) -> Result<oauth2::HttpResponse, TransportError> + 'a {
    move |req| {
        let resp = http.send(req, timeout)?;
        answered.status.set(Some(resp.status().as_u16()));
        if !resp.status().is_success() {
            *answered.failure.borrow_mut() = Some(resp.clone());
        }
        Ok(resp)
    }
}

/// A refusal that is no OAuth error: a 429 (with its windows), or any
/// other status with whatever body came (empty, HTML), status kept.
fn untyped_failure(answered: &Answered) -> Option<ConnectorError> {
    let resp = answered.failure.borrow();
    let resp = resp.as_ref()?;
    let status = resp.status().as_u16();
    let problem = response::problem(status, resp.body());
    Some(ConnectorError::Api {
        class: if status == 429 {
            ApiClass::RateLimited
        } else {
            ApiClass::Other
        },
        problem,
        limits: response::rate_limits(resp.headers()),
    })
}

/// The connection's client at X's token endpoint (`apiUrl`): with a secret,
/// HTTP Basic (a confidential client); without one the crate puts
/// `client_id` in the body (a public client), as X requires.
fn token_client(
    conn: &Connection,
) -> Result<
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>,
    ConnectorError,
> {
    let token_url = TokenUrl::new(conn.token_url())
        .map_err(|_| ConnectorError::invalid("apiUrl", "gives no valid token URL"))?;
    let client = BasicClient::new(ClientId::new(conn.client_id.clone()))
        .set_token_uri(token_url)
        .set_auth_type(AuthType::BasicAuth);
    Ok(match &conn.client_secret {
        Some(s) => client.set_client_secret(ClientSecret::new(s.expose().to_string())),
        None => client,
    })
}

/// Exchanges `refresh_token` for a new set. `sent_at` (Unix ms) dates the
/// expiry, so a slow answer errs on the early side.
pub(super) fn exchange(
    conn: &Connection,
    refresh_token: &Secret,
    http: &impl HttpClient,
    sent_at: u64,
) -> Result<Obtained, Failed> {
    let client = token_client(conn)?;
    let answered = Answered::default();
    let send = send_with(http, conn.timeout, &answered);
    let outcome = client
        .exchange_refresh_token(&RefreshToken::new(refresh_token.expose().to_string()))
        .request(&send);
    outcome_of(outcome, &answered, sent_at, OAuthRequest::Refresh)
}

/// Exchanges an authorization code (with its PKCE verifier and the
/// redirect URI it was issued for) for the first token set.
pub fn exchange_code(
    conn: &Connection,
    code: &Secret,
    verifier: &Secret,
    redirect_uri: &str,
    http: &impl HttpClient,
    sent_at: u64,
) -> Result<Obtained, Failed> {
    let redirect = RedirectUrl::new(redirect_uri.to_string())
        .map_err(|_| ConnectorError::invalid("redirectUri", "must be an absolute URL"))?;
    let client = token_client(conn)?.set_redirect_uri(redirect);
    let answered = Answered::default();
    let send = send_with(http, conn.timeout, &answered);
    let outcome = client
        .exchange_code(AuthorizationCode::new(code.expose().to_string()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_string()))
        .request(&send);
    outcome_of(outcome, &answered, sent_at, OAuthRequest::AuthorizationCode)
}

/// Revokes `refresh_token` (and with it the family) at `POST /2/oauth2/revoke`.
///
/// Sent by hand rather than with `oauth2`'s `revoke_token`: that refuses any
/// revocation URL that is not https, and the connection's `apiUrl` may be
/// http on loopback (the simulator; `config` allows http nowhere else). The
/// client authentication is the crate's: HTTP Basic with the form-encoded
/// id and secret for a confidential client (RFC 6749 §2.3.1), `client_id`
/// in the body for a public one.
pub fn revoke(
    conn: &Connection,
    refresh_token: &Secret,
    http: &impl HttpClient,
) -> Result<(), ConnectorError> {
    use base64::Engine;
    use oauth2::url::form_urlencoded;
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", refresh_token.expose())
        .append_pair("token_type_hint", "refresh_token");
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("{}/2/oauth2/revoke", conn.api_url))
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(http::header::ACCEPT, "application/json");
    match &conn.client_secret {
        Some(secret) => {
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(&conn.client_id),
                enc(secret.expose())
            ));
            request = request.header(http::header::AUTHORIZATION, format!("Basic {basic}"));
        }
        None => {
            form.append_pair("client_id", &conn.client_id);
        }
    }
    let request = request
        .body(form.finish().into_bytes())
        .map_err(|_| ConnectorError::invalid("apiUrl", "gives no valid revocation URL"))?;
    let resp = http.send(request, conn.timeout)?;
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        return Ok(());
    }
    // The crate does not send this request, but its error type reads the
    // answer as it reads a grant's.
    match serde_json::from_slice::<BasicErrorResponse>(resp.body()) {
        Ok(e) => Err(ConnectorError::OAuth(failure_of(
            OAuthRequest::Revocation,
            &e,
            Some(status),
            "X refused the revocation: check clientId and clientSecret",
        ))),
        Err(_) => Err(ConnectorError::api(
            ApiClass::Other,
            response::problem(status, resp.body()),
        )),
    }
}

fn reason_of(e: &BasicErrorResponseType) -> OAuthReason {
    match e {
        BasicErrorResponseType::InvalidRequest => OAuthReason::InvalidRequest,
        BasicErrorResponseType::InvalidClient => OAuthReason::InvalidClient,
        BasicErrorResponseType::InvalidGrant => OAuthReason::InvalidGrant,
        BasicErrorResponseType::UnauthorizedClient => OAuthReason::UnauthorizedClient,
        BasicErrorResponseType::UnsupportedGrantType => OAuthReason::UnsupportedGrantType,
        BasicErrorResponseType::InvalidScope => OAuthReason::InvalidScope,
        BasicErrorResponseType::Extension(_) => OAuthReason::OtherCode,
    }
}

/// X's refusal of a grant, with what to do about it.
fn refusal(
    request: OAuthRequest,
    error: &BasicErrorResponse,
    status: Option<u16>,
) -> (ConnectorError, bool) {
    let reason = reason_of(error.error());
    // X answers a spent or revoked refresh token, and a used or expired
    // code, with invalid_request (not the RFC's invalid_grant).
    let token_dead = matches!(
        reason,
        OAuthReason::InvalidRequest | OAuthReason::InvalidGrant
    );
    let hint = match (request, token_dead) {
        (OAuthRequest::AuthorizationCode, true) => "X's authorization codes work once, for 30 seconds, with the redirect URI and PKCE verifier they were issued for: start the authorization again",
        (_, true) => REAUTHORIZE_HINT,
        (_, false) => "the token endpoint refused the client: check clientId and clientSecret",
    };
    (
        ConnectorError::OAuth(failure_of(request, error, status, hint)),
        token_dead,
    )
}

/// An OAuth error answer as the WIT's `oauth-failure`.
fn failure_of(
    request: OAuthRequest,
    error: &BasicErrorResponse,
    status: Option<u16>,
    hint: &str,
) -> OAuthFailure {
    OAuthFailure {
        request,
        reason: reason_of(error.error()),
        code: Some(error.error().as_ref().to_string()),
        description: error.error_description().cloned(),
        status,
        hint: hint.into(),
    }
}

fn outcome_of(
    outcome: Result<
        BasicTokenResponse,
        RequestTokenError<TransportError, oauth2::basic::BasicErrorResponse>,
    >,
    answered: &Answered,
    sent_at: u64,
    request: OAuthRequest,
) -> Result<Obtained, Failed> {
    let status = &answered.status;
    if outcome.is_err() && status.get() == Some(429) {
        if let Some(e) = untyped_failure(answered) {
            return Err(e.into());
        }
    }
    match outcome {
        Ok(tok) => Ok(Obtained {
            access_token: Secret::new(tok.access_token().secret().clone()),
            refresh_token: tok.refresh_token().map(|r| Secret::new(r.secret().clone())),
            expires_at: tok
                .expires_in()
                .map(|d| sent_at + d.as_millis().min(u128::from(u64::MAX / 2)) as u64),
            obtained_at: sent_at,
            scope: tok
                .scopes()
                .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
        }),
        Err(RequestTokenError::ServerResponse(e)) => {
            let (error, token_dead) = refusal(request, &e, status.get());
            Err(Failed { error, token_dead })
        }
        Err(RequestTokenError::Request(t)) => Err(ConnectorError::Transport(t).into()),
        Err(RequestTokenError::Parse(_, body)) => {
            let code = status.get().unwrap_or(0);
            Err(if code >= 400 {
                // An error page, not a token response: it holds no token.
                ConnectorError::api(ApiClass::Other, response::problem(code, &body))
            } else {
                // Never echo a 2xx token body: it may hold tokens.
                ConnectorError::MalformedResponse(format!(
                    "token endpoint answered HTTP {code} with a body that is not a token response"
                ))
            }
            .into())
        }
        Err(RequestTokenError::Other(m)) => Err(match untyped_failure(answered) {
            // E.g. an error with an empty body or another content type: its
            // status says more than the crate's complaint about the body.
            Some(e) => e,
            None => ConnectorError::MalformedResponse(format!("token endpoint: {m}")),
        }
        .into()),
    }
}
