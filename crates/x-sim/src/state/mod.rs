//! The simulator's model of X: clients, accounts, token families, posts,
//! rate-limit budgets, faults and counters. Pure and synchronous; the server
//! calls [`State::handle`] under a lock.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::Endpoint;

mod api;
mod authorize;
mod billing;
mod fields;
mod limits;
mod media;
mod oauth;
mod post_rules;
mod social;

pub use authorize::Consent;
pub use billing::{post_unit, Charges};
pub use limits::{Budgeted, Tier, DEFAULT_CREDITS_MICROS};
pub use post_rules::weighted_length;
pub use social::SEEDED_FOLLOWERS;

use api::Post;
use limits::Budget;
use oauth::{AccessToken, Code, Family, RefreshState};

/// An OAuth 2.0 client (an X app).
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    /// `Some`: confidential client (HTTP Basic at the token endpoint).
    pub secret: Option<String>,
    /// Callback URLs registered for the app (exact match at authorize).
    pub redirect_uris: Vec<String>,
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
    /// Answer with this status and this content type, headers and body.
    Raw(u16, Option<String>, Vec<(String, String)>, String),
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
    /// A normal answer: queued before another fault, it lets that one hit
    /// a later request (the second page of a read).
    Normal,
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
    pub requests: HashMap<Endpoint, u64>,
    /// Bodies received by `POST /2/tweets`, parsed.
    pub tweet_bodies: Vec<Value>,
    /// The texts of the posts created, in order (a refused body is not).
    pub created_texts: Vec<String>,
    /// Form bodies received by the token endpoint, with secrets replaced by `***`.
    pub token_requests: Vec<HashMap<String, String>>,
    /// TCP connections accepted.
    pub connections: u64,
    /// Of those, connections that spoke HTTP/2.
    pub h2_connections: u64,
    /// Token families revoked at `POST /2/oauth2/revoke`.
    pub revocations: u64,
    /// Authorizations the simulated user denied.
    pub denials: u64,
    /// Authorization codes handed out (tests look for them in output).
    pub codes_issued: Vec<String>,
    /// PKCE verifiers received at the token endpoint (likewise).
    pub code_verifiers: Vec<String>,
    /// Every access and refresh token issued (likewise).
    pub tokens_issued: Vec<String>,
    /// Answers that broke the spec's contract (with the `contract` feature).
    pub contract_violations: Vec<String>,
    /// 401s answered to API calls.
    pub unauthorized: u64,
    /// Token families revoked (by reuse of a spent refresh token).
    pub revoked_families: u64,
    /// When the last refresh-token grant rotated a token.
    pub last_refresh: Option<SystemTime>,
    /// Requests received and not yet answered, per endpoint key.
    pub in_flight: HashMap<Endpoint, u64>,
    /// The most requests in flight at once, per endpoint key.
    pub max_in_flight: HashMap<Endpoint, u64>,
    /// What pay-per-use billing charged (with credits set).
    pub charges: Charges,
    /// Media bytes received (one-request uploads and appended chunks).
    pub media_bytes: u64,
    /// `append` requests accepted.
    pub media_appends: u64,
    /// `GET /2/media/upload` status requests.
    pub media_status_polls: u64,
    /// Requests that broke the spec's contract for their operation (with
    /// the `contract` feature): unknown parameters, values outside the
    /// schema, bodies the schema refuses.
    pub request_violations: Vec<String>,
}

impl Stats {
    pub fn requests_to(&self, endpoint: Endpoint) -> u64 {
        self.requests.get(&endpoint).copied().unwrap_or(0)
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }

    pub fn in_flight_at(&self, endpoint: Endpoint) -> u64 {
        self.in_flight.get(&endpoint).copied().unwrap_or(0)
    }

