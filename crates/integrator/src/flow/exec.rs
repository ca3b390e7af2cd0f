//! Running flows: the message context, connections (one long-lived
//! connector instance each), faults and their handlers, logs with secrets
//! redacted, and the sandbox's rewriting of connections.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::expr::{self, Scope, Template};
use super::parse::{Condition, Mediator, Pos, Project, Sequence, VarType};
use crate::descriptor::Descriptor;
use crate::errors;
use crate::runtime::{CallError, ConnectorInstance, LoadedConnector, Runtime};

pub const DEFAULT_CONNECTION: &str = "TWITTER_CONNECTION_1";
const SECRET_PARAMS: &[&str] = &["accessToken", "refreshToken", "clientSecret"];

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

fn flow_fault(pos: &Pos, message: impl Into<String>) -> Fault {
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

/// The rate-limit state as flows read it (`window`, `userDay`, `appDay`),
/// in operation results and in `${vars.error}` alike.
fn rate_limits_json(l: &crate::bindings::wso2::twitter::types::RateLimits) -> Value {
    let w = |x: &Option<crate::bindings::wso2::twitter::types::RateLimitWindow>| {
        x.as_ref()
            .map(|w| json!({"limit": w.limit, "remaining": w.remaining, "reset": w.reset}))
    };
    json!({"window": w(&l.window), "userDay": w(&l.user_day), "appDay": w(&l.app_day)})
}

fn connector_fault(pos: &Pos, e: &CallError) -> Fault {
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
                    j["problem"] = json!({"type": p.problem_type, "kind": p.kind, "title": p.title, "detail": p.detail, "status": p.status});
                    Some(p.status)
                }
                E::RateLimited(r) => {
                    j["rateLimits"] = rate_limits_json(&r.limits);
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
                E::RefreshFailed(r) => {
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

/// Values never printed: tokens and secrets the flows handled, and every
/// token that passed through the token store. Clones share one set.
#[derive(Default, Clone)]
pub struct Redactor(Arc<RwLock<HashSet<String>>>);

impl Redactor {
    pub fn add(&self, secret: &str) {
        // Very short values would redact ordinary words; real secrets are long.
        if secret.len() >= 6 {
            self.0
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(secret.to_string());
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in self.0.read().unwrap_or_else(|p| p.into_inner()).iter() {
            out = out.replace(s.as_str(), "********");
        }
        out
    }
}

/// The message travelling through a flow.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub vars: Map<String, Value>,
    pub properties: Map<String, Value>,
    pub payload: Value,
    pub headers: Map<String, Value>,
    pub path_params: Map<String, Value>,
    pub query_params: Map<String, Value>,
    pub current_connection: Option<String>,
    /// Response headers set with `scope="transport"` properties.
    pub response_headers: Vec<(String, String)>,
    /// How deep `<sequence key>` calls are nested (recursion guard).
    pub depth: u32,
}

/// Deeper `<sequence key>` nesting is taken for runaway recursion.
const MAX_SEQUENCE_DEPTH: u32 = 64;

impl Message {
    pub fn status(&self) -> Option<u16> {
        self.properties
            .get("HTTP_SC")
            .and_then(|v| expr::to_text(v).trim().parse().ok())
    }
}

struct MsgScope<'a> {
    msg: &'a Message,
    redactor: &'a Redactor,
}

impl Scope for MsgScope<'_> {
    fn root(&self, name: &str) -> Option<Value> {
        Some(match name {
            "vars" => Value::Object(self.msg.vars.clone()),
            "payload" => self.msg.payload.clone(),
            "properties" | "props" => Value::Object(self.msg.properties.clone()),
            "headers" => Value::Object(self.msg.headers.clone()),
            "params" => {
                json!({"pathParams": self.msg.path_params, "queryParams": self.msg.query_params})
            }
            "env" => Value::Object(
                std::env::vars()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            ),
            _ => return None,
        })
    }

    fn secret(&self, name: &str) -> Option<String> {
        let v = std::env::var(name).ok()?;
        self.redactor.add(&v);
        Some(v)
    }

    fn property(&self, name: &str) -> Option<Value> {
        self.msg.properties.get(name).cloned()
    }

    fn path_param(&self, name: &str) -> Option<Value> {
        self.msg.path_params.get(name).cloned()
    }
}

/// The built-in sandbox: the X API simulator in this process, a test
/// account, and tokens issued for whatever client a flow names.
pub struct Sandbox {
    pub sim: x_sim::Simulator,
    issued: std::sync::Mutex<HashMap<String, x_sim::TokenPair>>,
}

impl Sandbox {
    pub async fn start() -> anyhow::Result<Sandbox> {
        let sim = x_sim::Simulator::start().await?;
        // X's Pro-tier user budgets, so flows see real rate-limit headers.
        let window = std::time::Duration::from_secs(15 * 60);
        sim.set_rate_limit(x_sim::endpoint::CREATE_TWEET, 100, window);
        sim.set_rate_limit(x_sim::endpoint::DELETE_TWEET, 50, window);
        sim.set_rate_limit(x_sim::endpoint::GET_ME, 75, window);
        Ok(Sandbox {
            sim,
            issued: Default::default(),
        })
    }

    /// Points a connection at the simulator, with tokens of its own.
    fn rewrite(&self, connection: &str, params: &mut Vec<(String, String)>) {
        let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let client_id = get("clientId")
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| "sandbox-client".into());
        let secret = get("clientSecret").filter(|s| !s.is_empty());
        let pair = {
            let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
            issued
                .entry(connection.to_string())
                .or_insert_with(|| {
                    self.sim.add_client(&client_id, secret.as_deref());
                    eprintln!(
                        "sandbox: connection `{connection}` uses the built-in X API simulator at {} (account @sandbox_dev)",
                        self.sim.url()
                    );
                    self.sim.issue_tokens(&client_id)
                })
                .clone()
        };
        params.retain(|(k, _)| {
            !matches!(
                k.as_str(),
                "apiUrl" | "clientId" | "accessToken" | "refreshToken"
            )
        });
        params.push(("apiUrl".into(), self.sim.url()));
        params.push(("clientId".into(), client_id));
        params.push(("accessToken".into(), pair.access_token));
        params.push(("refreshToken".into(), pair.refresh_token));
    }
}

