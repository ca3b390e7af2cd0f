//! The message travelling through a flow, its redactor, and the scope
//! expressions read it through.

use serde_json::{json, Map, Value};

use super::expr::{self, Node, Scope};

pub use super::redact::Redactor;

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
    /// Mediators run for this message so far (see [`MAX_STEPS`]).
    pub steps: u32,
    /// The last fault an `onError` or fault sequence caught (`run` exits
    /// with its own code unless the handler marks it handled).
    pub fault_caught: Option<super::fault::FaultKind>,
}

/// Deeper `<sequence key>` nesting is taken for runaway recursion.
/// Mediators one message may run: `<sequence key>` calls can fan out
/// (each sequence calling the next twice is 2^depth steps), so a budget
/// stops a runaway flow instead of letting it spin.
pub const MAX_STEPS: u32 = 100_000;

pub(super) const MAX_SEQUENCE_DEPTH: u32 = 64;

impl Message {
    pub fn status(&self) -> Option<u16> {
        self.properties
            .get("HTTP_SC")
            .and_then(|v| expr::to_text(v).trim().parse().ok())
    }
}

pub(super) struct MsgScope<'a> {
    pub(super) msg: &'a Message,
    pub(super) redactor: &'a Redactor,
}

impl Scope for MsgScope<'_> {
    fn root_ref(&self, name: &str) -> Option<Node<'_>> {
        Some(match name {
            "vars" => Node::Map(&self.msg.vars),
            "payload" => Node::Value(&self.msg.payload),
            "properties" | "props" => Node::Map(&self.msg.properties),
            "headers" => Node::Map(&self.msg.headers),
            _ => return None,
        })
    }

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
