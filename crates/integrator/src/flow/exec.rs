//! Running flows: the mediators, sequences and their fault handlers, and
//! connector operations on pooled instances of their connection.

use std::sync::Arc;

use serde_json::Value;
use spend_ledger::SpendLedger;

use super::connections::{Connections, Slot};
use super::expr::{self, Template};
use super::fault::{connection_fault, connector_fault, flow_fault, set_error};
pub use super::fault::{Fault, FaultKind};
pub use super::message::{Message, Redactor};
use super::message::{MsgScope, MAX_STEPS};
use super::parse::{Mediator, Pos, Project, Sequence};
use crate::connections::ConnectionRedirect;
use crate::connections::Pooled;
use crate::descriptor::Descriptor;
use crate::engine::{LoadedConnector, Runtime};

const SECRET_PARAMS: &[&str] = &["accessToken", "refreshToken", "clientSecret"];

/// Runs the flows of one project with one connector.
pub struct Integrator {
    pub runtime: Runtime,
    pub loaded: LoadedConnector,
    pub descriptor: Descriptor,
    pub project: Project,
    /// Where connections go instead of their `apiUrl` (the sandbox).
    pub redirect: Option<Box<dyn ConnectionRedirect>>,
    pub redactor: Redactor,
    /// What each connection spent, and its budgets' reservations (the
    /// runtime's store; memory unless [`Integrator::with_ledger`]).
    pub ledger: Arc<dyn SpendLedger>,
    /// The message stores' queues (memory unless [`Integrator::with_queues`]).
    pub queues: Arc<dyn message_store::MessageStore>,
    pub(super) connections: Connections,
}

pub(super) enum Flow {
    Continue,
    Respond,
}

impl Integrator {
    pub fn new(
        runtime: Runtime,
        loaded: LoadedConnector,
        descriptor: Descriptor,
        project: Project,
        redirect: Option<Box<dyn ConnectionRedirect>>,
        redactor: Redactor,
    ) -> Self {
        Integrator {
            runtime,
            loaded,
            descriptor,
            project,
            redirect,
            redactor,
            ledger: Arc::new(spend_ledger::MemoryLedger::new()),
            queues: Arc::new(message_store::MemoryQueue::new()),
            connections: Connections::default(),
        }
    }

    /// Keeps spend and budgets in `ledger` (shared by the processes that
    /// share it).
    pub fn with_ledger(mut self, ledger: Arc<dyn SpendLedger>) -> Self {
        self.ledger = ledger;
        self
    }

    pub(super) fn scope<'a>(&'a self, msg: &'a Message) -> MsgScope<'a> {
        MsgScope {
            msg,
            redactor: &self.redactor,
        }
    }

    pub(super) fn eval(&self, t: &Template, msg: &Message, pos: &Pos) -> Result<Value, Fault> {
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
    /// `fault_sequence` (an API resource's), else up to the caller. One
    /// trace span (`flow <sequence>`) covers it, the X calls inside.
    pub async fn run_with_handler(
        &self,
        seq: &Sequence,
        fault_sequence: Option<&Sequence>,
        msg: &mut Message,
    ) -> Result<(), Fault> {
        use tracing::Instrument;
        let span = tracing::info_span!(
            target: "integrator::otel",
            "flow",
            otel.name = %format!("flow {}", seq.name),
            flow.sequence = %seq.name,
            flow.file = %seq.pos.file,
            flow.fault = tracing::field::Empty,
            flow.fault_caught = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let r = self
            .run_caught(seq, fault_sequence, msg)
            .instrument(span.clone())
            .await;
        if let Some(kind) = msg.fault_caught {
            span.record("flow.fault_caught", kind.as_str());
        }
        if let Err(f) = &r {
            span.record("flow.fault", f.kind.as_str());
            span.record("otel.status_code", "ERROR");
        }
        r
    }

    async fn run_caught(
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
                msg.fault_caught = Some(fault.kind);
                // A fault inside the handler is not caught again.
                Box::pin(self.run_body(&handler.body, msg))
                    .await
                    .map(|_| ())
            }
        }
    }

    pub(super) async fn run_body(
        &self,
        body: &[Mediator],
        msg: &mut Message,
    ) -> Result<Flow, Fault> {
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
            Mediator::Init { pos, params } => self.init_connection(pos, params, msg).await,
            Mediator::Operation(call) => self.operation(call, msg).await,
            Mediator::Variable {
                pos,
                name,
                value,
                var_type,
                remove,
            } => self.variable(pos, name, value.as_ref(), *var_type, *remove, msg),
            Mediator::Property {
                pos,
                name,
                value,
                scope,
                remove,
            } => self.property(pos, name, value.as_ref(), *scope, *remove, msg),
            Mediator::Log {
                pos,
                category,
                full,
                message,
                props,
            } => self.log(pos, category, *full, message.as_ref(), props, msg),
            Mediator::Filter {
                pos,
                condition,
                then,
                otherwise,
            } => self.filter(pos, condition, then, otherwise, msg).await,
            Mediator::PayloadFactory { pos, format, json } => {
                self.payload_factory(pos, format, *json, msg)
            }
            Mediator::CallSequence { key, pos } => self.call_sequence(pos, key, msg).await,
            Mediator::Store { pos, store } => self.store_message(pos, store, msg).await,
            Mediator::Respond { .. } => Ok(Flow::Respond),
        }
    }
    /// Evaluates init parameters; the connection name is `connectionName`,
    /// else the local entry's key, else the component's default.
    pub(super) async fn init_values(
        &self,
        params: &[(String, Template)],
        msg: &Message,
        pos: &Pos,
        key: Option<&str>,
    ) -> Result<(String, Vec<(String, String)>), Fault> {
        let mut values = Vec::new();
        for (k, t) in params {
            // A parameter that is nothing but `${env.X}` or `${secret.X}`
            // is left out when X is unset: the connector's default applies
            // (or the sandbox's value). Unless the connector requires it
            // and nothing will fill it in: then the error names X.
            let v = match t.bare_reference() {
                // Read once: the value, or left out when unset.
                Some(reference) => match reference.lookup(&self.scope(msg)) {
                    Some(v) => Value::String(v),
                    None => {
                        let required = self
                            .descriptor
                            .operation("init")
                            .and_then(|o| o.parameters.iter().find(|p| p.answers_to(k)))
                            .is_some_and(|p| p.required);
                        if required && self.redirect.is_none() {
                            return Err(flow_fault(
                                pos,
                                format!(
                                    "`{k}` is required, and {} it comes from is not set",
                                    reference.describe()
                                ),
                            ));
                        }
                        tracing::debug!(target: "integrator::flow", parameter = %k, variable = %reference.name, "unset: left out");
                        continue;
                    }
                },
                None => self.eval(t, msg, pos)?,
            };
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
    /// redirect when there is one) and returns an initialized instance.
    pub(super) async fn connection(
        &self,
        name: &str,
        mut values: Vec<(String, String)>,
        pos: &Pos,
    ) -> Result<Pooled<Slot>, Fault> {
        if let Some(redirect) = &self.redirect {
            redirect.rewrite(name, &mut values);
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
