//! How long one call may take. Most operations send one request (two with
//! a refresh and replay), bounded by the connection's timeout; a read that
//! follows `maxPages` pages sends up to that many, and uploadMedia one per
//! 1 MiB chunk plus the wait for X to process a video. The call's deadlines
//! grow with what its parameters ask for, never without bound.

use std::time::Duration;

/// The component's `append` chunk (twitter_connector::ops::media::CHUNK_BYTES;
/// an e2e test keeps the two equal).
pub const MEDIA_CHUNK_BYTES: usize = 1 << 20;
/// The longest the component waits for X's processing of an upload
/// (twitter_connector::ops::MAX_PROCESSING_SECS).
pub const MAX_PROCESSING_SECS: u64 = 600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// Requests, each within the connection's timeout.
    pub requests: u32,
    /// Waiting the call may do between them (X's `check_after_secs`).
    pub waits: Duration,
}

impl Allowance {
    pub const ONE: Allowance = Allowance {
        requests: 1,
        waits: Duration::ZERO,
    };

    /// Both allowances: a call's own and what its connection's retries add.
    pub fn plus(self, other: Allowance) -> Allowance {
        Allowance {
            requests: self.requests + other.requests,
            waits: self.waits + other.waits,
        }
    }
}

/// What a call of `operation` with `parameters` may take.
pub fn of(operation: &str, parameters: &[(String, String)]) -> Allowance {
    let get = |name: &str| {
        parameters
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    };
    if operation == "uploadMedia" {
        return of_upload(get("media").map_or(0, |b| b.len() / 4 * 3));
    }
    match get("maxPages").and_then(|n| n.parse::<u32>().ok()) {
        Some(pages) => Allowance {
            requests: pages.clamp(1, 100),
            waits: Duration::ZERO,
        },
        None => Allowance::ONE,
    }
}

/// What a connection's retries add to each of its calls: that many more
/// requests and that much waiting between them, within the component's own
/// bounds (10 retries, 15 minutes).
pub fn of_retries(count: u32, max_wait_ms: u32) -> Allowance {
    Allowance {
        requests: count.min(10),
        waits: Duration::from_millis(u64::from(max_wait_ms.min(900_000))),
    }
}

/// What an upload of `bytes` may take: initialize, the chunks, finalize
/// and a refresh, each within the timeout, then X's processing, which the
/// component bounds in wall time (its status checks included) and which
/// one last check may outlast by a timeout.
pub fn of_upload(bytes: usize) -> Allowance {
    let chunks = bytes.div_ceil(MEDIA_CHUNK_BYTES) as u32;
    Allowance {
        requests: 4 + chunks,
        waits: Duration::from_secs(MAX_PROCESSING_SECS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn calls_get_what_their_parameters_ask_for() {
        assert_eq!(of("getMe", &[]), Allowance::ONE);
        assert_eq!(of("getFollowers", &kv(&[("maxPages", "3")])).requests, 3);
        assert_eq!(
            of("getFollowers", &kv(&[("maxPages", "1000000")])).requests,
            100
        );
        let up = of("uploadMedia", &kv(&[("media", &"A".repeat(4 << 20))]));
        assert_eq!(up.requests, 4 + 3);
        assert_eq!(up.waits, Duration::from_secs(600));
    }
}
