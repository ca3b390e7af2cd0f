//! One function per mediator kind: what each does to the message.

use serde_json::{json, Map, Value};

use super::exec::{Flow, Integrator};
use super::expr::{self, Template};
use super::fault::Fault;
use super::fault::{
    connection_fault, flow_fault, invalid_input_fault, malformed_fault, operation_fault,
    rate_limits_json,
};
use super::message::{Message, MAX_SEQUENCE_DEPTH};
use super::parse::{Condition, Mediator, OperationCall, Pos, PropertyScope, VarType};
use crate::engine::CallError;

impl Integrator {
    /// `<twitter.init>`: configures its connection (checked and
    /// initialized here; the instance goes back to the pool) and makes it
    /// current.
    pub(super) async fn init_connection(
        &self,
        pos: &Pos,
        params: &[(String, Template)],
        msg: &mut Message,
    ) -> Result<Flow, Fault> {
        let (name, values) = self.init_values(params, msg, pos, None).await?;
        drop(self.connection(&name, values, pos).await?);
        msg.current_connection = Some(name);
        Ok(Flow::Continue)
    }

    /// A connector operation on a pooled instance of its connection; the
    /// result goes to its variable (and the payload, with `overwriteBody`).
    pub(super) async fn operation(
        &self,
        call: &OperationCall,
        msg: &mut Message,
    ) -> Result<Flow, Fault> {
        let OperationCall {
            pos,
            operation,
            config_key,
            params,
            response_variable,
            overwrite_body,
        } = call;
        let mut values = Vec::new();
        for (k, t) in params {
            let v = self.eval(t, msg, pos)?;
            if !v.is_null() {
                values.push((k.clone(), expr::to_text(&v)));
            }
        }
        // Only uploadMedia reads a file (off the async threads: a disk read).
        let values = if operation == "uploadMedia" {
            let dir = self.runtime.media_dir().map(std::path::Path::to_path_buf);
            tokio::task::spawn_blocking(move || crate::media_file::resolve(dir.as_deref(), values))
                .await
                .map_err(|e| flow_fault(pos, format!("reading media_file failed: {e}")))?
                .map_err(|e| invalid_input_fault(pos, e.to_string()))?
        } else {
            values
        };
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
        let reservation = match self
            .reserve(&name, operation, &values, &mut slot, pos)
            .await
        {
            Ok(r) => r,
            Err(fault) => {
                // Refused before any request: a budget, or a ledger that
                // cannot be read.
                self.runtime
                    .metrics()
                    .refused(&name, operation, fault.kind.as_str());
                return Err(fault);
            }
        };
        // One trace span per X call: names and outcomes, never a value.
        let span = tracing::info_span!(
            target: "integrator::otel",
            "x.call",
            otel.name = %format!("{}.{operation}", self.descriptor.name),
            otel.kind = "client",
            connection = %name,
            operation = %operation,
            outcome = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            cost.usd_micros = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let result = {
            use tracing::Instrument;
            slot.instance
                .invoke(operation, &values)
                .instrument(span.clone())
                .await
        };
        let took = started.elapsed();
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
        let result = self.settle(&reservation, operation, result);
        let metrics = self.runtime.metrics();
        let counted = |outcome: &str| {
            span.record("outcome", outcome);
            if outcome != "ok" {
                span.record("otel.status_code", "ERROR");
            }
            metrics.call(&name, operation, outcome, took)
        };
        if let Ok(meta) = &result {
            span.record("http.response.status_code", meta.status);
            span.record("cost.usd_micros", meta.cost.usd_micros);
        }
        match result {
            Ok(meta) => {
                for (window, w) in [
                    ("window", &meta.rate_limits.window),
                    ("user-day", &meta.rate_limits.user_day),
                    ("app-day", &meta.rate_limits.app_day),
                ] {
                    if let Some(w) = w {
                        metrics.rate_limit(&name, operation, window, w.limit, w.remaining);
                    }
                }
                metrics.cost(&name, meta.cost.usd_micros);
                let body = || -> Result<Value, Fault> {
                    Ok(if meta.body.trim().is_empty() {
                        Value::Null
                    } else {
                        // What a parse may cost is bounded before it starts.
                        json_budget::check(meta.body.as_bytes()).map_err(|e| {
                            malformed_fault(
                                pos,
                                format!(
                                    "X answered HTTP {} with a body the runtime will not read: {e}",
                                    meta.status
                                ),
                            )
                        })?;
                        // Too deep for serde_json, or a number like 1e999999:
                        // X's answer cannot be read, and the flow must not
                        // get it as a string instead.
                        serde_json::from_str(&meta.body).map_err(|e| {
                            malformed_fault(
                                pos,
                                format!(
                                    "X answered HTTP {} with a body that is not usable JSON ({e})",
                                    meta.status
                                ),
                            )
                        })?
                    })
                };
                let body = match body() {
                    Ok(body) => {
                        counted("ok");
                        body
                    }
                    Err(fault) => {
                        counted(fault.kind.as_str());
                        return Err(fault);
                    }
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
                        "cost": crate::costs::cost_json(&meta.cost),
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
                let fault = operation_fault(pos, &name, &e);
                counted(fault.kind.as_str());
                return Err(fault);
            }
        }
        Ok(Flow::Continue)
    }

    /// `<variable>`: sets or removes a variable, converted to its type.
    pub(super) fn variable(
        &self,
        pos: &Pos,
        name: &str,
        value: Option<&Template>,
        var_type: VarType,
        remove: bool,
        msg: &mut Message,
    ) -> Result<Flow, Fault> {
        if remove {
            msg.vars.remove(name);
        } else if let Some(t) = value {
            let v = convert(self.eval(t, msg, pos)?, var_type).map_err(|e| flow_fault(pos, e))?;
            msg.vars.insert(name.to_string(), v);
        }
        Ok(Flow::Continue)
    }

    /// `<property>`: sets or removes a property; a transport one is also a
    /// response header.
    pub(super) fn property(
        &self,
        pos: &Pos,
        name: &str,
        value: Option<&Template>,
        scope: PropertyScope,
        remove: bool,
        msg: &mut Message,
    ) -> Result<Flow, Fault> {
        if remove {
            msg.properties.remove(name);
        } else if let Some(t) = value {
            let v = self.eval(t, msg, pos)?;
            if scope == PropertyScope::Transport {
                msg.response_headers
                    .push((name.to_string(), expr::to_text(&v)));
            }
            msg.properties.insert(name.to_string(), v);
        }
        Ok(Flow::Continue)
    }

    /// `<log>`: one line on stderr, secrets masked and controls escaped.
    pub(super) fn log(
        &self,
        pos: &Pos,
        category: &str,
        full: bool,
        message: Option<&Template>,
        props: &[(String, Template)],
        msg: &Message,
    ) -> Result<Flow, Fault> {
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
        if full {
            line.push_str(&format!(", payload = {}", msg.payload));
        }
        eprintln!(
            "[{}] {category:<5} {{LogMediator}} - {}",
            timestamp(),
            self.redactor.log_line(&line)
        );
        Ok(Flow::Continue)
    }

    /// `<filter>`: runs `then` or `otherwise`.
    pub(super) async fn filter(
        &self,
        pos: &Pos,
        condition: &Condition,
        then: &[Mediator],
        otherwise: &[Mediator],
        msg: &mut Message,
    ) -> Result<Flow, Fault> {
        let pass = match condition {
            Condition::Expr(t) => expr::truthy(&self.eval(t, msg, pos)?),
            Condition::Regex { source, regex } => {
                regex.is_match(&expr::to_text(&self.eval(source, msg, pos)?))
            }
        };
        self.run_body(if pass { then } else { otherwise }, msg)
            .await
    }

    /// `<payloadFactory>`: the payload from a template (JSON or text).
    pub(super) fn payload_factory(
        &self,
        pos: &Pos,
        format: &Template,
        json: bool,
        msg: &mut Message,
    ) -> Result<Flow, Fault> {
        let text = format
            .eval_json_splice(&self.scope(msg))
            .map_err(|e| flow_fault(pos, e))?;
        msg.payload = if json {
            serde_json::from_str(&text).map_err(|e| {
                flow_fault(
                    pos,
                    format!("the payload is not JSON after substitution: {e}"),
                )
            })?
        } else {
            Value::String(text)
        };
        Ok(Flow::Continue)
    }

    /// `<sequence key>`: runs another sequence in line, within the nesting limit.
    pub(super) async fn call_sequence(
        &self,
        pos: &Pos,
        key: &str,
        msg: &mut Message,
    ) -> Result<Flow, Fault> {
        if msg.depth >= MAX_SEQUENCE_DEPTH {
            return Err(flow_fault(
                pos,
                format!(
                    "sequences nested deeper than {MAX_SEQUENCE_DEPTH}: does `{key}` call itself?"
                ),
            ));
        }
        let seq = &self.project.sequences[key];
        msg.depth += 1;
        let flow = self.run_body(&seq.body, msg).await;
        msg.depth -= 1;
        flow
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