struct Connection {
    instance: ConnectorInstance,
    /// Hash of the init parameters it was initialized with.
    init_hash: Option<[u8; 32]>,
}

/// Runs the flows of one project with one connector.
pub struct Integrator {
    pub runtime: Runtime,
    pub loaded: LoadedConnector,
    pub descriptor: Descriptor,
    pub project: Project,
    pub sandbox: Option<Sandbox>,
    pub redactor: Redactor,
    connections: Mutex<HashMap<String, Arc<Mutex<Connection>>>>,
}

enum Flow {
    Continue,
    Respond,
}

impl Integrator {
    pub fn new(
        runtime: Runtime,
        loaded: LoadedConnector,
        descriptor: Descriptor,
        project: Project,
        sandbox: Option<Sandbox>,
        redactor: Redactor,
    ) -> Self {
        Integrator {
            runtime,
            loaded,
            descriptor,
            project,
            sandbox,
            redactor,
            connections: Mutex::new(HashMap::new()),
        }
    }

    fn scope<'a>(&'a self, msg: &'a Message) -> MsgScope<'a> {
        MsgScope {
            msg,
            redactor: &self.redactor,
        }
    }

    fn eval(&self, t: &Template, msg: &Message, pos: &Pos) -> Result<Value, Fault> {
        t.eval(&self.scope(msg)).map_err(|e| flow_fault(pos, e))
    }

    /// Runs a named sequence (with its `onError` handler) on a message.
    pub async fn run_sequence(&self, name: &str, msg: &mut Message) -> Result<(), Fault> {
        let seq = self.project.sequences.get(name).ok_or_else(|| {
            flow_fault(
                &Pos {
                    file: "?".into(),
                    line: 0,
                    element: "sequence".into(),
                },
                format!("no sequence `{name}`"),
            )
        })?;
        self.run_with_handler(seq, None, msg).await
    }

    /// Runs `seq`; a fault goes to its `onError` sequence, else to
    /// `fault_sequence` (an API resource's), else up to the caller.
    pub async fn run_with_handler(
        &self,
        seq: &Sequence,
        fault_sequence: Option<&Sequence>,
        msg: &mut Message,
    ) -> Result<(), Fault> {
        match Box::pin(self.run_body(&seq.body, msg)).await {
            Ok(_) => Ok(()),
            Err(fault) => {
                let handler = seq
                    .on_error
                    .as_ref()
                    .and_then(|n| self.project.sequences.get(n))
                    .or(fault_sequence);
                let Some(handler) = handler else {
                    return Err(fault);
                };
                tracing::debug!(target: "integrator::flow", kind = %fault.kind, handler = %handler.name, "fault caught");
                set_error(msg, &fault);
                // A fault inside the handler is not caught again.
                Box::pin(self.run_body(&handler.body, msg))
                    .await
                    .map(|_| ())
            }
        }
    }

    async fn run_body(&self, body: &[Mediator], msg: &mut Message) -> Result<Flow, Fault> {
        for m in body {
            if let Flow::Respond = Box::pin(self.mediate(m, msg)).await? {
                return Ok(Flow::Respond);
            }
        }
        Ok(Flow::Continue)
    }

