//! `<messageStore>` and `<messageProcessor>`, Synapse's guaranteed
//! delivery: a flow `<store>`s a message, a processor takes the store's
//! messages in order and runs a sequence for each (WSO2's sampling
//! processor, with the forwarding processor's delivery parameters).

use std::time::Duration;

use super::{elements, text_of, Ctx, FlowError, Node, Pos, Project};

/// `<messageStore name="posts"/>`: a queue in the runtime's durable store
/// (the token store's SQLite file or Redis).
#[derive(Debug, Clone)]
pub struct MessageStoreDef {
    pub name: String,
    pub pos: Pos,
}

/// `<messageProcessor name=.. messageStore=..>` and its parameters.
#[derive(Debug, Clone)]
pub struct ProcessorDef {
    pub name: String,
    pub pos: Pos,
    pub store: String,
    /// The sequence run for each message (`sequence`).
    pub sequence: String,
    /// How often an idle processor looks for work, and its first backoff
    /// (`interval`, ms; default 1000).
    pub interval: Duration,
    /// Deliveries tried before giving up (`max.delivery.attempts`, default 4).
    pub max_attempts: u32,
    /// After the last attempt: to the dead letters (`max.delivery.drop`
    /// `Enabled`), or pause the processor with the message kept at the head
    /// (`Disabled`, the default, as WSO2's deactivation).
    pub drop_after_max: bool,
    /// `is.active` (default true): false starts it paused.
    pub active: bool,
    /// The longest a message waits for a rate limit's or a budget's reset
    /// before it is tried again anyway (`max.wait`, ms; default one day).
    pub max_wait: Duration,
}

const PARAMETERS: &[&str] = &[
    "sequence",
    "interval",
    "max.delivery.attempts",
    "max.delivery.drop",
    "is.active",
    "max.wait",
];

fn number(cx: &Ctx, n: Node, name: &str, v: &str, min: u64, max: u64) -> Result<u64, FlowError> {
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|x| (min..=max).contains(x))
        .ok_or_else(|| {
            cx.err(
                n,
                format!("`{name}` must be a whole number from {min} to {max}, not `{v}`"),
            )
        })
}

pub(super) fn message_store(cx: &Ctx, project: &mut Project, n: Node) -> Result<(), FlowError> {
    let name = cx.required_attr(n, "name")?.to_string();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || "_-.".contains(c))
    {
        return Err(cx.err(
            n,
            "a message store's `name` is letters, digits, `_`, `-` and `.`",
        ));
    }
    if project.message_stores.contains_key(&name) {
        return Err(cx.err(n, format!("message store `{name}` is defined twice")));
    }
    project.message_stores.insert(
        name.clone(),
        MessageStoreDef {
            name,
            pos: cx.pos(n),
        },
    );
    Ok(())
}

pub(super) fn message_processor(cx: &Ctx, project: &mut Project, n: Node) -> Result<(), FlowError> {
    let name = cx.required_attr(n, "name")?.to_string();
    let store = cx.required_attr(n, "messageStore")?.to_string();
    let mut p = ProcessorDef {
        name,
        pos: cx.pos(n),
        store,
        sequence: String::new(),
        interval: Duration::from_millis(1000),
        max_attempts: 4,
        drop_after_max: false,
        active: true,
        max_wait: Duration::from_secs(86_400),
    };
    for c in elements(n) {
        if c.tag_name().name() != "parameter" {
            return Err(cx.err(c, "a <messageProcessor> holds <parameter name=..> elements"));
        }
        let key = cx.required_attr(c, "name")?;
        let v = text_of(c);
        match key {
            "sequence" => p.sequence = v,
            "interval" => {
                p.interval = Duration::from_millis(number(cx, c, key, &v, 10, 3_600_000)?)
            }
            "max.delivery.attempts" => p.max_attempts = number(cx, c, key, &v, 1, 1000)? as u32,
            "max.wait" => {
                p.max_wait = Duration::from_millis(number(cx, c, key, &v, 0, 31 * 86_400_000)?)
            }
            "max.delivery.drop" | "is.active" => {
                let on = match v.to_ascii_lowercase().as_str() {
                    "enabled" | "true" => true,
                    "disabled" | "false" => false,
                    _ => {
                        return Err(cx.err(
                            c,
                            format!("`{key}` is Enabled or Disabled (true or false), not `{v}`"),
                        ))
                    }
                };
                if key == "is.active" {
                    p.active = on;
                } else {
                    p.drop_after_max = on;
                }
            }
            other => {
                return Err(cx.err(
                    c,
                    format!(
                        "`{other}` is not a message processor parameter (known: {})",
                        PARAMETERS.join(", ")
                    ),
                ))
            }
        }
    }
    if p.sequence.is_empty() {
        return Err(cx.err(
            n,
            "a message processor needs its `sequence` parameter: the sequence run for each message",
        ));
    }
    if project.processors.iter().any(|q| q.name == p.name) {
        return Err(cx.err(
            n,
            format!("message processor `{}` is defined twice", p.name),
        ));
    }
    if let Some(other) = project.processors.iter().find(|q| q.store == p.store) {
        return Err(cx.err(
            n,
            format!(
                "message store `{}` already has processor `{}`: one per store keeps its order",
                p.store, other.name
            ),
        ));
    }
    project.processors.push(p);
    Ok(())
}

/// The processors' stores and sequences exist.
pub(super) fn check_processors(project: &Project) -> Result<(), FlowError> {
    for p in &project.processors {
        let fail = |message: String| {
            Err(FlowError {
                pos: p.pos.clone(),
                message,
            })
        };
        if !project.message_stores.contains_key(&p.store) {
            return fail(format!(
                "messageStore `{}` names no <messageStore>",
                p.store
            ));
        }
        if !project.sequences.contains_key(&p.sequence) {
            return fail(format!("its `sequence` names no sequence `{}`", p.sequence));
        }
    }
    Ok(())
}
