//! The token source: hands out a valid access token, refreshing it with the
//! refresh token when it is about to expire or was refused, and keeps the
//! rotating refresh token safe.
//!
//! Modelled on golang.org/x/oauth2's `ReuseTokenSource`: refresh ahead of
//! expiry by a margin. Beyond it, X rotates refresh tokens (each refresh
//! returns a new one and spends the old), so:
//! - the new token set goes to the host's [`TokenStore`] before the new access
//!   token is used, and replaces the old set in memory at once;
//! - a refresh runs under the store's lease, and re-reads the store first, so
//!   two instances or processes never both spend the same refresh token;
//! - a refresh token X refused is dropped and never sent again.

use std::cell::Cell;
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, RefreshToken, RequestTokenError, TokenResponse, TokenUrl,
};
use sha2::{Digest, Sha256};

use crate::config::Connection;
use crate::error::{ConnectorError, TransportError, REAUTHORIZE_HINT};
use crate::http::HttpClient;
use crate::response;
use crate::secret::Secret;

/// Refresh when the access token expires within this margin.
pub const EXPIRY_MARGIN_MS: u64 = 60_000;
/// How often a caller waiting on another holder's refresh looks at the store.
const LEASE_POLL: Duration = Duration::from_millis(25);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSet {
    pub access_token: Option<Secret>,
    pub refresh_token: Option<Secret>,
    /// Unix milliseconds.
    pub expires_at: Option<u64>,
    /// SHA-256 (hex) of the token the family started from in the config.
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub version: u64,
    pub tokens: TokenSet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    Conflict(u64),
    Unavailable(String),
}

/// The host's safekeeping for tokens (WIT `token-store`).
pub trait TokenStore {
    fn load(&self, connection: &str) -> Result<Option<Versioned>, StoreError>;
    fn save(&self, connection: &str, expected: u64, tokens: &TokenSet) -> Result<u64, StoreError>;
    fn acquire_lease(&self, connection: &str, ttl_ms: u32) -> Result<Option<u64>, StoreError>;
    fn release_lease(&self, connection: &str, lease: u64);
}

pub trait Clock {
    fn now_ms(&self) -> u64;
    fn sleep(&self, d: Duration);
}

/// Wall-clock time and sleeping from std (wasi:clocks in the component).
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
}

pub fn fingerprint(token: &Secret) -> String {
    Sha256::digest(token.expose().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub struct TokenSource<S, C> {
    conn: Connection,
    tokens: TokenSet,
    version: u64,
    /// The last refresh token was refused by X: never send it again.
    spent: bool,
    store: S,
    clock: C,
}

impl<S, C> std::fmt::Debug for TokenSource<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("connection", &self.conn.name)
            .field("tokens", &self.tokens)
            .field("version", &self.version)
            .finish()
    }
}

fn store_warning(what: &str, e: &StoreError) {
    // stderr reaches the host's log; it carries no token.
    eprintln!("twitter-connector: token store {what} failed: {e:?}");
}

impl<S: TokenStore, C: Clock> TokenSource<S, C> {
    /// Starts from the config's tokens, unless the store holds a newer set of
    /// the same family (the config's refresh token was rotated since: it is
    /// spent and must not be sent).
    pub fn new(
        conn: Connection,
        access: Option<Secret>,
        refresh: Option<Secret>,
        store: S,
        clock: C,
    ) -> Self {
        let origin = refresh
            .as_ref()
            .or(access.as_ref())
            .map(fingerprint)
            .unwrap_or_default();
        let mut source = TokenSource {
            tokens: TokenSet {
                access_token: access,
                refresh_token: refresh,
                expires_at: None,
                origin,
            },
            version: 0,
            spent: false,
            conn,
            store,
            clock,
        };
        match source.store.load(&source.conn.name) {
            Ok(Some(v)) if v.tokens.origin == source.tokens.origin => {
                source.version = v.version;
                source.tokens = v.tokens;
            }
            Ok(existing) => {
                // A new authorization (or the first run): it replaces any older family.
                let expected = existing.map(|v| v.version).unwrap_or(0);
                source.persist(expected);
            }
            Err(e) => store_warning("load", &e),
        }
        source
    }