    async fn mediate(&self, m: &Mediator, msg: &mut Message) -> Result<Flow, Fault> {
        match m {
            Mediator::Init { pos, params } => {
                let (name, values) = self.init_values(params, msg, pos, None)?;
                self.connection(&name, values, pos).await?;
                msg.current_connection = Some(name);
            }
            Mediator::Operation {
                pos,
                operation,
                config_key,
                params,
                response_variable,
                overwrite_body,
            } => {
                let name = match config_key {
                    Some(key) => {
                        let entry = &self.project.local_entries[key];
                        let (name, values) = self.init_values(&entry.init, msg, &entry.pos, Some(key))?;
                        self.connection(&name, values, &entry.pos).await?;
                        name
                    }
                    None => msg.current_connection.clone().ok_or_else(|| {
                        flow_fault(
                            pos,
                            format!("no connection: put a <{0}.init> before this operation, or select a <localEntry> with configKey", self.descriptor.name),
                        )
                    })?,
                };
                let mut values = Vec::new();
                for (k, t) in params {
                    let v = self.eval(t, msg, pos)?;
                    if !v.is_null() {
                        values.push((k.clone(), expr::to_text(&v)));
                    }
                }
                let conn = self.connections.lock().await.get(&name).cloned();
                let conn = conn.ok_or_else(|| {
                    flow_fault(pos, format!("connection `{name}` is not initialized"))
                })?;
                let result = {
                    let mut c = conn.lock().await;
                    tracing::debug!(target: "integrator::flow", operation, connection = %name, "invoke");
                    c.instance.invoke(operation, &values).await
                };
                match result {
                    Ok(meta) => {
                        let body: Value = serde_json::from_str(&meta.body)
                            .unwrap_or(Value::String(meta.body.clone()));
                        let headers: Map<String, Value> = meta
                            .headers
                            .iter()
                            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                            .collect();
                        let result = json!({
                            "payload": body,
                            "headers": headers,
                            "attributes": {
                                "statusCode": meta.status,
                                "rateLimits": rate_limits_json(&meta.rate_limits),
                            }
                        });
                        let var = response_variable
                            .clone()
                            .unwrap_or_else(|| format!("{}_{operation}", self.descriptor.name));
                        if *overwrite_body {
                            msg.payload = result["payload"].clone();
                        }
                        msg.vars.insert(var, result);
                    }
                    Err(e) => {
                        if let CallError::Trap(_) = e {
                            // A trapped instance is retired; the next use starts afresh.
                            self.connections.lock().await.remove(&name);
                        }
                        return Err(connector_fault(pos, &e));
                    }
                }
            }
            Mediator::Variable {
                pos,
                name,
                value,
                var_type,
                remove,
            } => {
                if *remove {
                    msg.vars.remove(name);
                } else if let Some(t) = value {
                    let v = convert(self.eval(t, msg, pos)?, *var_type)
                        .map_err(|e| flow_fault(pos, e))?;
                    msg.vars.insert(name.clone(), v);
                }
            }
            Mediator::Property {
                pos,
                name,
                value,
                scope,
                remove,
            } => {
                if *remove {
                    msg.properties.remove(name);
                } else if let Some(t) = value {
                    let v = self.eval(t, msg, pos)?;
                    if scope == "transport" {
                        msg.response_headers.push((name.clone(), expr::to_text(&v)));
                    }
                    msg.properties.insert(name.clone(), v);
                }
            }
            Mediator::Log {
                pos,
                category,
                full,
                message,
                props,
            } => {
                let mut line = String::new();
                if let Some(t) = message {
                    line.push_str(&expr::to_text(&self.eval(t, msg, pos)?));
                }
                for (k, t) in props {
                    let v = expr::to_text(&self.eval(t, msg, pos)?);
                    if !line.is_empty() {
                        line.push_str(", ");
                    }
                    line.push_str(&format!("{k} = {v}"));
                }
                if *full {
                    line.push_str(&format!(", payload = {}", msg.payload));
                }
                eprintln!(
                    "[{}] {category:<5} {{LogMediator}} - {}",
                    timestamp(),
                    self.redactor.redact(&line)
                );
            }
            Mediator::Filter {
                pos,
                condition,
                then,
                otherwise,
            } => {
                let pass = match condition {
                    Condition::Expr(t) => expr::truthy(&self.eval(t, msg, pos)?),
                    Condition::Regex { source, regex } => {
                        regex.is_match(&expr::to_text(&self.eval(source, msg, pos)?))
                    }
                };
                return self
                    .run_body(if pass { then } else { otherwise }, msg)
                    .await;
            }
            Mediator::PayloadFactory { pos, format, json } => {
                let text = format
                    .eval_json_splice(&self.scope(msg))
                    .map_err(|e| flow_fault(pos, e))?;
                msg.payload = if *json {
                    serde_json::from_str(&text).map_err(|e| {
                        flow_fault(
                            pos,
                            format!("the payload is not JSON after substitution: {e}"),
                        )
                    })?
                } else {
                    Value::String(text)
                };
            }
            Mediator::CallSequence { key, pos } => {
                if msg.depth >= MAX_SEQUENCE_DEPTH {
                    return Err(flow_fault(
                        pos,
                        format!("sequences nested deeper than {MAX_SEQUENCE_DEPTH}: does `{key}` call itself?"),
                    ));
                }
                let seq = &self.project.sequences[key];
                msg.depth += 1;
                let flow = self.run_body(&seq.body, msg).await;
                msg.depth -= 1;
                return flow;
            }
            Mediator::Respond { .. } => return Ok(Flow::Respond),
        }
        Ok(Flow::Continue)
    }

