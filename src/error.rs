//! The connector's one error type, mirrored 1:1 by the WIT `connector-error`.

use std::fmt;

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemItem {
    pub message: String,
    pub parameters: Option<String>,
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
}

impl Problem {
    /// The most telling human text of the problem.
    pub fn message(&self) -> String {
        self.detail
            .clone()
            .or_else(|| self.errors.first().map(|e| e.message.clone()))
            .or_else(|| self.title.clone())
            .unwrap_or_else(|| format!("HTTP {}", self.status))
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

impl ConnectorError {
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

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectorError::InvalidInput { parameter, rule } => {
                write!(f, "invalid parameter `{parameter}`: {rule}")
            }
            ConnectorError::NotInitialized => {
                f.write_str("the connection is not initialized: call init first")
            }
            ConnectorError::Unauthorized(p) => write!(f, "unauthorized (401): {}", p.message()),
            ConnectorError::Forbidden(p) => write!(f, "forbidden ({}): {}", p.kind, p.message()),
            ConnectorError::NotFound(p) => write!(f, "not found: {}", p.message()),
            ConnectorError::RateLimited { limits, .. } => {
                let reset = limits
                    .window
                    .as_ref()
                    .and_then(|w| w.reset)
                    .or_else(|| limits.user_day.as_ref().and_then(|w| w.reset));
                match reset {
                    Some(r) => write!(f, "rate limited until {r} (unix seconds)"),
                    None => f.write_str("rate limited"),
                }
            }
            ConnectorError::Api(p) => write!(f, "X API error {}: {}", p.status, p.message()),
            ConnectorError::Transport(t) => write!(f, "transport error: {t}"),
            ConnectorError::RefreshFailed {
                error,
                description,
                hint,
                ..
            } => {
                write!(f, "token refresh failed: {error}")?;
                if let Some(d) = description {
                    write!(f, " ({d})")?;
                }
                write!(f, "; {hint}")
            }
            ConnectorError::MalformedResponse(m) => write!(f, "malformed response: {m}"),
            ConnectorError::TokenStore { cause, .. } => write!(f, "token store: {cause}"),
            ConnectorError::AuthorizationFailed {
                error,
                description,
                hint,
                ..
            } => {
                write!(f, "authorization failed: {error}")?;
                if let Some(d) = description {
                    write!(f, " ({d})")?;
                }
                write!(f, "; {hint}")
            }
        }
    }
}

impl std::error::Error for ConnectorError {}
