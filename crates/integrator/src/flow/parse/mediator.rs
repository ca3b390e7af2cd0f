//! One mediator element into its checked form, and an operation's parameters.

use super::*;

/// An operation's parameters: declared ones as templates, plus
/// `responseVariable` / `overwriteBody`. Checks names and required ones.
#[allow(clippy::type_complexity)]
pub(super) fn operation_params(
    cx: &Ctx,
    n: Node,
    operation: &str,
) -> Result<(Vec<(String, Template)>, Option<String>, bool), FlowError> {
    let op = cx.descriptor.operation(operation).ok_or_else(|| {
        let names: Vec<&str> = cx
            .descriptor
            .operations
            .iter()
            .map(|o| o.name.as_str())
            .collect();
        cx.err(
            n,
            format!(
                "`{operation}` is not an operation of the {} connector ({})",
                cx.descriptor.name,
                names.join(", ")
            ),
        )
    })?;
    // Init parameters: one that is only `${env.X}` is left out when X is unset.
    let param = |cx: &Ctx, n: Node, src: &str, name: &str| {
        let init = (operation == "init").then(|| {
            op.parameters
                .iter()
                .any(|p| p.answers_to(name) && p.required)
        });
        cx.parameter(n, src, init)
    };
    let mut params = Vec::new();
    let mut response_variable = None;
    let mut overwrite_body = false;
    for c in elements(n) {
        let name = c.tag_name().name();
        match name {
            "responseVariable" => response_variable = Some(text_of(c)),
            "overwriteBody" => overwrite_body = bool_attr(cx, c, &text_of(c))?,
            _ => {
                if !op.parameters.iter().any(|p| p.answers_to(name)) {
                    let names: Vec<&str> = op.parameters.iter().map(|p| p.name.as_str()).collect();
                    return Err(cx.err(
                        c,
                        format!("`{name}` is not a parameter of {operation} (it takes: {}, responseVariable, overwriteBody)", names.join(", ")),
                    ));
                }
                if params.iter().any(|(p, _)| p == name) {
                    return Err(cx.err(c, format!("parameter `{name}` is given twice")));
                }
                params.push((name.to_string(), param(cx, c, &text_of(c), name)?));
            }
        }
    }
    // Attributes are accepted as parameters too (MI 4.4 style).
    for a in n.attributes() {
        if a.name() == "configKey" {
            continue;
        }
        if a.name() == "responseVariable" {
            response_variable = Some(a.value().to_string());
        } else if a.name() == "overwriteBody" {
            overwrite_body = bool_attr(cx, n, a.value())?;
        } else if op.parameters.iter().any(|p| p.answers_to(a.name())) {
            params.push((a.name().to_string(), param(cx, n, a.value(), a.name())?));
        } else {
            return Err(cx.err(
                n,
                format!("`{}` is not a parameter of {operation}", a.name()),
            ));
        }
    }
    for p in op.parameters.iter().filter(|p| p.required) {
        if !params.iter().any(|(name, _)| p.answers_to(name)) {
            return Err(cx.err(
                n,
                format!(
                    "{operation} requires the parameter `{}` ({})",
                    p.name, p.description
                ),
            ));
        }
    }
    if let Some(v) = &response_variable {
        if v.is_empty() || !v.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(cx.err(
                n,
                "`responseVariable` must be a name of letters, digits and `_`",
            ));
        }
    }
    Ok((params, response_variable, overwrite_body))
}

/// `name`, then `value` or `expression` (neither with `action="remove"`),
/// as `<variable>` and `<property>` take them.
fn assignment(cx: &Ctx, n: Node) -> Result<(String, Option<Template>, bool), FlowError> {
    let name = cx.required_attr(n, "name")?.to_string();
    let remove = n.attribute("action") == Some("remove");
    let value = match (n.attribute("value"), n.attribute("expression")) {
        (Some(v), None) => Some(Template::literal(v)),
        (None, Some(e)) => Some(cx.template(n, e)?),
        (None, None) if remove => None,
        _ => return Err(cx.err(n, "give either `value` or `expression`")),
    };
    Ok((name, value, remove))
}

