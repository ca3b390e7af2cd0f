//! Faults raised in flows: connector errors, connection and flow-level
//! failures, as the `onError` / `faultSequence` handlers see them.

use serde_json::{json, Value};

use super::connections::ConnectionError;
use super::exec::Message;
use super::parse::Pos;
use crate::errors;
use crate::runtime::CallError;

/// A fault raised in a flow: a connector error, or a flow-level failure
/// (expression error, missing connection).
#[derive(Debug, Clone)]
pub struct Fault {
    /// The connector error kind (`forbidden`, `rate-limited`, ...) or
    /// `flow-error` / `trap`.
    pub kind: String,
    /// X's own words, or the connector's.
    pub message: String,
    /// One line a person can act on.
    pub detail: String,
    pub http_status: Option<u16>,
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

pub(super) fn flow_fault(pos: &Pos, message: impl Into<String>) -> Fault {
    let message = message.into();
    Fault {
        kind: "flow-error".into(),
        detail: message.clone(),
        json: Box::new(json!({"kind": "flow-error", "message": message})),
        message,
        http_status: None,
        pos: Box::new(pos.clone()),
    }
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
           "registrationUrl": p.registration_url, "errors": items})
}

/// X's answer could not be read (the connector error of that name).
pub(super) fn malformed_fault(pos: &Pos, message: String) -> Fault {
    Fault {
        kind: "malformed-response".into(),
        detail: format!("malformed-response: {message}"),
        json: Box::new(json!({"kind": "malformed-response", "message": message})),
        message,
        http_status: None,
        pos: Box::new(pos.clone()),
    }
}

/// The rate-limit state as flows read it (`window`, `userDay`, `appDay`),
/// in operation results and in `${vars.error}` alike.
pub(super) fn rate_limits_json(l: &crate::bindings::wso2::twitter::types::RateLimits) -> Value {
    let w = |x: &Option<crate::bindings::wso2::twitter::types::RateLimitWindow>| {
        x.as_ref()
            .map(|w| json!({"limit": w.limit, "remaining": w.remaining, "reset": w.reset}))
    };
    json!({"window": w(&l.window), "userDay": w(&l.user_day), "appDay": w(&l.app_day), "retryAfter": l.retry_after})
}

pub(super) fn connector_fault(pos: &Pos, e: &CallError) -> Fault {
    use crate::bindings::wso2::twitter::types::ConnectorError as E;
    match e {
        CallError::Trap(m) => Fault {
            kind: "trap".into(),
            message: m.clone(),
            detail: format!("the connector instance failed: {m}"),
            http_status: None,
            json: Box::new(json!({"kind": "trap", "message": m})),
            pos: Box::new(pos.clone()),
        },
        CallError::Connector(err) => {
            let kind = errors::kind(err).to_string();
            let message = errors::message(err);
            let mut j = json!({"kind": kind, "message": message, "detail": errors::describe(err)});
            let status = match err.as_ref() {
                E::Unauthorized(p) | E::Forbidden(p) | E::NotFound(p) | E::ApiError(p) => {
                    j["problem"] = problem_json(p);
                    Some(p.status)
                }
                E::RateLimited(r) => {
                    j["rateLimits"] = rate_limits_json(&r.limits);
                    j["retryAfter"] = json!(r.limits.retry_after);
                    j["problem"] = problem_json(&r.problem);
                    Some(429)
                }
                E::InvalidInput(i) => {
                    j["parameter"] = json!(i.parameter);
                    j["rule"] = json!(i.rule);
                    None
                }
                E::Transport(t) => {
                    j["transport"] = json!(errors::transport_kind(t.kind));
                    None
                }
                E::RefreshFailed(r) | E::AuthorizationFailed(r) => {
                    j["hint"] = json!(r.hint);
                    r.status
                }
                E::TokenStore(f) => {
                    j["unsaved"] = json!(f.unsaved);
                    // The service cannot act for the account right now.
                    Some(503)
                }
                _ => None,
            };
            Fault {
                kind,
                detail: errors::describe(err),
                message,
                http_status: status,
                json: Box::new(j),
                pos: Box::new(pos.clone()),
            }
        }
    }
}

/// A fault for a connection that gave no instance.
pub(super) fn connection_fault(pos: &Pos, name: &str, e: ConnectionError) -> Fault {
    let fault = |kind: &str, message: String, status: Option<u16>, extra: Value| Fault {
        kind: kind.into(),
        detail: message.clone(),
        json: Box::new({
            let mut j = json!({"kind": kind, "message": message, "connection": name});
            if let (Some(o), Value::Object(x)) = (j.as_object_mut(), extra) {
                o.extend(x);
            }
            j
        }),
        message,
        http_status: status,
        pos: Box::new(pos.clone()),
    };
    match e {
        ConnectionError::Unknown => fault(
            "flow-error",
            format!("connection `{name}` is not initialized"),
            None,
            json!({}),
        ),
        ConnectionError::Pool(p) => fault(
            "invalid-input",
            format!("invalid parameter `{}`: {}", p.parameter, p.rule),
            None,
            json!({"parameter": p.parameter, "rule": p.rule}),
        ),
        // The service is busy, not broken: 503, as HTTP says.
        ConnectionError::Exhausted(m) => fault("pool-exhausted", m, Some(503), json!({})),
        ConnectionError::Instantiate(m) => fault("trap", m, None, json!({})),
        ConnectionError::Init(e) => connector_fault(pos, &e),
    }
}

pub(super) fn set_error(msg: &mut Message, fault: &Fault) {
    msg.properties
        .insert("ERROR_CODE".into(), json!(fault.kind));
    msg.properties
        .insert("ERROR_MESSAGE".into(), json!(fault.message));
    msg.properties
        .insert("ERROR_DETAIL".into(), json!(fault.detail));
    let mut e = (*fault.json).clone();
    e["location"] = json!(fault.pos.to_string());
    if let Some(s) = fault.http_status {
        e["status"] = json!(s);
    }
    msg.vars.insert("error".into(), e);
}
