//! The family as this holder knows it, kept in step with the store:
//! versions as compare-and-swap, a rotated set saved before it is used, and
//! a newer set another holder stored adopted instead of spending ours.

use super::set::TokenSet;
use super::store::{FamilyKey, StoreError, TokenStore, Versioned};
use crate::error::ConnectorError;

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

#[derive(Debug)]
pub(super) struct Family {
    pub key: FamilyKey,
    pub tokens: TokenSet,
    /// X refused the last refresh token: never send it again.
    pub spent: bool,
    version: u64,
    sync: Sync,
    /// Why the store failed last (names the store, never a token).
    store_error: Option<String>,
}

fn store_warning(what: &str, e: &StoreError) {
    // stderr reaches the host's log; it carries no token.
    eprintln!("twitter-connector: token store {what} failed: {e}");
}

impl Family {
    /// `tokens`, not yet in step with the store.
    pub fn unsynced(key: FamilyKey, tokens: TokenSet) -> Self {
        Family {
            key,
            tokens,
            spent: false,
            version: 0,
            sync: Sync::NotLoaded,
            store_error: None,
        }
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn in_store(&self) -> bool {
        self.sync == Sync::InStore
    }

    pub fn holds_unsaved(&self) -> bool {
        self.sync == Sync::Unsaved
    }

    pub fn note_store_error(&mut self, what: &str, e: &StoreError) {
        store_warning(what, e);
        self.store_error = Some(e.to_string());
    }

    pub fn store_failure(&mut self, what: &str, e: &StoreError) -> ConnectorError {
        self.note_store_error(what, e);
        self.failure()
    }

    /// The error a call reports while the store is out of step.
    pub fn failure(&self) -> ConnectorError {
        let cause = self
            .store_error
            .clone()
            .unwrap_or_else(|| "the token store could not be used".into());
        let unsaved = self.holds_unsaved();
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
    /// our set as a new family.
    pub fn start(&mut self, store: &impl TokenStore) -> Result<(), StoreError> {
        for _ in 0..START_ATTEMPTS {
            match store.load(&self.key)? {
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
                    match store.save(&self.key, expected, &self.tokens) {
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

    /// Takes a set a refresh just returned: the only copy until saved, so it
    /// is saved now and used only once it is.
    pub fn hold_rotated(
        &mut self,
        store: &impl TokenStore,
        tokens: TokenSet,
    ) -> Result<(), ConnectorError> {
        // X rotates: the old refresh token is spent whether or not a new
        // one came back (none comes without offline.access).
        self.spent = tokens.refresh_token.is_none();
        self.tokens = tokens;
        self.sync = Sync::Unsaved;
        self.save_rotated(store)
            .map_err(|e| self.store_failure("save", &e))
    }

    /// Saves the rotated set we hold. If the store meanwhile holds another
    /// family (a newer authorization), that one wins.
    fn save_rotated(&mut self, store: &impl TokenStore) -> Result<(), StoreError> {
        let expected = match store.save(&self.key, self.version, &self.tokens) {
            Ok(v) => {
                self.saved_as(v);
                return Ok(());
            }
            Err(StoreError::Conflict(current)) => current,
            Err(e) => return Err(e),
        };
        match store.load(&self.key)? {
            Some(v) if v.tokens.origin != self.tokens.origin => {
                self.adopt(v);
                Ok(())
            }
            // Same family, saved by a holder whose lease outlived ours: our
            // set is the newest we know of.
            _ => {
                let v = store.save(&self.key, expected, &self.tokens)?;
                self.saved_as(v);
                Ok(())
            }
        }
    }

    /// Brings the store in step before a call: an unsaved rotated set is
    /// saved first (the call fails while it cannot be); an unread store is
    /// read (the call may go on with the config's access token meanwhile).
    pub fn sync(&mut self, store: &impl TokenStore) -> Result<(), ConnectorError> {
        match self.sync {
            Sync::InStore => Ok(()),
            Sync::NotLoaded => {
                if let Err(e) = self.start(store) {
                    self.note_store_error("load", &e);
                }
                Ok(())
            }
            Sync::Unsaved => match self.save_rotated(store) {
                Ok(()) => Ok(()),
                Err(e) => Err(self.store_failure("save", &e)),
            },
        }
    }

    /// Adopts a newer set of our family, if another holder stored one.
    pub fn adopt_newer(&mut self, store: &impl TokenStore) -> Result<bool, StoreError> {
        match store.load(&self.key)? {
            Some(v) if v.version > self.version && self.ours(&v.tokens) => {
                self.adopt(v);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Forgets the tokens (revoked at X): a call then says to log in.
    pub fn forget(&mut self) {
        self.tokens.access_token = None;
        self.tokens.refresh_token = None;
        self.spent = true;
    }

    /// X refused our refresh token: drop it for good.
    pub fn refused(&mut self) {
        self.tokens.refresh_token = None;
        self.spent = true;
    }
}
