//! connector.xml is the catalog's: every operation the component takes,
//! with its parameters (X's names, WSO2's as `alias`), the scopes it needs
//! and its endpoint, plus the spending-budget and connection-pool ones the
//! runtime takes for itself. Run with `BLESS=1` to rewrite the file from the
//! catalog after changing it.

use integrator::descriptor::Handler;
use twitter_connector::ops::{self, At};

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!--
  The connector descriptor, in the WSO2 connector layout (connector →
  components → operations), plus what the runtime needs to bind flows to the
  WebAssembly component: each operation's parameters and the component export
  it maps to, and where the component is.

  Generated from the component's operation catalog (src/ops/catalog.rs) by
  crates/e2e/tests/descriptor.rs (BLESS=1 rewrites it); `alias` is the WSO2
  4.x name of a parameter where X's differs. `wasm` is relative to this
  file; build.sh rewrites it to the zip's layout.
-->
"#;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The catalog's operations as connector.xml components.
fn render_catalog() -> String {
    let mut out = String::new();
    let mut areas: Vec<ops::Area> = Vec::new();
    for op in ops::catalog::OPERATIONS {
        if !areas.contains(&op.area) {
            areas.push(op.area);
        }
    }
    for area in areas {
        out.push_str(&format!(
            "        <component name=\"{}\">\n",
            area.component()
        ));
        for op in ops::catalog::OPERATIONS.iter().filter(|o| o.area == area) {
            out.push_str(&format!(
                "            <operation name=\"{}\" export=\"{}\" scopes=\"{}\" description=\"{} ({} {})\">\n",
                op.name,
                ops::doc::export(op.name),
                op.scopes.join(" "),
                esc(op.description),
                op.method.as_str(),
                op.path
            ));
            for p in op.params {
                let alias = p
                    .alias
                    .map(|a| format!(" alias=\"{a}\""))
                    .unwrap_or_default();
                let place = match p.at {
                    At::Path => "in the path",
                    At::Query => "query",
                    At::Body => "body",
                    At::Local => "taken by the connector",
                };
                let wire = if p.at == At::Query && p.wire != p.name {
                    format!(" ({place} {})", p.wire)
                } else {
                    format!(" ({place})")
                };
                out.push_str(&format!(
                    "                <parameter name=\"{}\"{alias} required=\"{}\" description=\"{}{}\"/>\n",
                    p.name,
                    p.required,
                    esc(&ops::doc::rule(p)),
                    esc(&wire)
                ));
            }
            if op.name == "uploadMedia" {
                out.push_str("                <parameter name=\"media_file\" required=\"false\" handledBy=\"runtime\" description=\"A file in the operator's media directory (integrator --media-dir), read by the runtime instead of media\"/>\n");
            }
            out.push_str("            </operation>\n");
        }
        out.push_str("        </component>\n");
    }
    out
}

fn connector_xml() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../connector.xml"))
}

/// The hand-written part (init and the three typed operations) stays as
/// written; the catalog's components after it are generated.
const MARK: &str = "        <!-- Generated from src/ops/catalog.rs: do not edit below. -->\n";

#[test]
fn connector_xml_is_the_catalog_s() {
    let path = connector_xml();
    let xml = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = xml
        .split_once(MARK)
        .expect("connector.xml has the generated part's mark");
    let tail_start = rest.find("    </components>").expect("</components>");
    let generated = render_catalog();
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(
            &path,
            format!("{head}{MARK}{generated}{}", &rest[tail_start..]),
        )
        .unwrap();
        return;
    }
    assert!(xml.starts_with(HEAD), "connector.xml's header changed");
    assert_eq!(
        &rest[..tail_start],
        generated,
        "connector.xml is not the catalog's: run BLESS=1 cargo test -p e2e --test descriptor"
    );
}

#[test]
fn descriptor_parameters_match_the_component() {
    let xml = std::fs::read_to_string(connector_xml()).unwrap();
    let (descriptor, _) = integrator::descriptor::parse(&xml, "connector.xml").unwrap();
    let operations = twitter_connector::wso2::operations();
    assert_eq!(descriptor.operations.len(), operations.len());
    assert_eq!(
        operations.len(),
        37,
        "init, WSO2's 35 operations, uploadMedia"
    );
    for (name, params) in &operations {
        let op = descriptor
            .operation(name)
            .unwrap_or_else(|| panic!("{name} missing from connector.xml"));
        let declared: Vec<&str> = op
            .parameters
            .iter()
            .filter(|p| p.handled_by == Handler::Component)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(&declared, params, "{name}");
        let runtime: Vec<&str> = op
            .parameters
            .iter()
            .filter(|p| p.handled_by == Handler::Runtime)
            .map(|p| p.name.as_str())
            .collect();
        let expected: Vec<&str> = match *name {
            "init" => [
                integrator::connections::BUDGET_PARAMETERS,
                integrator::connections::POOL_PARAMETERS,
            ]
            .concat(),
            "uploadMedia" => vec!["media_file"],
            _ => Vec::new(),
        };
        assert_eq!(runtime, expected, "{name}");
    }
    // The aliases are WSO2's names and take the place of X's in a flow.
    let like = descriptor.operation("likeTweet").unwrap();
    assert!(like.parameters[0].answers_to("user_id"));
    assert!(like.parameters[0].answers_to("id"));
}

/// The operations page's table, from the catalog.
fn render_table() -> String {
    let mut out = String::from(
        "| operation | endpoint | scopes | billed as | parameters |\n|---|---|---|---|---|\n",
    );
    for op in ops::catalog::OPERATIONS {
        let params: Vec<String> = op
            .params
            .iter()
            .map(|p| {
                let alias = p
                    .alias
                    .map(|a| format!(" (WSO2: `{a}`)"))
                    .unwrap_or_default();
                let required = if p.required { ", required" } else { "" };
                let wire = if p.at == At::Query && p.wire != p.name {
                    format!(", sent as `{}`", p.wire)
                } else {
                    String::new()
                };
                format!(
                    "`{}`{alias}: {}{wire}{required}",
                    p.name,
                    ops::doc::rule(p).replace('|', "\\|")
                )
            })
            .collect();
        let extra = if op.name == "uploadMedia" {
            "; `media_file`: a file in the operator's media directory, read by the runtime"
        } else {
            ""
        };
        out.push_str(&format!(
            "| `{}` | `{} {}` | {} | {} | {}{extra} |\n",
            op.name,
            op.method.as_str(),
            op.path,
            op.scopes
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(" "),
            op.unit.label(),
            params.join("; ")
        ));
    }
    out
}

#[test]
fn the_operations_page_lists_the_catalog() {
    const START: &str = "<!-- operations table: generated, do not edit -->\n";
    const END: &str = "<!-- end of operations table -->";
    let path = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/operations.md"
    ));
    let page = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = page.split_once(START).expect("the table's start mark");
    let end = rest.find(END).expect("the table's end mark");
    let table = render_table();
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, format!("{head}{START}{table}{}", &rest[end..])).unwrap();
        return;
    }
    assert_eq!(
        &rest[..end],
        table,
        "docs/operations.md is not the catalog's: run BLESS=1 cargo test -p e2e --test descriptor"
    );
}
