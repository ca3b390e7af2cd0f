//! Synapse expressions: `${vars.x.y}`, `${payload.items[0].id}`,
//! `${properties.p}`, `${env.NAME}`, `${secret.NAME}`, `${params.pathParams.id}`,
//! `${headers.h}`, literals, `== != < <= > >= && || ! + - * / %`, and a few
//! functions (`exists`, `length`, `toString`, `toUpper`, `toLower`,
//! `contains`). Values are JSON.
//!
//! Templates mix text with expressions: `Hello ${vars.name}`, plus the older
//! `{$ctx:name}` (a property), `{uri.var.id}` (a path parameter) and
//! `{wso2:vault-lookup('NAME')}` (a secret).
//!
//! Hand-written: Synapse's expression language has no Rust implementation,
//! and the subset flows need is a small recursive-descent parser.

use serde_json::{Number, Value};

/// What expressions read. Implemented by the flow context.
pub trait Scope {
    fn root(&self, name: &str) -> Option<Value>;
    /// A secret by name (from the environment); the scope remembers it for redaction.
    fn secret(&self, name: &str) -> Option<String>;
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
    Call(String, Vec<Expr>),
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
    "attributes",
];
const FUNCTIONS: &[&str] = &[
    "exists", "length", "toString", "toUpper", "toLower", "contains", "not",
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Ident(String),
    Sym(&'static str),
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Tok::Num(
                text.parse().map_err(|_| format!("bad number `{text}`"))?,
            ));
        } else if c == '\'' || c == '"' {
            let quote = c;
            i += 1;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string".into()),
                    Some('\\') => {
                        if let Some(&n) = chars.get(i + 1) {
                            s.push(n);
                        }
                        i += 2;
                    }
                    Some(&ch) if ch == quote => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric()
                    || chars[i] == '_'
                    || chars[i] == '-'
                    || chars[i] == '$')
            {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let sym = ["==", "!=", "<=", ">=", "&&", "||"]
                .into_iter()
                .find(|s| *s == two);
            if let Some(s) = sym {
                out.push(Tok::Sym(s));
                i += 2;
                continue;
            }
            let one = [
                "(", ")", "[", "]", ".", ",", "<", ">", "!", "+", "-", "*", "/", "%",
            ]
            .into_iter()
            .find(|s| s.starts_with(c))
            .ok_or_else(|| format!("unexpected `{c}`"))?;
            out.push(Tok::Sym(one));
            i += 1;
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_sym(&self, s: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Sym(x)) if *x == s)
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.peek_sym(s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, s: &str) -> Result<(), String> {
        if self.eat(s) {
            Ok(())
        } else {
            Err(format!("expected `{s}`"))
        }
    }

    fn binary(&mut self, level: usize) -> Result<Expr, String> {
        const LEVELS: &[&[(&str, Op)]] = &[
            &[("||", Op::Or)],
            &[("&&", Op::And)],
            &[("==", Op::Eq), ("!=", Op::Ne)],
            &[("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)],
            &[("+", Op::Add), ("-", Op::Sub)],
            &[("*", Op::Mul), ("/", Op::Div), ("%", Op::Rem)],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        'outer: loop {
            for (sym, op) in LEVELS[level] {
                if self.eat(sym) {
                    let right = self.binary(level + 1)?;
                    left = Expr::Bin(Box::new(left), *op, Box::new(right));
                    continue 'outer;
                }
            }
            return Ok(left);
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, String> {
        let mut e = self.primary()?;
        loop {
            if self.eat(".") {
                match self.toks.get(self.pos).cloned() {
                    Some(Tok::Ident(name)) => {
                        self.pos += 1;
                        e = Expr::Field(Box::new(e), name);
                    }
                    Some(Tok::Num(n)) if n.fract() == 0.0 => {
                        self.pos += 1;
                        e = Expr::Index(Box::new(e), Box::new(Expr::Lit(Value::from(n as i64))));
                    }
                    _ => return Err("expected a name after `.`".into()),
                }
            } else if self.eat("[") {
                let idx = self.binary(0)?;
                self.expect("]")?;
                e = Expr::Index(Box::new(e), Box::new(idx));
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let tok = self
            .toks
            .get(self.pos)
            .cloned()
            .ok_or("unexpected end of expression")?;
        self.pos += 1;
        match tok {
            Tok::Num(n) => Ok(Expr::Lit(number(n))),
            Tok::Str(s) => Ok(Expr::Lit(Value::String(s))),
            Tok::Sym("(") => {
                let e = self.binary(0)?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Ident(id) => match id.as_str() {
                "true" => Ok(Expr::Lit(Value::Bool(true))),
                "false" => Ok(Expr::Lit(Value::Bool(false))),
                "null" => Ok(Expr::Lit(Value::Null)),
                _ if self.peek_sym("(") => {
                    if !FUNCTIONS.contains(&id.as_str()) {
                        return Err(format!(
                            "unknown function `{id}` (known: {})",
                            FUNCTIONS.join(", ")
                        ));
                    }
                    self.pos += 1;
                    let mut args = Vec::new();
                    if !self.eat(")") {
                        loop {
                            args.push(self.binary(0)?);
                            if self.eat(")") {
                                break;
                            }
                            self.expect(",")?;
                        }
                    }
                    Ok(Expr::Call(id, args))
                }
                _ if ROOTS.contains(&id.as_str()) => Ok(Expr::Root(id)),
                _ => Err(format!(
                    "unknown name `{id}` (expressions start with one of: {})",
                    ROOTS.join(", ")
                )),
            },
            Tok::Sym(s) => Err(format!("unexpected `{s}`")),
        }
    }
}

fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

pub fn parse(src: &str) -> Result<Expr, String> {
    let toks = lex(src)?;
    if toks.is_empty() {
        return Err("empty expression".into());
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.binary(0)?;
    if p.pos != p.toks.len() {
        return Err(format!(
            "unexpected `{:?}` after the expression",
            p.toks[p.pos]
        ));
    }
    Ok(e)
}

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

pub fn eval(e: &Expr, scope: &dyn Scope) -> Result<Value, String> {
    Ok(match e {
        Expr::Lit(v) => v.clone(),
        Expr::Root(r) => scope.root(r).unwrap_or(Value::Null),
        Expr::Field(base, name) => {
            if let Expr::Root(r) = base.as_ref() {
                match r.as_str() {
                    "secret" => {
                        return Ok(scope.secret(name).map(Value::String).unwrap_or(Value::Null))
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
        Expr::Call(f, args) => {
            let vals = args
                .iter()
                .map(|a| eval(a, scope))
                .collect::<Result<Vec<_>, _>>()?;
            let arg = |i: usize| vals.get(i).cloned().unwrap_or(Value::Null);
            match f.as_str() {
                "exists" => Value::Bool(!arg(0).is_null()),
                "not" => Value::Bool(!truthy(&arg(0))),
                "length" => Value::from(match arg(0) {
                    Value::Array(a) => a.len(),
                    Value::Object(m) => m.len(),
                    Value::String(s) => s.chars().count(),
                    _ => 0,
                }),
                "toString" => Value::String(to_text(&arg(0))),
                "toUpper" => Value::String(to_text(&arg(0)).to_uppercase()),
                "toLower" => Value::String(to_text(&arg(0)).to_lowercase()),
                _ => Value::Bool(match arg(0) {
                    Value::Array(a) => a.iter().any(|x| loose_eq(x, &arg(1))),
                    other => to_text(&other).contains(&to_text(&arg(1))),
                }),
            }
        }
    })
}

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
            Part::Secret(n) => scope.secret(n).map(Value::String).unwrap_or(Value::Null),
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
