//! The connector's `wso2:twitter/token-store` import as a component over
//! `wasi:keyvalue` 0.2.0-draft2: every change to a family is a
//! compare-and-swap (`atomics.cas` / `swap`) on one key, retried when
//! another holder changed it first.
//!
//! The store is the one `X_KEYVALUE_STORE` names (default `default`).
//! Whether the host's compare-and-swap is real is the host's to say: a
//! replicated, eventually consistent store may accept two swaps of one
//! value. Unless `X_KEYVALUE_CONSISTENCY=strong` declares it real, the
//! provider warns on stderr at its first lease that one refresh at a time
//! across instances is then not guaranteed.

pub mod cas_store;

#[cfg(target_arch = "wasm32")]
mod component;
