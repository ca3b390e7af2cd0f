//! Running flows: the mediators, sequences and their fault handlers, and
//! connector operations on pooled instances of their connection.

use serde_json::{json, Map, Value};

use super::connections::{Connections, Sandbox, Slot};
use super::expr::{self, Template};
use super::fault::{
    connection_fault, connector_fault, flow_fault, malformed_fault, rate_limits_json, set_error,
};
pub use super::fault::{Fault, FaultKind};
pub use super::message::{Message, Redactor};
use super::message::{MsgScope, MAX_SEQUENCE_DEPTH, MAX_STEPS};
use super::parse::{Condition, Mediator, Pos, Project, Sequence, VarType};
use crate::descriptor::Descriptor;
use crate::instance_pool::Pooled;
use crate::runtime::{CallError, LoadedConnector, Runtime};

const SECRET_PARAMS: &[&str] = &["accessToken", "refreshToken", "clientSecret"];

/// Runs the flows of one project with one connector.
pub struct Integrator {
    pub runtime: Runtime,
    pub loaded: LoadedConnector,
    pub descriptor: Descriptor,
    pub project: Project,
    pub sandbox: Option<Sandbox>,
    pub redactor: Redactor,
    connections: Connections,
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
            connections: Connections::default(),
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
        msg.steps += 1;
        if msg.steps > MAX_STEPS {
            return Err(flow_fault(
                m.pos(),
                format!("the flow ran more than {MAX_STEPS} mediators for one message: runaway <sequence key> calls?"),
            ));
        }
        match m {
            Mediator::Init { pos, params } => {
                let (name, values) = self.init_values(params, msg, pos, None).await?;
                // Checked and initialized here; the instance goes back to the pool.
                drop(self.connection(&name, values, pos).await?);
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
                let mut values = Vec::new();
                for (k, t) in params {
                    let v = self.eval(t, msg, pos)?;
                    if !v.is_null() {
                        values.push((k.clone(), expr::to_text(&v)));
                    }
                }
                let (name, mut slot) = match config_key {
                    Some(key) => {
                        let entry = &self.project.local_entries[key];
                        let (name, init) = self
                            .init_values(&entry.init, msg, &entry.pos, Some(key))
                            .await?;
                        let slot = self.connection(&name, init, &entry.pos).await?;
                        (name, slot)
                    }
                    None => {
                        let name = msg.current_connection.clone().ok_or_else(|| {
                            flow_fault(
                                pos,
                                format!("no connection: put a <{0}.init> before this operation, or select a <localEntry> with configKey", self.descriptor.name),
                            )
                        })?;
                        let slot = self
                            .connections
                            .checkout(&self.runtime, &self.loaded, &name)
                            .await
                            .map_err(|e| connection_fault(pos, &name, e))?;
                        (name, slot)
                    }
                };
                tracing::debug!(target: "integrator::flow", operation, connection = %name, "invoke");
                let result = slot.instance.invoke(operation, &values).await;
                // A trapped instance is retired, and so is one a large
                // answer grew for good: the pool makes a fresh one when
                // needed (its tokens are in the store).
                tracing::trace!(target: "integrator::pool", connection = %name, memory = slot.instance.memory_bytes(), "called");
                if matches!(result, Err(CallError::Trap(_))) {
                    slot.discard();
                } else if slot.instance.should_recycle() {
                    tracing::debug!(target: "integrator::pool", connection = %name, bytes = slot.instance.memory_bytes(), "recycling an instance whose memory grew");
                    slot.discard();
                } else {
                    drop(slot);
                }
                match result {
                    Ok(meta) => {
                        let body: Value = if meta.body.trim().is_empty() {
                            Value::Null
                        } else {
                            // What a parse may cost is bounded before it starts.
                            json_budget::check(meta.body.as_bytes()).map_err(|e| {
                                malformed_fault(
                                    pos,
                                    format!("X answered HTTP {} with a body the runtime will not read: {e}", meta.status),
                                )
                            })?;
                            // Too deep for serde_json, or a number like 1e999999:
                            // X's answer cannot be read, and the flow must not
                            // get it as a string instead.
                            serde_json::from_str(&meta.body).map_err(|e| {
                                malformed_fault(
                                    pos,
                                    format!("X answered HTTP {} with a body that is not usable JSON ({e})", meta.status),
                                )
                            })?
                        };
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
                    Err(e) => return Err(connector_fault(pos, &e)),
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
                    self.redactor.log_line(&line)
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
    /// else the local entry's key, else the component's default.
    async fn init_values(
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
        let given = values
            .iter()
            .find(|(k, _)| k == "connectionName")
            .map(|(_, v)| v.clone())
            .filter(|v| !v.trim().is_empty())
            .or(key.map(str::to_string));
        let name = match given {
            Some(name) => name,
            None => {
                self.runtime
                    .connection_defaults(&self.loaded)
                    .await
                    .map_err(|e| connector_fault(pos, &e))?
                    .connection_name
            }
        };
        if !values.iter().any(|(k, _)| k == "connectionName") {
            values.push(("connectionName".into(), name.clone()));
        }
        self.redact_client_credentials(&values);
        Ok((name, values))
    }

    /// The Basic header a token request carries the client credentials in
    /// is as secret as the secret itself.
    fn redact_client_credentials(&self, values: &[(String, String)]) {
        let get = |n: &str| values.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        if let (Some(id), Some(secret)) = (get("clientId"), get("clientSecret")) {
            self.redactor.add_client_credentials(id, secret);
        }
    }

    /// Configures connection `name` with `values` (pointing it at the
    /// sandbox when there is one) and returns an initialized instance.
    async fn connection(
        &self,
        name: &str,
        mut values: Vec<(String, String)>,
        pos: &Pos,
    ) -> Result<Pooled<Slot>, Fault> {
        if let Some(sandbox) = &self.sandbox {
            sandbox.rewrite(name, &mut values);
            for (k, v) in &values {
                if SECRET_PARAMS.contains(&k.as_str()) {
                    self.redactor.add(v);
                }
            }
            self.redact_client_credentials(&values);
        }
        self.connections
            .configure(&self.runtime, &self.loaded, name, values)
            .await
            .map_err(|e| connection_fault(pos, name, e))
    }
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
