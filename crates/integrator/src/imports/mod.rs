//! What the component imports, host side: the store data of an instance
//! ([`HostState`]: WASI, wasi:http, limits), `wasi:http/outgoing-handler`
//! on a view struct ([`outgoing_handler`]), and the token store
//! ([`token_store`]).

mod host_state;
pub mod outgoing_handler;
mod token_store;

pub use host_state::{HostState, MemoryLimits, TokenObserver};
