//! The token source: a valid access token for each call, refreshed ahead of
//! expiry or after a 401 (see the module docs of [`crate::token`]). It reuses
//! the set it holds while that is valid; the [`Refresher`] gets a new one,
//! and the [`Family`] keeps it in step with the store.

use super::endpoint::{self, Obtained};
use super::family::Family;
use super::refresher::Refresher;
use super::set::TokenSet;
use super::store::{fingerprint, Clock, FamilyKey, TokenStore};
use crate::config::Connection;
use crate::error::{ConnectorError, OAuthFailure, OAuthReason, OAuthRequest};
use crate::http::HttpClient;
use crate::secret::Secret;

pub struct TokenSource<S, C> {
    family: Family,
    refresher: Refresher<S, C>,
}

impl<S, C> std::fmt::Debug for TokenSource<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("family", &self.family)
            .finish()
    }
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
        if let Err(e) = source.family.start(&source.refresher.store) {
            source.family.note_store_error("load", &e);
        }
        source
    }

    fn unsynced(conn: Connection, tokens: TokenSet, store: S, clock: C) -> Self {
        TokenSource {
            family: Family::unsynced(FamilyKey::of(&conn), tokens),
            refresher: Refresher { conn, store, clock },
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
        let saved = match source.family.start(&source.refresher.store) {
            Ok(()) => Ok(()),
            Err(e) => Err(source.family.store_failure("save", &e)),
        };
        (source, saved)
    }

    /// Revokes the family's refresh token at X; the source holds no token
    /// afterwards (a call then says to log in).
    pub fn revoke(&mut self, http: &impl HttpClient) -> Result<(), ConnectorError> {
        self.family.sync(&self.refresher.store)?;
        let Some(refresh_token) = self.family.tokens.refresh_token.clone() else {
            return Err(ConnectorError::OAuth(OAuthFailure {
                description: Some(format!(
                    "no refresh token is stored for connection `{}`",
                    self.family.key.connection
                )),
                ..OAuthFailure::own(
                    OAuthRequest::Revocation,
                    OAuthReason::NotAuthorized,
                    "nothing to revoke",
                )
            }));
        };
        endpoint::revoke(&self.refresher.conn, &refresh_token, http)?;
        self.family.forget();
        Ok(())
    }

    /// The clock the source refreshes by (the connector waits on it too).
    pub fn clock(&self) -> &C {
        &self.refresher.clock
    }

    pub fn tokens(&self) -> &TokenSet {
        &self.family.tokens
    }

    pub fn version(&self) -> u64 {
        self.family.version()
    }

    pub fn family(&self) -> &FamilyKey {
        &self.family.key
    }

    /// True while a rotated set waits to be saved.
    pub fn holds_unsaved_tokens(&self) -> bool {
        self.family.holds_unsaved()
    }

    fn access(&self) -> Option<Secret> {
        self.family.tokens.access_token.clone()
    }

    /// An access token valid for at least the margin (refreshing if needed).
    pub fn access_token(&mut self, http: &impl HttpClient) -> Result<Secret, ConnectorError> {
        self.family.sync(&self.refresher.store)?;
        if let Some(t) = self
            .family
            .tokens
            .valid_access(self.refresher.clock.now_ms())
        {
            return Ok(t.clone());
        }
        self.refresher.refresh(&mut self.family, http, None)?;
        self.access().ok_or_else(|| {
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
        self.family.sync(&self.refresher.store)?;
        if self.family.tokens.access_token.as_ref() != Some(rejected) {
            // Another holder already refreshed: use its token.
            return Ok(self.access());
        }
        if self.family.in_store()
            && self
                .refresher
                .adopt_usable(&mut self.family, Some(rejected))?
        {
            return Ok(self.access());
        }
        if self.family.tokens.refresh_token.is_none() && !self.family.spent {
            return Ok(None);
        }
        self.refresher
            .refresh(&mut self.family, http, Some(rejected))?;
        Ok(self.access())
    }
}
