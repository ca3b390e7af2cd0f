//! The token source: a valid access token for each call, refreshed ahead of
//! expiry or after a 401, with the store kept in step (see the module docs
//! of [`crate::token`]).

use std::time::Duration;

use super::endpoint::{self, Failed, Obtained};
use super::store::{fingerprint, Clock, FamilyKey, StoreError, TokenSet, TokenStore, Versioned};
use crate::config::Connection;
use crate::error::{ConnectorError, TransportError, TransportKind, REAUTHORIZE_HINT};
use crate::http::HttpClient;
use crate::secret::Secret;

/// Refresh when the access token expires within this margin (or within half
/// its lifetime, for tokens that live less than two minutes).
pub const EXPIRY_MARGIN_MS: u64 = 60_000;
/// How often a caller waiting on another holder's refresh looks at the store.
const LEASE_POLL: Duration = Duration::from_millis(25);
/// Start-up attempts when other holders keep saving meanwhile.
const START_ATTEMPTS: usize = 4;

/// How our tokens stand against the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// The store holds our set (at `version`).
    InStore,
    /// The store could not be read yet: a newer set of this family may be
    /// stored, so the config's refresh token must not be spent. Its access
    /// token may still serve.
    NotLoaded,
    /// A refresh succeeded and its save failed: we hold the only copy of the
    /// newest set (rotated from `version`). It is saved before anything else.
    Unsaved,
}

pub struct TokenSource<S, C> {
    conn: Connection,
    family: FamilyKey,
    tokens: TokenSet,
    version: u64,
    /// The last refresh token was refused by X: never send it again.
    spent: bool,
    sync: Sync,
    /// Why the store failed last (names the store, never a token).
    store_error: Option<String>,
    store: S,
    clock: C,
}

impl<S, C> std::fmt::Debug for TokenSource<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("family", &self.family)
            .field("tokens", &self.tokens)
            .field("version", &self.version)
            .field("sync", &self.sync)
            .finish()
    }
}

fn store_warning(what: &str, e: &StoreError) {
    // stderr reaches the host's log; it carries no token.
    eprintln!("twitter-connector: token store {what} failed: {e}");
}

