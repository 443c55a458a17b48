//! The OpenAPI description a component carries: an `openapi.json` kept beside its code and
//! compiled into its `.wasm` as the custom section `bourse:openapi` (a Rust guest does it
//! with `bourse_guest::openapi!`). Read at deploy, so a hot swap brings its description with
//! it; a section that is not a description refuses the deploy, naming why.

use serde_json::Value;

/// The custom section a component's description travels in.
pub const SECTION: &str = "bourse:openapi";
/// Largest description a component may carry, bytes: far above what a component's routes
/// need, and it bounds what every `GET /api/openapi.json` merges.
pub const MAX_SECTION: usize = 1 << 20;

/// Why a component's `bourse:openapi` section was refused.
#[derive(Debug, thiserror::Error)]
pub enum SectionError {
    #[error("its {SECTION} section is {0} bytes; at most {MAX_SECTION} are taken")]
    TooLarge(usize),
    #[error("its {SECTION} section is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("its {SECTION} section is not an OpenAPI 3.1 document: {0}")]
    NotOpenApi(&'static str),
    #[error("it could not be read for its {SECTION} section: {0}")]
    Unreadable(String),
}

/// The description a component carries, if any: the `bourse:openapi` custom section of the
/// component or of any core module in it (where a Rust guest's `#[link_section]` puts it).
pub fn section(component: &[u8]) -> Result<Option<Value>, SectionError> {
    let mut found: Option<&[u8]> = None;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let payload = payload.map_err(|e| SectionError::Unreadable(e.to_string()))?;
        if let wasmparser::Payload::CustomSection(reader) = payload
            && reader.name() == SECTION
        {
            if found.is_some() {
                return Err(SectionError::NotOpenApi("it carries two descriptions"));
            }
            found = Some(reader.data());
        }
    }
    let Some(data) = found else {
        return Ok(None);
    };
    if data.len() > MAX_SECTION {
        return Err(SectionError::TooLarge(data.len()));
    }
    let doc: Value = serde_json::from_slice(data).map_err(SectionError::NotJson)?;
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or("");
    if !version.starts_with("3.1") {
        return Err(SectionError::NotOpenApi(
            "its \"openapi\" field is not 3.1.x",
        ));
    }
    if !doc.get("paths").is_some_and(Value::is_object) {
        return Err(SectionError::NotOpenApi("it has no \"paths\" object"));
    }
    Ok(Some(doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_without_the_section_has_no_description() {
        // The smallest valid core module: magic and version.
        let empty = b"\0asm\x01\0\0\0";
        assert!(matches!(section(empty), Ok(None)));
        assert!(section(b"not wasm").is_err());
    }
}