    /// Evaluates init parameters; the connection name is `connectionName`,
    /// else the local entry's key, else the default.
    fn init_values(
        &self,
        params: &[(String, Template)],
        msg: &Message,
        pos: &Pos,
        key: Option<&str>,
    ) -> Result<(String, Vec<(String, String)>), Fault> {
        let mut values = Vec::new();
        for (k, t) in params {
            let v = self.eval(t, msg, pos)?;
            if v.is_null() {
                continue;
            }
            let text = expr::to_text(&v);
            if SECRET_PARAMS.contains(&k.as_str()) {
                self.redactor.add(&text);
            }
            values.push((k.clone(), text));
        }
        let name = values
            .iter()
            .find(|(k, _)| k == "connectionName")
            .map(|(_, v)| v.clone())
            .filter(|v| !v.trim().is_empty())
            .or(key.map(str::to_string))
            .unwrap_or_else(|| DEFAULT_CONNECTION.to_string());
        if !values.iter().any(|(k, _)| k == "connectionName") {
            values.push(("connectionName".into(), name.clone()));
        }
        Ok((name, values))
    }

    /// The connection's instance, created and initialized on first use and
    /// re-initialized only when its parameters change.
    async fn connection(
        &self,
        name: &str,
        mut values: Vec<(String, String)>,
        pos: &Pos,
    ) -> Result<(), Fault> {
        if let Some(sandbox) = &self.sandbox {
            sandbox.rewrite(name, &mut values);
            for (k, v) in &values {
                if SECRET_PARAMS.contains(&k.as_str()) {
                    self.redactor.add(v);
                }
            }
        }
        let hash: [u8; 32] = {
            let mut h = Sha256::new();
            for (k, v) in &values {
                h.update(k.as_bytes());
                h.update([0]);
                h.update(v.as_bytes());
                h.update([1]);
            }
            h.finalize().into()
        };
        let conn = {
            let mut all = self.connections.lock().await;
            match all.get(name) {
                Some(c) => c.clone(),
                None => {
                    let instance = self
                        .runtime
                        .instantiate(&self.loaded)
                        .await
                        .map_err(|e| flow_fault(pos, format!("{e:#}")))?;
                    let c = Arc::new(Mutex::new(Connection {
                        instance,
                        init_hash: None,
                    }));
                    all.insert(name.to_string(), c.clone());
                    c
                }
            }
        };
        let mut c = conn.lock().await;
        if c.init_hash != Some(hash) {
            c.instance
                .invoke("init", &values)
                .await
                .map_err(|e| connector_fault(pos, &e))?;
            c.init_hash = Some(hash);
        }
        Ok(())
    }
}

fn set_error(msg: &mut Message, fault: &Fault) {
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

fn convert(v: Value, t: VarType) -> Result<Value, String> {
    let text = || expr::to_text(&v);
    Ok(match t {
        VarType::Auto => v,
        VarType::String => Value::String(text()),
        VarType::Integer => Value::from(
            text()
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("`{}` is not an INTEGER", text()))?,
        ),
        VarType::Double => json!(text()
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("`{}` is not a DOUBLE", text()))?),
        VarType::Boolean => Value::Bool(match text().trim() {
            "true" => true,
            "false" => false,
            other => return Err(format!("`{other}` is not a BOOLEAN")),
        }),
        VarType::Json => match v {
            Value::String(s) => serde_json::from_str(&s).map_err(|e| format!("not JSON: {e}"))?,
            other => other,
        },
    })
}

fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!("{h:02}:{m:02}:{s:02}.{:03}", now.subsec_millis())
}
