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
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

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

    /// The id of the request `parts` belong to.
    pub fn of(parts: &Parts) -> RequestId {
        parts
            .extensions
            .get::<RequestId>()
            .cloned()
            // Outside the layer (a router served without it): an id of its own still keeps
            // the answer's body and header in step.
            .unwrap_or_else(RequestId::new)
    }

    /// The id of `request`.
    pub fn of_request(request: &Request) -> RequestId {
        request
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::new)
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

/// The layer: gives the request its id (replacing any `x-request-id` the client sent) and
/// sets it on the answer, whoever wrote the answer.
pub async fn layer(mut request: Request, next: Next) -> Response {
    let id = RequestId::new();
    // The id is hex and a dash: always a valid header value.
    let value = HeaderValue::from_str(id.as_str()).ok();
    match &value {
        Some(v) => request.headers_mut().insert(HEADER, v.clone()),
        None => request.headers_mut().remove(HEADER),
    };
    request.extensions_mut().insert(id);
    let mut response = next.run(request).await;
    if let Some(v) = value {
        response.headers_mut().insert(HEADER, v);
    }
    response
}
