//! WSO2 Micro Integrator-style mediation flows over the connector.

pub mod connections;
pub mod exec;
pub mod expr;
mod fault;
mod mediate;
mod message;
pub mod parse;
pub mod queue;
pub mod redact;
mod spend;

use std::path::Path;

pub use exec::{Fault, FaultKind, Integrator, Message};
pub use fault::transport_kind;
pub use parse::{FlowError, Project};

use crate::descriptor::Descriptor;

/// Reads and checks flow files; any error names file, line and element.
pub fn load_project(files: &[&Path], descriptor: &Descriptor) -> Result<Project, FlowError> {
    let mut project = Project::default();
    for f in files {
        let name = f.display().to_string();
        let xml = std::fs::read_to_string(f).map_err(|e| FlowError {
            pos: parse::Pos {
                file: name.as_str().into(),
                line: 0,
                element: "?".into(),
            },
            message: format!("cannot read the file: {e}"),
        })?;
        parse::parse_into(&mut project, &name, &xml, descriptor)?;
    }
    parse::check_references(&project)?;
    Ok(project)
}

/// Reads and checks one flow given as text (`name` stands for its file in
/// errors): what `check` does for a file, for callers holding the text.
pub fn check_source(name: &str, xml: &str, descriptor: &Descriptor) -> Result<Project, FlowError> {
    let mut project = Project::default();
    parse::parse_into(&mut project, name, xml, descriptor)?;
    parse::check_references(&project)?;
    Ok(project)
}
