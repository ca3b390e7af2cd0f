//! When a failed request is sent again, and after how long.
//!
//! Pure: the connector asks [`RetryBudget::next_wait`] after each failed
//! attempt and sleeps on its clock. The rules:
//! - a request that provably never left (the connection was refused or the
//!   host not found: no byte of it was written) is sent again whatever its
//!   method, a write included: X cannot have acted on it;
//! - a read or a delete (GET, DELETE: sending them twice does no more than
//!   once) is also sent again on 502 and 503, and on 429 when the
//!   connection opted in (`waitOnRateLimit`) and the window resets within
//!   what is left of the call's waiting budget;
//! - nothing else is retried: a write that may have reached X (a timeout, a
//!   reset, any answer) is never sent twice.
//!
//! One budget covers a whole call (every page of a read, every request of
//! an upload): at most `retryCount` retries and `maxRetryWait` of waiting,
//! so the host can bound the call's deadline from the connection alone.

use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};

use crate::error::{ConnectorError, TransportKind};

pub const DEFAULT_RETRY_COUNT: u32 = 2;
pub const MAX_RETRY_COUNT: u32 = 10;
pub const DEFAULT_RETRY_DELAY_MS: u32 = 500;
pub const MAX_RETRY_DELAY_MS: u32 = 60_000;
pub const DEFAULT_MAX_RETRY_WAIT_MS: u32 = 30_000;
/// One 15-minute rate-limit window: waiting longer is a job for a queue.
pub const MAX_RETRY_WAIT_MS: u32 = 900_000;

/// A connection's retry settings (`init`'s `retryCount`, `retryDelay`,
/// `waitOnRateLimit`, `maxRetryWait`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries one call may make in all.
    pub count: u32,
    /// The first backoff; each later one doubles it (jittered).
    pub delay: Duration,
    /// Whether a 429 on a read waits for the window's reset.
    pub wait_on_rate_limit: bool,
    /// The most one call waits between attempts, in all.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            count: DEFAULT_RETRY_COUNT,
            delay: Duration::from_millis(DEFAULT_RETRY_DELAY_MS.into()),
            wait_on_rate_limit: false,
            max_wait: Duration::from_millis(DEFAULT_MAX_RETRY_WAIT_MS.into()),
        }
    }
}

/// `init`'s retry parameters as given (none: the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryParams {
    pub count: Option<u32>,
    pub delay_ms: Option<u32>,
    pub wait_on_rate_limit: Option<bool>,
    pub max_wait_ms: Option<u32>,
}

impl RetryParams {
    pub fn validate(self) -> Result<RetryPolicy, ConnectorError> {
        let count = self.count.unwrap_or(DEFAULT_RETRY_COUNT);
        if count > MAX_RETRY_COUNT {
            return Err(ConnectorError::invalid(
                "retryCount",
                format!("must be 0 to {MAX_RETRY_COUNT}"),
            ));
        }
        let delay = self.delay_ms.unwrap_or(DEFAULT_RETRY_DELAY_MS);
        if !(1..=MAX_RETRY_DELAY_MS).contains(&delay) {
            return Err(ConnectorError::invalid(
                "retryDelay",
                format!("must be 1 to {MAX_RETRY_DELAY_MS} milliseconds"),
            ));
        }
        let max_wait = self.max_wait_ms.unwrap_or(DEFAULT_MAX_RETRY_WAIT_MS);
        if max_wait > MAX_RETRY_WAIT_MS {
            return Err(ConnectorError::invalid(
                "maxRetryWait",
                format!("must be 0 to {MAX_RETRY_WAIT_MS} milliseconds"),
            ));
        }
        Ok(RetryPolicy {
            count,
            delay: Duration::from_millis(delay.into()),
            wait_on_rate_limit: self.wait_on_rate_limit.unwrap_or(false),
            max_wait: Duration::from_millis(max_wait.into()),
        })
    }
}

/// Parses a whole number of milliseconds (or retries) for `parameter`.
pub fn parse_number(parameter: &str, value: &str) -> Result<u32, ConnectorError> {
    value
        .trim()
        .parse::<u32>()
        .map_err(|_| ConnectorError::invalid(parameter, "must be a whole number"))
}

/// What one failed attempt came to, as far as retrying goes.
#[derive(Debug, Clone, Copy)]
pub enum Failure<'a> {
    /// No answer: the transport failed this way.
    Transport(TransportKind),
    /// X answered with this error status and these headers.
    Status(StatusCode, &'a HeaderMap),
}

impl<'a> Failure<'a> {
    /// The failure of an attempt's outcome; none for a success or an error
    /// that is not about the wire (a token-store failure, a malformed
    /// answer). A 401 left after the replay is a status like any other.
    pub fn of(outcome: &'a Result<crate::http::Response, ConnectorError>) -> Option<Self> {
        match outcome {
            Ok(resp) if resp.status().is_success() => None,
            Ok(resp) => Some(Failure::Status(resp.status(), resp.headers())),
            Err(ConnectorError::Transport(t)) => Some(Failure::Transport(t.kind)),
            Err(_) => None,
        }
    }
}

