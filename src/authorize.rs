//! Getting the first tokens: OAuth 2.0 authorization code with PKCE (S256),
//! as X implements it. [`begin`] builds the consent URL (through the
//! `oauth2` crate) and keeps the verifier and `state` in a [`Pending`] that
//! never leaves the instance; [`complete`] refuses a callback whose `state`
//! is not the pending one, then exchanges the code.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use oauth2::basic::BasicClient;
use oauth2::url::Url;
use oauth2::{
    AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};

use crate::config::{self, Connection};
use crate::error::{ConnectorError, OAuthFailure, OAuthReason, OAuthRequest};
use crate::http::HttpClient;
use crate::secret::Secret;
use crate::token::endpoint::{self, Obtained};

pub const DEFAULT_AUTHORIZE_URL: &str = "https://x.com/i/oauth2/authorize";
/// Always asked for: without it X gives no refresh token.
pub const OFFLINE_ACCESS: &str = "offline.access";
/// The scopes the connector's operations need when none are given.
pub const DEFAULT_SCOPES: &[&str] = &["tweet.read", "tweet.write", "users.read"];

/// Random bytes (WASI random in the component).
pub trait Random {
    fn fill(&self, buf: &mut [u8]);
}

#[derive(Debug, Clone, Default)]
pub struct AuthorizationParams {
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub authorize_url: Option<String>,
}

/// What stays in the instance between the two halves.
pub struct Pending {
    pub conn: Connection,
    verifier: Secret,
    state: Secret,
    redirect_uri: String,
}

