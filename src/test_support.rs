//! Fakes for native tests: scripted HTTP, an in-memory token store that can
//! fail on cue, a clock that only moves when told, and a rig of the three.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use crate::config::{self, ConnectionParams};
use crate::connector::{Connector, GetMeRequest};
use crate::error::{TransportError, TransportKind};
use crate::http::{HttpClient, Request, Response};
use crate::secret::Secret;
use crate::token::{Clock, FamilyKey, StoreError, TokenSet, TokenSource, TokenStore, Versioned};

type Scripted = Result<(u16, String), TransportError>;

/// Answers from a script and records what was sent.
#[derive(Clone, Default)]
pub(crate) struct FakeHttp {
    pub(crate) script: Rc<RefCell<VecDeque<Scripted>>>,
    pub(crate) sent: Rc<RefCell<Vec<(String, String, String)>>>,
}

impl FakeHttp {
    pub(crate) fn push(&self, status: u16, body: &str) {
        self.script
            .borrow_mut()
            .push_back(Ok((status, body.into())));
    }
    pub(crate) fn push_err(&self, kind: TransportKind) {
        self.script
            .borrow_mut()
            .push_back(Err(TransportError::new(kind, "scripted")));
    }
    pub(crate) fn token_bodies(&self) -> Vec<String> {
        self.sent
            .borrow()
            .iter()
            .filter(|(_, uri, _)| uri.ends_with("/2/oauth2/token"))
            .map(|(_, _, b)| b.clone())
            .collect()
    }
    pub(crate) fn api_auth(&self) -> Vec<String> {
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
pub(crate) struct FakeStore {
    pub(crate) current: Rc<RefCell<Option<Versioned>>>,
    pub(crate) saves: Rc<Cell<u32>>,
    pub(crate) lease_held_by_other: Rc<Cell<bool>>,
    /// Every call fails (the store is down).
    pub(crate) down: Rc<Cell<bool>>,
    /// Only saves fail.
    pub(crate) saves_fail: Rc<Cell<bool>>,
    /// Only leases fail.
    pub(crate) leases_fail: Rc<Cell<bool>>,
    /// Another holder's save that lands just before our next save.
    pub(crate) before_next_save: Rc<RefCell<Option<Versioned>>>,
    /// Another holder's save that lands as our next lease is granted (it
    /// finished its refresh and let go just before we asked).
    pub(crate) with_next_lease: Rc<RefCell<Option<Versioned>>>,
    /// Leases granted and released.
    pub(crate) leases_granted: Rc<Cell<u32>>,
    pub(crate) leases_released: Rc<Cell<u32>>,
    pub(crate) families: Rc<RefCell<Vec<FamilyKey>>>,
}

pub(crate) fn down() -> StoreError {
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
        if self.lease_held_by_other.get() {
            return Ok(None);
        }
        if let Some(other) = self.with_next_lease.borrow_mut().take() {
            *self.current.borrow_mut() = Some(other);
        }
        self.leases_granted.set(self.leases_granted.get() + 1);
        Ok(Some(u64::from(self.leases_granted.get())))
    }
    fn release_lease(&self, _f: &FamilyKey, lease: u64) {
        assert!(
            lease >= 1 && lease <= u64::from(self.leases_granted.get()),
            "released a lease never granted: {lease}"
        );
        self.leases_released.set(self.leases_released.get() + 1);
    }
}

#[derive(Clone)]
pub(crate) struct FakeClock(pub(crate) Rc<Cell<u64>>);

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
    fn sleep(&self, d: Duration) {
        self.0.set(self.0.get() + d.as_millis() as u64)
    }
}

pub(crate) const NOW: u64 = 1_800_000_000_000;

pub(crate) fn token_json(access: &str, refresh: &str, expires_in: u64) -> String {
    format!(
        r#"{{"token_type":"bearer","expires_in":{expires_in},"access_token":"{access}","scope":"tweet.read users.read offline.access","refresh_token":"{refresh}"}}"#
    )
}

pub(crate) const ME: &str = r#"{"data":{"id":"1","name":"N","username":"u"}}"#;

pub(crate) struct Rig {
    pub(crate) http: FakeHttp,
    pub(crate) store: FakeStore,
    pub(crate) clock: FakeClock,
}

impl Rig {
    pub(crate) fn new() -> Rig {
        Rig {
            http: FakeHttp::default(),
            store: FakeStore::default(),
            clock: FakeClock(Rc::new(Cell::new(NOW))),
        }
    }

    pub(crate) fn connector(
        &self,
        access: Option<&str>,
        refresh: Option<&str>,
    ) -> Connector<FakeHttp, FakeStore, FakeClock> {
        self.connector_with(access, refresh, |_| {})
    }

    /// A connector whose `init` parameters `adjust` changed.
    pub(crate) fn connector_with(
        &self,
        access: Option<&str>,
        refresh: Option<&str>,
        adjust: impl FnOnce(&mut ConnectionParams),
    ) -> Connector<FakeHttp, FakeStore, FakeClock> {
        let mut params = ConnectionParams {
            api_url: Some("http://127.0.0.1:1".into()),
            client_id: "cid".into(),
            access_token: access.map(Secret::new),
            refresh_token: refresh.map(Secret::new),
            ..Default::default()
        };
        adjust(&mut params);
        let (conn, a, r) = config::validate(params).unwrap();
        let tokens = TokenSource::new(conn.clone(), a, r, self.store.clone(), self.clock.clone());
        Connector::new(self.http.clone(), conn, tokens)
    }
}

pub(crate) fn me() -> GetMeRequest {
    GetMeRequest::default()
}
