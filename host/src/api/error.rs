//! The one JSON error shape: `{"error": {"code", "message", "request_id"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::openapi::{ErrorBody, ErrorDetail};
use crate::runtime::CallError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub request_id: String,
}

impl ApiError {
    /// An error with `status` and a machine-readable `code`.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        request_id: &str,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            request_id: request_id.to_string(),
        }
    }

    /// The answer for a call that did not complete. What a guest trapped on stays in the
    /// host log (under the same request id); the client learns only which component failed.
    pub fn from_call(error: &CallError, request_id: &str) -> ApiError {
        let (status, code) = match error {
            CallError::UnknownComponent(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "unknown_component")
            }
            CallError::Unavailable { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "component_unavailable")
            }
            CallError::MissingExport { .. } => {
                (StatusCode::NOT_IMPLEMENTED, "component_missing_export")
            }
            CallError::Trap { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "component_failed"),
            CallError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "component_timeout"),
            CallError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "component_busy"),
            CallError::Overloaded(_) => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
        };
        let message = match error {
            CallError::Unavailable { name, .. } => {
                format!("component {name} is not available on this instance; /health lists why")
            }
            CallError::Trap { name, .. } => {
                format!(
                    "component {name} failed while handling this request; the host log has the details under this request id"
                )
            }
            other => other.to_string(),
        };
        ApiError::new(status, code, message, request_id)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let id = self.request_id.parse::<axum::http::HeaderValue>().ok();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                request_id: self.request_id,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(id) = id {
            response.headers_mut().insert("x-request-id", id);
        }
        response
    }
}
