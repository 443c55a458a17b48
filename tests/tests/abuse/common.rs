//! Helpers shared by the abuse suite's modules.

use bourse_tests::TestHost;
use serde_json::{Value, json};

/// The error code of an API error body.
pub fn code(json: &Value) -> &str {
    json["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// Registers `name` and signs in; the session JSON (access and refresh tokens).
pub async fn sign_up(host: &TestHost, name: &str) -> Value {
    let credentials = json!({"username": name, "password": "correct horse battery"}).to_string();
    let (status, body) = host.post("/api/auth/register", None, &credentials).await;
    assert_eq!(status, 201, "{body}");
    let (status, session) = host.post("/api/auth/login", None, &credentials).await;
    assert_eq!(status, 200, "{session}");
    session
}

/// The access token of a session.
pub fn access(session: &Value) -> String {
    session["access_token"]
        .as_str()
        .expect("access token")
        .to_string()
}
