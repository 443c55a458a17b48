//! A strict model of Spin's manifest v2, written from Spin's published schema: unknown fields
//! are errors everywhere except in `tool` tables and in trigger tables' type-specific settings,
//! as in Spin. Tests parse the repository's manifests with it, so a field Bourse accepts but
//! Spin would refuse cannot slip in.

use std::collections::BTreeMap;

use serde::Deserialize;

type Table = toml::Table;

/// A whole `spin.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppManifest {
    pub spin_manifest_version: u32,
    pub application: AppDetails,
    #[serde(default)]
    pub variables: BTreeMap<String, Variable>,
    #[serde(rename = "trigger", default)]
    pub triggers: BTreeMap<String, Vec<Trigger>>,
    #[serde(rename = "component", default)]
    pub components: BTreeMap<String, Component>,
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
    pub trigger_global_configs: BTreeMap<String, Table>,
    #[serde(default)]
    pub tool: BTreeMap<String, Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
}

/// A trigger: `component` plus settings specific to the trigger type.
#[derive(Debug, Deserialize)]
pub struct Trigger {
    #[serde(default)]
    pub id: Option<String>,
    pub component: Option<toml::Value>,
    #[serde(flatten)]
    pub config: Table,
}

/// The HTTP trigger's own settings (Spin refuses any other key in `[[trigger.http]]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTriggerConfig {
    pub route: toml::Value,
    #[serde(default)]
    pub executor: Option<Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub source: toml::Value,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub files: Vec<toml::Value>,
    #[serde(default)]
    pub exclude_files: Vec<String>,
    #[serde(default)]
    pub allowed_http_hosts: Vec<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub ai_models: Vec<String>,
    #[serde(default)]
    pub build: Option<BuildConfig>,
    #[serde(default)]
    pub tool: BTreeMap<String, Table>,
    #[serde(default)]
    pub dependencies_inherit_configuration: bool,
    #[serde(default)]
    pub dependencies: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub profile: BTreeMap<String, Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    pub command: toml::Value,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
}

/// Parses `text` as Spin would; the error names the offending field.
pub fn parse(text: &str) -> Result<AppManifest, String> {
    let manifest: AppManifest = toml::from_str(text).map_err(|e| e.to_string())?;
    if manifest.spin_manifest_version != 2 {
        return Err(format!(
            "spin_manifest_version {} is not 2",
            manifest.spin_manifest_version
        ));
    }
    for trigger in manifest.triggers.get("http").into_iter().flatten() {
        HttpTriggerConfig::deserialize(trigger.config.clone())
            .map_err(|e| format!("[[trigger.http]] {:?}: {e}", trigger.component))?;
        let Some(toml::Value::String(id)) = &trigger.component else {
            continue;
        };
        if !manifest.components.contains_key(id) {
            return Err(format!("[[trigger.http]] names unknown component {id:?}"));
        }
    }
    for (id, component) in &manifest.components {
        let kebab = !id.is_empty()
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !kebab {
            return Err(format!("component id {id:?} is not kebab-case"));
        }
        for name in component.variables.keys() {
            let snake = name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !snake {
                return Err(format!(
                    "[component.{id}.variables] {name:?} is not lower_snake_case"
                ));
            }
        }
    }
    Ok(manifest)
}
