//! Native tests of the token source and the operations, with the HTTP and
//! the host's token store behind their traits.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use crate::config::{self, ConnectionParams};
use crate::connector::{Connector, GetMeRequest};
use crate::error::{
    ApiClass, ConnectorError, OAuthReason, OAuthRequest, TransportError, TransportKind,
};
use crate::http::{HttpClient, Request, Response};
use crate::secret::Secret;
use crate::token::{Clock, FamilyKey, StoreError, TokenSet, TokenSource, TokenStore, Versioned};

type Scripted = Result<(u16, String), TransportError>;

/// Answers from a script and records what was sent.
#[derive(Clone, Default)]
struct FakeHttp {
    script: Rc<RefCell<VecDeque<Scripted>>>,
    sent: Rc<RefCell<Vec<(String, String, String)>>>,
}

impl FakeHttp {
    fn push(&self, status: u16, body: &str) {
        self.script
            .borrow_mut()
            .push_back(Ok((status, body.into())));
    }
    fn push_err(&self, kind: TransportKind) {
        self.script
            .borrow_mut()
            .push_back(Err(TransportError::new(kind, "scripted")));
    }
    fn token_bodies(&self) -> Vec<String> {
        self.sent
            .borrow()
            .iter()
            .filter(|(_, uri, _)| uri.ends_with("/2/oauth2/token"))
            .map(|(_, _, b)| b.clone())
            .collect()
    }
    fn api_auth(&self) -> Vec<String> {
        self.sent
            .borrow()
            .iter()
            .filter(|(_, uri, _)| !uri.ends_with("/2/oauth2/token"))
            .map(|(auth, _, _)| auth.clone())
            .collect()
    }
}

impl HttpClient for FakeHttp {
    fn send(&self, request: Request, _timeout: Duration) -> Result<Response, TransportError> {
        let auth = request
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        self.sent.borrow_mut().push((
            auth,
            request.uri().to_string(),
            String::from_utf8_lossy(request.body()).into_owned(),
        ));
        let (status, body) = self
            .script
            .borrow_mut()
            .pop_front()
            .expect("a request nobody scripted")?;
        let ct = if status < 300 || body.starts_with('{') {
            "application/json"
        } else {
            "text/plain"
        };
        Ok(http::Response::builder()
            .status(status)
            .header("content-type", ct)
            .body(body.into_bytes())
            .unwrap())
    }
}

#[derive(Clone, Default)]
struct FakeStore {
    current: Rc<RefCell<Option<Versioned>>>,
    saves: Rc<Cell<u32>>,
    lease_held_by_other: Rc<Cell<bool>>,
    /// Every call fails (the store is down).
    down: Rc<Cell<bool>>,
    /// Only saves fail.
    saves_fail: Rc<Cell<bool>>,
    /// Only leases fail.
    leases_fail: Rc<Cell<bool>>,
    /// Another holder's save that lands just before our next save.
    before_next_save: Rc<RefCell<Option<Versioned>>>,
    families: Rc<RefCell<Vec<FamilyKey>>>,
}

fn down() -> StoreError {
    StoreError::Unavailable("token store test: down".into())
}

impl TokenStore for FakeStore {
    fn load(&self, f: &FamilyKey) -> Result<Option<Versioned>, StoreError> {
        self.families.borrow_mut().push(f.clone());
        if self.down.get() {
            return Err(down());
        }
        Ok(self.current.borrow().clone())
    }
    fn save(&self, _f: &FamilyKey, expected: u64, tokens: &TokenSet) -> Result<u64, StoreError> {
        if self.down.get() || self.saves_fail.get() {
            return Err(down());
        }
        if let Some(other) = self.before_next_save.borrow_mut().take() {
            *self.current.borrow_mut() = Some(other);
        }
        let mut cur = self.current.borrow_mut();
        let v = cur.as_ref().map(|v| v.version).unwrap_or(0);
        if v != expected {
            return Err(StoreError::Conflict(v));
        }
        self.saves.set(self.saves.get() + 1);
        *cur = Some(Versioned {
            version: v + 1,
            tokens: tokens.clone(),
        });
        Ok(v + 1)
    }
    fn acquire_lease(&self, _f: &FamilyKey, _ttl: u32) -> Result<Option<u64>, StoreError> {
        if self.down.get() || self.leases_fail.get() {
            return Err(down());
        }
        Ok((!self.lease_held_by_other.get()).then_some(1))
    }
    fn release_lease(&self, _f: &FamilyKey, _l: u64) {}
}

#[derive(Clone)]
struct FakeClock(Rc<Cell<u64>>);

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
    fn sleep(&self, d: Duration) {
        self.0.set(self.0.get() + d.as_millis() as u64)
    }
}

const NOW: u64 = 1_800_000_000_000;