/// What is left of one call's retries.
#[derive(Debug, Clone, Copy)]
pub struct RetryBudget {
    policy: RetryPolicy,
    retries_left: u32,
    wait_left: Duration,
    /// Retries made so far (the next backoff doubles with each).
    made: u32,
}

impl RetryBudget {
    pub fn new(policy: RetryPolicy) -> Self {
        RetryBudget {
            policy,
            retries_left: policy.count,
            wait_left: policy.max_wait,
            made: 0,
        }
    }

    /// Retries this budget has granted.
    pub fn retries_made(&self) -> u32 {
        self.made
    }

    /// How long to wait before sending the request again, or none when it
    /// must not be (see the module's rules). `now_ms` is Unix time;
    /// `jitter` a random fraction in thousandths (0 to 1000); integers, not
    /// floats: float formatting would cost the component 30 KB.
    pub fn next_wait(
        &mut self,
        method: &Method,
        failure: Failure<'_>,
        now_ms: u64,
        jitter: u32,
    ) -> Option<Duration> {
        if self.retries_left == 0 {
            return None;
        }
        let repeatable = matches!(*method, Method::GET | Method::DELETE);
        let backoff = self.backoff(jitter);
        let wait = match failure {
            // Refused or unresolved: no byte of the request was written.
            Failure::Transport(TransportKind::Connect | TransportKind::Dns) => backoff,
            Failure::Transport(_) => return None,
            Failure::Status(s, headers)
                if repeatable
                    && (s == StatusCode::BAD_GATEWAY || s == StatusCode::SERVICE_UNAVAILABLE) =>
            {
                retry_after(headers).map_or(backoff, |after| after.max(backoff))
            }
            Failure::Status(StatusCode::TOO_MANY_REQUESTS, headers)
                if repeatable && self.policy.wait_on_rate_limit =>
            {
                let reset_ms = crate::response::rate_limits(headers)
                    .retry_after_s
                    .map(|s| s.saturating_mul(1000));
                match reset_ms {
                    // Until the reset, plus up to a second so that clients
                    // waiting on one window do not all come back at once.
                    Some(at) => Duration::from_millis(
                        at.saturating_sub(now_ms) + u64::from(jitter.min(1000)),
                    ),
                    None => retry_after(headers).unwrap_or(backoff),
                }
            }
            Failure::Status(..) => return None,
        };
        if wait > self.wait_left {
            return None;
        }
        self.wait_left -= wait;
        self.retries_left -= 1;
        self.made += 1;
        Some(wait)
    }

    /// `delay × 2^made`, of which a random half ("equal jitter": never less
    /// than half the step, so a retry never comes back at once).
    fn backoff(&self, jitter: u32) -> Duration {
        let step = self
            .policy
            .delay
            .saturating_mul(1u32 << self.made.min(16))
            .min(Duration::from_millis(MAX_RETRY_WAIT_MS.into()));
        step / 2 + step * jitter.min(1000) / 2000
    }
}

/// A `retry-after` header in seconds (the HTTP-date form is not used by X).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    // By the constant: a lookup by string parses the name against the
    // table of standard headers, 25 KB in the component.
    let secs = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// A random fraction in thousandths (0 to 1000) for jitter. std's `RandomState` is seeded