    pub fn tokens(&self) -> &TokenSet {
        &self.tokens
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    fn persist(&mut self, expected: u64) {
        match self.store.save(&self.conn.name, expected, &self.tokens) {
            Ok(v) => self.version = v,
            // Our set is the newest there is (we just received it): write it
            // over whatever is there rather than lose it.
            Err(StoreError::Conflict(current)) => {
                match self.store.save(&self.conn.name, current, &self.tokens) {
                    Ok(v) => self.version = v,
                    Err(e) => store_warning("save", &e),
                }
            }
            Err(e) => store_warning("save", &e),
        }
    }

    fn fresh(&self, now: u64) -> Option<Secret> {
        let token = self.tokens.access_token.as_ref()?;
        match self.tokens.expires_at {
            Some(at) if now + EXPIRY_MARGIN_MS >= at => None,
            _ => Some(token.clone()),
        }
    }

    /// A newer set of our family in the store, if another holder refreshed.
    fn adopt_newer(&mut self) -> bool {
        match self.store.load(&self.conn.name) {
            Ok(Some(v)) if v.version > self.version && v.tokens.origin == self.tokens.origin => {
                self.version = v.version;
                self.tokens = v.tokens;
                self.spent = false;
                true
            }
            Ok(_) => false,
            Err(e) => {
                store_warning("load", &e);
                false
            }
        }
    }

    /// An access token valid for at least the margin (refreshing if needed).
    pub fn access_token(&mut self, http: &impl HttpClient) -> Result<Secret, ConnectorError> {
        if let Some(t) = self.fresh(self.clock.now_ms()) {
            return Ok(t);
        }
        self.refresh(http, None)?;
        self.tokens.access_token.clone().ok_or_else(|| {
            ConnectorError::MalformedResponse("no access token after refresh".into())
        })
    }

    /// X refused `rejected` with 401: refresh (unless another holder already
    /// did) and return the new access token. `Ok(None)`: no refresh token, so
    /// the 401 stands.
    pub fn after_unauthorized(
        &mut self,
        http: &impl HttpClient,
        rejected: &Secret,
    ) -> Result<Option<Secret>, ConnectorError> {
        if self.tokens.access_token.as_ref() != Some(rejected) || self.adopt_usable(Some(rejected))
        {
            // Another holder already refreshed: use its token.
            return Ok(self.tokens.access_token.clone());
        }
        if self.tokens.refresh_token.is_none() && !self.spent {
            return Ok(None);
        }
        self.refresh(http, Some(rejected))?;
        Ok(self.tokens.access_token.clone())
    }

    fn refresh(
        &mut self,
        http: &impl HttpClient,
        rejected: Option<&Secret>,
    ) -> Result<(), ConnectorError> {
        let ttl = self.lease_ttl_ms();
        let deadline = self.clock.now_ms() + u64::from(ttl) + 1_000;
        let lease = loop {
            match self.store.acquire_lease(&self.conn.name, ttl) {
                Ok(Some(lease)) => break Some(lease),
                Ok(None) => {
                    // Another holder is refreshing: wait for its result.
                    if self.adopt_usable(rejected) {
                        return Ok(());
                    }
                    if self.clock.now_ms() > deadline {
                        return Err(ConnectorError::Transport(TransportError::new(
                            crate::error::TransportKind::Timeout,
                            "waited too long for another holder's token refresh",
                        )));
                    }
                    self.clock.sleep(LEASE_POLL);
                }
                Err(e) => {
                    // No lease service: refresh anyway rather than fail the call.
                    store_warning("lease", &e);
                    break None;
                }
            }
        };
        let result = if self.adopt_usable(rejected) {
            Ok(())
        } else {
            self.refresh_with_lease(http)
        };
        if let Some(lease) = lease {
            self.store.release_lease(&self.conn.name, lease);
        }
        result
    }

    /// Adopts a newer set another holder stored, and tells whether its
    /// access token serves this call (fresh, and not the one X refused).
    fn adopt_usable(&mut self, rejected: Option<&Secret>) -> bool {
        self.adopt_newer() && self.usable_after_adopt(rejected)
    }

    /// After adopting another holder's set: is its access token one we can use?
    fn usable_after_adopt(&self, rejected: Option<&Secret>) -> bool {
        match (&self.tokens.access_token, rejected) {
            (Some(a), Some(r)) => a != r,
            (Some(_), None) => self.fresh(self.clock.now_ms()).is_some(),
            (None, _) => false,
        }
    }

    fn lease_ttl_ms(&self) -> u32 {
        let t = self.conn.timeout.as_millis().min(u128::from(u32::MAX / 4)) as u32;
        t * 2 + 5_000
    }

    fn refresh_with_lease(&mut self, http: &impl HttpClient) -> Result<(), ConnectorError> {
        let Some(refresh_token) = self.tokens.refresh_token.clone() else {
            let (error, description) = if self.spent {
                ("refresh_token_spent", "X refused the refresh token earlier")
            } else {
                (
                    "no_refresh_token",
                    "the access token expired and no refresh token was given to init",
                )
            };
            return Err(ConnectorError::RefreshFailed {
                error: error.into(),
                description: Some(description.into()),
                status: None,
                hint: REAUTHORIZE_HINT.into(),
            });
        };
        let token_url = TokenUrl::new(self.conn.token_url())
            .map_err(|_| ConnectorError::invalid("apiUrl", "gives no valid token URL"))?;
        let mut client = BasicClient::new(ClientId::new(self.conn.client_id.clone()))
            .set_token_uri(token_url)
            // With a secret: HTTP Basic (confidential client). Without one the
            // crate puts client_id in the body (public client), as X requires.
            .set_auth_type(AuthType::BasicAuth);
        if let Some(secret) = &self.conn.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
        }
        let status = Cell::new(None);
        let timeout = self.conn.timeout;
        let send = |req: oauth2::HttpRequest| -> Result<oauth2::HttpResponse, TransportError> {
            let resp = http.send(req, timeout)?;
            status.set(Some(resp.status().as_u16()));
            Ok(resp)
        };
        let sent_at = self.clock.now_ms();
        let outcome = client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.expose().to_string()))
            .request(&send);
        match outcome {
            Ok(tok) => {
                self.tokens = TokenSet {
                    access_token: Some(Secret::new(tok.access_token().secret().clone())),
                    // X rotates: the old token is spent whether or not a new one
                    // came back (none comes without offline.access), so it is
                    // never kept.
                    refresh_token: tok.refresh_token().map(|r| Secret::new(r.secret().clone())),
                    expires_at: tok
                        .expires_in()
                        .map(|d| sent_at + d.as_millis().min(u128::from(u64::MAX / 2)) as u64),
                    origin: self.tokens.origin.clone(),
                };
                self.spent = self.tokens.refresh_token.is_none();
                let expected = self.version;
                self.persist(expected);
                Ok(())
            }
            Err(RequestTokenError::ServerResponse(e)) => {
                let code = e.error().as_ref().to_string();
                let token_dead = matches!(code.as_str(), "invalid_request" | "invalid_grant");
                if token_dead {
                    self.tokens.refresh_token = None;
                    self.spent = true;
                    // Another holder may have rotated it under us.
                    if self.adopt_newer() {
                        return Ok(());
                    }
                }
                Err(ConnectorError::RefreshFailed {
                    error: code,
                    description: e.error_description().cloned(),
                    status: status.get(),
                    hint: if token_dead {
                        REAUTHORIZE_HINT.into()
                    } else {
                        "the token endpoint refused the client: check clientId and clientSecret"
                            .into()
                    },
                })
            }
            Err(RequestTokenError::Request(t)) => Err(ConnectorError::Transport(t)),
            Err(RequestTokenError::Parse(_, body)) => {
                let code = status.get().unwrap_or(0);
                if code >= 400 {
                    // An error page, not a token response: it holds no token.
                    Err(ConnectorError::Api(response::problem(code, &body)))
                } else {
                    // Never echo a 2xx token body: it may hold tokens.
                    Err(ConnectorError::MalformedResponse(format!(
                        "token endpoint answered HTTP {code} with a body that is not a token response"
                    )))
                }
            }
            Err(RequestTokenError::Other(m)) => Err(ConnectorError::MalformedResponse(format!(
                "token endpoint: {m}"
            ))),
        }
    }
}
