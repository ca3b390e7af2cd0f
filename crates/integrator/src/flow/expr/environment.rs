//! Environment variables and secrets in expressions: `${env.NAME}`,
//! `${secret.NAME}` and `{wso2:vault-lookup('NAME')}`.
//!
//! One that is not set is an error naming it, never an empty string sent on
//! (a missing `X_CLIENT_ID` must not become `client_id=`). A flow says a
//! variable is optional with a default (`${env.X_TIMEOUT ?? 10000}`) or a
//! test (`exists(env.X)`); a `<twitter.init>` parameter that is nothing but
//! one reference is left out when it is unset (the connector's default, or
//! the sandbox's value, applies). `integrator check` warns about each
//! unguarded reference that is unset where it runs.

use serde_json::Value;

use super::{eval, Expr, Op, Part, Scope, Template};

/// Where a value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `env.NAME`
    Env,
    /// `secret.NAME` or `wso2:vault-lookup('NAME')`: redacted from output.
    Secret,
}

/// A reference to one environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub source: Source,
    pub name: String,
}

impl Reference {
    /// `env.NAME` or `secret.NAME`, else `None`.
    pub fn of(e: &Expr) -> Option<Reference> {
        let Expr::Field(base, name) = e else {
            return None;
        };
        let source = match base.as_ref() {
            Expr::Root(r) if r == "env" => Source::Env,
            Expr::Root(r) if r == "secret" => Source::Secret,
            _ => return None,
        };
        Some(Reference {
            source,
            name: name.clone(),
        })
    }

    /// Its value, if set.
    pub fn lookup(&self, scope: &dyn Scope) -> Option<String> {
        match self.source {
            Source::Env => scope.env(&self.name),
            Source::Secret => scope.secret(&self.name),
        }
    }

    /// Its value, or the error that names it.
    pub fn required(&self, scope: &dyn Scope) -> Result<Value, String> {
        self.lookup(scope)
            .map(Value::String)
            .ok_or_else(|| self.unset())
    }

    /// What is said when it is not set.
    pub fn unset(&self) -> String {
        format!(
            "{} is not set (if it is optional, say so: `{} ?? default` or `exists({})`)",
            self.describe(),
            self.expression(),
            self.expression()
        )
    }

    /// `the environment variable `X`` or `the secret `X``.
    pub fn describe(&self) -> String {
        match self.source {
            Source::Env => format!("the environment variable `{}`", self.name),
            Source::Secret => format!("the secret `{}` (an environment variable)", self.name),
        }
    }

    fn expression(&self) -> String {
        match self.source {
            Source::Env => format!("env.{}", self.name),
            Source::Secret => format!("secret.{}", self.name),
        }
    }
}

/// `e` where an unset variable is null, not an error: the left of `??`
/// and the argument of `exists`.
pub fn optional(e: &Expr, scope: &dyn Scope) -> Result<Value, String> {
    if let Some(r) = Reference::of(e) {
        return Ok(r.lookup(scope).map(Value::String).unwrap_or(Value::Null));
    }
    if let Expr::Bin(l, Op::Coalesce, r) = e {
        let a = optional(l, scope)?;
        return if a.is_null() {
            optional(r, scope)
        } else {
            Ok(a)
        };
    }
    eval(e, scope)
}

/// `a ?? b`.
pub fn coalesce(e: &Expr, scope: &dyn Scope) -> Result<Value, String> {
    let Expr::Bin(l, Op::Coalesce, r) = e else {
        return eval(e, scope);
    };
    let a = optional(l, scope)?;
    if a.is_null() {
        eval(r, scope)
    } else {
        Ok(a)
    }
}

/// A reference in a template, and whether the flow made it optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub reference: Reference,
    /// Under `??` or `exists`: unset is fine.
    pub optional: bool,
}

impl Template {
    /// The one reference the whole template is, if it is nothing else:
    /// such an init parameter is left out when the variable is unset.
    pub fn bare_reference(&self) -> Option<Reference> {
        match self.parts.as_slice() {
            [Part::Expr(e)] => Reference::of(e),
            [Part::Secret(name)] => Some(Reference {
                source: Source::Secret,
                name: name.clone(),
            }),
            _ => None,
        }
    }

    /// Every environment reference in the template.
    pub fn environment_uses(&self) -> Vec<Use> {
        let mut out = Vec::new();
        for p in &self.parts {
            match p {
                Part::Expr(e) => collect(e, false, &mut out),
                Part::Secret(name) => out.push(Use {
                    reference: Reference {
                        source: Source::Secret,
                        name: name.clone(),
                    },
                    optional: false,
                }),
                _ => {}
            }
        }
        out
    }
}

