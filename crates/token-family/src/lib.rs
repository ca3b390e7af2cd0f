//! One token family as the provider components store it, and the rules
//! every change follows, whatever makes the change atomic (a lock file in
//! a directory, a compare-and-swap in a key-value store):
//! - `save` is a compare-and-swap on the version (0: nothing stored yet);
//! - one refresh lease at a time, until released or lapsed; a lapsed
//!   holder's release leaves the next holder's lease alone.
//!
//! The mirror of the WIT `token-store` types lives here too, so both
//! providers convert from one place.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Whose tokens (the WIT `family-key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyKey {
    pub connection: String,
    pub client_id: String,
    pub api_origin: String,
}

impl FamilyKey {
    /// A name for the family's file or key: a digest, so no key text
    /// reaches a path or a store key (and no length limit bites).
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for part in [&self.connection, &self.client_id, &self.api_origin] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// One token set (the WIT `token-set`). `Debug` never shows a token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub expires_at_ms: Option<u64>,
    pub obtained_at_ms: Option<u64>,
    pub origin: String,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |t: &Option<String>| t.as_ref().map(|_| "[redacted]");
        f.debug_struct("TokenSet")
            .field("access_token", &shown(&self.access_token))
            .field("refresh_token", &shown(&self.refresh_token))
            .field("expires_at_ms", &self.expires_at_ms)
            .field("obtained_at_ms", &self.obtained_at_ms)
            .field("origin", &self.origin)
            .finish()
    }
}

/// The WIT `store-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The stored version is not the expected one; carries the current one.
    Conflict(u64),
    /// The store cannot be used now; the text never holds a token.
    Unavailable(String),
}

/// What is stored per family.
#[derive(Serialize, Deserialize)]
pub struct Family {
    family: FamilyKey,
    version: u64,
    tokens: Option<TokenSet>,
    lease: Option<Lease>,
    /// Lease ids are unique per family: the next one to hand out.
    next_lease: u64,
}

#[derive(Serialize, Deserialize)]
struct Lease {
    id: u64,
    expires_at_ms: u64,
}

/// Whether a change must be written back.
pub type Changed = bool;

impl Family {
    /// A family nothing was stored for yet.
    pub fn new(key: &FamilyKey) -> Family {
        Family {
            family: key.clone(),
            version: 0,
            tokens: None,
            lease: None,
            next_lease: 1,
        }
    }

    /// The stored form read back; `None` when it is not this family's.
    pub fn decode(bytes: &[u8], key: &FamilyKey) -> Result<Family, String> {
        let family: Family =
            serde_json::from_slice(bytes).map_err(|e| format!("cannot parse: {e}"))?;
        if &family.family != key {
            return Err("holds another family (left alone)".into());
        }
        Ok(family)
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a family always encodes")
    }

    /// The newest tokens and their version, if any were saved.
    pub fn tokens(&self) -> Option<(u64, TokenSet)> {
        self.tokens.clone().map(|t| (self.version, t))
    }

    /// `save`: the new version, or the current one as a conflict.
    pub fn save(&mut self, expected: u64, tokens: &TokenSet) -> Result<(u64, Changed), StoreError> {
        if self.version != expected {
            return Err(StoreError::Conflict(self.version));
        }
        self.version += 1;
        self.tokens = Some(tokens.clone());
        Ok((self.version, true))
    }

    /// `acquire-lease` at `now_ms`: a new lease id, or `None` while a live
    /// holder has it.
    pub fn acquire_lease(&mut self, now_ms: u64, ttl_ms: u64) -> (Option<u64>, Changed) {
        if self
            .lease
            .as_ref()
            .is_some_and(|l| l.expires_at_ms > now_ms)
        {
            return (None, false);
        }
        let id = self.next_lease;
        self.next_lease += 1;
        self.lease = Some(Lease {
            id,
            expires_at_ms: now_ms.saturating_add(ttl_ms),
        });
        (Some(id), true)
    }

    /// `release-lease`: only the lease `id` itself.
    pub fn release_lease(&mut self, id: u64) -> Changed {
        if self.lease.as_ref().is_some_and(|l| l.id == id) {
            self.lease = None;
            true
        } else {
            false
        }
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FamilyKey {
        FamilyKey {
            connection: "c".into(),
            client_id: "app".into(),
            api_origin: "https://api.x.com".into(),
        }
    }

    fn set(a: &str) -> TokenSet {
        TokenSet {
            access_token: Some(a.into()),
            refresh_token: Some(format!("R-{a}")),
            expires_at_ms: Some(5),
            obtained_at_ms: None,
            origin: "o".into(),
        }
    }

    #[test]
    fn save_is_a_compare_and_swap() {
        let mut f = Family::new(&key());
        assert_eq!(f.tokens(), None);
        assert_eq!(f.save(0, &set("A")), Ok((1, true)));
        assert_eq!(f.save(0, &set("B")), Err(StoreError::Conflict(1)));
        assert_eq!(f.save(1, &set("B")), Ok((2, true)));
        let back = Family::decode(&f.encode(), &key()).unwrap();
        assert_eq!(back.tokens(), Some((2, set("B"))));
    }

    #[test]
    fn leases_lapse_and_only_their_holder_releases_them() {
        let mut f = Family::new(&key());
        let (l1, _) = f.acquire_lease(1_000, 100);
        assert_eq!(f.acquire_lease(1_050, 100), (None, false));
        let (l2, _) = f.acquire_lease(1_100, 100);
        assert!(l1.is_some() && l2.is_some() && l1 != l2);
        assert!(!f.release_lease(l1.unwrap()));
        assert!(f.release_lease(l2.unwrap()));
        assert!(f.acquire_lease(1_101, 100).0.is_some());
    }

    #[test]
    fn another_family_s_record_is_refused_and_debug_hides_tokens() {
        let f = Family::new(&key());
        let mut other = key();
        other.client_id = "app-2".into();
        assert!(Family::decode(&f.encode(), &other).is_err());
        assert_ne!(key().digest(), other.digest());
        assert!(!format!("{:?}", set("SECRET")).contains("SECRET"));
    }
}
