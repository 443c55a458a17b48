//! Reading a wasi:http request and writing a JSON response, so a component's handler is a
//! plain function from [`Request`] to [`Response`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use crate::wasi::io::streams::StreamError;

/// Request bodies above this size are refused with 413: components take small JSON documents.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The header in which the host passes the authenticated principal (JSON) to a component.
/// The host strips any client-supplied value.
pub const PRINCIPAL_HEADER: &str = "x-bourse-principal";
/// Header in which the host passes the client's address (behind its trusted proxies); like
/// the principal header, never taken from clients.
pub const CLIENT_IP_HEADER: &str = "x-bourse-client-ip";

/// The header carrying the host's request id, echoed in error bodies.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A fully read incoming request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Query string without the `?` (may be empty).
    pub query: String,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Request {
    /// Reads `request` and its body (up to [`MAX_BODY_BYTES`]).
    pub fn read(request: IncomingRequest) -> Result<Request, Response> {
        let method = match request.method() {
            Method::Get => "GET".to_string(),
            Method::Head => "HEAD".to_string(),
            Method::Post => "POST".to_string(),
            Method::Put => "PUT".to_string(),
            Method::Delete => "DELETE".to_string(),
            Method::Connect => "CONNECT".to_string(),
            Method::Options => "OPTIONS".to_string(),
            Method::Trace => "TRACE".to_string(),
            Method::Patch => "PATCH".to_string(),
            Method::Other(other) => other.to_ascii_uppercase(),
        };
        let path_with_query = request.path_with_query().unwrap_or_else(|| "/".to_string());
        let (path, query) = match path_with_query.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (path_with_query, String::new()),
        };
        let headers = request
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| {
                (
                    name.to_ascii_lowercase(),
                    String::from_utf8_lossy(&value).into_owned(),
                )
            })
            .collect();
        let body = read_body(&request)?;
        Ok(Request {
            method,
            path,
            query,
            headers,
            body,
        })
    }

    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of query parameter `name`, undecoded (Bourse's parameters are plain words
    /// and numbers).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The path split into its non-empty segments.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// The body parsed as JSON, or a 400 naming what is wrong with it.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Response> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Response::error(self, 400, "invalid_json", &format!("request body: {e}")))
    }

    /// Whether the authenticated caller holds one of `roles` (from the principal the host
    /// passes; false without one).
    pub fn has_role(&self, roles: &[&str]) -> bool {
        let Some(principal) = self
            .header(PRINCIPAL_HEADER)
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        else {
            return false;
        };
        principal["roles"].as_array().is_some_and(|held| {
            held.iter()
                .any(|r| r.as_str().is_some_and(|r| roles.contains(&r)))
        })
    }

    /// The host's request id, or `-` outside the Bourse host.
    pub fn request_id(&self) -> &str {
        self.header(REQUEST_ID_HEADER).unwrap_or("-")
    }
}

fn read_body(request: &IncomingRequest) -> Result<Vec<u8>, Response> {
    let internal = |what: &str| Response::plain_error(500, "body_unreadable", what);
    let body: IncomingBody = request
        .consume()
        .map_err(|()| internal("request body already consumed"))?;
    let mut bytes = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| internal("request body stream unavailable"))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > MAX_BODY_BYTES {
                        return Err(Response::plain_error(
                            413,
                            "body_too_large",
                            &format!("request body is larger than {MAX_BODY_BYTES} bytes"),
                        ));
                    }
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(internal(&e.to_debug_string()));
                }
            }
        }
    }
    let _trailers = IncomingBody::finish(body);
    Ok(bytes)
}

/// A response to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// JSON body.
    pub body: Vec<u8>,
    /// Headers besides `content-type`.
    pub headers: Vec<(String, String)>,
}

impl Response {
    /// `status` with `value` serialised as JSON.
    pub fn json(status: u16, value: &impl Serialize) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status,
                body,
                headers: Vec::new(),
            },
            Err(e) => Response::plain_error(500, "serialize_failed", &e.to_string()),
        }
    }

    /// The platform's error shape: `{"error":{"code","message","request_id"}}`.
    pub fn error(request: &Request, status: u16, code: &str, message: &str) -> Response {
        Response::error_with_id(status, code, message, request.request_id())
    }

    fn plain_error(status: u16, code: &str, message: &str) -> Response {
        Response::error_with_id(status, code, message, "-")
    }

    fn error_with_id(status: u16, code: &str, message: &str, request_id: &str) -> Response {
        Response::json(
            status,
            &serde_json::json!({
                "error": {"code": code, "message": message, "request_id": request_id}
            }),
        )
    }

    /// `status` with a body that is not JSON (an SVG chart, a CSV file).
    pub fn content(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status,
            body,
            headers: vec![("content-type".to_string(), content_type.to_string())],
        }
    }

    /// The same response with one more header (e.g. `retry-after`).
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// 404 for a path this component does not serve.
    pub fn not_found(request: &Request) -> Response {
        Response::error(
            request,
            404,
            "not_found",
            &format!("no route for {} {}", request.method, request.path),
        )
    }

    /// Writes the response to `out`.
    pub fn send(self, out: ResponseOutparam) {
        let headers = Fields::new();
        // Both names and values are constants, so this cannot be refused.
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            let _ = headers.append("content-type", b"application/json");
        }
        for (name, value) in &self.headers {
            // A header the host refuses is dropped rather than failing the response.
            let _ = headers.append(name, value.as_bytes());
        }
        let response = OutgoingResponse::new(headers);
        let _ = response.set_status_code(self.status);
        let Ok(body) = response.body() else {
            return;
        };
        ResponseOutparam::set(out, Ok(response));
        if let Ok(stream) = body.write() {
            // blocking-write-and-flush takes at most 4096 bytes per call.
            for chunk in self.body.chunks(4096) {
                if stream.blocking_write_and_flush(chunk).is_err() {
                    return;
                }
            }
        }
        let _ = OutgoingBody::finish(body, None);
    }
}

/// Reads the request, runs `handler`, and writes its response: the whole life of a request in
/// a component.
pub fn serve(
    request: IncomingRequest,
    out: ResponseOutparam,
    handler: impl FnOnce(&Request) -> Response,
) {
    let response = match Request::read(request) {
        Ok(request) => handler(&request),
        Err(response) => response,
    };
    response.send(out);
}
