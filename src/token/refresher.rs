//! The refresher: exchanges the family's refresh token under the store's
//! lease, after re-reading the store (another holder may have refreshed
//! already), and hands the rotated set to the [`Family`] to save.

use std::time::Duration;

use super::endpoint::{self, Failed};
use super::family::Family;
use super::lease::Lease;
use super::set::TokenSet;
use super::store::{Clock, TokenStore};
use crate::config::Connection;
use crate::error::{
    ConnectorError, OAuthFailure, OAuthReason, OAuthRequest, TransportError, TransportKind,
    REAUTHORIZE_HINT,
};
use crate::http::HttpClient;
use crate::secret::Secret;

/// How often a caller waiting on another holder's refresh looks at the store.
const LEASE_POLL: Duration = Duration::from_millis(25);

/// What a refresh needs besides the family: where to send it, the store
/// that leases it, the clock that times it.
pub(super) struct Refresher<S, C> {
    pub conn: Connection,
    pub store: S,
    pub clock: C,
}

impl<S: TokenStore, C: Clock> Refresher<S, C> {
    /// Adopts a newer set another holder stored, and tells whether its
    /// access token serves this call (valid, and not the one X refused).
    pub fn adopt_usable(
        &self,
        family: &mut Family,
        rejected: Option<&Secret>,
    ) -> Result<bool, ConnectorError> {
        let adopted = match family.adopt_newer(&self.store) {
            Ok(adopted) => adopted,
            Err(e) => return Err(family.store_failure("load", &e)),
        };
        let tokens = &family.tokens;
        Ok(adopted
            && match (&tokens.access_token, rejected) {
                (Some(a), Some(r)) => a != r,
                (Some(_), None) => tokens.valid_access(self.clock.now_ms()).is_some(),
                (None, _) => false,
            })
    }

    fn lease_ttl_ms(&self) -> u32 {
        let t = self.conn.timeout.as_millis().min(u128::from(u32::MAX / 4)) as u32;
        t * 2 + 5_000
    }

    /// Refreshes under the store's lease. Without the store, nothing is sent:
    /// the store may hold a newer set, and spending a stale refresh token
    /// would revoke the family.
    pub fn refresh(
        &self,
        family: &mut Family,
        http: &impl HttpClient,
        rejected: Option<&Secret>,
    ) -> Result<(), ConnectorError> {
        if !family.in_store() {
            return Err(family.failure());
        }
        let ttl = self.lease_ttl_ms();
        // Waiting on another holder is part of the call: bounded by the
        // connection's timeout like its requests (the lease itself lives
        // longer, so a crashed holder cannot leave a refresh half-done).
        let deadline = self.clock.now_ms() + self.conn.timeout.as_millis() as u64;
        let key = family.key.clone();
        let _lease = loop {
            match Lease::try_acquire(&self.store, &key, ttl) {
                Ok(Some(lease)) => break lease,
                Ok(None) => {
                    // Another holder is refreshing: wait for its result.
                    if self.adopt_usable(family, rejected)? {
                        return Ok(());
                    }
                    if self.clock.now_ms() > deadline {
                        return Err(ConnectorError::Transport(TransportError::new(
                            TransportKind::Timeout,
                            "waited too long for another holder's token refresh",
                        )));
                    }
                    self.clock.sleep(LEASE_POLL);
                }
                Err(e) => return Err(family.store_failure("lease", &e)),
            }
        };
        // Re-read under the lease: another holder may have just finished.
        if self.adopt_usable(family, rejected)? {
            return Ok(());
        }
        self.exchange(family, http)
    }

    fn exchange(&self, family: &mut Family, http: &impl HttpClient) -> Result<(), ConnectorError> {
        let tokens = &family.tokens;
        if tokens.origin.is_empty() {
            let key = &family.key;
            // The host knows how its users log in and adds that to the hint.
            return Err(ConnectorError::OAuth(OAuthFailure {
                description: Some(format!(
                    "no tokens are stored for connection `{}` (client {}, {}) and init gave none",
                    key.connection, key.client_id, key.api_origin
                )),
                ..OAuthFailure::own(
                    OAuthRequest::Refresh,
                    OAuthReason::NotAuthorized,
                    "authorize the app first (OAuth 2.0 authorization code with PKCE), or give init a refreshToken",
                )
            }));
        }
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            let (reason, description) = if family.spent {
                (
                    OAuthReason::RefreshTokenSpent,
                    "X refused the refresh token earlier",
                )
            } else {
                (
                    OAuthReason::NoRefreshToken,
                    "the access token expired and no refresh token was given to init",
                )
            };
            return Err(ConnectorError::OAuth(OAuthFailure {
                description: Some(description.into()),
                ..OAuthFailure::own(OAuthRequest::Refresh, reason, REAUTHORIZE_HINT)
            }));
        };
        let sent_at = self.clock.now_ms();
        match endpoint::exchange(&self.conn, &refresh_token, http, sent_at) {
            Ok(got) => {
                let rotated = TokenSet {
                    access_token: Some(got.access_token),
                    refresh_token: got.refresh_token,
                    expires_at: got.expires_at,
                    obtained_at: Some(got.obtained_at),
                    origin: family.tokens.origin.clone(),
                };
                family.hold_rotated(&self.store, rotated)
            }
            Err(Failed { error, token_dead }) => {
                if token_dead {
                    family.refused();
                    // Another holder may have rotated it under us.
                    if let Ok(true) = family.adopt_newer(&self.store) {
                        return Ok(());
                    }
                }
                Err(error)
            }
        }
    }
}
