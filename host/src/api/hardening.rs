//! HTTP hardening with tower-http: compression, a request deadline, CORS from
//! `ALLOWED_ORIGINS`, security headers, metrics, and one JSON error shape for every error the
//! layers themselves produce (413, 408, 405, …).

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use super::error::ApiError;
use super::request_id::RequestId;
use super::{ApiConfig, AppState};

/// Wraps `router` in the hardening layers.
pub fn harden(router: Router<Arc<AppState>>, config: &ApiConfig) -> Router<Arc<AppState>> {
    let security: [(HeaderName, &'static str); 5] = [
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
    ];
    // json_errors sits outside the timeout layer (and the body limit inside the router) so
    // their answers get the JSON shape too.
    let mut router = router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            config.request_timeout,
        ))
        .layer(middleware::from_fn(json_errors))
        .layer(CompressionLayer::new());
    for (name, value) in security {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    if !config.allowed_origins.is_empty() {
        let origins: Vec<HeaderValue> = config
            .allowed_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PATCH,
                    Method::DELETE,
                    Method::OPTIONS,
                ])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .max_age(std::time::Duration::from_secs(600)),
        );
    }
    router.layer(middleware::from_fn(crate::telemetry::track))
}

/// Marks a response written by a component: [`json_errors`] leaves it alone, as Spin would.
#[derive(Debug, Clone, Copy)]
pub struct ComponentAnswer;

/// Any error response that is not already JSON (from a layer or the framework) gets the
/// platform's error shape; the original text is not passed on. A component's own answers
/// are passed through.
async fn json_errors(request: Request, next: Next) -> Response {
    let id = RequestId::of_request(&request);
    let response = next.run(request).await;
    // The Spin front door answers a route-less request itself, from the marker.
    if response.extensions().get::<ComponentAnswer>().is_some()
        || response
            .extensions()
            .get::<super::spin::NoRoute>()
            .is_some()
    {
        return response;
    }
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            "the request body is larger than this route accepts",
        ),
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => {
            ("timeout", "the request took too long")
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "this route does not take that method")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send JSON"),
        s if s.is_client_error() => ("bad_request", "the request was not understood"),
        _ => ("internal", "the server could not answer this request"),
    };
    ApiError::new(status, code, message, id.as_str()).into_response()
}
