//! End-to-end tests of the connector, one file per area under `tests/`:
//! the component `./build.sh` built (`dist/twitter-connector.wasm`), run by
//! the runtime's engine, talking HTTP on loopback to the X simulator.
//! Nothing here is a library; the crate exists so the component crate
//! itself depends on nothing of the runtime's.