impl Pending {
    /// The `state` the callback must carry back (it is in the consent URL too).
    pub fn state(&self) -> &Secret {
        &self.state
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("connection", &self.conn.name)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// https anywhere, http only on loopback (RFC 8252 §7.3), no fragment.
fn check_url(parameter: &str, raw: &str) -> Result<Url, ConnectorError> {
    let url = Url::parse(raw.trim()).map_err(|e| {
        ConnectorError::invalid(parameter, format!("must be an absolute URL ({e})"))
    })?;
    match url.scheme() {
        "https" => {}
        "http" if config::is_loopback(url.host()) => {}
        _ => {
            return Err(ConnectorError::invalid(
                parameter,
                "must be https, or http on a loopback host (127.0.0.1, localhost, ::1)",
            ))
        }
    }
    if url.fragment().is_some() || url.host().is_none() {
        return Err(ConnectorError::invalid(
            parameter,
            "must have a host and no fragment",
        ));
    }
    Ok(url)
}

fn random_text(random: &impl Random, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    random.fill(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The scopes to ask for: the given ones (or the defaults), plus
/// `offline.access`, each checked.
pub fn scopes(given: &[String]) -> Result<Vec<String>, ConnectorError> {
    let mut out: Vec<String> = if given.iter().all(|s| s.trim().is_empty()) {
        DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect()
    } else {
        given
            .iter()
            .flat_map(|s| s.split([' ', ',']))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    if let Some(bad) = out.iter().find(|s| {
        !s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
    }) {
        return Err(ConnectorError::invalid(
            "scopes",
            format!("`{bad}` is not a scope name (letters, digits, `.`, `_`, `:`, `-`)"),
        ));
    }
    if !out.iter().any(|s| s == OFFLINE_ACCESS) {
        out.push(OFFLINE_ACCESS.into());
    }
    Ok(out)
}

/// Starts an authorization: the consent URL and what to keep.
pub fn begin(
    conn: Connection,
    params: &AuthorizationParams,
    random: &impl Random,
) -> Result<(String, Pending), ConnectorError> {
    let redirect = check_url("redirectUri", &params.redirect_uri)?;
    let authorize = check_url(
        "authorizeUrl",
        params
            .authorize_url
            .as_deref()
            .unwrap_or(DEFAULT_AUTHORIZE_URL),
    )?;
    let scopes = scopes(&params.scopes)?;
    // 32 random bytes: a 43-character verifier (RFC 7636 asks 43 to 128).
    let verifier = random_text(random, 32);
    let state = random_text(random, 24);
    let challenge =
        PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.clone()));
    let client = BasicClient::new(ClientId::new(conn.client_id.clone()))
        .set_auth_uri(AuthUrl::from_url(authorize))
        .set_redirect_uri(RedirectUrl::from_url(redirect.clone()));
    let csrf = state.clone();
    let (url, _) = client
        .authorize_url(move || CsrfToken::new(csrf))
        .add_scopes(scopes.into_iter().map(Scope::new))
        .set_pkce_challenge(challenge)
        .url();
    Ok((
        url.to_string(),
        Pending {
            conn,
            verifier: Secret::new(verifier),
            state: Secret::new(state),
            // As sent in the consent URL: the token request must repeat it.
            redirect_uri: redirect.to_string(),
        },
    ))
}

/// Compares without stopping at the first difference, so the time taken
/// says nothing about how much of a guessed `state` was right.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Checks the callback's `state` against the pending one.
pub fn check_state(pending: Option<&Pending>, state: &str) -> Result<(), ConnectorError> {
    let Some(p) = pending else {
        return Err(ConnectorError::invalid(
            "state",
            "no authorization is pending in this instance: begin one first",
        ));
    };
    if state.is_empty() || !same(state, p.state.expose()) {
        return Err(ConnectorError::invalid(
            "state",
            "does not match the pending authorization (a stale or forged callback): start the authorization again",
        ));
    }
    Ok(())
}

/// Exchanges the callback's code for the first token set; refuses a set
/// without a refresh token (`offline.access` not granted).
pub fn complete(
    pending: &Pending,
    code: &Secret,
    http: &impl HttpClient,
    now_ms: u64,
) -> Result<Obtained, ConnectorError> {
    if code.expose().trim().is_empty() {
        return Err(ConnectorError::invalid("code", "is required"));
    }
    let got = endpoint::exchange_code(
        &pending.conn,
        code,
        &pending.verifier,
        &pending.redirect_uri,
        http,
        now_ms,
    )
    // X's error text may echo what it was sent; the code and the verifier
    // are the host's to mask only if it knows them, and it never sees the
    // verifier.
    .map_err(|f| f.error.masking(&[code, &pending.verifier]))?;
    if got.refresh_token.is_none() {
        return Err(ConnectorError::OAuth(OAuthFailure {
            description: Some(format!(
                "X gave no refresh token: offline.access was not granted (granted: {})",
                got.scope.as_deref().unwrap_or("not said")
            )),
            ..OAuthFailure::own(
                OAuthRequest::AuthorizationCode,
                OAuthReason::NoRefreshToken,
                "approve every scope on X's consent page, and check that the app may ask for offline.access; then start the authorization again",
            )
        }));
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, ConnectionParams};
    use std::cell::Cell;

    struct Counter(Cell<u8>);
    impl Random for Counter {
        fn fill(&self, buf: &mut [u8]) {
            for b in buf {
                *b = self.0.get();
                self.0.set(self.0.get().wrapping_add(1));
            }
        }
    }

    fn conn() -> Connection {
        config::validate(ConnectionParams {
            client_id: "app".into(),
            api_url: Some("http://127.0.0.1:9".into()),
            ..Default::default()
        })
        .unwrap()
        .0
    }

    fn params() -> AuthorizationParams {
        AuthorizationParams {
            redirect_uri: "http://127.0.0.1:8765/callback".into(),
            scopes: vec!["tweet.read users.read".into()],
            authorize_url: None,
        }
    }

    #[test]
    fn the_consent_url_carries_pkce_state_and_offline_access() {
        let (url, pending) = begin(conn(), &params(), &Counter(Cell::new(0))).unwrap();
        let u = Url::parse(&url).unwrap();
        assert_eq!(u.host_str(), Some("x.com"));
        assert_eq!(u.path(), "/i/oauth2/authorize");
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "app");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:8765/callback");
        assert_eq!(q["scope"], "tweet.read users.read offline.access");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["state"], pending.state.expose());
        assert_eq!(pending.verifier.expose().len(), 43);
        let expected = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(pending.verifier.expose()));
        assert_eq!(q["code_challenge"], expected);
        assert!(
            !url.contains(pending.verifier.expose()),
            "the verifier stays inside"
        );
        assert!(!format!("{pending:?}").contains(pending.verifier.expose()));
        use sha2::Digest;
    }

