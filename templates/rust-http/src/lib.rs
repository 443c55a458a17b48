//! `__NAME__`: an HTTP component written with spin-sdk, so it runs on Bourse and under Spin
//! alike. Its route is `/__NAME__/...` (the `[[trigger.http]]` entry in `spin.toml`); build it
//! with `bourse build __NAME__`, and a running `bourse up` swaps it in when the `.wasm` changes.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// Answers every request with what it asked for, as JSON.
#[http_component]
fn handle(req: Request) -> Response {
    let body = serde_json::json!({
        "component": "__NAME__",
        "method": req.method().to_string(),
        "path": req.path(),
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}