fn token_json(access: &str, refresh: &str, expires_in: u64) -> String {
    format!(
        r#"{{"token_type":"bearer","expires_in":{expires_in},"access_token":"{access}","scope":"tweet.read users.read offline.access","refresh_token":"{refresh}"}}"#
    )
}

const ME: &str = r#"{"data":{"id":"1","name":"N","username":"u"}}"#;

struct Rig {
    http: FakeHttp,
    store: FakeStore,
    clock: FakeClock,
}

impl Rig {
    fn new() -> Rig {
        Rig {
            http: FakeHttp::default(),
            store: FakeStore::default(),
            clock: FakeClock(Rc::new(Cell::new(NOW))),
        }
    }

    fn connector(
        &self,
        access: Option<&str>,
        refresh: Option<&str>,
    ) -> Connector<FakeHttp, FakeStore, FakeClock> {
        let (conn, a, r) = config::validate(ConnectionParams {
            api_url: Some("http://127.0.0.1:1".into()),
            client_id: "cid".into(),
            access_token: access.map(Secret::new),
            refresh_token: refresh.map(Secret::new),
            ..Default::default()
        })
        .unwrap();
        let tokens = TokenSource::new(conn.clone(), a, r, self.store.clone(), self.clock.clone());
        Connector::new(self.http.clone(), conn, tokens)
    }
}

fn me() -> GetMeRequest {
    GetMeRequest::default()
}

#[test]
fn refreshes_ahead_of_expiry_and_saves_before_use() {
    let rig = Rig::new();
    let mut c = rig.connector(None, Some("R0"));
    rig.http.push(200, &token_json("A1", "R1", 7200));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert_eq!(rig.http.api_auth(), vec!["Bearer A1"]);
    let stored = rig.store.current.borrow().clone().unwrap();
    assert_eq!(stored.tokens.refresh_token, Some(Secret::new("R1")));
    assert_eq!(stored.tokens.expires_at, Some(NOW + 7_200_000));

    // Still fresh 1 h later: no refresh.
    rig.clock.0.set(NOW + 3_600_000);
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    // Within the 60 s margin: refresh with the rotated token, never R0 again.
    rig.clock.0.set(NOW + 7_200_000 - 59_000);
    rig.http.push(200, &token_json("A2", "R2", 7200));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    let bodies = rig.http.token_bodies();
    assert_eq!(bodies.len(), 2);
    assert!(bodies[0].contains("refresh_token=R0"), "{}", bodies[0]);
    assert!(bodies[1].contains("refresh_token=R1"), "{}", bodies[1]);
    assert!(bodies
        .iter()
        .all(|b| b.contains("client_id=cid") && b.contains("grant_type=refresh_token")));
    assert_eq!(rig.http.api_auth().last().unwrap(), "Bearer A2");
}

