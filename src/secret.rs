//! A string that must never be printed: tokens, the client secret.
//!
//! Modelled on oauth2-rs's secret newtypes: `Debug` is redacted and the value
//! is reached only through an explicit `expose()` at the point of use.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; call only where it goes on the wire or to the store.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("super-secret-token");
        let shown = format!("{s:?} {:?}", Some(s.clone()));
        assert!(!shown.contains("super-secret-token"), "{shown}");
        assert_eq!(s.expose(), "super-secret-token");
    }
}
