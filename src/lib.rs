//! The X (Twitter) API v2 connector, as a WebAssembly component.
//!
//! Everything but `component` (the WASI glue and WIT bindings, built only
//! for wasm32) is plain Rust that runs and is unit-tested natively, with the
//! network behind [`http::HttpClient`] and the host's token store behind
//! [`token::TokenStore`].

// `ConnectorError` carries X's whole problem (it is what flows branch on);
// errors are the cold path, so its size beats a box on every variant.
#![allow(clippy::result_large_err)]

pub mod authorize;
pub mod config;
pub mod connector;
pub mod cost;
pub mod env_config;
pub mod error;
pub mod http;
pub mod ops;
pub mod response;
pub mod retry;
pub mod secret;
pub mod text;
pub mod token;
pub mod tweet;
pub mod validate;
pub mod wso2;

#[cfg(target_arch = "wasm32")]
mod component;

#[cfg(test)]
mod retry_tests;
#[cfg(test)]
mod test_support;