#[test]
fn unauthorized_refreshes_once_then_gives_up() {
    let rig = Rig::new();
    let mut c = rig.connector(Some("A0"), Some("R0"));
    rig.http
        .push(401, r#"{"title":"Unauthorized","status":401}"#);
    rig.http.push(200, &token_json("A1", "R1", 7200));
    rig.http
        .push(401, r#"{"title":"Unauthorized","status":401}"#);
    assert_eq!(c.get_me(&me()).unwrap_err().kind(), "unauthorized");
    assert_eq!(rig.http.api_auth(), vec!["Bearer A0", "Bearer A1"]);
    assert_eq!(
        rig.http.token_bodies().len(),
        1,
        "one refresh per call at most"
    );
}

#[test]
fn forbidden_and_other_statuses_do_not_refresh() {
    let rig = Rig::new();
    let mut c = rig.connector(Some("A0"), Some("R0"));
    for status in [403, 400, 404, 429, 500] {
        rig.http.push(status, r#"{"title":"x"}"#);
        assert!(c.get_me(&me()).is_err());
    }
    assert!(rig.http.token_bodies().is_empty());
}

#[test]
fn a_refused_refresh_token_is_never_sent_again() {
    let rig = Rig::new();
    let mut c = rig.connector(None, Some("R0"));
    rig.http.push(
        400,
        r#"{"error":"invalid_request","error_description":"Value passed for the token was invalid."}"#,
    );
    match c.get_me(&me()).unwrap_err() {
        ConnectorError::OAuth(f) => {
            assert_eq!(f.request, OAuthRequest::Refresh);
            assert_eq!(f.reason, OAuthReason::InvalidRequest);
            assert_eq!(f.code.as_deref(), Some("invalid_request"));
            assert_eq!(
                f.description.as_deref(),
                Some("Value passed for the token was invalid.")
            );
        }
        e => panic!("{e:?}"),
    }
    match c.get_me(&me()).unwrap_err() {
        ConnectorError::OAuth(f) => {
            assert_eq!(f.reason, OAuthReason::RefreshTokenSpent);
            assert_eq!(f.code(), "refresh_token_spent");
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(rig.http.sent.borrow().len(), 1);
}

#[test]
fn a_transport_failure_keeps_the_refresh_token() {
    let rig = Rig::new();
    let mut c = rig.connector(None, Some("R0"));
    rig.http.push_err(TransportKind::Connect);
    assert_eq!(c.get_me(&me()).unwrap_err().kind(), "transport");
    rig.http.push(200, &token_json("A1", "R1", 7200));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert!(rig.http.token_bodies()[1].contains("refresh_token=R0"));
}

#[test]
fn a_stored_newer_family_wins_over_the_spent_config_token() {
    let rig = Rig::new();
    // First process: rotates R0 -> R1 and saves.
    let mut first = rig.connector(None, Some("R0"));
    rig.http.push(200, &token_json("A1", "R1", 60));
    rig.http.push(200, ME);
    first.get_me(&me()).unwrap();
    // Second process, same config, once A1 is within its margin: adopts the
    // stored family, refreshes with R1.
    rig.clock.0.set(NOW + 31_000);
    let mut second = rig.connector(None, Some("R0"));
    rig.http.push(200, &token_json("A2", "R2", 7200));
    rig.http.push(200, ME);
    second.get_me(&me()).unwrap();
    let bodies = rig.http.token_bodies();
    assert!(bodies[1].contains("refresh_token=R1"), "{}", bodies[1]);

    // A new authorization in the config replaces the stored family.
    let mut third = rig.connector(None, Some("NEW"));
    rig.http.push(200, &token_json("A3", "R3", 7200));
    rig.http.push(200, ME);
    third.get_me(&me()).unwrap();
    assert!(rig.http.token_bodies()[2].contains("refresh_token=NEW"));
}

#[test]
fn waits_for_another_holders_refresh_instead_of_spending_the_token() {
    let rig = Rig::new();
    let mut c = rig.connector(None, Some("R0"));
    rig.store.lease_held_by_other.set(true);
    // The other holder finishes while we wait: its set appears in the store.
    let origin = rig.store.current.borrow().clone().unwrap().tokens.origin;
    let store = rig.store.clone();
    *store.current.borrow_mut() = Some(Versioned {
        version: 2,
        tokens: TokenSet {
            access_token: Some(Secret::new("A-other")),
            refresh_token: Some(Secret::new("R-other")),
            expires_at: Some(NOW + 7_200_000),
            obtained_at: Some(NOW),
            origin,
        },
    });
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert!(rig.http.token_bodies().is_empty());
    assert_eq!(rig.http.api_auth(), vec!["Bearer A-other"]);
}

#[test]
fn token_bodies_and_secrets_never_show_in_errors_or_debug() {
    let rig = Rig::new();
    let mut c = rig.connector(Some("ACCESS-SECRET"), Some("REFRESH-SECRET"));
    rig.http.push(401, "{}");
    // A 2xx token response that is not one: not echoed.
    rig.http
        .push(200, r#"{"access_token":"LEAKED-ACCESS","token_type":42}"#);
    let e = c.get_me(&me()).unwrap_err();
    let shown = format!("{e} {e:?} {:?}", c.token_source());
    for secret in ["ACCESS-SECRET", "REFRESH-SECRET", "LEAKED-ACCESS"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert_eq!(e.kind(), "malformed-response");
}

#[test]
fn rate_limited_error_carries_the_windows() {
    let rig = Rig::new();
    let mut c = rig.connector(Some("A0"), None);
    rig.http
        .script
        .borrow_mut()
        .push_back(Ok((429, "{}".into())));
    match c.get_me(&me()).unwrap_err() {
        ConnectorError::Api {
            class: ApiClass::RateLimited,
            problem,
            ..
        } => assert_eq!(problem.status, 429),
        e => panic!("{e:?}"),
    }
}

fn store_failure(e: ConnectorError) -> (String, bool) {
    match e {
        ConnectorError::TokenStore { cause, unsaved } => (cause, unsaved),
        e => panic!("expected a token-store error, got {e:?}"),
    }
}

#[test]
fn the_family_key_is_connection_client_and_api_origin() {
    let rig = Rig::new();
    let _ = rig.connector(None, Some("R0"));
    assert_eq!(
        rig.store.families.borrow()[0],
        FamilyKey {
            connection: "TWITTER_CONNECTION_1".into(),
            client_id: "cid".into(),
            api_origin: "http://127.0.0.1:1".into(),
        }
    );
}

#[test]
fn without_the_store_no_refresh_is_sent_until_it_answers() {
    let rig = Rig::new();
    rig.store.down.set(true);
    let mut c = rig.connector(None, Some("R0"));
    let (cause, unsaved) = store_failure(c.get_me(&me()).unwrap_err());
    assert!(
        cause.contains("down") && cause.contains("no token refresh was sent"),
        "{cause}"
    );
    assert!(!unsaved);
    assert!(rig.http.sent.borrow().is_empty(), "nothing went to X");
    // Back: the family is read (here: none, so the config starts it), then refreshed.
    rig.store.down.set(false);
    rig.http.push(200, &token_json("A1", "R1", 7200));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert!(rig.http.token_bodies()[0].contains("refresh_token=R0"));
    assert_eq!(
        rig.store
            .current
            .borrow()
            .clone()
            .unwrap()
            .tokens
            .refresh_token,
        Some(Secret::new("R1"))
    );
}

#[test]
fn without_the_store_a_config_access_token_still_serves_but_is_never_refreshed() {
    let rig = Rig::new();
    rig.store.down.set(true);
    let mut c = rig.connector(Some("A0"), Some("R0"));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    // X refuses A0: a refresh would need the store; none is sent.
    rig.http
        .push(401, r#"{"title":"Unauthorized","status":401}"#);
    let (_, unsaved) = store_failure(c.get_me(&me()).unwrap_err());
    assert!(!unsaved);
    assert!(rig.http.token_bodies().is_empty());
}

#[test]
fn a_lease_the_store_cannot_give_means_no_refresh() {
    let rig = Rig::new();
    let mut c = rig.connector(None, Some("R0"));
    rig.store.leases_fail.set(true);
    store_failure(c.get_me(&me()).unwrap_err());
    assert!(rig.http.sent.borrow().is_empty());
}

#[test]
fn a_refresh_whose_save_fails_is_held_saved_later_and_never_sent_again() {
    let rig = Rig::new();
    let mut c = rig.connector(None, Some("R0"));
    rig.store.saves_fail.set(true);
    rig.http.push(200, &token_json("A1", "R1", 7200));
    // X rotated R0 -> R1, the save failed: the call fails, A1 is not used.
    let (cause, unsaved) = store_failure(c.get_me(&me()).unwrap_err());
    assert!(unsaved && cause.contains("held in memory"), "{cause}");
    assert!(
        rig.http.api_auth().is_empty(),
        "A1 is used only once it is saved"
    );
    assert!(c.token_source().holds_unsaved_tokens());
    // Still down: the next call tries the save again, sends nothing.
    let (_, unsaved) = store_failure(c.get_me(&me()).unwrap_err());
    assert!(unsaved);
    assert_eq!(rig.http.sent.borrow().len(), 1);
    let shown = format!("{:?} {cause}", c.token_source());
    assert!(!shown.contains("A1") && !shown.contains("R1"), "{shown}");
    // Back: saved first thing, then the call goes on with A1; R0 never again.
    rig.store.saves_fail.set(false);
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert_eq!(rig.http.api_auth(), vec!["Bearer A1"]);
    assert_eq!(rig.http.token_bodies().len(), 1);
    let stored = rig.store.current.borrow().clone().unwrap();
    assert_eq!(stored.tokens.refresh_token, Some(Secret::new("R1")));
    assert!(!c.token_source().holds_unsaved_tokens());
}

#[test]
fn a_second_start_never_overwrites_a_rotation_saved_meanwhile() {
    let rig = Rig::new();
    // Another process starts from the same config, refreshes and saves R1
    // between our load and our first save.
    let origin = crate::token::fingerprint(&Secret::new("R0"));
    *rig.store.before_next_save.borrow_mut() = Some(Versioned {
        version: 2,
        tokens: TokenSet {
            access_token: Some(Secret::new("A1")),
            refresh_token: Some(Secret::new("R1")),
            expires_at: Some(NOW + 7_200_000),
            obtained_at: Some(NOW),
            origin,
        },
    });
    let mut c = rig.connector(None, Some("R0"));
    let stored = rig.store.current.borrow().clone().unwrap();
    assert_eq!(stored.version, 2, "the rotated set stays");
    assert_eq!(stored.tokens.refresh_token, Some(Secret::new("R1")));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert_eq!(
        rig.http.api_auth(),
        vec!["Bearer A1"],
        "adopted, not R0 spent"
    );
}

#[test]
fn short_lived_tokens_refresh_at_half_their_life_not_on_every_call() {
    let rig = Rig::new();
    let mut c = rig.connector(None, Some("R0"));
    rig.http.push(200, &token_json("A1", "R1", 2));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    rig.clock.0.set(NOW + 900);
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert_eq!(rig.http.token_bodies().len(), 1, "fresh for the first half");
    rig.clock.0.set(NOW + 1_000);
    rig.http.push(200, &token_json("A2", "R2", 2));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert_eq!(rig.http.token_bodies().len(), 2);
}
