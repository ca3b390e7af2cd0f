//! Mediation-flow XML (the Synapse / Micro Integrator subset) into a checked
//! tree. Every error names the file, the line and the element, and all of
//! them come before anything runs.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::expr::environment::Reference;
use super::expr::Template;
use crate::descriptor::Descriptor;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: u32,
    pub element: String,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: <{}>", self.file, self.line, self.element)
    }
}

/// A malformed flow.
#[derive(Debug, Clone)]
pub struct FlowError {
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl std::error::Error for FlowError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarType {
    String,
    Integer,
    Double,
    Boolean,
    Json,
    Auto,
}

/// A connector operation in a flow.
#[derive(Debug, Clone)]
pub struct OperationCall {
    pub pos: Pos,
    pub operation: String,
    pub config_key: Option<String>,
    pub params: Vec<(String, Template)>,
    pub response_variable: Option<String>,
    pub overwrite_body: bool,
}

/// Where a `<property>` goes: the message's own properties (`default`,
/// Synapse's `synapse`), the transport (a response header under `serve`),
/// or Axis2's (`HTTP_SC`, read by `serve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyScope {
    Default,
    Transport,
    Axis2,
}

impl PropertyScope {
    pub fn parse(s: &str) -> Option<PropertyScope> {
        match s {
            "default" | "synapse" => Some(PropertyScope::Default),
            "transport" => Some(PropertyScope::Transport),
            "axis2" => Some(PropertyScope::Axis2),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Mediator {
    /// `<twitter.init>` inline: (re)configures its connection and makes it current.
    Init {
        pos: Pos,
        params: Vec<(String, Template)>,
    },
    /// `<twitter.createTweet configKey=..>` and the other operations.
    Operation(OperationCall),
    Variable {
        pos: Pos,
        name: String,
        value: Option<Template>,
        var_type: VarType,
        remove: bool,
    },
    Property {
        pos: Pos,
        name: String,
        value: Option<Template>,
        scope: PropertyScope,
        remove: bool,
    },
    Log {
        pos: Pos,
        category: String,
        full: bool,
        message: Option<Template>,
        props: Vec<(String, Template)>,
    },
    Filter {
        pos: Pos,
        condition: Condition,
        then: Vec<Mediator>,
        otherwise: Vec<Mediator>,
    },
    PayloadFactory {
        pos: Pos,
        format: Template,
        json: bool,
    },
    CallSequence {
        pos: Pos,
        key: String,
    },
    /// `<store messageStore=..>`: the message into a message store.
    Store {
        pos: Pos,
        store: String,
    },
    Respond {
        pos: Pos,
    },
}

impl Mediator {
    /// Where it is in its flow file.
    pub fn pos(&self) -> &Pos {
        match self {
            Mediator::Init { pos, .. }
            | Mediator::Operation(OperationCall { pos, .. })
            | Mediator::Variable { pos, .. }
            | Mediator::Property { pos, .. }
            | Mediator::Log { pos, .. }
            | Mediator::Filter { pos, .. }
            | Mediator::PayloadFactory { pos, .. }
            | Mediator::CallSequence { pos, .. }
            | Mediator::Store { pos, .. }
            | Mediator::Respond { pos, .. } => pos,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Condition {
    Expr(Template),
    Regex {
        source: Template,
        regex: regex::Regex,
    },
}

#[derive(Debug, Clone)]
pub struct Sequence {
    pub name: String,
    pub pos: Pos,
    pub on_error: Option<String>,
    pub body: Vec<Mediator>,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub pos: Pos,
    pub methods: Vec<String>,
    pub uri_template: String,
    pub in_sequence: Sequence,
    pub fault_sequence: Option<Sequence>,
}

#[derive(Debug, Clone)]
pub struct Api {
    pub name: String,
    pub context: String,
    pub resources: Vec<Resource>,
}

#[derive(Debug, Clone)]
pub struct LocalEntry {
    pub key: String,
    pub pos: Pos,
    pub init: Vec<(String, Template)>,
}

/// Everything one or more flow files define.
#[derive(Debug, Clone, Default)]
pub struct Project {
    pub sequences: HashMap<String, Sequence>,
    pub local_entries: HashMap<String, LocalEntry>,
    pub apis: Vec<Api>,
    /// The sequence `run` starts with: the first top-level one.
    pub main: Option<String>,
    /// Every environment variable and secret the flows read, in order.
    pub environment: Vec<EnvironmentUse>,
    /// `<messageStore>`s by name, and the processors that empty them.
    pub message_stores: HashMap<String, MessageStoreDef>,
    pub processors: Vec<ProcessorDef>,
}

/// An environment variable or secret a flow reads, and what happens there
/// when it is not set (`integrator check` warns where the run would fail).
#[derive(Debug, Clone)]
pub struct EnvironmentUse {
    pub reference: Reference,
    pub pos: Pos,
    pub when_unset: WhenUnset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnset {
    /// Under `??` or `exists`: the flow said it is optional.
    Fine,
    /// A `<twitter.init>` parameter that is only this reference: left out,
    /// and the connector's default applies.
    LeftOut,
    /// The same for a parameter init requires: the run fails, unless the
    /// sandbox fills it in.
    FailsUnlessSandbox,
    /// The run fails here, naming it.
    Fails,
}

struct Ctx<'a> {
    file: Arc<str>,
    doc: &'a roxmltree::Document<'a>,
    descriptor: &'a Descriptor,
    /// What the templates parsed so far read from the environment.
    environment: std::cell::RefCell<Vec<EnvironmentUse>>,
}

type Node<'a, 'i> = roxmltree::Node<'a, 'i>;

impl Ctx<'_> {
    fn pos(&self, n: Node) -> Pos {
        Pos {
            file: self.file.clone(),
            line: self.doc.text_pos_at(n.range().start).row,
            element: n.tag_name().name().to_string(),
        }
    }

    fn err(&self, n: Node, message: impl Into<String>) -> FlowError {
        FlowError {
            pos: self.pos(n),
            message: message.into(),
        }
    }

    fn template(&self, n: Node, src: &str) -> Result<Template, FlowError> {
        self.parameter(n, src, None)
    }

    /// A template; `init_parameter`: it is the value of an init parameter,
    /// which the connector requires or not.
    fn parameter(
        &self,
        n: Node,
        src: &str,
        init_parameter: Option<bool>,
    ) -> Result<Template, FlowError> {
        let t = Template::parse(src).map_err(|e| self.err(n, e))?;
        let bare = t.bare_reference().is_some();
        let pos = self.pos(n);
        self.environment
            .borrow_mut()
            .extend(t.environment_uses().into_iter().map(|u| EnvironmentUse {
                when_unset: match (u.optional, bare, init_parameter) {
                    (true, _, _) => WhenUnset::Fine,
                    (false, true, Some(false)) => WhenUnset::LeftOut,
                    (false, true, Some(true)) => WhenUnset::FailsUnlessSandbox,
                    _ => WhenUnset::Fails,
                },
                reference: u.reference,
                pos: pos.clone(),
            }));
        Ok(t)
    }

    fn required_attr<'n>(&self, n: Node<'n, '_>, name: &str) -> Result<&'n str, FlowError> {
        n.attribute(name)
            .ok_or_else(|| self.err(n, format!("the `{name}` attribute is required")))
    }
}

fn elements<'a, 'i>(n: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(|c| c.is_element())
}

/// Text content of an element (CDATA included), trimmed.
fn text_of(n: Node) -> String {
    n.children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect::<String>()
        .trim()
        .to_string()
}

mod mediator;
mod nesting;
mod queues;

use mediator::{mediator, operation_params};
use nesting::check_nesting;
pub use nesting::MAX_NESTING;
pub use queues::{MessageStoreDef, ProcessorDef};

/// Parses one flow file into `project`.
pub fn parse_into(
    project: &mut Project,
    file: &str,
    xml: &str,
    descriptor: &Descriptor,
) -> Result<(), FlowError> {
    check_nesting(xml, file)?;
    let doc = roxmltree::Document::parse(xml).map_err(|e| FlowError {
        pos: Pos {
            file: file.into(),
            line: e.pos().row,
            element: "document".into(),
        },
        message: format!("not well-formed XML: {e}"),
    })?;
    let cx = Ctx {
        file: file.into(),
        doc: &doc,
        descriptor,
        environment: Default::default(),
    };
    let root = doc.root_element();
    match root.tag_name().name() {
        "definitions" => {
            for child in elements(root) {
                top_level(&cx, project, child)?;
            }
        }
        _ => top_level(&cx, project, root)?,
    }
    project.environment.extend(cx.environment.into_inner());
    Ok(())
}

fn top_level(cx: &Ctx, project: &mut Project, n: Node) -> Result<(), FlowError> {
    match n.tag_name().name() {
        "sequence" => {
            let seq = sequence(cx, n, None)?;
            if project.sequences.contains_key(&seq.name) {
                return Err(cx.err(n, format!("sequence `{}` is defined twice", seq.name)));
            }
            project.main.get_or_insert_with(|| seq.name.clone());
            project.sequences.insert(seq.name.clone(), seq);
        }
        "localEntry" => {
            let key = cx.required_attr(n, "key")?.to_string();
            let init = elements(n)
                .find(|c| c.tag_name().name() == format!("{}.init", cx.descriptor.name))
                .ok_or_else(|| {
                    cx.err(
                        n,
                        format!(
                            "a connection local entry holds a <{}.init>",
                            cx.descriptor.name
                        ),
                    )
                })?;
            let params = operation_params(cx, init, "init")?.0;
            project.local_entries.insert(
                key.clone(),
                LocalEntry {
                    key,
                    pos: cx.pos(n),
                    init: params,
                },
            );
        }
        "api" => {
            let name = cx.required_attr(n, "name")?.to_string();
            let context = cx.required_attr(n, "context")?.to_string();
            if !context.starts_with('/') {
                return Err(cx.err(n, "`context` must start with `/`"));
            }
            let mut resources = Vec::new();
            for r in elements(n) {
                if r.tag_name().name() != "resource" {
                    return Err(cx.err(r, "an <api> holds <resource> elements"));
                }
                resources.push(resource(cx, r, &name)?);
            }
            project.apis.push(Api {
                name,
                context: context.trim_end_matches('/').to_string(),
                resources,
            });
        }
        "messageStore" => queues::message_store(cx, project, n)?,
        "messageProcessor" => queues::message_processor(cx, project, n)?,
        other => {
            return Err(cx.err(
                n,
                format!(
                    "unknown top-level element <{other}> (expected sequence, localEntry, api, messageStore or messageProcessor)"
                ),
            ))
        }
    }
    Ok(())
}

fn resource(cx: &Ctx, n: Node, api: &str) -> Result<Resource, FlowError> {
    let methods: Vec<String> = n
        .attribute("methods")
        .unwrap_or("GET")
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let uri_template = n
        .attribute("uri-template")
        .or_else(|| n.attribute("url-mapping"))
        .unwrap_or("/")
        .to_string();
    let mut in_sequence = None;
    let mut fault_sequence = None;
    for c in elements(n) {
        match c.tag_name().name() {
            "inSequence" => {
                in_sequence = Some(sequence(cx, c, Some(format!("{api}{uri_template}")))?)
            }
            "faultSequence" => {
                fault_sequence = Some(sequence(cx, c, Some(format!("{api}{uri_template}:fault")))?)
            }
            "outSequence" => {}
            other => {
                return Err(cx.err(
                    c,
                    format!("unknown element <{other}> in <resource> (inSequence, faultSequence)"),
                ))
            }
        }
    }
    Ok(Resource {
        pos: cx.pos(n),
        methods,
        in_sequence: in_sequence.ok_or_else(|| cx.err(n, "a <resource> needs an <inSequence>"))?,
        fault_sequence,
        uri_template,
    })
}

fn sequence(cx: &Ctx, n: Node, default_name: Option<String>) -> Result<Sequence, FlowError> {
    let name = match (n.attribute("name"), default_name) {
        (Some(name), _) => name.to_string(),
        (None, Some(d)) => d,
        (None, None) => return Err(cx.err(n, "the `name` attribute is required")),
    };
    Ok(Sequence {
        name,
        pos: cx.pos(n),
        on_error: n.attribute("onError").map(str::to_string),
        body: mediators(cx, n)?,
    })
}

fn mediators(cx: &Ctx, parent: Node) -> Result<Vec<Mediator>, FlowError> {
    elements(parent).map(|n| mediator(cx, n)).collect()
}

fn bool_attr(cx: &Ctx, n: Node, v: &str) -> Result<bool, FlowError> {
    match v.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(cx.err(n, format!("`{v}` is not true or false"))),
    }
}

/// Cross-references: `configKey`, `onError` and `<sequence key>` name things that exist.
pub fn check_references(project: &Project) -> Result<(), FlowError> {
    fn walk(project: &Project, body: &[Mediator]) -> Result<(), FlowError> {
        for m in body {
            match m {
                Mediator::Operation(OperationCall {
                    pos,
                    config_key: Some(k),
                    ..
                }) if !project.local_entries.contains_key(k) => {
                    return Err(FlowError {
                        pos: pos.clone(),
                        message: format!("configKey `{k}` names no <localEntry>"),
                    });
                }
                Mediator::CallSequence { pos, key } if !project.sequences.contains_key(key) => {
                    return Err(FlowError {
                        pos: pos.clone(),
                        message: format!("no sequence named `{key}`"),
                    });
                }
                Mediator::Store { pos, store } if !project.message_stores.contains_key(store) => {
                    return Err(FlowError {
                        pos: pos.clone(),
                        message: format!("messageStore `{store}` names no <messageStore>"),
                    });
                }
                Mediator::Filter {
                    then, otherwise, ..
                } => {
                    walk(project, then)?;
                    walk(project, otherwise)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
    let mut all: Vec<&Sequence> = project.sequences.values().collect();
    for api in &project.apis {
        for r in &api.resources {
            all.push(&r.in_sequence);
            all.extend(r.fault_sequence.as_ref());
        }
    }
    for s in all {
        if let Some(e) = &s.on_error {
            if !project.sequences.contains_key(e) {
                return Err(FlowError {
                    pos: s.pos.clone(),
                    message: format!("onError names no sequence `{e}`"),
                });
            }
        }
        walk(project, &s.body)?;
    }
    queues::check_processors(project)
}
