//! The integration runtime: loads the X connector component into wasmtime,
//! guards and pools its outbound HTTP, keeps its rotated tokens, and runs
//! WSO2-style mediation flows from the command line and as HTTP APIs.

pub mod auth_cli;
pub mod bindings;
pub mod descriptor;
pub mod engine;
pub mod flow;
pub mod host;
pub mod instance_pool;
pub mod outbound;
pub mod outgoing;
pub mod pool;
pub mod secret;
pub mod store_cli;

pub use engine::{
    CallError, ConnectorFailure, ConnectorInstance, LoadKind, LoadedConnector, Runtime,
    RuntimeOptions,
};
