//! Response bodies, including the broken ones faults need.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

#[derive(Debug)]
pub struct BodyCut;

impl std::fmt::Display for BodyCut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("body cut short on purpose")
    }
}

impl std::error::Error for BodyCut {}

/// A whole body, or (`truncated`) one that sends its bytes and then fails, so
/// the client sees fewer bytes than `content-length` promised.
pub struct SimBody {
    data: Option<Bytes>,
    truncated: bool,
}

impl SimBody {
    pub fn full(data: impl Into<Bytes>) -> Self {
        SimBody {
            data: Some(data.into()),
            truncated: false,
        }
    }

    pub fn truncated(data: impl Into<Bytes>) -> Self {
        SimBody {
            data: Some(data.into()),
            truncated: true,
        }
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = BodyCut;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyCut>>> {
        match self.data.take() {
            Some(d) if !d.is_empty() => Poll::Ready(Some(Ok(Frame::data(d)))),
            _ if self.truncated => {
                self.truncated = false;
                Poll::Ready(Some(Err(BodyCut)))
            }
            _ => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && !self.truncated
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.data, self.truncated) {
            (Some(d), false) => SizeHint::with_exact(d.len() as u64),
            (None, false) => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}
