//! Helpers shared by the abuse suite's modules.

use serde_json::Value;

/// The error code of an API error body.
pub fn code(json: &Value) -> &str {
    json["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// The access token of a session.
pub fn access(session: &Value) -> String {
    session["access_token"]
        .as_str()
        .expect("access token")
        .to_string()
}