fn collect(e: &Expr, optional: bool, out: &mut Vec<Use>) {
    if let Some(reference) = Reference::of(e) {
        out.push(Use {
            reference,
            optional,
        });
        return;
    }
    match e {
        Expr::Lit(_) | Expr::Root(_) => {}
        Expr::Field(b, _) | Expr::Not(b) | Expr::Neg(b) => collect(b, false, out),
        Expr::Index(b, i) => {
            collect(b, false, out);
            collect(i, false, out);
        }
        Expr::Bin(l, Op::Coalesce, r) => {
            collect(l, true, out);
            // The right of a `??` is optional only if another `??` follows.
            collect(r, optional, out);
        }
        Expr::Bin(l, _, r) => {
            collect(l, false, out);
            collect(r, false, out);
        }
        Expr::Call(super::Function::Exists, args) => {
            for a in args {
                collect(a, true, out);
            }
        }
        Expr::Call(_, args) => {
            for a in args {
                collect(a, false, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `SET` and `TOKEN` are set; nothing else is.
    struct Env;
    impl Scope for Env {
        fn root(&self, _: &str) -> Option<Value> {
            None
        }
        fn secret(&self, name: &str) -> Option<String> {
            (name == "TOKEN").then(|| "s3cr3t".into())
        }
        fn env(&self, name: &str) -> Option<String> {
            (name == "SET").then(|| "here".into())
        }
        fn property(&self, _: &str) -> Option<Value> {
            None
        }
        fn path_param(&self, _: &str) -> Option<Value> {
            None
        }
    }

    fn ev(src: &str) -> Result<Value, String> {
        Template::parse(src).unwrap().eval(&Env)
    }

    #[test]
    fn an_unset_variable_is_an_error_naming_it_in_every_form() {
        assert_eq!(ev("${env.SET}"), Ok(json!("here")));
        assert_eq!(ev("${secret.TOKEN}"), Ok(json!("s3cr3t")));
        for (src, says) in [
            (
                "${env.MISSING}",
                "the environment variable `MISSING` is not set",
            ),
            (
                "id-${env.MISSING}",
                "the environment variable `MISSING` is not set",
            ),
            (
                "${secret.NOPE}",
                "the secret `NOPE` (an environment variable) is not set",
            ),
            ("{wso2:vault-lookup('NOPE')}", "the secret `NOPE`"),
            ("${toUpper(env.MISSING)}", "`MISSING`"),
            ("${env.SET + env.MISSING}", "`MISSING`"),
        ] {
            let e = ev(src).unwrap_err();
            assert!(e.contains(says), "{src}: {e}");
            assert!(e.contains("?? default"), "says the way out: {e}");
        }
    }

    #[test]
    fn a_default_or_a_test_makes_it_optional() {
        assert_eq!(ev("${env.MISSING ?? 'dflt'}"), Ok(json!("dflt")));
        assert_eq!(ev("${env.SET ?? 'dflt'}"), Ok(json!("here")));
        assert_eq!(ev("${env.MISSING ?? 10000}"), Ok(json!(10000)));
        assert_eq!(ev("${env.MISSING ?? null}"), Ok(Value::Null));
        assert_eq!(
            ev("${env.MISSING ?? secret.NOPE ?? 'last'}"),
            Ok(json!("last"))
        );
        assert_eq!(ev("${env.MISSING ?? env.SET}"), Ok(json!("here")));
        // The last of a chain is required.
        assert!(ev("${env.MISSING ?? env.ALSO_MISSING}")
            .unwrap_err()
            .contains("`ALSO_MISSING`"));
        assert_eq!(ev("${exists(env.MISSING)}"), Ok(json!(false)));
        assert_eq!(ev("${exists(env.SET)}"), Ok(json!(true)));
        // `??` takes null as well, and binds loosest.
        assert_eq!(ev("${vars.nothing ?? 1 + 2}"), Ok(json!(3)));
    }

    #[test]
    fn uses_say_which_references_a_flow_made_optional() {
        let uses = |src: &str| -> Vec<(String, bool)> {
            Template::parse(src)
                .unwrap()
                .environment_uses()
                .into_iter()
                .map(|u| (u.reference.name, u.optional))
                .collect()
        };
        assert_eq!(uses("${env.A}"), [("A".to_string(), false)]);
        assert_eq!(
            uses("${env.A ?? env.B ?? env.C} {wso2:vault-lookup('D')}"),
            [
                ("A".to_string(), true),
                ("B".to_string(), true),
                ("C".to_string(), false),
                ("D".to_string(), false)
            ]
        );
        assert_eq!(
            uses("${exists(secret.E) && env.F == 'x'}"),
            [("E".to_string(), true), ("F".to_string(), false)]
        );
        assert!(uses("${vars.a} text").is_empty());
        let bare = |src: &str| {
            Template::parse(src)
                .unwrap()
                .bare_reference()
                .map(|r| r.name)
        };
        assert_eq!(bare("${env.A}"), Some("A".into()));
        assert_eq!(bare("{wso2:vault-lookup('B')}"), Some("B".into()));
        assert_eq!(bare("x${env.A}"), None);
        assert_eq!(bare("${env.A ?? 'd'}"), None);
    }
}
