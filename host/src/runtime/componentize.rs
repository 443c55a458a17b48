//! Core modules made into components at load, as Spin does (its `componentize_if_necessary`):
//! a module carrying its component type (what wit-bindgen, and so spin-sdk, leave when built
//! for `wasm32-unknown-unknown` or `wasm32-wasip1`) is encoded with wit-component, its
//! `wasi_snapshot_preview1` imports (if any) served by WASI's preview1 reactor adapter of the
//! same release as the host's Wasmtime.
//!
//! Not adapted, as neither is an HTTP handler Spin 3+ serves: modules without a component
//! type (Spin 1.x's ABI from wit-bindgen 0.2, or a wasip1 command with `_start`).

use wasmparser::{Encoding, Parser, Payload};

/// Why a core module could not be made into a component.
#[derive(Debug, thiserror::Error)]
pub enum ComponentizeError {
    /// No embedded component type: nothing says what the module imports and exports.
    #[error(
        "a core module without an embedded component type (built without wit-bindgen, or for Spin 1.x); build it with wit-bindgen or spin-sdk, or for wasm32-wasip2"
    )]
    NoComponentType,
    /// wit-component refused it.
    #[error("a core module that cannot be made into a component: {0}")]
    Encode(String),
}

/// Whether `bytes` is a core module rather than a component (both start `\0asm`).
pub fn is_core_module(bytes: &[u8]) -> bool {
    Parser::new(0)
        .parse_all(bytes)
        .next()
        .is_some_and(|payload| {
            matches!(
                payload,
                Ok(Payload::Version {
                    encoding: Encoding::Module,
                    ..
                })
            )
        })
}

/// The component made from core module `module`.
pub fn componentize(module: &[u8]) -> Result<Vec<u8>, ComponentizeError> {
    if !has_component_type(module) {
        return Err(ComponentizeError::NoComponentType);
    }
    let encode = || -> Result<Vec<u8>, anyhow::Error> {
        wit_component::ComponentEncoder::default()
            .validate(true)
            .module(module)?
            // Skipped by the encoder when nothing imports it.
            .adapter(
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )?
            .encode()
    };
    encode().map_err(|e| ComponentizeError::Encode(format!("{e:#}")))
}

fn has_component_type(module: &[u8]) -> bool {
    Parser::new(0).parse_all(module).any(|payload| {
        matches!(payload, Ok(Payload::CustomSection(section)) if section.name().starts_with("component-type"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_without_a_component_type_is_refused_with_the_reason() {
        let empty = b"\0asm\x01\0\0\0";
        assert!(is_core_module(empty));
        assert!(matches!(
            componentize(empty),
            Err(ComponentizeError::NoComponentType)
        ));
        assert!(!is_core_module(b"\0asm\x0d\0\x01\0"));
    }
}
