//! `connector.xml`: the WSO2-style descriptor, read from a source tree or a
//! packaged `twitter-connector-<version>.zip`, and checked against the
//! component it points at.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    /// WSO2 4.x's name for it, where X's differs (`user_id` for `id`):
    /// flows may use either.
    pub alias: Option<String>,
    pub required: bool,
    pub description: String,
    /// Who takes the parameter: the component, or the runtime itself (the
    /// connection's instance pool), which does not pass it on.
    pub handled_by: Handler,
}

impl Parameter {
    /// Whether a flow's `name` means this parameter.
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.alias.as_deref() == Some(name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Component,
    Runtime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub name: String,
    /// The function of the component's connector interface it maps to.
    pub export: String,
    pub component: String,
    pub description: String,
    pub parameters: Vec<Parameter>,
}

#[derive(Debug, Clone)]
pub struct Descriptor {
    /// `twitter`: flows call `<twitter.createTweet>`.
    pub name: String,
    pub version: String,
    /// The exported interface, e.g. `wso2:twitter/connector@0.1.0`.
    pub interface: String,
    /// The generic entry point the flows call through.
    pub entry: String,
    pub operations: Vec<Operation>,
    /// Where it was read from, for messages.
    pub source: String,
}

impl Descriptor {
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.name == name)
    }
}

/// A descriptor and its component's bytes.
pub struct Package {
    pub descriptor: Descriptor,
    pub wasm: Vec<u8>,
}

fn attr<'a>(node: roxmltree::Node<'a, '_>, name: &str, what: &str) -> anyhow::Result<&'a str> {
    node.attribute(name).ok_or_else(|| {
        anyhow!(
            "<{}> has no `{name}` attribute ({what})",
            node.tag_name().name()
        )
    })
}

