//! Response bodies, including the broken ones faults need.

use std::future::Future;
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
    /// Sent after `pause`, once `data` is out (a stalled body).
    rest: Option<(Bytes, Pin<Box<tokio::time::Sleep>>)>,
}

impl SimBody {
    pub fn full(data: impl Into<Bytes>) -> Self {
        SimBody {
            data: Some(data.into()),
            truncated: false,
            rest: None,
        }
    }

    /// Sends the first half of `data`, waits `pause`, then the rest.
    pub fn stalled(data: impl Into<Bytes>, pause: std::time::Duration) -> Self {
        let mut first: Bytes = data.into();
        let rest = first.split_off(first.len() / 2);
        SimBody {
            data: Some(first),
            truncated: false,
            rest: Some((rest, Box::pin(tokio::time::sleep(pause)))),
        }
    }

    pub fn truncated(data: impl Into<Bytes>) -> Self {
        SimBody {
            data: Some(data.into()),
            truncated: true,
            rest: None,
        }
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = BodyCut;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyCut>>> {
        if let Some(d) = self.data.take().filter(|d| !d.is_empty()) {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        if let Some((_, pause)) = self.rest.as_mut() {
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let (rest, _) = self.rest.take().expect("checked above");
            return Poll::Ready(Some(Ok(Frame::data(rest))));
        }
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
        self.data.is_none() && !self.truncated && self.rest.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let rest = self.rest.as_ref().map_or(0, |(r, _)| r.len() as u64);
        match (&self.data, self.truncated) {
            (Some(d), false) => SizeHint::with_exact(d.len() as u64 + rest),
            (None, false) => SizeHint::with_exact(rest),
            _ => SizeHint::default(),
        }
    }
}
