//! The integration runtime: loads the X connector component into wasmtime,
//! guards and pools its outbound HTTP, keeps its rotated tokens, and runs
//! WSO2-style mediation flows from the command line and as HTTP APIs.

pub mod bindings;
pub mod connections;
pub mod costs;
pub mod descriptor;
pub mod egress;
pub mod engine;
pub mod flow;
pub mod imports;
pub mod media_file;
pub mod metrics;
pub mod secret;
pub mod serve;

pub use engine::{
    CallError, ConnectorFailure, ConnectorInstance, LoadKind, LoadedConnector, Runtime,
    RuntimeOptions,
};
