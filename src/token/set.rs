//! A token set, and whether its access token is still good to send.

use crate::secret::Secret;

/// Refresh when the access token expires within this margin (or within half
/// its lifetime, for tokens that live less than two minutes).
pub const EXPIRY_MARGIN_MS: u64 = 60_000;

/// One family's tokens as the store keeps them (WIT `token-set`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSet {
    pub access_token: Option<Secret>,
    pub refresh_token: Option<Secret>,
    /// Unix milliseconds when the access token expires.
    pub expires_at: Option<u64>,
    /// Unix milliseconds when the set was obtained.
    pub obtained_at: Option<u64>,
    /// SHA-256 (hex) of the token the family started from in the config.
    pub origin: String,
}

impl TokenSet {
    fn margin(&self) -> u64 {
        match (self.expires_at, self.obtained_at) {
            (Some(at), Some(got)) if at > got => EXPIRY_MARGIN_MS.min((at - got) / 2),
            _ => EXPIRY_MARGIN_MS,
        }
    }

    /// The access token, if it stays valid for the margin from `now_ms`
    /// (a token of unknown expiry is taken as valid: X's 401 says otherwise).
    pub fn valid_access(&self, now_ms: u64) -> Option<&Secret> {
        let token = self.access_token.as_ref()?;
        match self.expires_at {
            Some(at) if now_ms + self.margin() >= at => None,
            _ => Some(token),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(expires_at: Option<u64>, obtained_at: Option<u64>) -> TokenSet {
        TokenSet {
            access_token: Some(Secret::new("a")),
            refresh_token: None,
            expires_at,
            obtained_at,
            origin: String::new(),
        }
    }

    #[test]
    fn valid_until_the_margin() {
        let s = set(Some(1_000_000), Some(0));
        assert!(s.valid_access(1_000_000 - EXPIRY_MARGIN_MS - 1).is_some());
        assert!(s.valid_access(1_000_000 - EXPIRY_MARGIN_MS).is_none());
        assert!(set(None, None).valid_access(u64::MAX / 2).is_some());
    }

    #[test]
    fn short_lived_tokens_refresh_at_half_life() {
        let s = set(Some(60_000), Some(0));
        assert!(s.valid_access(29_999).is_some());
        assert!(s.valid_access(30_000).is_none());
    }
}
