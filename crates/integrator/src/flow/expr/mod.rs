//! Synapse expressions: `${vars.x.y}`, `${payload.items[0].id}`,
//! `${properties.p}`, `${env.NAME}`, `${secret.NAME}`, `${params.pathParams.id}`,
//! `${headers.h}`, literals, `== != < <= > >= && || ! + - * / % ??`, and a
//! few functions (`exists`, `length`, `toString`, `toUpper`, `toLower`,
//! `contains`). Values are JSON. An environment variable or secret that is
//! not set is an error naming it, unless the expression says it is optional
//! (`env.X ?? 'default'`, `exists(env.X)`): see [`environment`].
//!
//! Templates mix text with expressions: `Hello ${vars.name}`, plus the older
//! `{$ctx:name}` (a property), `{uri.var.id}` (a path parameter) and
//! `{wso2:vault-lookup('NAME')}` (a secret).
//!
//! Hand-written: Synapse's expression language has no Rust implementation,
//! and the subset flows need is a small recursive-descent parser.

use serde_json::{Map, Value};

/// What expressions read. Implemented by the flow context.
pub trait Scope {
    fn root(&self, name: &str) -> Option<Value>;
    /// A root read in place: a path like `vars.me.payload.data.id` then
    /// copies only what it reaches, not the whole root (a large answer in
    /// one variable would otherwise be copied by every expression).
    fn root_ref(&self, _name: &str) -> Option<Node<'_>> {
        None
    }
    /// A secret by name (from the environment); the scope remembers it for redaction.
    fn secret(&self, name: &str) -> Option<String>;
    /// An environment variable (`env.NAME`).
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn property(&self, name: &str) -> Option<Value>;
    fn path_param(&self, name: &str) -> Option<Value>;
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Lit(Value),
    Root(String),
    Field(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(Box<Expr>, Op, Box<Expr>),
    Call(Function, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    /// `a ?? b`: `a`, or `b` when `a` is null or an unset variable.
    Coalesce,
}

const ROOTS: &[&str] = &[
    "vars",
    "payload",
    "properties",
    "props",
    "headers",
    "params",
    "env",
    "secret",
];

/// The functions expressions may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Exists,
    Length,
    ToString,
    ToUpper,
    ToLower,
    Contains,
    Not,
}

impl Function {
    const ALL: [(&'static str, Function); 7] = [
        ("exists", Function::Exists),
        ("length", Function::Length),
        ("toString", Function::ToString),
        ("toUpper", Function::ToUpper),
        ("toLower", Function::ToLower),
        ("contains", Function::Contains),
        ("not", Function::Not),
    ];

    pub fn named(name: &str) -> Option<Function> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|(n, _)| *n).collect()
    }
}

pub mod environment;
mod parser;
mod template;

use parser::number;
pub use parser::{parse, MAX_EXPR_DEPTH};
pub use template::{Part, Template};

pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty() && s != "false",
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

/// The text of a value as it goes into a string (strings without quotes).
pub fn to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::String(_)) | (Value::String(_), Value::Number(_)) => {
            as_f64(a) == as_f64(b)
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A place in a root, borrowed.
#[derive(Clone, Copy)]
pub enum Node<'a> {
    Map(&'a Map<String, Value>),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn field(self, name: &str) -> Option<Node<'a>> {
        match self {
            Node::Map(m) | Node::Value(Value::Object(m)) => m.get(name).map(Node::Value),
            Node::Value(_) => None,
        }
    }

    /// The same lookups as `Expr::Index` on a value.
    fn index(self, i: &Value) -> Option<Node<'a>> {
        match (self, i) {
            (Node::Value(Value::Array(a)), _) => {
                as_f64(i).and_then(|f| a.get(f as usize)).map(Node::Value)
            }
            (Node::Map(m) | Node::Value(Value::Object(m)), Value::String(k)) => {
                m.get(k).map(Node::Value)
            }
            _ => None,
        }
    }

    fn to_value(self) -> Value {
        match self {
            Node::Map(m) => Value::Object(m.clone()),
            Node::Value(v) => v.clone(),
        }
    }
}

/// A path (`root.a[i].b`) walked by reference: `None` when `e` is not a
/// path over a root the scope lends, else where it leads (`Some(None)`:
/// nowhere, i.e. null).
fn walk<'s>(e: &Expr, scope: &'s dyn Scope) -> Result<Option<Option<Node<'s>>>, String> {
    Ok(match e {
        Expr::Root(r) => scope.root_ref(r).map(Some),
        Expr::Field(base, name) => walk(base, scope)?.map(|n| n.and_then(|n| n.field(name))),
        Expr::Index(base, idx) => match walk(base, scope)? {
            None => None,
            Some(n) => {
                let i = eval(idx, scope)?;
                Some(n.and_then(|n| n.index(&i)))
            }
        },
        _ => None,
    })
}

