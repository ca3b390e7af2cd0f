//! Spin's application manifest (`spin_manifest_version = 2`) as Spin reads
//! it: a copy of the serde types Spin deserializes `spin.toml` into, so a
//! field Spin does not know, a misspelt one or a value of the wrong shape
//! fails here as it would fail `spin up`. Spin publishes its schema only as
//! generated JSON (schemas.spinframework.dev), out of this machine's reach.
//!
//! Copied from github.com/spinframework/spin at 94a8fc8a (Spin 4.x):
//! `crates/manifest/src/schema/v2.rs` (`AppManifest`, `AppDetails`,
//! `Trigger`, `Component`, `ComponentDependency`), `schema/common.rs`
//! (`ComponentSource`), `crates/http/src/config.rs` (`HttpTriggerConfig`).
//! Field names, `deny_unknown_fields` and the untagged variants are kept;
//! values Spin checks further (ids, hosts, build settings) are kept as TOML.
//! Fields Spin 4 added and Spin 3 lacks (a dependency's
//! `inherit_configuration`) are not copied: a manifest that parses here
//! parses on both.

use std::collections::BTreeMap;

use serde::Deserialize;

type Map<T> = BTreeMap<String, T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppManifest {
    pub spin_manifest_version: u32,
    pub application: AppDetails,
    #[serde(default)]
    pub variables: Map<toml::Table>,
    #[serde(rename = "trigger")]
    pub triggers: Map<Vec<Trigger>>,
    #[serde(rename = "component", default)]
    pub components: Map<Component>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppDetails {
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub targets: Vec<toml::Value>,
    #[serde(rename = "trigger", default)]
    pub trigger_global_configs: Map<toml::Table>,
    #[serde(default)]
    pub tool: Map<toml::Table>,
}

/// A trigger: its id, component, and the trigger type's own settings
/// (for `http`, [`HttpTriggerConfig`]).
#[derive(Debug, Deserialize)]
pub struct Trigger {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub components: Map<toml::Value>,
    #[serde(default)]
    pub dependencies: Map<toml::Value>,
    #[serde(flatten)]
    pub config: toml::Table,
}

/// `[[trigger.http]]`'s settings, with the `component` Spin lifts out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTriggerConfig {
    pub component: Option<String>,
    pub static_response: Option<toml::Table>,
    pub route: HttpRoute,
    #[serde(default)]
    pub executor: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum HttpRoute {
    Route(String),
    Private { private: bool },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub source: ComponentSource,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub variables: Map<String>,
    #[serde(default)]
    pub environment: Map<String>,
    #[serde(default)]
    pub files: Vec<toml::Value>,
    #[serde(default)]
    pub exclude_files: Vec<String>,
    #[serde(default)]
    pub allowed_http_hosts: Vec<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default, alias = "key-value-stores")]
    pub key_value_stores: Vec<String>,
    #[serde(default, alias = "sqlite-databases")]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub ai_models: Vec<String>,
    #[serde(default)]
    pub targets: Option<Vec<toml::Value>>,
    #[serde(default)]
    pub build: Option<toml::Table>,
    #[serde(default)]
    pub tool: Map<toml::Table>,
    #[serde(default)]
    pub dependencies_inherit_configuration: Option<bool>,
    #[serde(default)]
    pub dependencies: Map<ComponentDependency>,
    #[serde(default)]
    pub profile: Map<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, untagged)]
pub enum ComponentSource {
    Local(String),
    Remote {
        url: String,
        digest: String,
    },
    Registry {
        registry: Option<String>,
        package: String,
        version: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum ComponentDependency {
    Version(String),
    Package {
        version: String,
        registry: Option<String>,
        package: Option<String>,
        export: Option<String>,
    },
    Local {
        path: std::path::PathBuf,
        export: Option<String>,
    },
    Http {
        url: String,
        digest: String,
        export: Option<String>,
    },
    AppComponent {
        component: String,
        export: Option<String>,
    },
}

/// `text` read as Spin reads a manifest, with each HTTP trigger's settings.
pub fn parse(text: &str) -> Result<(AppManifest, Vec<HttpTriggerConfig>), String> {
    let manifest: AppManifest = toml::from_str(text).map_err(|e| e.to_string())?;
    if manifest.spin_manifest_version != 2 {
        return Err(format!(
            "spin_manifest_version {} (Spin reads 2)",
            manifest.spin_manifest_version
        ));
    }
    let mut http = Vec::new();
    for trigger in manifest.triggers.get("http").into_iter().flatten() {
        let config: HttpTriggerConfig = toml::Value::Table(trigger.config.clone())
            .try_into()
            .map_err(|e: toml::de::Error| format!("trigger.http: {e}"))?;
        http.push(config);
    }
    Ok((manifest, http))
}
