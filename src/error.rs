//! The connector's one error type, mirrored 1:1 by the WIT `connector-error`.

use std::fmt;

use crate::secret::Secret;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitWindow {
    pub limit: Option<u32>,
    pub remaining: Option<u32>,
    pub reset: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// `x-rate-limit-*`: the endpoint window (15 minutes on most tiers).
    pub window: Option<RateLimitWindow>,
    /// `x-user-limit-24hour-*`.
    pub user_day: Option<RateLimitWindow>,
    /// `x-app-limit-24hour-*`.
    pub app_day: Option<RateLimitWindow>,
    /// When a call can succeed again (see [`RateLimits::retry_after_of`]).
    pub retry_after: Option<u64>,
}

impl RateLimits {
    /// The reset of the exhausted window (remaining 0), the latest one when
    /// several are. A 429 from the free tier's 24-hour cap leaves the
    /// 15-minute window with calls to spare: its reset would be a lie.
    pub fn retry_after_of(&self) -> Option<u64> {
        [&self.window, &self.user_day, &self.app_day]
            .into_iter()
            .flatten()
            .filter(|w| w.remaining == Some(0))
            .filter_map(|w| w.reset)
            .max()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProblemItem {
    pub message: String,
    pub parameters: Option<String>,
    /// A plain `{code, message}` error's code.
    pub code: Option<i32>,
    pub problem_type: Option<String>,
    pub parameter: Option<String>,
    pub value: Option<String>,
}

/// An RFC 7807 problem, or X's older `{"errors":[...]}` shape, from an error response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problem {
    pub status: u16,
    pub problem_type: Option<String>,
    /// Last path segment of `type` (`usage-capped`, `client-not-enrolled`, ...),
    /// `duplicate-content` for X's duplicate-text 403, else `about:blank` / `unknown`.
    pub kind: String,
    pub title: Option<String>,
    pub detail: Option<String>,
    pub errors: Vec<ProblemItem>,
    /// X's `reason` (`client-not-enrolled`).
    pub reason: Option<String>,
    pub required_enrollment: Option<String>,
    pub registration_url: Option<String>,
}

impl Problem {
    /// The most telling human text of the problem.
    pub fn message(&self) -> String {
        let text = self
            .detail
            .clone()
            .or_else(|| self.errors.first().map(|e| e.message.clone()))
            .or_else(|| self.title.clone())
            .unwrap_or_else(|| format!("HTTP {}", self.status));
        match (&self.required_enrollment, &self.registration_url) {
            (Some(need), Some(url)) => {
                format!("{text} (the app needs {need}: enroll it at {url})")
            }
            (Some(need), None) => format!("{text} (the app needs {need})"),
            _ => text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Connect,
    Dns,
    Tls,
    Timeout,
    Reset,
    Denied,
    TooLarge,
    Other,
}

impl TransportKind {
    /// The WIT case name.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Connect => "connect",
            TransportKind::Dns => "dns",
            TransportKind::Tls => "tls",
            TransportKind::Timeout => "timeout",
            TransportKind::Reset => "reset",
            TransportKind::Denied => "denied",
            TransportKind::TooLarge => "too-large",
            TransportKind::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    pub kind: TransportKind,
    pub cause: String,
}

impl TransportError {
    pub fn new(kind: TransportKind, cause: impl Into<String>) -> Self {
        TransportError {
            kind,
            cause: cause.into(),
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.cause)
    }
}

impl std::error::Error for TransportError {}

pub const REAUTHORIZE_HINT: &str =
    "the refresh token can no longer be used: re-authorize the app (OAuth 2.0 authorization code with PKCE, scope offline.access) and give the new refresh token to init";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorError {
    InvalidInput {
        parameter: String,
        rule: String,
    },
    NotInitialized,
    Unauthorized(Problem),
    Forbidden(Problem),
    NotFound(Problem),
    RateLimited {
        limits: RateLimits,
        problem: Problem,
    },
    Api(Problem),
    Transport(TransportError),
    RefreshFailed {
        error: String,
        description: Option<String>,
        status: Option<u16>,
        hint: String,
    },
    MalformedResponse(String),
    /// Getting the first tokens failed (WIT `authorization-failed`).
    AuthorizationFailed {
        error: String,
        description: Option<String>,
        status: Option<u16>,
        hint: String,
    },
    /// The host's token store could not be used (see WIT `store-failure`).
    TokenStore {
        cause: String,
        /// A rotated set is held in memory only, until the store answers.
        unsaved: bool,
    },
}

/// What stands in for a secret found in a text from outside.
pub const MASK: &str = "********";

fn mask_in(text: &mut String, secrets: &[&Secret]) {
    for s in secrets {
        let s = s.expose();
        if !s.is_empty() && text.contains(s) {
            *text = text.replace(s, MASK);
        }
    }
}

impl Problem {
    fn mask(&mut self, secrets: &[&Secret]) {
        for t in [&mut self.title, &mut self.detail, &mut self.problem_type]
            .into_iter()
            .flatten()
        {
            mask_in(t, secrets);
        }
        for item in &mut self.errors {
            mask_in(&mut item.message, secrets);
            for t in [&mut item.parameters, &mut item.value]
                .into_iter()
                .flatten()
            {
                mask_in(t, secrets);
            }
        }
    }
}

impl ConnectorError {
    /// The error with `secrets` masked in every text that came from the
    /// other side (X's descriptions and problem texts).
    pub fn masking(mut self, secrets: &[&Secret]) -> Self {
        match &mut self {
            ConnectorError::RefreshFailed {
                error, description, ..
            }
            | ConnectorError::AuthorizationFailed {
                error, description, ..
            } => {
                mask_in(error, secrets);
                if let Some(d) = description {
                    mask_in(d, secrets);
                }
            }
            ConnectorError::Unauthorized(p)
            | ConnectorError::Forbidden(p)
            | ConnectorError::NotFound(p)
            | ConnectorError::Api(p)
            | ConnectorError::RateLimited { problem: p, .. } => p.mask(secrets),
            ConnectorError::MalformedResponse(m) => mask_in(m, secrets),
            _ => {}
        }
        self
    }

    pub fn invalid(parameter: impl Into<String>, rule: impl Into<String>) -> Self {
        ConnectorError::InvalidInput {
            parameter: parameter.into(),
            rule: rule.into(),
        }
    }

    /// The WIT case name, used by flows to branch on the error kind.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorError::InvalidInput { .. } => "invalid-input",
            ConnectorError::NotInitialized => "not-initialized",
            ConnectorError::Unauthorized(_) => "unauthorized",
            ConnectorError::Forbidden(_) => "forbidden",
            ConnectorError::NotFound(_) => "not-found",
            ConnectorError::RateLimited { .. } => "rate-limited",
            ConnectorError::Api(_) => "api-error",
            ConnectorError::Transport(_) => "transport",
            ConnectorError::RefreshFailed { .. } => "refresh-failed",
            ConnectorError::MalformedResponse(_) => "malformed-response",
            ConnectorError::TokenStore { .. } => "token-store",
            ConnectorError::AuthorizationFailed { .. } => "authorization-failed",
        }
    }
}

impl From<TransportError> for ConnectorError {
    fn from(e: TransportError) -> Self {
        ConnectorError::Transport(e)
    }
}

impl ConnectorError {
    /// X's own words for the error when X said anything, else the
    /// component's (WIT `error.message`).
    pub fn message(&self) -> String {
        match self {
            ConnectorError::InvalidInput { parameter, rule } => {
                format!("invalid parameter `{parameter}`: {rule}")
            }
            ConnectorError::NotInitialized => {
                "the connection is not initialized: call init first".into()
            }
            ConnectorError::Unauthorized(p)
            | ConnectorError::Forbidden(p)
            | ConnectorError::NotFound(p)
            | ConnectorError::Api(p)
            | ConnectorError::RateLimited { problem: p, .. } => p.message(),
            ConnectorError::Transport(t) => t.cause.clone(),
            ConnectorError::RefreshFailed {
                error, description, ..
            }
            | ConnectorError::AuthorizationFailed {
                error, description, ..
            } => match description {
                Some(d) => format!("{error}: {d}"),
                None => error.clone(),
            },
            ConnectorError::MalformedResponse(m) => m.clone(),
            ConnectorError::TokenStore { cause, .. } => cause.clone(),
        }
    }
}

/// One line a person can act on (WIT `error.detail`): what failed, X's
/// words, and what to do.
impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectorError::Forbidden(p) => write!(f, "forbidden ({}): {}", p.kind, p.message()),
            ConnectorError::Api(p) => {
                write!(f, "X API error {} ({}): {}", p.status, p.kind, p.message())
            }
            ConnectorError::RateLimited { limits, problem } => match limits.retry_after {
                Some(t) => write!(
                    f,
                    "rate limited until {t} (unix seconds): {}",
                    problem.message()
                ),
                None => write!(f, "rate limited: {}", problem.message()),
            },
            ConnectorError::Transport(t) => {
                write!(f, "transport error ({}): {}", t.kind.as_str(), t.cause)
            }
            ConnectorError::RefreshFailed { hint, .. } => {
                write!(f, "token refresh failed: {}; {hint}", self.message())
            }
            ConnectorError::AuthorizationFailed { hint, .. } => {
                write!(f, "authorization failed: {}; {hint}", self.message())
            }
            ConnectorError::TokenStore { cause, .. } => {
                write!(f, "token store unavailable: {cause}")
            }
            other => write!(f, "{}: {}", other.kind(), other.message()),
        }
    }
}

impl std::error::Error for ConnectorError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_covers_every_text_from_the_other_side() {
        let code = Secret::new("the-code-123");
        let verifier = Secret::new("the-verifier-456");
        let e = ConnectorError::AuthorizationFailed {
            error: "bad the-code-123".into(),
            description: Some("sent the-verifier-456 and the-code-123".into()),
            status: Some(400),
            hint: "h".into(),
        }
        .masking(&[&code, &verifier]);
        let text = format!("{e:?}");
        assert!(
            !text.contains("the-code-123") && !text.contains("the-verifier-456"),
            "{text}"
        );
        assert!(text.contains("sent ******** and ********"), "{text}");
        let p = ConnectorError::Api(Problem {
            detail: Some("echo the-verifier-456".into()),
            errors: vec![ProblemItem {
                message: "the-code-123".into(),
                parameters: None,
                code: None,
                problem_type: None,
                parameter: None,
                value: Some("the-code-123".into()),
            }],
            ..Problem::default()
        })
        .masking(&[&code, &verifier]);
        assert!(!format!("{p:?}").contains("the-"), "{p:?}");
    }
}
