//! The expression lexer and recursive-descent parser, with depth limits.

use serde_json::{Number, Value};

use super::{Expr, Function, Op, ROOTS};

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
            let sym = ["==", "!=", "<=", ">=", "&&", "||", "??"]
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

/// Deepest expression tree accepted: the evaluator recurses once per
/// level, so this bounds its stack use. A long `a + b + c ...` chain nests
/// to the left, one level per operator.
pub const MAX_EXPR_DEPTH: usize = 64;

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// Calls of the recursive descent in progress (bounds the parser's own stack).
    nesting: usize,
}

/// An expression and the depth of its tree.
type Deep = (Expr, usize);

fn too_deep() -> String {
    format!("the expression nests deeper than {MAX_EXPR_DEPTH} levels")
}

fn deeper(d: usize) -> Result<usize, String> {
    if d > MAX_EXPR_DEPTH {
        Err(too_deep())
    } else {
        Ok(d)
    }
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

    fn enter(&mut self) -> Result<(), String> {
        self.nesting += 1;
        if self.nesting > MAX_EXPR_DEPTH * 8 {
            return Err(too_deep());
        }
        Ok(())
    }

    fn binary(&mut self, level: usize) -> Result<Deep, String> {
        self.enter()?;
        let r = self.binary_inner(level);
        self.nesting -= 1;
        r
    }

    fn binary_inner(&mut self, level: usize) -> Result<Deep, String> {
        const LEVELS: &[&[(&str, Op)]] = &[
            &[("??", Op::Coalesce)],
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
        let (mut left, mut depth) = self.binary(level + 1)?;
        'outer: loop {
            for (sym, op) in LEVELS[level] {
                if self.eat(sym) {
                    let (right, rd) = self.binary(level + 1)?;
                    depth = deeper(depth.max(rd) + 1)?;
                    left = Expr::Bin(Box::new(left), *op, Box::new(right));
                    continue 'outer;
                }
            }
            return Ok((left, depth));
        }
    }

    fn unary(&mut self) -> Result<Deep, String> {
        self.enter()?;
        let r = if self.eat("!") {
            self.unary()
                .and_then(|(e, d)| Ok((Expr::Not(Box::new(e)), deeper(d + 1)?)))
        } else if self.eat("-") {
            self.unary()
                .and_then(|(e, d)| Ok((Expr::Neg(Box::new(e)), deeper(d + 1)?)))
        } else {
            self.postfix()
        };
        self.nesting -= 1;
        r
    }

    fn postfix(&mut self) -> Result<Deep, String> {
        let (mut e, mut depth) = self.primary()?;
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
                depth = deeper(depth + 1)?;
            } else if self.eat("[") {
                let (idx, id) = self.binary(0)?;
                self.expect("]")?;
                e = Expr::Index(Box::new(e), Box::new(idx));
                depth = deeper(depth.max(id) + 1)?;
            } else {
                return Ok((e, depth));
            }
        }
    }

    fn primary(&mut self) -> Result<Deep, String> {
        let tok = self
            .toks
            .get(self.pos)
            .cloned()
            .ok_or("unexpected end of expression")?;
        self.pos += 1;
        match tok {
            Tok::Num(n) => Ok((Expr::Lit(number(n)), 1)),
            Tok::Str(s) => Ok((Expr::Lit(Value::String(s)), 1)),
            Tok::Sym("(") => {
                let e = self.binary(0)?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Ident(id) => match id.as_str() {
                "true" => Ok((Expr::Lit(Value::Bool(true)), 1)),
                "false" => Ok((Expr::Lit(Value::Bool(false)), 1)),
                "null" => Ok((Expr::Lit(Value::Null), 1)),
                _ if self.peek_sym("(") => {
                    let Some(function) = Function::named(&id) else {
                        return Err(format!(
                            "unknown function `{id}` (known: {})",
                            Function::names().join(", ")
                        ));
                    };
                    self.pos += 1;
                    let mut args = Vec::new();
                    let mut depth = 0;
                    if !self.eat(")") {
                        loop {
                            let (a, d) = self.binary(0)?;
                            depth = depth.max(d);
                            args.push(a);
                            if self.eat(")") {
                                break;
                            }
                            self.expect(",")?;
                        }
                    }
                    Ok((Expr::Call(function, args), deeper(depth + 1)?))
                }
                _ if ROOTS.contains(&id.as_str()) => Ok((Expr::Root(id), 1)),
                _ => Err(format!(
                    "unknown name `{id}` (expressions start with one of: {})",
                    ROOTS.join(", ")
                )),
            },
            Tok::Sym(s) => Err(format!("unexpected `{s}`")),
        }
    }
}

pub(super) fn number(n: f64) -> Value {
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
    let mut p = Parser {
        toks,
        pos: 0,
        nesting: 0,
    };
    let (e, _) = p.binary(0)?;
    if p.pos != p.toks.len() {
        return Err(format!(
            "unexpected `{:?}` after the expression",
            p.toks[p.pos]
        ));
    }
    Ok(e)
}