    pub fn max_in_flight_at(&self, endpoint: Endpoint) -> u64 {
        self.max_in_flight.get(&endpoint).copied().unwrap_or(0)
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
    pub(super) fn json(status: u16, body: Value) -> Self {
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

    pub(super) fn problem(status: u16, body: Value) -> Self {
        let mut r = Reply::json(status, body);
        r.headers[0].1 = "application/problem+json".into();
        r
    }
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
    social: social::Social,
    uploads: HashMap<String, media::Upload>,
    /// Status polls a video or GIF needs before its processing succeeds.
    pub media_polls: u32,
    /// An Enterprise app: X's reply rule and quote removal do not apply.
    pub enterprise: bool,
    budgets: HashMap<(Endpoint, Budgeted), Budget>,
    /// Pay-per-use credits (`Tier::Payg`, or set): `None` bills nothing.
    credits: Option<billing::Credits>,
    /// Endpoints the app's access tier does not include (403 client-forbidden).
    tier_forbidden: std::collections::HashSet<Endpoint>,
    faults: HashMap<Endpoint, VecDeque<Fault>>,
    /// How long X takes before it acts on a request, per endpoint key.
    latency: HashMap<Endpoint, Duration>,
    /// What the simulated user does on the consent page.
    pub consent: Consent,
    /// Lifetime of authorization codes (X: 30 seconds).
    pub code_ttl: Duration,
    /// Whether answers are checked against the spec (with the `contract`
    /// feature; benchmarks turn it off to measure only what they measure).
    pub contract_checks: bool,
    pub stats: Stats,
}

/// A request's query parameters by name.
type Query = HashMap<String, String>;

fn query_of(q: Option<&str>) -> Query {
    q.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// A comma list parameter's values (`user.fields=id,name`).
fn list_of(q: &Query, k: &str) -> Vec<String> {
    q.get(k)
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

pub(super) fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl State {
    /// Budgets on every endpoint (large ones until a tier is set), so every
    /// response carries `x-rate-limit-*` as X's do.
    pub fn new() -> Self {
        let mut state = State {
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
            social: social::Social::seeded(&Account::default()),
            uploads: HashMap::new(),
            media_polls: 2,
            enterprise: false,
            budgets: HashMap::new(),
            credits: None,
            tier_forbidden: Default::default(),
            faults: HashMap::new(),
            latency: HashMap::new(),
            consent: Consent::Approve,
            code_ttl: Duration::from_secs(30),
            contract_checks: true,
            stats: Stats::default(),
        };
        let first_other = state.social.users[1].id.clone();
        state
            .posts
            .extend(social::seeded_posts(&state.account, &first_other));
        state.set_tier(Tier::Unlimited);
        state
    }

    pub fn add_client(&mut self, client: Client) {
        self.clients.insert(client.id.clone(), client);
    }

    /// Makes an endpoint one the app's access tier does not include.
    pub fn forbid_for_tier(&mut self, endpoint: Endpoint) {
        self.tier_forbidden.insert(endpoint);
    }

    pub fn set_latency(&mut self, endpoint: Endpoint, latency: Option<Duration>) {
        match latency {
            Some(d) => self.latency.insert(endpoint, d),
            None => self.latency.remove(&endpoint),
        };
    }

    pub fn latency(&self, endpoint: Endpoint) -> Option<Duration> {
        self.latency.get(&endpoint).copied()
    }

    /// A request to `endpoint` arrived; [`State::end_request`] when it is answered or abandoned.
    pub fn begin_request(&mut self, endpoint: Endpoint) {
        let n = self.stats.in_flight.entry(endpoint).or_default();
        *n += 1;
        let now = *n;
        let max = self.stats.max_in_flight.entry(endpoint).or_default();
        *max = (*max).max(now);
    }

    pub fn end_request(&mut self, endpoint: Endpoint) {
        if let Some(n) = self.stats.in_flight.get_mut(&endpoint) {
            *n = n.saturating_sub(1);
        }
    }

    pub fn push_fault(&mut self, endpoint: Endpoint, fault: Fault) {
        self.faults.entry(endpoint).or_default().push_back(fault);
    }

    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    pub fn handle(
        &mut self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Reply {
        let key = match Endpoint::of(method, path) {
            Some(key) => key,
            None => {
                return Reply::problem(
                    404,
                    json!({"title":"Not Found Error","type":"about:blank","status":404,"detail":format!("no route for {method} {path}")}),
                )
            }
        };
        *self.stats.requests.entry(key).or_default() += 1;
        let mut delay = None;
        while let Some(fault) = self.faults.get_mut(&key).and_then(VecDeque::pop_front) {
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
                Fault::Raw(status, content_type, headers, b) => {
                    let mut r = Reply::json(status, json!({}));
                    r.headers = content_type
                        .map(|ct| vec![("content-type".to_string(), ct)])
                        .unwrap_or_default();
                    r.headers.extend(headers);
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
                Fault::Normal => break,
                Fault::Huge(n) => {
                    let mut r = Reply::json(200, json!({"data":{"id":"1","text":"x".repeat(n)}}));
                    r.delay = delay;
                    return r;
                }
            }
        }
        let mut reply = self.answer(key, path, query, headers, body);
        reply.delay = delay;
        // Faults are broken on purpose; normal answers must keep the contract.
        #[cfg(feature = "contract")]
        if self.contract_checks {
            if let Some(v) = crate::contract::check_request(method, path, query, body) {
                self.stats.request_violations.push(v);
            }
            if let Some(v) = crate::contract::check(key, reply.status, &reply.body) {
                self.stats.contract_violations.push(v);
            }
        }
        reply
    }

    fn answer(
        &mut self,
        key: Endpoint,
        path: &str,
        query: Option<&str>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Reply {
        match key {
            Endpoint::Token => self.token(headers, body),
            Endpoint::Revoke => self.revoke(headers, body),
            Endpoint::Authorize => self.authorize_page(query),
            Endpoint::CreateTweet | Endpoint::DeleteTweet | Endpoint::GetMe | Endpoint::Api(_) => {
                self.api(key, path, query, headers, body)
            }
        }
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}
