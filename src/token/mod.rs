//! Tokens, in golang.org/x/oauth2's pieces: a token set that knows whether
//! it is valid ([`set`]), the source that reuses it while it is
//! ([`source`]), the refresher that gets a new one under the family's lease
//! ([`refresher`], [`lease`]), the family kept in step with the host's store
//! ([`family`], [`store`]), and X's token endpoint: refresh and code grants,
//! revocation ([`endpoint`]).
//!
//! Modelled on golang.org/x/oauth2: a small token source, a separate
//! refresher, storage left to the caller (here, the host). X rotates refresh
//! tokens (each refresh returns a new one and spends the old, and reuse
//! revokes the family), so beyond that model:
//! - a rotated set goes to the host's store, durably, before its access
//!   token is used; if the store fails, the set is held and saved first
//!   thing on the next call, and never dropped or spent again;
//! - a refresh runs under the store's lease, after re-reading the store, so
//!   instances and processes never both spend one refresh token; without the
//!   store there is no refresh at all;
//! - a refresh token X refused is dropped and never sent again.

pub mod endpoint;
mod family;
mod lease;
mod refresher;
mod set;
mod source;
mod store;
#[cfg(test)]
mod tests;

pub use set::{TokenSet, EXPIRY_MARGIN_MS};
pub use source::TokenSource;
pub use store::{fingerprint, Clock, FamilyKey, StoreError, SystemClock, TokenStore, Versioned};
