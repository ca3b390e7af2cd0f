//! Faults raised in flows: connector errors, connection and flow-level
//! failures, as the `onError` / `faultSequence` handlers see them.

use serde_json::{json, Value};

use super::connections::ConnectionError;
use super::message::Message;
use super::parse::Pos;
use crate::bindings::wso2::twitter::types::{
    ApiClass, ConnectorError, OauthReason, OauthRequest, TransportKind,
};
use crate::engine::CallError;

/// Every kind of fault a flow can raise: the connector's error kinds (the
/// WIT `connector-error` cases) and the runtime's own. The one vocabulary
/// of the host: its name for flows and answers, and its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    InvalidInput,
    NotInitialized,
    Unauthorized,
    Forbidden,
    NotFound,
    RateLimited,
    CreditsDepleted,
    /// The call would pass the connection's spending budget: not sent.
    BudgetExceeded,
    ApiError,
    Transport,
    RefreshFailed,
    AuthorizationFailed,
    MalformedResponse,
    TokenStore,
    /// A connection's instances are all in use and it may not wait.
    PoolExhausted,
    /// The flow itself is wrong (an expression, a missing connection).
    Flow,
    /// The component instance failed (a trap, its deadline).
    Trap,
}

impl FaultKind {
    pub const ALL: [FaultKind; 17] = [
        FaultKind::InvalidInput,
        FaultKind::NotInitialized,
        FaultKind::Unauthorized,
        FaultKind::Forbidden,
        FaultKind::NotFound,
        FaultKind::RateLimited,
        FaultKind::CreditsDepleted,
        FaultKind::BudgetExceeded,
        FaultKind::ApiError,
        FaultKind::Transport,
        FaultKind::RefreshFailed,
        FaultKind::AuthorizationFailed,
        FaultKind::MalformedResponse,
        FaultKind::TokenStore,
        FaultKind::PoolExhausted,
        FaultKind::Flow,
        FaultKind::Trap,
    ];

    pub fn of(e: &ConnectorError) -> FaultKind {
        match e {
            ConnectorError::InvalidInput(_) => FaultKind::InvalidInput,
            ConnectorError::NotInitialized => FaultKind::NotInitialized,
            ConnectorError::Api(a) => match a.class {
                ApiClass::Unauthorized => FaultKind::Unauthorized,
                ApiClass::Forbidden => FaultKind::Forbidden,
                ApiClass::NotFound => FaultKind::NotFound,
                ApiClass::RateLimited => FaultKind::RateLimited,
                ApiClass::CreditsDepleted => FaultKind::CreditsDepleted,
                ApiClass::Other => FaultKind::ApiError,
            },
            ConnectorError::Transport(_) => FaultKind::Transport,
            ConnectorError::Oauth(f) => match f.request {
                OauthRequest::AuthorizationCode => FaultKind::AuthorizationFailed,
                OauthRequest::Refresh | OauthRequest::Revocation => FaultKind::RefreshFailed,
            },
            ConnectorError::MalformedResponse(_) => FaultKind::MalformedResponse,
            ConnectorError::TokenStore(_) => FaultKind::TokenStore,
        }
    }

    /// `ERROR_CODE` and `kind` in answers: the WIT case names, and the
    /// runtime's own.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::InvalidInput => "invalid-input",
            FaultKind::NotInitialized => "not-initialized",
            FaultKind::Unauthorized => "unauthorized",
            FaultKind::Forbidden => "forbidden",
            FaultKind::NotFound => "not-found",
            FaultKind::RateLimited => "rate-limited",
            FaultKind::CreditsDepleted => "credits-depleted",
            FaultKind::BudgetExceeded => "budget-exceeded",
            FaultKind::ApiError => "api-error",
            FaultKind::Transport => "transport",
            FaultKind::RefreshFailed => "refresh-failed",
            FaultKind::AuthorizationFailed => "authorization-failed",
            FaultKind::MalformedResponse => "malformed-response",
            FaultKind::TokenStore => "token-store",
            FaultKind::PoolExhausted => "pool-exhausted",
            FaultKind::Flow => "flow-error",
            FaultKind::Trap => "trap",
        }
    }

    /// The status `serve` answers an uncaught fault of this kind with, and
    /// `${vars.error.status}` when X gave none.
    pub fn http_status(self) -> u16 {
        match self {
            FaultKind::InvalidInput => 400,
            // The service's credentials, not the caller's, are refused.
            FaultKind::Unauthorized | FaultKind::RefreshFailed | FaultKind::AuthorizationFailed => {
                401
            }
            FaultKind::Forbidden => 403,
            FaultKind::NotFound => 404,
            FaultKind::RateLimited => 429,
            // X's own status: payment is required, by the operator.
            FaultKind::CreditsDepleted => 402,
            // The operator's own limit: payment is refused, here.
            FaultKind::BudgetExceeded => 402,
            FaultKind::ApiError | FaultKind::Transport | FaultKind::MalformedResponse => 502,
            // Busy or briefly cut off, not broken: try again.
            FaultKind::TokenStore | FaultKind::PoolExhausted => 503,
            FaultKind::NotInitialized | FaultKind::Flow | FaultKind::Trap => 500,
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transport kind as flows read it in `${vars.error.transport}`.
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

/// A fault raised in a flow: a connector error, or a flow-level failure
/// (expression error, missing connection).
#[derive(Debug, Clone)]
pub struct Fault {
    pub kind: FaultKind,
    /// X's own words, or the connector's.
    pub message: String,
    /// One line a person can act on.
    pub detail: String,
    /// What X answered, when the fault is X's answer.
    pub upstream_status: Option<u16>,
    /// Everything known, for `${vars.error}`.
    pub json: Box<Value>,
    /// Boxed with `json`: faults travel in every `Result` of the executor.
    pub pos: Box<Pos>,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} fault: {}", self.pos, self.kind, self.detail)
    }
}

