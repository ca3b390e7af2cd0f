//! The connector's one error type, mirrored 1:1 by the WIT `connector-error`.

use std::fmt;

use crate::secret::Secret;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitWindow {
    pub limit: Option<u32>,
    pub remaining: Option<u32>,
    /// Unix seconds, as X sends it.
    pub reset_at_s: Option<u64>,
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
    /// Unix seconds.
    pub retry_after_s: Option<u64>,
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
            .filter_map(|w| w.reset_at_s)
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
    /// The connector's sentence on what to do, beside X's words (the
    /// scopes an operation needs, the rule a refused reply broke).
    pub hint: Option<String>,
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

/// How an error answer from X is handled (WIT `api-class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiClass {
    Unauthorized,
    Forbidden,
    NotFound,
    RateLimited,
    /// 402: the pay-per-use credits are gone.
    CreditsDepleted,
    Other,
}

/// What the component asked a token endpoint for (WIT `oauth-request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthRequest {
    Refresh,
    AuthorizationCode,
    Revocation,
}

/// Why no token could be had (WIT `oauth-reason`): X's RFC 6749 codes, then
/// the component's own findings, for which nothing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthReason {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    OtherCode,
    NoRefreshToken,
    RefreshTokenSpent,
    NotAuthorized,
}

impl OAuthReason {
    /// The OAuth-style code (`invalid_grant`, `no_refresh_token`, ...).
    pub fn code(self) -> &'static str {
        match self {
            OAuthReason::InvalidRequest => "invalid_request",
            OAuthReason::InvalidClient => "invalid_client",
            OAuthReason::InvalidGrant => "invalid_grant",
            OAuthReason::UnauthorizedClient => "unauthorized_client",
            OAuthReason::UnsupportedGrantType => "unsupported_grant_type",
            OAuthReason::InvalidScope => "invalid_scope",
            OAuthReason::OtherCode => "other",
            OAuthReason::NoRefreshToken => "no_refresh_token",
            OAuthReason::RefreshTokenSpent => "refresh_token_spent",
            OAuthReason::NotAuthorized => "not_authorized",
        }
    }
}

/// A refusal at a token endpoint, or a token the component cannot get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthFailure {
    pub request: OAuthRequest,
    pub reason: OAuthReason,
    /// X's `error` code as sent, when X sent one.
    pub code: Option<String>,
    pub description: Option<String>,
    pub status: Option<u16>,
    pub hint: String,
}

impl OAuthFailure {
    /// A finding of the component's own: nothing was sent.
    pub fn own(request: OAuthRequest, reason: OAuthReason, hint: impl Into<String>) -> Self {
        OAuthFailure {
            request,
            reason,
            code: None,
            description: None,
            status: None,
            hint: hint.into(),
        }
    }

    /// The code as X sent it, else the reason's.
    pub fn code(&self) -> &str {
        self.code.as_deref().unwrap_or(self.reason.code())
    }
}

// `Api` is the large case (X's whole problem and the rate limits). An error
// is built once per failed call and moved a few times; boxing it would add an
// allocation and a deref to every match for no measurable gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorError {
    InvalidInput {
        parameter: String,
        rule: String,
    },
    NotInitialized,
    /// X answered with an error status.
    Api {
        class: ApiClass,
        problem: Problem,
        limits: RateLimits,
    },
    Transport(TransportError),
    OAuth(OAuthFailure),
    MalformedResponse(String),
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
            ConnectorError::OAuth(f) => {
                for t in [&mut f.code, &mut f.description].into_iter().flatten() {
                    mask_in(t, secrets);
                }
            }
            ConnectorError::Api { problem, .. } => problem.mask(secrets),
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

    /// An error answer of X's without rate-limit headers.
    pub fn api(class: ApiClass, problem: Problem) -> Self {
        ConnectorError::Api {
            class,
            problem,
            limits: RateLimits::default(),
        }
    }

    /// The kind flows branch on (`ERROR_CODE`), one per way of handling.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorError::InvalidInput { .. } => "invalid-input",
            ConnectorError::NotInitialized => "not-initialized",
            ConnectorError::Api { class, .. } => match class {
                ApiClass::Unauthorized => "unauthorized",
                ApiClass::Forbidden => "forbidden",
                ApiClass::NotFound => "not-found",
                ApiClass::RateLimited => "rate-limited",
                ApiClass::CreditsDepleted => "credits-depleted",
                ApiClass::Other => "api-error",
            },
            ConnectorError::Transport(_) => "transport",
            ConnectorError::OAuth(f) => match f.request {
                OAuthRequest::AuthorizationCode => "authorization-failed",
                OAuthRequest::Refresh | OAuthRequest::Revocation => "refresh-failed",
            },
            ConnectorError::MalformedResponse(_) => "malformed-response",
            ConnectorError::TokenStore { .. } => "token-store",
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
                "the connection is not initialized: call init first, or set X_CLIENT_ID (and X_REFRESH_TOKEN) in the environment".into()
            }
            ConnectorError::Api { problem, .. } => problem.message(),
            ConnectorError::Transport(t) => t.cause.clone(),
            ConnectorError::OAuth(f) => match &f.description {
                Some(d) => format!("{}: {d}", f.code()),
                None => f.code().to_string(),
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
            ConnectorError::Api {
                class,
                problem: p,
                limits,
            } => match class {
                ApiClass::Forbidden => {
                    write!(f, "forbidden ({}): {}", p.kind, p.message())?;
                    match &p.hint {
                        Some(hint) => write!(f, ". {hint}"),
                        None => Ok(()),
                    }
                }
                ApiClass::Other => {
                    write!(f, "X API error {} ({}): {}", p.status, p.kind, p.message())
                }
                ApiClass::RateLimited => match limits.retry_after_s {
                    Some(t) => write!(f, "rate limited until {t} (unix seconds): {}", p.message()),
                    None => write!(f, "rate limited: {}", p.message()),
                },
                ApiClass::CreditsDepleted => write!(
                    f,
                    "X's pay-per-use credits are used up (402, {}): {}; add credits in the X Developer Console (or raise its spending limit), then call again",
                    p.kind,
                    p.message()
                ),
                ApiClass::Unauthorized | ApiClass::NotFound => {
                    write!(f, "{}: {}", self.kind(), p.message())
                }
            },
            ConnectorError::Transport(t) => {
                write!(f, "transport error ({}): {}", t.kind.as_str(), t.cause)
            }
            ConnectorError::OAuth(o) => match o.request {
                OAuthRequest::AuthorizationCode => {
                    write!(f, "authorization failed: {}; {}", self.message(), o.hint)
                }
                OAuthRequest::Refresh | OAuthRequest::Revocation => {
                    write!(f, "token refresh failed: {}; {}", self.message(), o.hint)
                }
            },
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
        let e = ConnectorError::OAuth(OAuthFailure {
            request: OAuthRequest::AuthorizationCode,
            reason: OAuthReason::OtherCode,
            code: Some("bad the-code-123".into()),
            description: Some("sent the-verifier-456 and the-code-123".into()),
            status: Some(400),
            hint: "h".into(),
        })
        .masking(&[&code, &verifier]);
        let text = format!("{e:?}");
        assert!(
            !text.contains("the-code-123") && !text.contains("the-verifier-456"),
            "{text}"
        );
        assert!(text.contains("sent ******** and ********"), "{text}");
        let p = ConnectorError::api(
            ApiClass::Other,
            Problem {
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
            },
        )
        .masking(&[&code, &verifier]);
        assert!(!format!("{p:?}").contains("the-"), "{p:?}");
    }
}
