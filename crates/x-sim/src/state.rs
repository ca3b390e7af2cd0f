//! The simulator's model of X: clients, accounts, token families, posts,
//! rate-limit budgets, faults and counters. Pure and synchronous; the server
//! calls [`State::handle`] under a lock.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::endpoint;

/// An OAuth 2.0 client (an X app).
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    /// `Some`: confidential client (HTTP Basic at the token endpoint).
    pub secret: Option<String>,
}

/// The user the tokens act for.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub username: String,
}

impl Default for Account {
    fn default() -> Self {
        Account {
            id: "1564781240977719296".into(),
            name: "Sandbox Developer".into(),
            username: "sandbox_dev".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
}

/// What the next request to an endpoint suffers.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer after this delay (then normally).
    Delay(Duration),
    /// Answer with this status and body (`application/json`).
    Status(u16, String),
    /// Close the connection without answering.
    Drop,
    /// 200 with this body as `application/json`, whatever it is.
    Malformed(String),
    /// 200 whose body stops before its `content-length`.
    Truncated,
    /// 200 with a JSON body of about this many bytes.
    Huge(usize),
    /// A normal answer whose body stops halfway for this long, then ends.
    StalledBody(Duration),
}

/// Counters tests read.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Successful refresh-token grants.
    pub refreshes: u64,
    /// Spent refresh tokens presented again (each revoked its family).
    pub reuses_detected: u64,
    /// Authorization-code grants that succeeded.
    pub code_exchanges: u64,
    /// Requests per endpoint key (see [`crate::endpoint`]).
    pub requests: HashMap<String, u64>,
    /// Bodies received by `POST /2/tweets`, parsed.
    pub tweet_bodies: Vec<Value>,
    /// Form bodies received by the token endpoint, with secrets replaced by `***`.
    pub token_requests: Vec<HashMap<String, String>>,
    /// TCP connections accepted.
    pub connections: u64,
    /// 401s answered to API calls.
    pub unauthorized: u64,
}

impl Stats {
    pub fn requests_to(&self, endpoint: &str) -> u64 {
        self.requests.get(endpoint).copied().unwrap_or(0)
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }
}

pub enum Action {
    Respond,
    Drop,
    Truncate,
    Stall(Duration),
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Option<Duration>,
    pub action: Action,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.to_string().into_bytes(),
            delay: None,
            action: Action::Respond,
        }
    }

    fn problem(status: u16, body: Value) -> Self {
        let mut r = Reply::json(status, body);
        r.headers[0].1 = "application/problem+json".into();
        r
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum RefreshState {
    Active,
    Spent,
}

struct Family {
    client_id: String,
    revoked: bool,
    scope: String,
}

struct AccessToken {
    family: u64,
    expires_at: SystemTime,
}

struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: String,
    expires_at: SystemTime,
}

struct Budget {
    limit: u32,
    remaining: u32,
    window: Duration,
    reset: SystemTime,
}

struct Post {
    text: String,
}

pub struct State {
    pub clients: HashMap<String, Client>,
    pub account: Account,
    pub access_ttl: Duration,
    families: HashMap<u64, Family>,
    next_family: u64,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, (u64, RefreshState)>,
    codes: HashMap<String, Code>,
    posts: HashMap<String, Post>,
    next_post: u64,
    budgets: HashMap<String, Budget>,
    faults: HashMap<String, VecDeque<Fault>>,
    pub stats: Stats,
}

const DEFAULT_SCOPE: &str = "tweet.read tweet.write users.read offline.access";

fn token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 40)
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn invalid_token() -> Reply {
    Reply::json(
        400,
        json!({"error":"invalid_request","error_description":"Value passed for the token was invalid."}),
    )
}