impl std::error::Error for Fault {}

impl Fault {
    /// X's status when X answered, else the kind's (`${vars.error.status}`).
    pub fn status(&self) -> u16 {
        self.upstream_status
            .unwrap_or_else(|| self.kind.http_status())
    }
}

/// A fault the runtime raises itself (X gave no answer to it): its
/// `${vars.error}` is the kind, the message and `extra`'s fields.
pub(super) fn runtime_fault(
    kind: FaultKind,
    pos: &Pos,
    message: String,
    detail: String,
    extra: Value,
) -> Fault {
    let mut j = json!({"kind": kind.as_str(), "message": message});
    if let (Some(o), Value::Object(x)) = (j.as_object_mut(), extra) {
        o.extend(x);
    }
    Fault {
        kind,
        detail,
        json: Box::new(j),
        message,
        upstream_status: None,
        pos: Box::new(pos.clone()),
    }
}

/// A call refused before it was sent: it would pass a spending budget.
pub(super) fn budget_fault(pos: &Pos, connection: &str, e: &spend_ledger::Exceeded) -> Fault {
    let usd = x_pricing::format_usd;
    runtime_fault(
        FaultKind::BudgetExceeded,
        pos,
        format!("connection `{connection}`: {e}"),
        format!(
            "connection `{connection}`: not sent, {e}; raise {} or wait for the reset",
            e.budget.parameter()
        ),
        json!({
            "budget": e.budget.parameter(),
            "limit": usd(e.limit),
            "spent": usd(e.spent),
            "estimate": usd(e.estimate),
            "resetsAt": e.resets_at_s,
        }),
    )
}

/// The spend ledger could not be used: nothing was sent.
pub(super) fn ledger_fault(pos: &Pos, e: &spend_ledger::LedgerError) -> Fault {
    runtime_fault(
        FaultKind::TokenStore,
        pos,
        e.to_string(),
        format!("{e}: not sent (the runtime's store keeps the spend budgets)"),
        json!({}),
    )
}

pub(super) fn flow_fault(pos: &Pos, message: impl Into<String>) -> Fault {
    let message = message.into();
    runtime_fault(FaultKind::Flow, pos, message.clone(), message, json!({}))
}

/// X's problem as flows read it in `${vars.error.problem}`.
fn problem_json(p: &crate::bindings::wso2::twitter::types::ApiProblem) -> Value {
    let items: Vec<Value> = p
        .errors
        .iter()
        .map(|e| {
            json!({"message": e.message, "code": e.code, "type": e.problem_type,
                   "parameter": e.parameter, "value": e.value,
                   "parameters": e.parameters.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok())})
        })
        .collect();
    json!({"type": p.problem_type, "kind": p.kind, "title": p.title, "detail": p.detail,
           "status": p.status, "reason": p.reason, "requiredEnrollment": p.required_enrollment,
           "registrationUrl": p.registration_url, "hint": p.hint, "errors": items})
}

/// A parameter the runtime itself takes (uploadMedia's `media_file`) is
/// refused before the component is called.
pub(super) fn invalid_input_fault(pos: &Pos, message: String) -> Fault {
    let kind = FaultKind::InvalidInput;
    let detail = format!("{kind}: {message}");
    runtime_fault(kind, pos, message, detail, json!({}))
}

/// X's answer could not be read (the connector error of that name).
pub(super) fn malformed_fault(pos: &Pos, message: String) -> Fault {
    let kind = FaultKind::MalformedResponse;
    let detail = format!("{kind}: {message}");
    runtime_fault(kind, pos, message, detail, json!({}))
}

/// The rate-limit state as flows read it (`window`, `userDay`, `appDay`),
/// in operation results and in `${vars.error}` alike.
pub(super) fn rate_limits_json(l: &crate::bindings::wso2::twitter::types::RateLimits) -> Value {
    let w = |x: &Option<crate::bindings::wso2::twitter::types::RateLimitWindow>| {
        x.as_ref()
            .map(|w| json!({"limit": w.limit, "remaining": w.remaining, "reset": w.reset_at_s}))
    };
    json!({"window": w(&l.window), "userDay": w(&l.user_day), "appDay": w(&l.app_day), "retryAfter": l.retry_after_s})
}