impl<S: TokenStore, C: Clock> TokenSource<S, C> {
    /// Starts from the config's tokens, unless the store holds a newer set of
    /// the same family (the config's refresh token was rotated since: it is
    /// spent and must not be sent). A refresh token in the config from
    /// another authorization starts a new family.
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
        let tokens = TokenSet {
            access_token: access,
            refresh_token: refresh,
            expires_at: None,
            obtained_at: None,
            origin,
        };
        let mut source = Self::unsynced(conn, tokens, store, clock);
        if let Err(e) = source.start_family() {
            source.note_store_error("load", &e);
        }
        source
    }

    /// A source holding `tokens`, not yet in step with the store.
    fn unsynced(conn: Connection, tokens: TokenSet, store: S, clock: C) -> Self {
        TokenSource {
            family: FamilyKey::of(&conn),
            tokens,
            version: 0,
            spent: false,
            sync: Sync::NotLoaded,
            store_error: None,
            conn,
            store,
            clock,
        }
    }

    /// The source of a set just obtained by an authorization: a new family,
    /// saved to the store before anything else (it replaces an older family
    /// of the connection). If the save fails, the set is held and the error
    /// returned; the next call tries the save again.
    pub fn from_authorization(
        conn: Connection,
        got: Obtained,
        store: S,
        clock: C,
    ) -> (Self, Result<(), ConnectorError>) {
        let origin = fingerprint(got.refresh_token.as_ref().unwrap_or(&got.access_token));
        let tokens = TokenSet {
            access_token: Some(got.access_token),
            refresh_token: got.refresh_token,
            expires_at: got.expires_at,
            obtained_at: Some(got.obtained_at),
            origin,
        };
        let mut source = Self::unsynced(conn, tokens, store, clock);
        let saved = match source.start_family() {
            Ok(()) => Ok(()),
            Err(e) => Err(source.store_failure("save", &e)),
        };
        (source, saved)
    }

    /// Revokes the family's refresh token at X; the source holds no token
    /// afterwards (a call then says to log in).
    pub fn revoke(&mut self, http: &impl HttpClient) -> Result<(), ConnectorError> {
        self.sync_store()?;
        let Some(refresh_token) = self.tokens.refresh_token.clone() else {
            return Err(ConnectorError::RefreshFailed {
                error: "not_authorized".into(),
                description: Some(format!(
                    "no refresh token is stored for connection `{}`",
                    self.family.connection
                )),
                status: None,
                hint: "nothing to revoke".into(),
            });
        };
        endpoint::revoke(&self.conn, &refresh_token, http)?;
        self.tokens.access_token = None;
        self.tokens.refresh_token = None;
        self.spent = true;
        Ok(())
    }

    pub fn tokens(&self) -> &TokenSet {
        &self.tokens
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn family(&self) -> &FamilyKey {
        &self.family
    }

    /// True while a rotated set waits to be saved.
    pub fn holds_unsaved_tokens(&self) -> bool {
        self.sync == Sync::Unsaved
    }

    fn note_store_error(&mut self, what: &str, e: &StoreError) {
        store_warning(what, e);
        self.store_error = Some(e.to_string());
    }

    fn store_failure(&mut self, what: &str, e: &StoreError) -> ConnectorError {
        self.note_store_error(what, e);
        self.failure()
    }

    /// The error a call reports while the store is out of step.
    fn failure(&self) -> ConnectorError {
        let cause = self
            .store_error
            .clone()
            .unwrap_or_else(|| "the token store could not be used".into());
        let unsaved = self.sync == Sync::Unsaved;
        ConnectorError::TokenStore {
            cause: if unsaved {
                format!("{cause}; a refreshed token set is held in memory and saved as soon as the store answers (do not stop this process)")
            } else {
                format!("{cause}; no token refresh was sent")
            },
            unsaved,
        }
    }

    fn adopt(&mut self, v: Versioned) {
        self.version = v.version;
        self.tokens = v.tokens;
        self.spent = false;
        self.sync = Sync::InStore;
        self.store_error = None;
    }

    /// Our set is in the store, at version `v`.
    fn saved_as(&mut self, v: u64) {
        self.version = v;
        self.sync = Sync::InStore;
        self.store_error = None;
    }

    /// Whether a stored set belongs to our family. A connection configured
    /// without tokens takes whatever family is stored for it (from a login).
    fn ours(&self, stored: &TokenSet) -> bool {
        self.tokens.origin.is_empty() || stored.origin == self.tokens.origin
    }

    /// Reads the family from the store: adopts it if it is ours, else saves
    /// the config's set as a new family.
    fn start_family(&mut self) -> Result<(), StoreError> {
        for _ in 0..START_ATTEMPTS {
            match self.store.load(&self.family)? {
                Some(v) if self.ours(&v.tokens) => {
                    self.adopt(v);
                    return Ok(());
                }
                None if self.tokens.origin.is_empty() => {
                    // No tokens given and none stored: nothing to save; a
                    // call says to log in (or finds a login's family then).
                    self.sync = Sync::InStore;
                    self.store_error = None;
                    return Ok(());
                }
                existing => {
                    // A new authorization (or the first run) replaces any older family.
                    let expected = existing.map(|v| v.version).unwrap_or(0);
                    match self.store.save(&self.family, expected, &self.tokens) {
                        Ok(v) => {
                            self.saved_as(v);
                            return Ok(());
                        }
                        // Another holder saved first (maybe a rotation of
                        // this very family): look again.
                        Err(StoreError::Conflict(_)) => continue,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Err(StoreError::Unavailable(
            "the stored tokens kept changing while the connection started".into(),
        ))
    }

    /// Saves the rotated set we hold. If the store meanwhile holds another
    /// family (a newer authorization), that one wins.
    fn save_rotated(&mut self) -> Result<(), StoreError> {
        let expected = match self.store.save(&self.family, self.version, &self.tokens) {
            Ok(v) => {
                self.saved_as(v);
                return Ok(());
            }
            Err(StoreError::Conflict(current)) => current,
            Err(e) => return Err(e),
        };
        match self.store.load(&self.family)? {
            Some(v) if v.tokens.origin != self.tokens.origin => {
                self.adopt(v);
                Ok(())
            }
            // Same family, saved by a holder whose lease outlived ours: our
            // set is the newest we know of.
            _ => {
                let v = self.store.save(&self.family, expected, &self.tokens)?;
                self.saved_as(v);
                Ok(())
            }
        }
    }

    /// Brings the store in step before a call: an unsaved rotated set is
    /// saved first (the call fails while it cannot be); an unread store is
    /// read (the call may go on with the config's access token meanwhile).
    fn sync_store(&mut self) -> Result<(), ConnectorError> {
        match self.sync {
            Sync::InStore => Ok(()),
            Sync::NotLoaded => {
                if let Err(e) = self.start_family() {
                    self.note_store_error("load", &e);
                }
                Ok(())
            }
            Sync::Unsaved => match self.save_rotated() {
                Ok(()) => Ok(()),
                Err(e) => Err(self.store_failure("save", &e)),
            },
        }
    }

    fn margin(&self) -> u64 {
        match (self.tokens.expires_at, self.tokens.obtained_at) {
            (Some(at), Some(got)) if at > got => EXPIRY_MARGIN_MS.min((at - got) / 2),
            _ => EXPIRY_MARGIN_MS,
        }
    }

    fn fresh(&self, now: u64) -> Option<Secret> {
        let token = self.tokens.access_token.as_ref()?;
        match self.tokens.expires_at {
            Some(at) if now + self.margin() >= at => None,
            _ => Some(token.clone()),
        }
    }

    /// A newer set of our family in the store, if another holder refreshed.
    fn adopt_newer(&mut self) -> Result<bool, StoreError> {
        match self.store.load(&self.family)? {
            Some(v) if v.version > self.version && self.ours(&v.tokens) => {
                self.adopt(v);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Adopts a newer set another holder stored, and tells whether its
    /// access token serves this call (fresh, and not the one X refused).
    fn adopt_usable(&mut self, rejected: Option<&Secret>) -> Result<bool, StoreError> {
        Ok(self.adopt_newer()? && self.usable_after_adopt(rejected))
    }

    fn usable_after_adopt(&self, rejected: Option<&Secret>) -> bool {
        match (&self.tokens.access_token, rejected) {
            (Some(a), Some(r)) => a != r,
            (Some(_), None) => self.fresh(self.clock.now_ms()).is_some(),
            (None, _) => false,
        }
    }

    /// An access token valid for at least the margin (refreshing if needed).
    pub fn access_token(&mut self, http: &impl HttpClient) -> Result<Secret, ConnectorError> {
        self.sync_store()?;
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
        self.sync_store()?;
        if self.tokens.access_token.as_ref() != Some(rejected) {
            // Another holder already refreshed: use its token.
            return Ok(self.tokens.access_token.clone());
        }
        if self.sync == Sync::InStore {
            match self.adopt_usable(Some(rejected)) {
                Ok(true) => return Ok(self.tokens.access_token.clone()),
                Ok(false) => {}
                Err(e) => return Err(self.store_failure("load", &e)),
            }
        }
        if self.tokens.refresh_token.is_none() && !self.spent {
            return Ok(None);
        }
        self.refresh(http, Some(rejected))?;
        Ok(self.tokens.access_token.clone())
    }

    fn lease_ttl_ms(&self) -> u32 {
        let t = self.conn.timeout.as_millis().min(u128::from(u32::MAX / 4)) as u32;
        t * 2 + 5_000
    }

    /// Refreshes under the store's lease. Without the store, nothing is sent:
    /// the store may hold a newer set, and spending a stale refresh token
    /// would revoke the family.
    fn refresh(
        &mut self,
        http: &impl HttpClient,
        rejected: Option<&Secret>,
    ) -> Result<(), ConnectorError> {
        if self.sync != Sync::InStore {
            return Err(self.failure());
        }
        let ttl = self.lease_ttl_ms();
        // Waiting on another holder is part of the call: bounded by the
        // connection's timeout like its requests (the lease itself lives
        // longer, so a crashed holder cannot leave a refresh half-done).
        let deadline = self.clock.now_ms() + self.conn.timeout.as_millis() as u64;
        let lease = loop {
            match self.store.acquire_lease(&self.family, ttl) {
                Ok(Some(lease)) => break lease,
                Ok(None) => {
                    // Another holder is refreshing: wait for its result.
                    match self.adopt_usable(rejected) {
                        Ok(true) => return Ok(()),
                        Ok(false) => {}
                        Err(e) => return Err(self.store_failure("load", &e)),
                    }
                    if self.clock.now_ms() > deadline {
                        return Err(ConnectorError::Transport(TransportError::new(
                            TransportKind::Timeout,
                            "waited too long for another holder's token refresh",
                        )));
                    }
                    self.clock.sleep(LEASE_POLL);
                }
                Err(e) => return Err(self.store_failure("lease", &e)),
            }
        };
        // Re-read under the lease: another holder may have just finished.
        let result = match self.adopt_usable(rejected) {
            Ok(true) => Ok(()),
            Ok(false) => self.refresh_with_lease(http),
            Err(e) => Err(self.store_failure("load", &e)),
        };
        // Released even when the save failed: the set is held, and a new
        // holder re-reads the store before it spends anything.
        self.store.release_lease(&self.family, lease);
        result
    }

    fn refresh_with_lease(&mut self, http: &impl HttpClient) -> Result<(), ConnectorError> {
        if self.tokens.origin.is_empty() {
            return Err(ConnectorError::RefreshFailed {
                error: "not_authorized".into(),
                description: Some(format!(
                    "no tokens are stored for connection `{}` (client {}, {}) and init gave none",
                    self.family.connection, self.family.client_id, self.family.api_origin
                )),
                status: None,
                hint: format!(
                    "authorize the app first: `integrator auth login --connection {} --client-id {}` (or give init a refreshToken)",
                    self.family.connection, self.family.client_id
                ),
            });
        }
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
        let sent_at = self.clock.now_ms();
        match endpoint::exchange(&self.conn, &refresh_token, http, sent_at) {
            Ok(got) => {
                self.tokens = TokenSet {
                    access_token: Some(got.access_token),
                    // X rotates: the old token is spent whether or not a new
                    // one came back (none comes without offline.access).
                    refresh_token: got.refresh_token,
                    expires_at: got.expires_at,
                    obtained_at: Some(got.obtained_at),
                    origin: self.tokens.origin.clone(),
                };
                self.spent = self.tokens.refresh_token.is_none();
                // The only copy until saved: it is used only once it is.
                self.sync = Sync::Unsaved;
                self.save_rotated()
                    .map_err(|e| self.store_failure("save", &e))
            }
            Err(Failed { error, token_dead }) => {
                if token_dead {
                    self.tokens.refresh_token = None;
                    self.spent = true;
                    // Another holder may have rotated it under us.
                    if let Ok(true) = self.adopt_newer() {
                        return Ok(());
                    }
                }
                Err(error)
            }
        }
    }
}
