//! Host bindings of the connector's WIT world (`wit/connector.wit`).
//!
//! Generated records derive `Debug` with every field, tokens included: values
//! of `TokenSet` and `ConnectionConfig` are converted at once and never logged.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "wso2:twitter/twitter-connector",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi": wasmtime_wasi::p2::bindings,
    },
});