pub(super) fn mediator(cx: &Ctx, n: Node) -> Result<Mediator, FlowError> {
    let pos = cx.pos(n);
    let tag = n.tag_name().name();
    let prefix = format!("{}.", cx.descriptor.name);
    if let Some(operation) = tag.strip_prefix(&prefix) {
        if operation == "init" {
            return Ok(Mediator::Init {
                pos,
                params: operation_params(cx, n, "init")?.0,
            });
        }
        let (params, response_variable, overwrite_body) = operation_params(cx, n, operation)?;
        return Ok(Mediator::Operation(OperationCall {
            pos,
            operation: operation.to_string(),
            config_key: n.attribute("configKey").map(str::to_string),
            params,
            response_variable,
            overwrite_body,
        }));
    }
    Ok(match tag {
        "variable" => {
            let (name, value, remove) = assignment(cx, n)?;
            let var_type = match n.attribute("type").unwrap_or("").to_ascii_uppercase().as_str() {
                "" => VarType::Auto,
                "STRING" => VarType::String,
                "INTEGER" | "LONG" => VarType::Integer,
                "DOUBLE" | "FLOAT" => VarType::Double,
                "BOOLEAN" => VarType::Boolean,
                "JSON" => VarType::Json,
                other => return Err(cx.err(n, format!("unknown type `{other}` (STRING, INTEGER, DOUBLE, BOOLEAN, JSON)"))),
            };
            Mediator::Variable { pos, name, value, var_type, remove }
        }
        "property" => {
            let (name, value, remove) = assignment(cx, n)?;
            let scope = n.attribute("scope").unwrap_or("default");
            let scope = PropertyScope::parse(scope).ok_or_else(|| {
                cx.err(
                    n,
                    format!("unknown property scope `{scope}` (default, synapse, transport, axis2)"),
                )
            })?;
            Mediator::Property {
                pos,
                name,
                value,
                scope,
                remove,
            }
        }
        "log" => {
            let mut message = None;
            let mut props = Vec::new();
            for c in elements(n) {
                match c.tag_name().name() {
                    "message" => message = Some(cx.template(c, &text_of(c))?),
                    "property" => {
                        let name = cx.required_attr(c, "name")?.to_string();
                        let v = c
                            .attribute("value")
                            .map(Template::literal)
                            .or(c.attribute("expression").map(|e| cx.template(c, e)).transpose()?)
                            .ok_or_else(|| cx.err(c, "give `value` or `expression`"))?;
                        props.push((name, v));
                    }
                    other => return Err(cx.err(c, format!("unknown element <{other}> in <log> (message, property)"))),
                }
            }
            let category = n.attribute("category").unwrap_or("INFO").to_ascii_uppercase();
            if !["INFO", "DEBUG", "WARN", "ERROR", "TRACE", "FATAL"].contains(&category.as_str()) {
                return Err(cx.err(n, format!("unknown log category `{category}`")));
            }
            Mediator::Log {
                pos,
                category,
                full: n.attribute("level") == Some("full"),
                message,
                props,
            }
        }
        "filter" => {
            let condition = match (n.attribute("source"), n.attribute("regex")) {
                (Some(s), Some(r)) => Condition::Regex {
                    source: cx.template(n, s)?,
                    regex: regex::Regex::new(&format!("^(?:{r})$")).map_err(|e| cx.err(n, format!("bad regex: {e}")))?,
                },
                _ => {
                    let e = n
                        .attribute("xpath")
                        .or_else(|| n.attribute("expression"))
                        .ok_or_else(|| cx.err(n, "give `xpath`/`expression`, or `source` and `regex`"))?;
                    Condition::Expr(cx.template(n, e)?)
                }
            };
            let mut then = Vec::new();
            let mut otherwise = Vec::new();
            let has_branches = elements(n).any(|c| matches!(c.tag_name().name(), "then" | "else"));
            if has_branches {
                for c in elements(n) {
                    match c.tag_name().name() {
                        "then" => then = mediators(cx, c)?,
                        "else" => otherwise = mediators(cx, c)?,
                        other => return Err(cx.err(c, format!("<{other}> beside <then>/<else> in <filter>"))),
                    }
                }
            } else {
                then = mediators(cx, n)?;
            }
            Mediator::Filter { pos, condition, then, otherwise }
        }
        "payloadFactory" => {
            let format = elements(n)
                .find(|c| c.tag_name().name() == "format")
                .ok_or_else(|| cx.err(n, "a <payloadFactory> needs a <format>"))?;
            let json = n.attribute("media-type").unwrap_or("json") == "json";
            Mediator::PayloadFactory {
                pos,
                format: cx.template(format, &text_of(format))?,
                json,
            }
        }
        "sequence" => Mediator::CallSequence {
            pos,
            key: cx.required_attr(n, "key")?.to_string(),
        },
        "respond" => Mediator::Respond { pos },
        "store" => Mediator::Store {
            pos,
            store: cx.required_attr(n, "messageStore")?.to_string(),
        },
        other => {
            return Err(cx.err(
                n,
                format!("unknown element <{other}> (supported: {}.<operation>, variable, property, log, filter, payloadFactory, sequence key=, store messageStore=, respond)", cx.descriptor.name),
            ))
        }
    })
}
