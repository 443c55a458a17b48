//! The bridge to spin-sdk 5.2: components take HTTP from spin-sdk's `#[http_component]` (as
//! any Spin component does) and keep their handlers as plain functions from [`Request`] to
//! [`Response`]:
//!
//! ```ignore
//! #[spin_sdk::http_component]
//! fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
//!     bourse_guest::spin::handle(request, route)
//! }
//! ```

use crate::http::{MAX_BODY_BYTES, Request, Response};

/// Runs `handler` on `request`, refusing bodies over [`MAX_BODY_BYTES`] with 413 as the
/// wasi:http path does.
pub fn handle(
    request: spin_sdk::http::Request,
    handler: impl FnOnce(&Request) -> Response,
) -> spin_sdk::http::Response {
    let headers = request
        .headers()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let request = Request {
        method: request.method().to_string().to_ascii_uppercase(),
        path: request.path().to_string(),
        query: request.query().to_string(),
        headers,
        body: request.into_body(),
    };
    let response = if request.body.len() > MAX_BODY_BYTES {
        Response::error(
            &request,
            413,
            "body_too_large",
            &format!("request body over {MAX_BODY_BYTES} bytes"),
        )
    } else {
        handler(&request)
    };
    let mut out = spin_sdk::http::Response::builder();
    out.status(response.status);
    if !response
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        out.header("content-type", "application/json");
    }
    for (name, value) in response.headers {
        out.header(name, value);
    }
    out.body(response.body).build()
}
