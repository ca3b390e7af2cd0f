//! The one seam between the connector's logic and the network.
//!
//! The component implements [`HttpClient`] over `wasi:http`; native unit
//! tests implement it with scripted responses.

use std::time::Duration;

use crate::error::TransportError;

pub type Request = http::Request<Vec<u8>>;
pub type Response = http::Response<Vec<u8>>;

/// Response bodies larger than this are refused (`transport` / `too-large`):
/// no X response we read comes close, and a hostile or broken server must not
/// exhaust the guest's memory.
pub const MAX_BODY_BYTES: usize = 1 << 20;

pub trait HttpClient {
    /// Sends one request; `timeout` bounds connecting, the first byte and the
    /// gap between bytes. Implementations cap bodies at [`MAX_BODY_BYTES`].
    fn send(&self, request: Request, timeout: Duration) -> Result<Response, TransportError>;
}
