//! Request ids, as a layer: every request gets an id as it arrives, before any other layer
//! sees it, and every answer carries it back in `x-request-id`.
//!
//! Invariants:
//! - the id is made here, never taken from the client: a client-chosen id could pass itself
//!   off as another request's in the host log;
//! - one id per request: handlers, the layers inside this one and the component serving the
//!   request (which reads `x-request-id`) all see the same, and so does the answer's header,
//!   error bodies included.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use tower_http::request_id::PropagateRequestIdLayer;
use tower_http::set_header::SetRequestHeaderLayer;

/// The header carrying the id, to the component and back to the client.
pub const HEADER: &str = "x-request-id";

/// The id of the request being served.
#[derive(Debug, Clone)]
pub struct RequestId(String);

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl RequestId {
    /// A new id, unique within the process and unlikely to repeat across restarts.
    fn new() -> RequestId {
        static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        let prefix = PREFIX.get_or_init(|| getrandom::u32().unwrap_or(0));
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        RequestId(format!("{prefix:08x}-{n:x}"))
    }

    /// The id the layers gave the request whose headers are `headers`.
    fn from_headers(headers: &HeaderMap) -> RequestId {
        headers
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .map(|v| RequestId(v.to_string()))
            // Outside the layers (a router served without them): an id of its own still
            // keeps the answer's body and header in step.
            .unwrap_or_else(RequestId::new)
    }

    /// The id of the request `parts` belong to.
    pub fn of(parts: &Parts) -> RequestId {
        RequestId::from_headers(&parts.headers)
    }

    /// The id of `request`.
    pub fn of_request(request: &Request) -> RequestId {
        RequestId::from_headers(request.headers())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<RequestId, Infallible> {
        Ok(RequestId::of(parts))
    }
}

/// The outer layer: gives the request a fresh id in `x-request-id`, replacing any the client
/// sent. tower-http's header layers add no allocation or boxed future per request.
pub fn assign() -> SetRequestHeaderLayer<fn(&Request) -> Option<HeaderValue>> {
    SetRequestHeaderLayer::overriding(HeaderName::from_static(HEADER), fresh)
}

/// The inner layer: copies the request's id onto the answer.
pub fn propagate() -> PropagateRequestIdLayer {
    PropagateRequestIdLayer::new(HeaderName::from_static(HEADER))
}

fn fresh(_: &Request) -> Option<HeaderValue> {
    // The id is hex and a dash: always a valid header value.
    HeaderValue::from_str(RequestId::new().as_str()).ok()
}

/// Sets the request's id on `response`, over any `x-request-id` a component wrote: the
/// answer names the host's id for the request, never one its writer chose.
pub fn stamp(response: &mut Response, id: &RequestId) {
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(HEADER, value);
    }
}