/// Parses the descriptor text; returns it and the `wasm` path it names.
pub fn parse(xml: &str, source: &str) -> anyhow::Result<(Descriptor, String)> {
    let doc = roxmltree::Document::parse(xml)
        .with_context(|| format!("{source}: not well-formed XML"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "connector" {
        bail!("{source}: the root element must be <connector>");
    }
    let top = root
        .children()
        .find(|n| n.has_tag_name("component"))
        .ok_or_else(|| anyhow!("{source}: <connector> has no <component>"))?;
    let module = top
        .children()
        .find(|n| n.has_tag_name("module"))
        .ok_or_else(|| anyhow!("{source}: <component> has no <module wasm=...>"))?;
    let mut operations = Vec::new();
    for comp in root
        .children()
        .filter(|n| n.has_tag_name("components"))
        .flat_map(|c| c.children().filter(|n| n.has_tag_name("component")))
    {
        let comp_name = attr(comp, "name", "component name")?;
        for op in comp.children().filter(|n| n.has_tag_name("operation")) {
            let name = attr(op, "name", "operation name")?.to_string();
            if operations.iter().any(|o: &Operation| o.name == name) {
                bail!("{source}: operation {name} is declared twice");
            }
            let parameters = op
                .children()
                .filter(|n| n.has_tag_name("parameter"))
                .map(|p| {
                    let name = attr(p, "name", "parameter name")?.to_string();
                    let handled_by = match p.attribute("handledBy") {
                        None | Some("component") => Handler::Component,
                        Some("runtime") => Handler::Runtime,
                        Some(other) => bail!(
                            "{source}: parameter {name}: handledBy must be `component` or `runtime`, not `{other}`"
                        ),
                    };
                    Ok(Parameter {
                        required: p.attribute("required") == Some("true"),
                        description: p.attribute("description").unwrap_or("").to_string(),
                        alias: p.attribute("alias").map(str::to_string),
                        handled_by,
                        name,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            operations.push(Operation {
                export: attr(op, "export", "the component export it maps to")?.to_string(),
                component: comp_name.to_string(),
                description: op.attribute("description").unwrap_or("").to_string(),
                name,
                parameters,
            });
        }
    }
    if operations.is_empty() {
        bail!("{source}: no operations declared");
    }
    let descriptor = Descriptor {
        name: attr(top, "name", "connector name")?.to_string(),
        version: top.attribute("version").unwrap_or("0.0.0").to_string(),
        interface: attr(module, "interface", "exported interface")?.to_string(),
        entry: module.attribute("entry").unwrap_or("invoke").to_string(),
        operations,
        source: source.to_string(),
    };
    Ok((
        descriptor,
        attr(module, "wasm", "component path")?.to_string(),
    ))
}

/// Reads a connector from a zip, a directory holding `connector.xml`, or the
/// `connector.xml` file itself.
pub fn load(path: &Path) -> anyhow::Result<Package> {
    if path.extension().is_some_and(|e| e == "zip") {
        return load_zip(path);
    }
    let xml_path = if path.is_dir() {
        path.join("connector.xml")
    } else {
        path.to_path_buf()
    };
    let xml = std::fs::read_to_string(&xml_path)
        .with_context(|| format!("reading {}", xml_path.display()))?;
    let source = xml_path.display().to_string();
    let (descriptor, wasm_rel) = parse(&xml, &source)?;
    let base = xml_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let wasm_path = base.join(&wasm_rel);
    let wasm = std::fs::read(&wasm_path).with_context(|| {
        format!(
            "{source} points at {}, which cannot be read (run ./build.sh?)",
            wasm_path.display()
        )
    })?;
    Ok(Package { descriptor, wasm })
}

fn load_zip(path: &Path) -> anyhow::Result<Package> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).with_context(|| format!("{} is not a zip", path.display()))?;
    let mut read = |name: &str| -> anyhow::Result<Vec<u8>> {
        let mut entry = archive
            .by_name(name)
            .with_context(|| format!("{} has no {name}", path.display()))?;
        let mut out = Vec::new();
        // The component is well under this; a bigger entry is not ours.
        (&mut entry).take(64 << 20).read_to_end(&mut out)?;
        Ok(out)
    };
    let xml = String::from_utf8(read("connector.xml")?).context("connector.xml is not UTF-8")?;
    let source = format!("{}!connector.xml", path.display());
    let (descriptor, wasm_rel) = parse(&xml, &source)?;
    let wasm = read(&wasm_rel)?;
    Ok(Package { descriptor, wasm })
}

/// The default connector location: a packaged zip in `dist/`, else the
/// source tree's `connector.xml`, searched from the working directory up.
pub fn locate_default() -> Option<PathBuf> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        let dist = dir.join("dist");
        if let Ok(entries) = std::fs::read_dir(&dist) {
            let mut zips: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("twitter-connector-") && n.ends_with(".zip"))
                })
                .collect();
            zips.sort();
            if let Some(z) = zips.pop() {
                return Some(z);
            }
        }
        if dir.join("connector.xml").exists() {
            return Some(dir.join("connector.xml"));
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// Rejects a descriptor whose operations the component does not export.
pub fn check_against(descriptor: &Descriptor, exports: &[String]) -> anyhow::Result<()> {
    let mut missing: Vec<String> = descriptor
        .operations
        .iter()
        .filter(|o| !exports.contains(&o.export))
        .map(|o| format!("{} (export `{}`)", o.name, o.export))
        .collect();
    if !exports.contains(&descriptor.entry) {
        missing.push(format!("the generic entry point `{}`", descriptor.entry));
    }
    // The runtime takes only parameters it knows how to handle.
    for op in &descriptor.operations {
        for p in op
            .parameters
            .iter()
            .filter(|p| p.handled_by == Handler::Runtime)
        {
            let runtime_takes = match op.name.as_str() {
                "init" => crate::connections::POOL_PARAMETERS
                    .iter()
                    .chain(crate::connections::BUDGET_PARAMETERS)
                    .any(|n| *n == p.name),
                _ => crate::media_file::PARAMETERS.contains(&(op.name.as_str(), p.name.as_str())),
            };
            if !runtime_takes {
                bail!(
                    "{}: {}.{} is marked handledBy=\"runtime\", but the runtime handles only uploadMedia's media_file and the init parameters {}",
                    descriptor.source,
                    op.name,
                    p.name,
                    [
                        crate::connections::POOL_PARAMETERS,
                        crate::connections::BUDGET_PARAMETERS
                    ]
                    .concat()
                    .join(", ")
                );
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        bail!(
            "{}: the component does not export what the descriptor declares: {}",
            descriptor.source,
            missing.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<connector><component name="twitter" version="1.2.3">
        <module wasm="x.wasm" interface="wso2:twitter/connector@0.1.0"/></component>
        <components><component name="c"><operation name="getMe" export="get-me">
        <parameter name="user_fields" required="false"/></operation>
        <operation name="deleteTweet" export="delete-tweet"><parameter name="id" required="true"/></operation>
        </component></components></connector>"#;

    #[test]
    fn parses_operations_and_parameters() {
        let (d, wasm) = parse(XML, "t").unwrap();
        assert_eq!(wasm, "x.wasm");
        assert_eq!(d.name, "twitter");
        assert_eq!(d.version, "1.2.3");
        assert_eq!(d.entry, "invoke");
        let del = d.operation("deleteTweet").unwrap();
        assert_eq!(del.export, "delete-tweet");
        assert!(del.parameters[0].required);
    }

    #[test]
    fn mismatch_with_the_component_is_refused() {
        let (d, _) = parse(XML, "t").unwrap();
        let exports = vec!["get-me".to_string(), "invoke".to_string()];
        let e = check_against(&d, &exports).unwrap_err().to_string();
        assert!(e.contains("deleteTweet"), "{e}");
        let all = vec!["get-me".into(), "delete-tweet".into(), "invoke".into()];
        assert!(check_against(&d, &all).is_ok());
    }
}
