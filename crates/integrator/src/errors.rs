//! Human text and kind names for the guest's `connector-error`.

use crate::bindings::wso2::twitter::types::{ApiProblem, ConnectorError, TransportKind};

/// The WIT case name (`invalid-input`, `rate-limited`, ...).
pub fn kind(e: &ConnectorError) -> &'static str {
    match e {
        ConnectorError::InvalidInput(_) => "invalid-input",
        ConnectorError::NotInitialized => "not-initialized",
        ConnectorError::Unauthorized(_) => "unauthorized",
        ConnectorError::Forbidden(_) => "forbidden",
        ConnectorError::NotFound(_) => "not-found",
        ConnectorError::RateLimited(_) => "rate-limited",
        ConnectorError::ApiError(_) => "api-error",
        ConnectorError::Transport(_) => "transport",
        ConnectorError::RefreshFailed(_) => "refresh-failed",
        ConnectorError::AuthorizationFailed(_) => "authorization-failed",
        ConnectorError::MalformedResponse(_) => "malformed-response",
        ConnectorError::TokenStore(_) => "token-store",
    }
}

fn problem_text(p: &ApiProblem) -> String {
    let text = p
        .detail
        .clone()
        .or_else(|| p.errors.first().map(|e| e.message.clone()))
        .or_else(|| p.title.clone())
        .unwrap_or_else(|| format!("HTTP {}", p.status));
    // The tier error says which access the endpoint needs, and where.
    match (&p.required_enrollment, &p.registration_url) {
        (Some(need), Some(url)) => format!("{text} (the app needs {need}: enroll it at {url})"),
        (Some(need), None) => format!("{text} (the app needs {need})"),
        _ => text,
    }
}

pub fn transport_kind(k: TransportKind) -> &'static str {
    match k {
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

/// X's own words for the error, when X said anything.
pub fn message(e: &ConnectorError) -> String {
    match e {
        ConnectorError::InvalidInput(i) => {
            format!("invalid parameter `{}`: {}", i.parameter, i.rule)
        }
        ConnectorError::NotInitialized => {
            "the connection is not initialized: call init first".into()
        }
        ConnectorError::Unauthorized(p)
        | ConnectorError::Forbidden(p)
        | ConnectorError::NotFound(p)
        | ConnectorError::ApiError(p) => problem_text(p),
        ConnectorError::RateLimited(r) => problem_text(&r.problem),
        ConnectorError::Transport(t) => t.cause.clone(),
        ConnectorError::RefreshFailed(r) | ConnectorError::AuthorizationFailed(r) => {
            match &r.description {
                Some(d) => format!("{}: {d}", r.error),
                None => r.error.clone(),
            }
        }
        ConnectorError::MalformedResponse(m) => m.clone(),
        ConnectorError::TokenStore(f) => f.cause.clone(),
    }
}

/// One line a person can act on.
pub fn describe(e: &ConnectorError) -> String {
    match e {
        ConnectorError::Forbidden(p) => format!("forbidden ({}): {}", p.kind, problem_text(p)),
        ConnectorError::ApiError(p) => {
            format!("X API error {} ({}): {}", p.status, p.kind, problem_text(p))
        }
        ConnectorError::RateLimited(r) => match r.limits.retry_after {
            Some(t) => format!(
                "rate limited until {t} (unix seconds): {}",
                problem_text(&r.problem)
            ),
            None => format!("rate limited: {}", problem_text(&r.problem)),
        },
        ConnectorError::Transport(t) => {
            format!("transport error ({}): {}", transport_kind(t.kind), t.cause)
        }
        ConnectorError::RefreshFailed(r) => {
            format!("token refresh failed: {}; {}", message(e), r.hint)
        }
        ConnectorError::AuthorizationFailed(r) => {
            format!("authorization failed: {}; {}", message(e), r.hint)
        }
        ConnectorError::TokenStore(f) => format!("token store unavailable: {}", f.cause),
        other => format!("{}: {}", kind(other), message(other)),
    }
}
