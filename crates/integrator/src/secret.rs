//! Host-side secret newtype (tokens, the client secret): the token store's,
//! so a value read from the store never changes type on its way.

pub use token_store::Secret;
