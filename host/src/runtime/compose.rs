//! Composition of a component with the dependencies its manifest declares
//! (`[component.X.dependencies]`, local `path` entries), as Spin composes them: each
//! dependency's exports are plugged into the matching imports, and whatever stays unsatisfied
//! becomes an import of the result. Used when Bourse runs a manifest as Spin would.

use std::path::Path;

use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions};

use super::contract::SpinDependency;
use crate::manifest::{ComponentDecl, Manifest};

/// Why a composition could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A dependency entry Bourse cannot fetch (registry or URL) or read.
    #[error("dependency {key:?}: {message}")]
    Dependency { key: String, message: String },
    /// The graph could not be built or encoded.
    #[error("composing with {keys}: {message}")]
    Graph { keys: String, message: String },
}

/// The dependencies `decl` declares, with the bytes of those given by local `path`; a
/// registry or URL dependency has none (Bourse does not fetch them).
pub fn dependencies(
    manifest: &Manifest,
    decl: &ComponentDecl,
) -> Result<Vec<SpinDependency>, ComposeError> {
    decl.dependencies
        .iter()
        .map(|(key, value)| {
            let wasm = match value.get("path").and_then(|p| p.as_str()) {
                None => None,
                Some(path) => {
                    let path = manifest.resolve(Path::new(path));
                    Some(std::fs::read(&path).map_err(|e| ComposeError::Dependency {
                        key: key.clone(),
                        message: format!("cannot read {}: {e}", path.display()),
                    })?)
                }
            };
            Ok(SpinDependency {
                key: key.clone(),
                wasm,
            })
        })
        .collect()
}

/// `main` with each dependency plugged into the imports it exports.
pub fn compose(main: &[u8], dependencies: &[SpinDependency]) -> Result<Vec<u8>, ComposeError> {
    let keys = dependencies
        .iter()
        .map(|d| d.key.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let graph_error = |message: String| ComposeError::Graph {
        keys: keys.clone(),
        message,
    };
    let mut graph = CompositionGraph::new();
    let socket = Package::from_bytes("bourse:main", None, main.to_vec(), graph.types_mut())
        .map_err(|e| graph_error(format!("{e:#}")))?;
    let socket = graph
        .register_package(socket)
        .map_err(|e| graph_error(format!("{e:#}")))?;
    let mut plugs = Vec::new();
    for (i, dependency) in dependencies.iter().enumerate() {
        let Some(bytes) = &dependency.wasm else {
            return Err(ComposeError::Dependency {
                key: dependency.key.clone(),
                message: "only `{ path = \"….wasm\" }` dependencies can be composed here".into(),
            });
        };
        let plug = Package::from_bytes(
            &format!("bourse:dependency{i}"),
            None,
            bytes.clone(),
            graph.types_mut(),
        )
        .map_err(|e| graph_error(format!("{e:#}")))?;
        plugs.push(
            graph
                .register_package(plug)
                .map_err(|e| graph_error(format!("{e:#}")))?,
        );
    }
    wac_graph::plug(&mut graph, plugs, socket).map_err(|e| graph_error(chain(&e)))?;
    graph
        .encode(EncodeOptions::default())
        .map_err(|e| graph_error(chain(&e)))
}

/// An error with its causes: `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}
