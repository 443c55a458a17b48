//! What a Spin application asks of its host that Bourse does not give (`bourse check --spin`):
//! imported interfaces no capability hosts, `allowed_outbound_hosts` entries that reach
//! nothing here, and manifest fields Bourse accepts but does not act on. Reported before a
//! start instead of found at one.

use crate::capabilities::{Set, hosted};
use crate::manifest::{ComponentDecl, Manifest};

/// Everything component `name` of `manifest` (built as `wasm`) needs that Bourse, running as
/// `set`, does not host; empty when it runs here as under Spin.
pub fn unhosted(
    manifest: &Manifest,
    name: &str,
    decl: &ComponentDecl,
    wasm: &[u8],
    set: Set,
) -> Vec<String> {
    let mut out = Vec::new();
    let component = if super::componentize::is_core_module(wasm) {
        match super::componentize::componentize(wasm) {
            Ok(component) => component,
            Err(e) => {
                out.push(e.to_string());
                return out;
            }
        }
    } else {
        wasm.to_vec()
    };
    match super::contract::linked_imports(&component) {
        Ok(imports) => {
            let hosted = hosted(set);
            let composed: Vec<&str> = if set == Set::Spin {
                decl.dependencies.keys().map(String::as_str).collect()
            } else {
                Vec::new()
            };
            for import in imports {
                let key = super::contract::compatible_name(&import);
                let by_dependency = composed
                    .iter()
                    .any(|d| import.starts_with(d.split('@').next().unwrap_or(d)));
                if !hosted.contains(&key) && !by_dependency {
                    out.push(format!("imports {import}, which Bourse does not host"));
                }
            }
        }
        Err(e) => out.push(format!("cannot read its imports: {e}")),
    }
    for entry in &decl.allowed_outbound_hosts {
        let host = entry.split_once("://").map_or("", |(_, rest)| rest);
        let host = host.split([':', '/']).next().unwrap_or_default();
        if host.eq_ignore_ascii_case("self") || host.eq_ignore_ascii_case("self.alt") {
            out.push(format!(
                "allowed_outbound_hosts {entry:?}: requests to the application itself are not routed by Bourse"
            ));
        }
    }
    let fields = [
        (!decl.files.is_empty(), "files: no files are mounted"),
        (
            !decl.exclude_files.is_empty(),
            "exclude_files: no files are mounted",
        ),
        (
            !decl.ai_models.is_empty(),
            "ai_models: no LLM interface is hosted",
        ),
        (
            !decl.profile.is_empty(),
            "profile: Bourse loads `source`, whatever the profile",
        ),
        (
            !decl.dependencies.is_empty() && !decl.dependencies_inherit_configuration,
            "dependencies: composed dependencies share this component's grants here (Spin gives them none unless dependencies_inherit_configuration = true)",
        ),
    ];
    out.extend(
        fields
            .iter()
            .filter(|(present, _)| *present)
            .map(|(_, why)| format!("[component.{name}] {why}")),
    );
    for (_, executor) in manifest.other_executors.iter().filter(|(c, _)| c == name) {
        out.push(format!(
            "[[trigger.http]] executor {executor:?}: Bourse serves every component through wasi:http"
        ));
    }
    if manifest.private_routes.iter().any(|c| c == name) {
        out.push(format!(
            "[[trigger.http]] route {{ private = true }}: Bourse has no service chaining, so nothing reaches {name} by it"
        ));
    }
    out
}
