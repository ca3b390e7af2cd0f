//! The OAuth 2.0 side of the simulated X: token families, single-use
//! rotating refresh tokens, authorization codes with PKCE, bearer checks.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::distr::{Alphanumeric, SampleString};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Reply, State, TokenPair};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum RefreshState {
    Active,
    Spent,
}

pub(super) struct Family {
    pub(super) client_id: String,
    revoked: bool,
    scope: String,
}

pub(super) struct AccessToken {
    family: u64,
    expires_at: SystemTime,
}

pub(super) struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: String,
    expires_at: SystemTime,
}

/// What a token is granted unless a test asks for less: every scope the
/// connector's operations use.
const DEFAULT_SCOPE: &str = "tweet.read tweet.write users.read offline.access like.read like.write follows.read follows.write block.read block.write mute.read mute.write list.read list.write dm.read dm.write media.write";

fn token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 40)
}

fn invalid_token() -> Reply {
    Reply::json(
        400,
        json!({"error":"invalid_request","error_description":"Value passed for the token was invalid."}),
    )
}

/// The form body of a token request, decoded (`application/x-www-form-urlencoded`).
pub(super) fn form(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

impl State {
    pub(super) fn new_pair(&mut self, family: u64) -> (TokenPair, Duration) {
        let pair = TokenPair {
            access_token: token(),
            refresh_token: token(),
        };
        self.access.insert(
            pair.access_token.clone(),
            AccessToken {
                family,
                expires_at: SystemTime::now() + self.access_ttl,
            },
        );
        self.refresh
            .insert(pair.refresh_token.clone(), (family, RefreshState::Active));
        self.stats.tokens_issued.push(pair.access_token.clone());
        self.stats.tokens_issued.push(pair.refresh_token.clone());
        (pair, self.access_ttl)
    }

    /// Starts a token family for `client_id`, as a finished authorization would.
    pub fn issue(&mut self, client_id: &str) -> TokenPair {
        self.issue_with_scope(client_id, DEFAULT_SCOPE)
    }

    /// A family granted only `scope` (space-separated).
    pub fn issue_with_scope(&mut self, client_id: &str, scope: &str) -> TokenPair {
        let family = self.new_family(client_id, scope);
        self.new_pair(family).0
    }

    fn new_family(&mut self, client_id: &str, scope: &str) -> u64 {
        let id = self.next_family;
        self.next_family += 1;
        self.families.insert(
            id,
            Family {
                client_id: client_id.into(),
                revoked: false,
                scope: scope.into(),
            },
        );
        id
    }

    /// What `GET /i/oauth2/authorize` would hand the redirect URI: a code
    /// bound to the client, redirect URI and PKCE challenge (S256).
    pub fn authorize(
        &mut self,
        client_id: &str,
        redirect_uri: &str,
        code_challenge: &str,
        scope: &str,
    ) -> String {
        let code = token();
        self.codes.insert(
            code.clone(),
            Code {
                client_id: client_id.into(),
                redirect_uri: redirect_uri.into(),
                challenge: code_challenge.into(),
                scope: scope.into(),
                expires_at: SystemTime::now() + self.code_ttl,
            },
        );
        code
    }

    /// Makes every access token issued so far expired.
    pub fn expire_access_tokens(&mut self) {
        for t in self.access.values_mut() {
            t.expires_at = UNIX_EPOCH;
        }
    }

    /// Client authentication at the token and revoke endpoints, as X does
    /// it: HTTP Basic for a confidential client, `client_id` in the body for
    /// a public one.
    fn authenticate_client(
        &self,
        headers: &http::HeaderMap,
        f: &HashMap<String, String>,
    ) -> Result<String, Reply> {
        let refused = || {
            Reply::json(
                401,
                json!({"error":"unauthorized_client","error_description":"Missing valid authorization header"}),
            )
        };
        let basic = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| STANDARD.decode(b.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            });
        let client_id = match (&basic, f.get("client_id")) {
            (Some((id, _)), _) => id.clone(),
            (None, Some(id)) => id.clone(),
            (None, None) => return Err(refused()),
        };
        let Some(client) = self.clients.get(&client_id) else {
            return Err(refused());
        };
        match (&client.secret, &basic) {
            (Some(secret), Some((_, given))) if given == secret => Ok(client_id),
            (Some(_), _) => Err(refused()),
            (None, _) => Ok(client_id),
        }
    }

    /// `POST /2/oauth2/revoke`: the token's family dies (refresh and access
    /// tokens alike). Unknown tokens are answered the same (RFC 7009).
    pub(super) fn revoke(&mut self, headers: &http::HeaderMap, body: &[u8]) -> Reply {
        let f = form(body);
        let client_id = match self.authenticate_client(headers, &f) {
            Ok(id) => id,
            Err(reply) => return reply,
        };
        let Some(token) = f.get("token") else {
            return Reply::json(
                400,
                json!({"error":"invalid_request","error_description":"Missing required parameter [token]."}),
            );
        };
        let family = self
            .refresh
            .get(token)
            .map(|(f, _)| *f)
            .or_else(|| self.access.get(token).map(|a| a.family));
        if let Some(family) = family {
            if let Some(fam) = self.families.get_mut(&family) {
                if fam.client_id == client_id && !fam.revoked {
                    fam.revoked = true;
                    self.stats.revocations += 1;
                }
            }
        }
        Reply::json(200, json!({"revoked": true}))
    }

    pub(super) fn token(&mut self, headers: &http::HeaderMap, body: &[u8]) -> Reply {
        let f = form(body);
        let mut logged = f.clone();
        for k in ["refresh_token", "code", "code_verifier", "client_secret"] {
            if let Some(v) = logged.get_mut(k) {
                *v = "***".into();
            }
        }
        if let Some(v) = f.get("code_verifier") {
            self.stats.code_verifiers.push(v.clone());
        }
        self.stats.token_requests.push(logged);
        let client_id = match self.authenticate_client(headers, &f) {
            Ok(id) => id,
            Err(reply) => return reply,
        };
        match f.get("grant_type").map(String::as_str) {
            Some("refresh_token") => {
                let Some(rt) = f.get("refresh_token") else {
                    return invalid_token();
                };
                let Some(&(family, state)) = self.refresh.get(rt) else {
                    return invalid_token();
                };
                let fam = &self.families[&family];
                if fam.revoked || fam.client_id != client_id {
                    return invalid_token();
                }
                if state == RefreshState::Spent {
                    // Reuse of a rotated token: revoke the family (RFC 9700 §4.14).
                    self.stats.reuses_detected += 1;
                    if let Some(f) = self.families.get_mut(&family) {
                        if !f.revoked {
                            self.stats.revoked_families += 1;
                        }
                        f.revoked = true;
                    }
                    return invalid_token();
                }
                self.refresh
                    .insert(rt.clone(), (family, RefreshState::Spent));
                self.stats.refreshes += 1;
                self.stats.last_refresh = Some(SystemTime::now());
                let scope = self.families[&family].scope.clone();
                let (pair, ttl) = self.new_pair(family);
                Reply::json(
                    200,
                    json!({
                        "token_type":"bearer",
                        "expires_in": ttl.as_secs(),
                        "access_token": pair.access_token,
                        "scope": scope,
                        "refresh_token": pair.refresh_token,
                    }),
                )
            }
            Some("authorization_code") => {
                let bad_code = || {
                    Reply::json(
                        400,
                        json!({"error":"invalid_request","error_description":"Value passed for the authorization code was invalid."}),
                    )
                };
                let Some(code) = f.get("code").and_then(|c| self.codes.remove(c)) else {
                    return bad_code();
                };
                let verifier = f.get("code_verifier").cloned().unwrap_or_default();
                let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                if code.client_id != client_id
                    || f.get("redirect_uri") != Some(&code.redirect_uri)
                    || challenge != code.challenge
                    || SystemTime::now() > code.expires_at
                {
                    return bad_code();
                }
                self.stats.code_exchanges += 1;
                let family = self.new_family(&client_id, &code.scope);
                let (pair, ttl) = self.new_pair(family);
                let mut body = json!({
                    "token_type":"bearer",
                    "expires_in": ttl.as_secs(),
                    "access_token": pair.access_token,
                    "scope": code.scope,
                });
                if code.scope.split(' ').any(|s| s == "offline.access") {
                    body["refresh_token"] = json!(pair.refresh_token);
                }
                Reply::json(200, body)
            }
            _ => Reply::json(
                400,
                json!({"error":"unsupported_grant_type","error_description":"grant_type is not supported"}),
            ),
        }
    }

    /// The app and the scopes a request's bearer token carries, if it is
    /// a live access token of a live family.
    pub(super) fn bearer(&self, headers: &http::HeaderMap) -> Option<(String, String)> {
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))?;
        let t = self.access.get(bearer)?;
        let family = self.families.get(&t.family).filter(|f| !f.revoked)?;
        (SystemTime::now() < t.expires_at).then(|| (family.client_id.clone(), family.scope.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Client;
    use serde_json::Value;

    #[test]
    fn form_decoding() {
        let f = form(b"a=1%2B2&b=x+y&c=%zz");
        assert_eq!(f["a"], "1+2");
        assert_eq!(f["b"], "x y");
        assert_eq!(f["c"], "%zz");
    }

    #[test]
    fn authorization_code_with_pkce_s256() {
        let mut s = State::new();
        s.add_client(Client {
            id: "app".into(),
            secret: Some("shh".into()),
            redirect_uris: vec![],
        });
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let mut h = http::HeaderMap::new();
        h.insert(
            "authorization",
            format!("Basic {}", STANDARD.encode("app:shh"))
                .parse()
                .unwrap(),
        );
        let exchange = |s: &mut State, code: &str, verifier: &str| {
            let body = format!(
                "grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp%2Fcb&code_verifier={verifier}"
            );
            s.handle("POST", "/2/oauth2/token", None, &h, body.as_bytes())
        };
        let code = s.authorize(
            "app",
            "https://app/cb",
            &challenge,
            "tweet.read users.read offline.access",
        );
        let wrong = exchange(&mut s, &code, "not-the-verifier");
        assert_eq!(wrong.status, 400, "a wrong verifier is refused");
        let code = s.authorize(
            "app",
            "https://app/cb",
            &challenge,
            "tweet.read users.read offline.access",
        );
        let ok = exchange(&mut s, &code, verifier);
        assert_eq!(ok.status, 200);
        let v: Value = serde_json::from_slice(&ok.body).unwrap();
        assert!(
            v["refresh_token"].is_string(),
            "offline.access gives a refresh token"
        );
        assert_eq!(v["token_type"], "bearer");
        let again = exchange(&mut s, &code, verifier);
        assert_eq!(again.status, 400, "a code is single-use");
        let v: Value = serde_json::from_slice(&again.body).unwrap();
        assert_eq!(
            v["error_description"],
            "Value passed for the authorization code was invalid."
        );
        assert_eq!(s.stats.code_exchanges, 1);
        // Without offline.access there is no refresh token.
        let code = s.authorize("app", "https://app/cb", &challenge, "tweet.read users.read");
        let v: Value = serde_json::from_slice(&exchange(&mut s, &code, verifier).body).unwrap();
        assert!(v.get("refresh_token").is_none());
    }

    #[test]
    fn refresh_tokens_are_single_use_and_reuse_revokes_the_family() {
        let mut s = State::new();
        s.add_client(Client {
            id: "c".into(),
            secret: None,
            redirect_uris: vec![],
        });
        let pair = s.issue("c");
        let h = http::HeaderMap::new();
        let body = format!(
            "grant_type=refresh_token&client_id=c&refresh_token={}",
            pair.refresh_token
        );
        let first = s.handle("POST", "/2/oauth2/token", None, &h, body.as_bytes());
        assert_eq!(first.status, 200);
        let v: Value = serde_json::from_slice(&first.body).unwrap();
        let new_rt = v["refresh_token"].as_str().unwrap().to_string();
        // Reuse the spent one: refused, and the new one dies with the family.
        let again = s.handle("POST", "/2/oauth2/token", None, &h, body.as_bytes());
        assert_eq!(again.status, 400);
        assert_eq!(s.stats.reuses_detected, 1);
        let body2 = format!("grant_type=refresh_token&client_id=c&refresh_token={new_rt}");
        assert_eq!(
            s.handle("POST", "/2/oauth2/token", None, &h, body2.as_bytes())
                .status,
            400
        );
        assert_eq!(s.stats.token_requests[0]["refresh_token"], "***");
    }
}
