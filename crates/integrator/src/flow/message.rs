//! The message travelling through a flow, its redactor, and the scope
//! expressions read it through.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use serde_json::{json, Map, Value};

use super::expr::{self, Scope};

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
