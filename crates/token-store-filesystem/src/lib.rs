//! The connector's `wso2:twitter/token-store` import, as a component of
//! its own over `wasi:filesystem`: plugged into the connector with `wac
//! plug`, it lets hosts without the integrator runtime (the wasmtime CLI,
//! jco) keep rotated tokens in a directory they preopen.
//!
//! The directory is `/state` in the guest (`wasmtime run --dir
//! HOST_DIR::/state`), or what `X_TOKEN_DIR` names.

pub mod file_store;

#[cfg(target_arch = "wasm32")]
mod component;