/// from the platform's randomness (wasi:random in the component) for each
/// new instance: no extra crate for a few random bits that only need to
/// differ between clients.
pub fn jitter() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits % 1001) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn budget(f: impl FnOnce(&mut RetryPolicy)) -> RetryBudget {
        let mut p = RetryPolicy::default();
        f(&mut p);
        RetryBudget::new(p)
    }

    #[test]
    fn a_write_is_retried_only_when_it_never_left() {
        let none = HeaderMap::new();
        for method in [Method::POST, Method::PUT] {
            let mut b = budget(|_| {});
            for kind in [TransportKind::Connect, TransportKind::Dns] {
                assert!(b
                    .next_wait(&method, Failure::Transport(kind), NOW, 500)
                    .is_some());
            }
            let mut b = budget(|p| p.wait_on_rate_limit = true);
            for kind in [
                TransportKind::Timeout,
                TransportKind::Reset,
                TransportKind::Tls,
                TransportKind::Denied,
                TransportKind::TooLarge,
                TransportKind::Other,
            ] {
                assert_eq!(
                    b.next_wait(&method, Failure::Transport(kind), NOW, 500),
                    None
                );
            }
            for status in [500, 502, 503, 429, 400, 403] {
                let s = StatusCode::from_u16(status).unwrap();
                assert_eq!(
                    b.next_wait(&method, Failure::Status(s, &none), NOW, 500),
                    None
                );
            }
        }
    }

    #[test]
    fn reads_and_deletes_are_retried_on_502_and_503_only() {
        let none = HeaderMap::new();
        for method in [Method::GET, Method::DELETE] {
            for status in [502, 503] {
                let s = StatusCode::from_u16(status).unwrap();
                let mut b = budget(|_| {});
                assert!(b
                    .next_wait(&method, Failure::Status(s, &none), NOW, 0)
                    .is_some());
            }
            for status in [500, 504, 400, 404, 403, 429] {
                let s = StatusCode::from_u16(status).unwrap();
                let mut b = budget(|_| {});
                assert_eq!(
                    b.next_wait(&method, Failure::Status(s, &none), NOW, 0),
                    None,
                    "{status}"
                );
            }
            let mut b = budget(|_| {});
            let reset = Failure::Transport(TransportKind::Reset);
            assert_eq!(b.next_wait(&method, reset, NOW, 0), None);
        }
    }

    #[test]
    fn backoff_doubles_with_equal_jitter_and_the_budget_runs_out() {
        let none = HeaderMap::new();
        let s503 = Failure::Status(StatusCode::SERVICE_UNAVAILABLE, &none);
        let mut b = budget(|p| {
            p.count = 3;
            p.delay = Duration::from_millis(100);
        });
        assert_eq!(
            b.next_wait(&Method::GET, s503, NOW, 0),
            Some(Duration::from_millis(50))
        );
        assert_eq!(
            b.next_wait(&Method::GET, s503, NOW, 1000),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            b.next_wait(&Method::GET, s503, NOW, 500),
            Some(Duration::from_millis(300))
        );
        assert_eq!(
            b.next_wait(&Method::GET, s503, NOW, 500),
            None,
            "three retries in all"
        );
        assert_eq!(b.retries_made(), 3);

        let mut b = budget(|p| {
            p.count = 10;
            p.delay = Duration::from_millis(1000);
            p.max_wait = Duration::from_millis(2500);
        });
        assert!(b.next_wait(&Method::GET, s503, NOW, 1000).is_some()); // 1 s
        assert_eq!(
            b.next_wait(&Method::GET, s503, NOW, 1000),
            None,
            "2 s more is past 2.5 s"
        );
    }

    #[test]
    fn retry_after_is_honoured_on_503() {
        let h = headers(&[("retry-after", "3")]);
        let mut b = budget(|_| {});
        let s503 = Failure::Status(StatusCode::SERVICE_UNAVAILABLE, &h);
        assert_eq!(
            b.next_wait(&Method::GET, s503, NOW, 0),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn a_429_waits_for_the_reset_only_when_asked_and_within_the_cap() {
        let reset = (NOW / 1000 + 10).to_string();
        let h = headers(&[
            ("x-rate-limit-remaining", "0"),
            ("x-rate-limit-reset", &reset),
        ]);
        let s429 = Failure::Status(StatusCode::TOO_MANY_REQUESTS, &h);
        assert_eq!(
            budget(|_| {}).next_wait(&Method::GET, s429, NOW, 0),
            None,
            "opt-in"
        );
        let mut b = budget(|p| p.wait_on_rate_limit = true);
        assert_eq!(
            b.next_wait(&Method::GET, s429, NOW, 250),
            Some(Duration::from_millis(10_250))
        );
        let mut b = budget(|p| {
            p.wait_on_rate_limit = true;
            p.max_wait = Duration::from_secs(5);
        });
        assert_eq!(
            b.next_wait(&Method::GET, s429, NOW, 0),
            None,
            "reset past the cap"
        );
        let mut b = budget(|p| p.wait_on_rate_limit = true);
        assert_eq!(
            b.next_wait(&Method::POST, s429, NOW, 0),
            None,
            "never a write"
        );
    }

    #[test]
    fn the_parameters_name_their_rule() {
        let bad = |p: RetryParams| match p.validate().unwrap_err() {
            ConnectorError::InvalidInput { parameter, .. } => parameter,
            e => panic!("{e:?}"),
        };
        let p = RetryParams::default();
        assert_eq!(p.validate().unwrap(), RetryPolicy::default());
        assert_eq!(
            bad(RetryParams {
                count: Some(11),
                ..p
            }),
            "retryCount"
        );
        assert_eq!(
            bad(RetryParams {
                delay_ms: Some(0),
                ..p
            }),
            "retryDelay"
        );
        assert_eq!(
            bad(RetryParams {
                max_wait_ms: Some(900_001),
                ..p
            }),
            "maxRetryWait"
        );
        assert!(parse_number("retryCount", "-1").is_err());
    }

    #[test]
    fn jitter_is_a_fraction_and_varies() {
        let draws: Vec<u32> = (0..64).map(|_| jitter()).collect();
        assert!(draws.iter().all(|j| *j <= 1000));
        assert!(draws.windows(2).any(|w| w[0] != w[1]));
    }
}