pub(super) fn connector_fault(pos: &Pos, e: &CallError) -> Fault {
    use ConnectorError as E;
    match e {
        CallError::Trap(m) => runtime_fault(
            FaultKind::Trap,
            pos,
            m.clone(),
            format!("the connector instance failed: {m}"),
            json!({}),
        ),
        CallError::Connector(failure) => {
            let kind = FaultKind::of(&failure.error);
            let mut j = json!({"kind": kind.as_str(), "message": failure.message, "detail": failure.detail});
            let upstream = match &failure.error {
                E::Api(a) => {
                    if a.class == ApiClass::RateLimited {
                        j["rateLimits"] = rate_limits_json(&a.rate_limits);
                        j["retryAfter"] = json!(a.rate_limits.retry_after_s);
                    }
                    j["problem"] = problem_json(&a.problem);
                    Some(a.problem.status)
                }
                E::InvalidInput(i) => {
                    j["parameter"] = json!(i.parameter);
                    j["rule"] = json!(i.rule);
                    None
                }
                E::Transport(t) => {
                    j["transport"] = json!(transport_kind(t.kind));
                    None
                }
                E::Oauth(r) => {
                    j["hint"] = json!(r.hint);
                    r.status
                }
                E::TokenStore(f) => {
                    j["unsaved"] = json!(f.unsaved);
                    None
                }
                E::NotInitialized | E::MalformedResponse(_) => None,
            };
            Fault {
                kind,
                detail: failure.detail.clone(),
                message: failure.message.clone(),
                upstream_status: upstream,
                json: Box::new(j),
                pos: Box::new(pos.clone()),
            }
        }
    }
}

/// An operation's fault, with how to log in added when the connection has
/// no tokens at all: the component cannot know how this runtime's users
/// authorize, so its own hint stops at what to do.
pub(super) fn operation_fault(pos: &Pos, connection: &str, e: &CallError) -> Fault {
    let mut fault = connector_fault(pos, e);
    let never_authorized = matches!(e, CallError::Connector(f) if matches!(&f.error,
        ConnectorError::Oauth(o) if o.reason == OauthReason::NotAuthorized && o.request == OauthRequest::Refresh));
    if never_authorized {
        let login = format!(
            "with this runtime: `integrator auth login --connection {connection} --client-id <the connection's clientId>`"
        );
        fault.detail = format!("{}; {login}", fault.detail);
        if let Some(hint) = fault.json["hint"].as_str() {
            fault.json["hint"] = json!(format!("{hint}; {login}"));
        }
    }
    fault
}

/// A fault for a connection that gave no instance.
pub(super) fn connection_fault(pos: &Pos, name: &str, e: ConnectionError) -> Fault {
    let fault = |kind: FaultKind, message: String, mut extra: Value| {
        extra["connection"] = json!(name);
        runtime_fault(kind, pos, message.clone(), message, extra)
    };
    match e {
        ConnectionError::Unknown => fault(
            FaultKind::Flow,
            format!("connection `{name}` is not initialized"),
            json!({}),
        ),
        ConnectionError::Parameter(p) => fault(
            FaultKind::InvalidInput,
            format!("invalid parameter `{}`: {}", p.parameter, p.rule),
            json!({"parameter": p.parameter, "rule": p.rule}),
        ),
        ConnectionError::Exhausted(m) => fault(FaultKind::PoolExhausted, m, json!({})),
        ConnectionError::Instantiate(m) => fault(FaultKind::Trap, m, json!({})),
        ConnectionError::Init(e) => connector_fault(pos, &e),
    }
}

pub(super) fn set_error(msg: &mut Message, fault: &Fault) {
    msg.properties
        .insert("ERROR_CODE".into(), json!(fault.kind.as_str()));
    msg.properties
        .insert("ERROR_MESSAGE".into(), json!(fault.message));
    msg.properties
        .insert("ERROR_DETAIL".into(), json!(fault.detail));
    let mut e = (*fault.json).clone();
    e["location"] = json!(fault.pos.to_string());
    e["status"] = json!(fault.status());
    msg.vars.insert("error".into(), e);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one map from a kind to the status `serve` answers it with when
    /// nothing catches it, and `${vars.error.status}` holds when X gave
    /// none: every kind pinned.
    #[test]
    fn every_kind_has_one_name_and_one_status() {
        let expected = [
            ("invalid-input", 400),
            ("not-initialized", 500),
            ("unauthorized", 401),
            ("forbidden", 403),
            ("not-found", 404),
            ("rate-limited", 429),
            ("credits-depleted", 402),
            ("budget-exceeded", 402),
            ("api-error", 502),
            ("transport", 502),
            ("refresh-failed", 401),
            ("authorization-failed", 401),
            ("malformed-response", 502),
            ("token-store", 503),
            ("pool-exhausted", 503),
            ("flow-error", 500),
            ("trap", 500),
        ];
        let got: Vec<(&str, u16)> = FaultKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.http_status()))
            .collect();
        assert_eq!(got, expected);
    }
}