    #[test]
    fn the_code_grant_carries_the_verifier_and_a_refusal_never_shows_it() {
        let (_, pending) = begin(conn(), &params(), &Counter(Cell::new(7))).unwrap();
        let http = crate::test_support::FakeHttp::default();
        http.push(
            200,
            r#"{"token_type":"bearer","expires_in":7200,"access_token":"a","refresh_token":"r","scope":"tweet.read offline.access"}"#,
        );
        let code = Secret::new("the-code".to_string());
        complete(&pending, &code, &http, 0).unwrap();
        let bodies = http.token_bodies();
        let form: std::collections::HashMap<String, String> =
            form_urlencoded::parse(bodies[0].as_bytes())
                .into_owned()
                .collect();
        assert_eq!(form["grant_type"], "authorization_code");
        assert_eq!(form["code"], "the-code");
        assert_eq!(form["code_verifier"], pending.verifier.expose());
        assert_eq!(form["redirect_uri"], "http://127.0.0.1:8765/callback");
        assert_eq!(form["client_id"], "app");
        // X's refusal may echo what it was sent: neither the code nor the
        // verifier reaches the error.
        let echo = format!(
            r#"{{"error":"invalid_request","error_description":"bad code_verifier {} for {}"}}"#,
            pending.verifier.expose(),
            code.expose()
        );
        http.push(400, &echo);
        let Err(e) = complete(&pending, &code, &http, 0) else {
            panic!("a refusal was taken")
        };
        let shown = format!("{e} {} {e:?}", e.message());
        assert!(!shown.contains(pending.verifier.expose()), "{shown}");
        assert!(!shown.contains("the-code"), "{shown}");
    }

    #[test]
    fn rules_are_checked_before_anything_is_sent() {
        let mut p = params();
        p.redirect_uri = "http://example.com/cb".into();
        let e = begin(conn(), &p, &Counter(Cell::new(0))).unwrap_err();
        assert!(
            matches!(e, ConnectorError::InvalidInput { ref parameter, .. } if parameter == "redirectUri"),
            "{e:?}"
        );
        let mut p = params();
        p.scopes = vec!["tweet.read; drop".into()];
        let e = begin(conn(), &p, &Counter(Cell::new(0))).unwrap_err();
        assert!(
            matches!(e, ConnectorError::InvalidInput { ref parameter, .. } if parameter == "scopes"),
            "{e:?}"
        );
        let mut p = params();
        p.authorize_url = Some("ftp://x".into());
        assert!(begin(conn(), &p, &Counter(Cell::new(0))).is_err());
        assert_eq!(
            scopes(&[]).unwrap(),
            vec!["tweet.read", "tweet.write", "users.read", "offline.access"]
        );
    }

    #[test]
    fn only_the_pending_state_is_accepted() {
        let (_, pending) = begin(conn(), &params(), &Counter(Cell::new(0))).unwrap();
        let good = pending.state.expose().to_string();
        assert!(check_state(Some(&pending), &good).is_ok());
        for bad in ["", "x", &good[..good.len() - 1]] {
            let e = check_state(Some(&pending), bad).unwrap_err();
            assert!(e.to_string().contains("state"), "{e}");
        }
        assert!(check_state(None, &good)
            .unwrap_err()
            .to_string()
            .contains("no authorization is pending"));
    }
}
