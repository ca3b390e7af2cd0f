//! Host bindings of the connector's WIT world (`wit/connector.wit`).
//!
//! Generated records derive `Debug` with every field, tokens included: values
//! of `TokenSet` and `ConnectionConfig` are converted at once and never logged.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "wso2:twitter/twitter-connector",
    imports: { default: async | trappable },
    exports: { default: async },
    // `wasi:http/types`, `wasi:io` and `wasi:clocks` are wasmtime's; the
    // `outgoing-handler` is generated here (async) and implemented in
    // `imports/outgoing_handler.rs`.
    with: {
        "wasi:http/types": wasmtime_wasi_http::p2::bindings::http::types,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});