pub fn eval(e: &Expr, scope: &dyn Scope) -> Result<Value, String> {
    if matches!(e, Expr::Root(_) | Expr::Field(..) | Expr::Index(..)) {
        if let Some(found) = walk(e, scope)? {
            return Ok(found.map(Node::to_value).unwrap_or(Value::Null));
        }
    }
    Ok(match e {
        Expr::Lit(v) => v.clone(),
        Expr::Root(r) => scope.root(r).unwrap_or(Value::Null),
        Expr::Field(base, name) => {
            if let Expr::Root(r) = base.as_ref() {
                match r.as_str() {
                    "secret" | "env" => {
                        return environment::Reference::of(e)
                            .map_or(Ok(Value::Null), |r| r.required(scope))
                    }
                    "properties" | "props" => {
                        return Ok(scope.property(name).unwrap_or(Value::Null))
                    }
                    _ => {}
                }
            }
            match eval(base, scope)? {
                Value::Object(m) => m.get(name).cloned().unwrap_or(Value::Null),
                _ => Value::Null,
            }
        }
        Expr::Index(base, idx) => {
            let b = eval(base, scope)?;
            let i = eval(idx, scope)?;
            match (&b, &i) {
                (Value::Array(a), _) => as_f64(&i)
                    .and_then(|f| a.get(f as usize).cloned())
                    .unwrap_or(Value::Null),
                (Value::Object(m), Value::String(k)) => m.get(k).cloned().unwrap_or(Value::Null),
                _ => Value::Null,
            }
        }
        Expr::Not(x) => Value::Bool(!truthy(&eval(x, scope)?)),
        Expr::Neg(x) => number(-as_f64(&eval(x, scope)?).ok_or("`-` needs a number")?),
        Expr::Bin(l, op, r) => {
            if *op == Op::Coalesce {
                return environment::coalesce(e, scope);
            }
            let a = eval(l, scope)?;
            match op {
                Op::And => return Ok(Value::Bool(truthy(&a) && truthy(&eval(r, scope)?))),
                Op::Or => return Ok(Value::Bool(truthy(&a) || truthy(&eval(r, scope)?))),
                _ => {}
            }
            let b = eval(r, scope)?;
            match op {
                Op::Eq => Value::Bool(loose_eq(&a, &b)),
                Op::Ne => Value::Bool(!loose_eq(&a, &b)),
                Op::Add if a.is_string() || b.is_string() => {
                    Value::String(to_text(&a) + &to_text(&b))
                }
                Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                    let ord = match (as_f64(&a), as_f64(&b)) {
                        (Some(x), Some(y)) => x.partial_cmp(&y),
                        _ => Some(to_text(&a).cmp(&to_text(&b))),
                    };
                    let ord = ord.ok_or("cannot compare")?;
                    Value::Bool(match op {
                        Op::Lt => ord.is_lt(),
                        Op::Le => ord.is_le(),
                        Op::Gt => ord.is_gt(),
                        _ => ord.is_ge(),
                    })
                }
                _ => {
                    let x = as_f64(&a).ok_or_else(|| format!("`{op:?}` needs numbers, got {a}"))?;
                    let y = as_f64(&b).ok_or_else(|| format!("`{op:?}` needs numbers, got {b}"))?;
                    number(match op {
                        Op::Add => x + y,
                        Op::Sub => x - y,
                        Op::Mul => x * y,
                        Op::Div if y == 0.0 => return Err("division by zero".into()),
                        Op::Div => x / y,
                        _ if y == 0.0 => return Err("division by zero".into()),
                        _ => x % y,
                    })
                }
            }
        }
        Expr::Call(Function::Exists, args) => {
            let found = match args.first() {
                Some(a) => environment::optional(a, scope)?,
                None => Value::Null,
            };
            Value::Bool(!found.is_null())
        }
        Expr::Call(f, args) => {
            let vals = args
                .iter()
                .map(|a| eval(a, scope))
                .collect::<Result<Vec<_>, _>>()?;
            let arg = |i: usize| vals.get(i).cloned().unwrap_or(Value::Null);
            match f {
                // Taken by the arm above (an unset variable is not an error there).
                Function::Exists => Value::Bool(!arg(0).is_null()),
                Function::Not => Value::Bool(!truthy(&arg(0))),
                Function::Length => Value::from(match arg(0) {
                    Value::Array(a) => a.len(),
                    Value::Object(m) => m.len(),
                    Value::String(s) => s.chars().count(),
                    _ => 0,
                }),
                Function::ToString => Value::String(to_text(&arg(0))),
                Function::ToUpper => Value::String(to_text(&arg(0)).to_uppercase()),
                Function::ToLower => Value::String(to_text(&arg(0)).to_lowercase()),
                Function::Contains => Value::Bool(match arg(0) {
                    Value::Array(a) => a.iter().any(|x| loose_eq(x, &arg(1))),
                    other => to_text(&other).contains(&to_text(&arg(1))),
                }),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct S;
    impl Scope for S {
        fn root(&self, name: &str) -> Option<Value> {
            match name {
                "vars" => {
                    Some(json!({"tweet":{"payload":{"data":{"id":"42"}}},"n":3,"list":[1,2]}))
                }
                "payload" => Some(json!({"name":"x"})),
                _ => None,
            }
        }
        fn secret(&self, name: &str) -> Option<String> {
            (name == "TOKEN").then(|| "s3cr3t".into())
        }
        fn property(&self, name: &str) -> Option<Value> {
            (name == "p").then(|| json!("prop"))
        }
        fn path_param(&self, name: &str) -> Option<Value> {
            (name == "id").then(|| json!("7"))
        }
    }

    fn ev(t: &str) -> Value {
        Template::parse(t).unwrap().eval(&S).unwrap()
    }

    #[test]
    fn paths_and_types() {
        assert_eq!(ev("${vars.tweet.payload.data.id}"), json!("42"));
        assert_eq!(ev("${vars.n}"), json!(3));
        assert_eq!(ev("${vars.list[1]}"), json!(2));
        assert_eq!(ev("${payload.name}"), json!("x"));
        assert_eq!(ev("${vars.missing.deep}"), Value::Null);
        assert_eq!(ev("id=${vars.tweet.payload.data.id}!"), json!("id=42!"));
    }

    #[test]
    fn operators() {
        assert_eq!(ev("${vars.n + 1}"), json!(4));
        assert_eq!(ev("${vars.n == 3 && !false}"), json!(true));
        assert_eq!(ev("${vars.tweet.payload.data.id == 42}"), json!(true));
        assert_eq!(ev("${'a' + vars.n}"), json!("a3"));
        assert_eq!(ev("${(1 + 2) * 3 > 8}"), json!(true));
        assert_eq!(
            ev("${exists(vars.nope) || length(vars.list) == 2}"),
            json!(true)
        );
        assert_eq!(ev("${contains('hello', 'ell')}"), json!(true));
    }

    #[test]
    fn legacy_forms_and_secrets() {
        assert_eq!(ev("{$ctx:p}"), json!("prop"));
        assert_eq!(ev("${properties.p}"), json!("prop"));
        assert_eq!(ev("{uri.var.id}"), json!("7"));
        assert_eq!(ev("{wso2:vault-lookup('TOKEN')}"), json!("s3cr3t"));
        assert_eq!(ev("${secret.TOKEN}"), json!("s3cr3t"));
        assert_eq!(ev("plain"), json!("plain"));
    }

    #[test]
    fn deep_expressions_are_refused_not_overflowed() {
        let sum = format!("{}1", "1+".repeat(5000));
        assert!(parse(&sum).unwrap_err().contains("deeper than 64"));
        let parens = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(parse(&parens).unwrap_err().contains("deeper than 64"));
        let nots = format!("{}true", "!".repeat(5000));
        assert!(parse(&nots).unwrap_err().contains("deeper than 64"));
        let calls = format!("{}1{}", "toString(".repeat(5000), ")".repeat(5000));
        assert!(parse(&calls).unwrap_err().contains("deeper than 64"));
        // What real flows write still parses.
        let fine = format!("{}1", "1+".repeat(40));
        assert_eq!(ev(&format!("${{{fine}}}")), json!(41));
        assert!(parse("vars.a.b[0].c + length(payload.x) * 2 == 4 && !exists(vars.z)").is_ok());
    }

    #[test]
    fn errors_are_reported() {
        assert!(Template::parse("${vars.x").is_err());
        assert!(Template::parse("${bogus.x}")
            .unwrap_err()
            .contains("unknown name"));
        assert!(Template::parse("${vars.x ==}").is_err());
        assert!(Template::parse("${nope(1)}")
            .unwrap_err()
            .contains("unknown function"));
    }

    #[test]
    fn json_splice() {
        let t = Template::parse(r#"{"id":"${vars.tweet.payload.data.id}","n":${vars.n}}"#).unwrap();
        let s = t.eval_json_splice(&S).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&s).unwrap(),
            json!({"id":"42","n":3})
        );
    }
}