fn unauthorized() -> Reply {
    Reply::problem(
        401,
        json!({"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}),
    )
}

fn invalid_request(message: String, parameters: Value) -> Reply {
    Reply::problem(
        400,
        json!({
            "errors":[{"parameters": parameters, "message": message}],
            "title":"Invalid Request",
            "detail":"One or more parameters to your request was invalid.",
            "type":"https://api.twitter.com/2/problems/invalid-request"
        }),
    )
}

/// The form body of a token request, decoded (`application/x-www-form-urlencoded`).
fn form(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

impl State {
    pub fn new() -> Self {
        State {
            clients: HashMap::new(),
            account: Account::default(),
            access_ttl: Duration::from_secs(7200),
            families: HashMap::new(),
            next_family: 1,
            access: HashMap::new(),
            refresh: HashMap::new(),
            codes: HashMap::new(),
            posts: HashMap::new(),
            next_post: 1_861_000_000_000_000_100,
            budgets: HashMap::new(),
            faults: HashMap::new(),
            stats: Stats::default(),
        }
    }

    pub fn add_client(&mut self, client: Client) {
        self.clients.insert(client.id.clone(), client);
    }

    fn new_pair(&mut self, family: u64) -> (TokenPair, Duration) {
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
        (pair, self.access_ttl)
    }

    /// Starts a token family for `client_id`, as a finished authorization would.
    pub fn issue(&mut self, client_id: &str) -> TokenPair {
        let family = self.new_family(client_id, DEFAULT_SCOPE);
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
                expires_at: SystemTime::now() + Duration::from_secs(30),
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

    pub fn set_rate_limit(&mut self, endpoint: &str, limit: u32, window: Duration) {
        self.budgets.insert(
            endpoint.into(),
            Budget {
                limit,
                remaining: limit,
                window,
                reset: SystemTime::now() + window,
            },
        );
    }

    pub fn push_fault(&mut self, endpoint: &str, fault: Fault) {
        self.faults
            .entry(endpoint.into())
            .or_default()
            .push_back(fault);
    }

    pub fn handle(
        &mut self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Reply {
        let key = match (method, path) {
            ("POST", "/2/oauth2/token") => endpoint::TOKEN,
            ("POST", "/2/tweets") => endpoint::CREATE_TWEET,
            ("DELETE", p) if p.starts_with("/2/tweets/") => endpoint::DELETE_TWEET,
            ("GET", "/2/users/me") => endpoint::GET_ME,
            _ => {
                return Reply::problem(
                    404,
                    json!({"title":"Not Found Error","type":"about:blank","status":404,"detail":format!("no route for {method} {path}")}),
                )
            }
        };
        *self.stats.requests.entry(key.into()).or_default() += 1;
        let mut delay = None;
        while let Some(fault) = self.faults.get_mut(key).and_then(VecDeque::pop_front) {
            match fault {
                Fault::Delay(d) => {
                    delay = Some(d);
                    // A delay combines with the next fault, if any.
                    continue;
                }
                Fault::Status(status, b) => {
                    let mut r = Reply::json(status, json!({}));
                    r.body = b.into_bytes();
                    r.delay = delay;
                    return r;
                }
                Fault::Drop => {
                    let mut r = Reply::json(500, json!({}));
                    r.action = Action::Drop;
                    r.delay = delay;
                    return r;
                }
                Fault::Malformed(b) => {
                    let mut r = Reply::json(200, json!({}));
                    r.body = b.into_bytes();
                    r.delay = delay;
                    return r;
                }
                Fault::Truncated => {
                    let mut r = Reply::json(200, json!({"data":{"id":"1","text":"cut"}}));
                    r.action = Action::Truncate;
                    r.delay = delay;
                    return r;
                }
                Fault::StalledBody(pause) => {
                    let mut r = self.answer(key, path, query, headers, body);
                    r.action = Action::Stall(pause);
                    r.delay = delay;
                    return r;
                }
                Fault::Huge(n) => {
                    let mut r = Reply::json(200, json!({"data":{"id":"1","text":"x".repeat(n)}}));
                    r.delay = delay;
                    return r;
                }
            }
        }
        let mut reply = self.answer(key, path, query, headers, body);
        reply.delay = delay;
        reply
    }

    fn answer(
        &mut self,
        key: &str,
        path: &str,
        query: Option<&str>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Reply {
        if key == endpoint::TOKEN {
            self.token(headers, body)
        } else {
            self.api(key, path, query, headers, body)
        }
    }

    fn token(&mut self, headers: &http::HeaderMap, body: &[u8]) -> Reply {
        let f = form(body);
        let mut logged = f.clone();
        for k in ["refresh_token", "code", "code_verifier", "client_secret"] {
            if let Some(v) = logged.get_mut(k) {
                *v = "***".into();
            }
        }
        self.stats.token_requests.push(logged);
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
        // Client authentication, as X does it.
        let client_id = match (&basic, f.get("client_id")) {
            (Some((id, _)), _) => id.clone(),
            (None, Some(id)) => id.clone(),
            (None, None) => {
                return Reply::json(
                    401,
                    json!({"error":"unauthorized_client","error_description":"Missing valid authorization header"}),
                )
            }
        };
        let Some(client) = self.clients.get(&client_id).cloned() else {
            return Reply::json(
                401,
                json!({"error":"unauthorized_client","error_description":"Missing valid authorization header"}),
            );
        };
        match (&client.secret, &basic) {
            (Some(secret), Some((_, given))) if given == secret => {}
            (Some(_), _) => {
                return Reply::json(
                    401,
                    json!({"error":"unauthorized_client","error_description":"Missing valid authorization header"}),
                )
            }
            (None, _) => {}
        }
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
                        f.revoked = true;
                    }
                    return invalid_token();
                }
                self.refresh
                    .insert(rt.clone(), (family, RefreshState::Spent));
                self.stats.refreshes += 1;
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

    fn authorized(&self, headers: &http::HeaderMap) -> bool {
        let Some(bearer) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        match self.access.get(bearer) {
            Some(t) => {
                SystemTime::now() < t.expires_at
                    && self.families.get(&t.family).is_some_and(|f| !f.revoked)
            }
            None => false,
        }
    }

    fn rate_headers(&mut self, key: &str) -> Result<Vec<(String, String)>, Reply> {
        let Some(b) = self.budgets.get_mut(key) else {
            return Ok(Vec::new());
        };
        let now = SystemTime::now();
        if now >= b.reset {
            b.remaining = b.limit;
            b.reset = now + b.window;
        }
        let over = b.remaining == 0;
        b.remaining = b.remaining.saturating_sub(1);
        let prefix = if b.window >= Duration::from_secs(86_400) {
            "x-user-limit-24hour"
        } else {
            "x-rate-limit"
        };
        let headers = vec![
            (format!("{prefix}-limit"), b.limit.to_string()),
            (format!("{prefix}-remaining"), b.remaining.to_string()),
            (format!("{prefix}-reset"), unix(b.reset).to_string()),
        ];
        if over {
            let mut r = Reply::problem(
                429,
                json!({"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}),
            );
            r.headers.extend(headers);
            return Err(r);
        }
        Ok(headers)
    }

    fn api(
        &mut self,
        key: &str,
        path: &str,
        query: Option<&str>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Reply {
        if !self.authorized(headers) {
            self.stats.unauthorized += 1;
            return unauthorized();
        }
        let rate = match self.rate_headers(key) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let mut reply = match key {
            endpoint::CREATE_TWEET => self.create_tweet(body),
            endpoint::DELETE_TWEET => self.delete_tweet(path.trim_start_matches("/2/tweets/")),
            _ => self.get_me(query),
        };
        reply.headers.extend(rate);
        reply
    }

    fn create_tweet(&mut self, body: &[u8]) -> Reply {
        let v: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return invalid_request(format!("body is not JSON: {e}"), json!({})),
        };
        self.stats.tweet_bodies.push(v.clone());
        let text = v
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if text.chars().count() > 280 * 2 {
            return invalid_request(
                "The length of the `text` field in the request body is not between 0 and 280"
                    .into(),
                json!({"text":[text]}),
            );
        }
        if !text.is_empty() && self.posts.values().any(|p| p.text == text) {
            return Reply::problem(
                403,
                json!({"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403}),
            );
        }
        self.next_post += 1;
        let id = self.next_post.to_string();
        self.posts.insert(id.clone(), Post { text: text.clone() });
        Reply::json(
            201,
            json!({"data":{"id": id, "text": text, "edit_history_tweet_ids":[id]}}),
        )
    }

    fn delete_tweet(&mut self, id: &str) -> Reply {
        if id.is_empty() || id.len() > 19 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return invalid_request(
                format!("The `id` query parameter value [{id}] does not match ^[0-9]{{1,19}}$"),
                json!({"id":[id]}),
            );
        }
        if self.posts.remove(id).is_none() {
            return Reply::problem(
                404,
                json!({
                    "title":"Not Found Error",
                    "detail": format!("Could not find tweet with id: [{id}]."),
                    "type":"https://api.twitter.com/2/problems/resource-not-found",
                    "status":404
                }),
            );
        }
        Reply::json(200, json!({"data":{"deleted":true}}))
    }

    fn get_me(&mut self, query: Option<&str>) -> Reply {
        let params: HashMap<String, String> = query.map(|q| form(q.as_bytes())).unwrap_or_default();
        let list = |k: &str| -> Vec<String> {
            params
                .get(k)
                .map(|v| v.split(',').map(str::to_string).collect())
                .unwrap_or_default()
        };
        let a = &self.account;
        let mut data = json!({"id": a.id, "name": a.name, "username": a.username});
        for field in list("user.fields") {
            let value = match field.as_str() {
                "created_at" => json!("2022-08-30T12:00:00.000Z"),
                "description" => json!("Account of the X API simulator"),
                "protected" | "verified" => json!(false),
                "public_metrics" => {
                    json!({"followers_count":0,"following_count":0,"tweet_count":self.posts.len(),"listed_count":0})
                }
                "pinned_tweet_id" => json!("1861000000000000001"),
                _ => continue,
            };
            data[field] = value;
        }
        let mut out = json!({"data": data});
        if list("expansions").iter().any(|e| e == "pinned_tweet_id") {
            data_insert(&mut out, "pinned_tweet_id", json!("1861000000000000001"));
            out["includes"] = json!({"tweets":[{"id":"1861000000000000001","text":"pinned","edit_history_tweet_ids":["1861000000000000001"]}]});
        }
        Reply::json(200, out)
    }
}

fn data_insert(out: &mut Value, k: &str, v: Value) {
    if let Some(d) = out.get_mut("data").and_then(Value::as_object_mut) {
        d.insert(k.into(), v);
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
