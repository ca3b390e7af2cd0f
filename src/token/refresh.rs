//! The refresh-token grant at X's token endpoint, through the `oauth2` crate
//! over our [`HttpClient`].

use std::cell::Cell;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, RefreshToken, RequestTokenError, TokenResponse, TokenUrl,
};

use crate::config::Connection;
use crate::error::{ConnectorError, TransportError, REAUTHORIZE_HINT};
use crate::http::HttpClient;
use crate::response;
use crate::secret::Secret;

/// What a successful refresh gave.
pub(super) struct Obtained {
    pub access_token: Secret,
    /// `None` when X sent none (no `offline.access`): the old one is spent anyway.
    pub refresh_token: Option<Secret>,
    pub expires_at: Option<u64>,
    pub obtained_at: u64,
}

/// A failed refresh: the error, and whether X declared the refresh token dead.
pub(super) struct Failed {
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

/// Exchanges `refresh_token` for a new set. `sent_at` (Unix ms) dates the
/// expiry, so a slow answer errs on the early side.
pub(super) fn exchange(
    conn: &Connection,
    refresh_token: &Secret,
    http: &impl HttpClient,
    sent_at: u64,
) -> Result<Obtained, Failed> {
    let token_url = TokenUrl::new(conn.token_url())
        .map_err(|_| ConnectorError::invalid("apiUrl", "gives no valid token URL"))?;
    let mut client = BasicClient::new(ClientId::new(conn.client_id.clone()))
        .set_token_uri(token_url)
        // With a secret: HTTP Basic (confidential client). Without one the
        // crate puts client_id in the body (public client), as X requires.
        .set_auth_type(AuthType::BasicAuth);
    if let Some(secret) = &conn.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
    }
    let status = Cell::new(None);
    let timeout = conn.timeout;
    let send = |req: oauth2::HttpRequest| -> Result<oauth2::HttpResponse, TransportError> {
        let resp = http.send(req, timeout)?;
        status.set(Some(resp.status().as_u16()));
        Ok(resp)
    };
    let outcome = client
        .exchange_refresh_token(&RefreshToken::new(refresh_token.expose().to_string()))
        .request(&send);
    match outcome {
        Ok(tok) => Ok(Obtained {
            access_token: Secret::new(tok.access_token().secret().clone()),
            refresh_token: tok.refresh_token().map(|r| Secret::new(r.secret().clone())),
            expires_at: tok
                .expires_in()
                .map(|d| sent_at + d.as_millis().min(u128::from(u64::MAX / 2)) as u64),
            obtained_at: sent_at,
        }),
        Err(RequestTokenError::ServerResponse(e)) => {
            let code = e.error().as_ref().to_string();
            let token_dead = matches!(code.as_str(), "invalid_request" | "invalid_grant");
            Err(Failed {
                error: ConnectorError::RefreshFailed {
                    error: code,
                    description: e.error_description().cloned(),
                    status: status.get(),
                    hint: if token_dead {
                        REAUTHORIZE_HINT.into()
                    } else {
                        "the token endpoint refused the client: check clientId and clientSecret"
                            .into()
                    },
                },
                token_dead,
            })
        }
        Err(RequestTokenError::Request(t)) => Err(ConnectorError::Transport(t).into()),
        Err(RequestTokenError::Parse(_, body)) => {
            let code = status.get().unwrap_or(0);
            Err(if code >= 400 {
                // An error page, not a token response: it holds no token.
                ConnectorError::Api(response::problem(code, &body))
            } else {
                // Never echo a 2xx token body: it may hold tokens.
                ConnectorError::MalformedResponse(format!(
                    "token endpoint answered HTTP {code} with a body that is not a token response"
                ))
            }
            .into())
        }
        Err(RequestTokenError::Other(m)) => {
            Err(ConnectorError::MalformedResponse(format!("token endpoint: {m}")).into())
        }
    }
}
