//! Templates: text with `${...}` expressions and the older `{...}` forms.

use serde_json::Value;

use super::{eval, parse, to_text, Expr, Scope};

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Expr(Expr),
    /// `{$ctx:name}`
    Property(String),
    /// `{uri.var.name}`
    PathParam(String),
    /// `{wso2:vault-lookup('NAME')}`
    Secret(String),
}

/// A parameter value: text with embedded expressions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    pub parts: Vec<Part>,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = src;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("${") {
                let end = find_close(after).ok_or("`${` without its closing `}`")?;
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                let inner = &after[..end];
                parts.push(Part::Expr(
                    parse(inner).map_err(|e| format!("in `${{{inner}}}`: {e}"))?,
                ));
                rest = &after[end + 1..];
                continue;
            }
            let legacy = [
                ("{$ctx:", 0u8),
                ("{uri.var.", 1),
                ("{wso2:vault-lookup(", 2),
            ]
            .into_iter()
            .find(|(p, _)| rest.starts_with(p));
            if let Some((prefix, kind)) = legacy {
                let close = rest
                    .find('}')
                    .ok_or_else(|| format!("`{prefix}` without its closing `}}`"))?;
                let name = rest[prefix.len()..close]
                    .trim()
                    .trim_end_matches(')')
                    .trim_matches(['\'', '"']);
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(match kind {
                    0 => Part::Property(name.to_string()),
                    1 => Part::PathParam(name.to_string()),
                    _ => Part::Secret(name.to_string()),
                });
                rest = &rest[close + 1..];
                continue;
            }
            let c = rest.chars().next().unwrap_or_default();
            text.push(c);
            rest = &rest[c.len_utf8()..];
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template { parts })
    }

    pub fn literal(text: &str) -> Template {
        Template {
            parts: vec![Part::Text(text.to_string())],
        }
    }

    /// One expression alone keeps its JSON type; anything else is text.
    pub fn eval(&self, scope: &dyn Scope) -> Result<Value, String> {
        if let [single] = self.parts.as_slice() {
            return self.part(single, scope);
        }
        let mut out = String::new();
        for p in &self.parts {
            out.push_str(&to_text(&self.part(p, scope)?));
        }
        Ok(Value::String(out))
    }

    pub fn eval_text(&self, scope: &dyn Scope) -> Result<String, String> {
        self.eval(scope).map(|v| to_text(&v))
    }

    /// For JSON templates (payloadFactory): strings spliced without quotes,
    /// other values as JSON.
    pub fn eval_json_splice(&self, scope: &dyn Scope) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match self.part(p, scope)? {
                Value::String(s) if !matches!(p, Part::Text(_)) => {
                    let quoted = Value::String(s).to_string();
                    out.push_str(&quoted[1..quoted.len() - 1]);
                }
                Value::String(s) => out.push_str(&s),
                other => out.push_str(&other.to_string()),
            }
        }
        Ok(out)
    }

    fn part(&self, p: &Part, scope: &dyn Scope) -> Result<Value, String> {
        Ok(match p {
            Part::Text(t) => Value::String(t.clone()),
            Part::Expr(e) => eval(e, scope)?,
            Part::Property(n) => scope.property(n).unwrap_or(Value::Null),
            Part::PathParam(n) => scope.path_param(n).unwrap_or(Value::Null),
            Part::Secret(n) => super::environment::Reference {
                source: super::environment::Source::Secret,
                name: n.clone(),
            }
            .required(scope)?,
        })
    }
}

/// The `}` closing a `${`, skipping braces and quotes inside.
fn find_close(s: &str) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '{') => depth += 1,
            (None, '}') if depth == 0 => return Some(i),
            (None, '}') => depth -= 1,
            _ => {}
        }
    }
    None
}
