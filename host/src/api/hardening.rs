//! HTTP hardening with tower-http: request ids, compression, a request deadline, CORS from
//! `ALLOWED_ORIGINS`, security headers, metrics, the per-IP rate limit, and one JSON error
//! shape for every error the layers themselves produce (413, 408, 405, …).

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use super::error::ApiError;
use super::request_id::{self, RequestId};
use super::{ApiConfig, AppState, access};

/// `routes` inside every layer the front server puts around them, as one service (outermost
/// first): the request's id, metrics, CORS from `ALLOWED_ORIGINS`, security headers,
/// compression, the JSON error shape, the request deadline and the per-IP rate limit.
///
/// One `tower::ServiceBuilder` stack served as the fallback of an empty router, rather than
/// `Router::layer` once per layer: axum boxes a route again for each `layer` call and clones
/// every box of the chain on each request, so ten layers cost about fifty allocations a
/// request; this stack is one concrete type, cloned once.
pub fn harden(routes: Router, config: &ApiConfig, state: Arc<AppState>) -> Router {
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    let stack = ServiceBuilder::new()
        // Outermost: every layer inside, and every answer, sees the request's id.
        .layer(request_id::assign())
        .layer(request_id::propagate())
        .layer(middleware::from_fn(crate::telemetry::track))
        .option_layer(cors(config))
        .layer(header(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::REFERRER_POLICY, "no-referrer"))
        .layer(header(
            header::CONTENT_SECURITY_POLICY,
            "frame-ancestors 'none'",
        ))
        .layer(CompressionLayer::new())
        // Outside the deadline (and the body limits inside the router), so their answers get
        // the JSON shape too.
        .layer(middleware::from_fn(json_errors))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            config.request_timeout,
        ))
        // Inside the security headers and CORS, so a 429 gets them like any answer.
        .layer(middleware::from_fn_with_state(
            state,
            access::limit_requests,
        ))
        .service(routes);
    Router::new().fallback_service(stack)
}

fn cors(config: &ApiConfig) -> Option<CorsLayer> {
    if config.allowed_origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = config
        .allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
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
    )
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
