//! `POST /api/indicators/{component}`: a custom signal, computed by the `indicator` export of
//! the component the path names (a `signal-indicator` component made with `bourse new
//! python-signal`, or any component exporting `bourse:platform/indicator`).
//!
//! The body is read whole under the application's body limit and each series is bounded, so
//! a caller sizes neither the host's memory nor the component's work past those bounds; each
//! call gets a fresh instance under the component's memory cap and deadline.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::openapi::ErrorBody;
use super::request_id::RequestId;
use crate::bindings::exports::bourse::platform::indicator::{
    self, RatioInput, Regime, SignalError, SignalValue,
};
use crate::runtime::{CallError, Hold, Runtime};

/// Most closes in one series: forty years of trading days, many times what a daily signal reads.
pub const MAX_POINTS: usize = 10_000;
/// Longest signal name, bytes.
pub const MAX_NAME: usize = 64;

pub fn routes(body_limit: usize) -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(compute))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(body_limit))
}

/// A regime as the REST API spells it everywhere.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = Regime)]
#[serde(rename_all = "snake_case")]
pub enum RegimeJson {
    RiskOn,
    RiskOff,
    Neutral,
}

impl From<RegimeJson> for Regime {
    fn from(r: RegimeJson) -> Regime {
        match r {
            RegimeJson::RiskOn => Regime::RiskOn,
            RegimeJson::RiskOff => Regime::RiskOff,
            RegimeJson::Neutral => Regime::Neutral,
        }
    }
}

impl From<Regime> for RegimeJson {
    fn from(r: Regime) -> RegimeJson {
        match r {
            Regime::RiskOn => RegimeJson::RiskOn,
            Regime::RiskOff => RegimeJson::RiskOff,
            Regime::Neutral => RegimeJson::Neutral,
        }
    }
}

/// The body of `POST /api/indicators/{component}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComputeRequest {
    /// Echoed back; the component's id when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Daily closes of the numerator asset, oldest first.
    pub numerator: Vec<f64>,
    /// Daily closes of the denominator asset, oldest first, same length.
    pub denominator: Vec<f64>,
    /// Look-back in trading days.
    pub lookback: u32,
    /// Regime when the numerator outgrows the denominator.
    #[serde(default = "risk_on")]
    pub above: RegimeJson,
}

fn risk_on() -> RegimeJson {
    RegimeJson::RiskOn
}

/// The answer of `POST /api/indicators/{component}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ComputeAnswer {
    /// The component that computed it.
    pub component: String,
    /// The request's name, or the component's id.
    pub name: String,
    /// The indicator's figure (for a ratio signal, the numerator's growth over the denominator's).
    pub ratio: f64,
    /// The regime it reads.
    pub regime: RegimeJson,
}

impl ComputeRequest {
    /// The export's input (the series moved, not copied), or what is out of bounds.
    fn into_wit(self, component: &str) -> Result<RatioInput, String> {
        let name = self.name.unwrap_or_else(|| component.to_string());
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(format!("name must be 1 to {MAX_NAME} bytes"));
        }
        for (field, series) in [
            ("numerator", &self.numerator),
            ("denominator", &self.denominator),
        ] {
            if series.len() > MAX_POINTS {
                return Err(format!(
                    "{field} has {} closes; at most {MAX_POINTS} are taken",
                    series.len()
                ));
            }
        }
        Ok(RatioInput {
            name,
            numerator: self.numerator,
            denominator: self.denominator,
            lookback: self.lookback,
            above: self.above.into(),
        })
    }
}

/// Calls component `name`'s `indicator.compute` on a fresh instance.
pub async fn call(
    runtime: &Runtime,
    name: &str,
    input: &RatioInput,
) -> Result<Result<SignalValue, SignalError>, CallError> {
    let component = runtime.component(name)?;
    let indices =
        indicator::GuestIndices::new(component.pre()).map_err(|_| CallError::MissingExport {
            name: name.to_string(),
            export: "bourse:platform/indicator",
        })?;
    let mut instance = component.instantiate("typed-call", Hold::Call).await?;
    let answer = async {
        let (store, handle) = instance.parts();
        let guest = indices.load(&mut *store, handle)?;
        guest.call_compute(store, input).await
    }
    .await;
    answer.map_err(|e| instance.classify(e))
}

/// Computes a custom signal with the `indicator` export of the component the path names.
#[utoipa::path(post, path = "/api/indicators/{component}", tag = "indicators", summary = "Compute a custom signal",
    params(("component" = String, Path, description = "A component exporting bourse:platform/indicator")),
    request_body = ComputeRequest,
    responses(
        (status = 200, description = "The signal's value and regime", body = ComputeAnswer),
        (status = 400, description = "The body is not valid (the message names the field), or a series is too long", body = ErrorBody),
        (status = 404, description = "No such component, or it is not an indicator", body = ErrorBody),
        (status = 413, description = "The body is larger than the application's body limit", body = ErrorBody),
        (status = 422, description = "The component's refusal: insufficient_data or invalid_input, in its words", body = ErrorBody),
        (status = 503, description = "The component is not available or busy", body = ErrorBody)))]
async fn compute(
    State(app): State<Arc<AppState>>,
    Path(component): Path<String>,
    request_id: RequestId,
    body: Bytes,
) -> Response {
    let request_id = request_id.as_str();
    let request: ComputeRequest = match Json::<ComputeRequest>::from_bytes(&body) {
        Ok(Json(r)) => r,
        Err(e) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("indicator request: {}", e.body_text()),
                request_id,
            )
            .into_response();
        }
    };
    let input = match request.into_wit(&component) {
        Ok(input) => input,
        Err(message) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("indicator request: {message}"),
                request_id,
            )
            .into_response();
        }
    };
    match call(&app.runtime, &component, &input).await {
        Ok(Ok(value)) => Json(ComputeAnswer {
            component,
            name: value.name,
            ratio: value.ratio,
            regime: value.regime.into(),
        })
        .into_response(),
        Ok(Err(SignalError::InsufficientData(message))) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient_data",
            message,
            request_id,
        )
        .into_response(),
        Ok(Err(SignalError::InvalidInput(message))) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            message,
            request_id,
        )
        .into_response(),
        // The caller named the component: one that is not there, or is not an indicator, is
        // the caller's 404 rather than the host's fault.
        Err(e @ (CallError::UnknownComponent(_) | CallError::MissingExport { .. })) => {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_indicator",
                format!("{e}; an indicator exports bourse:platform/indicator"),
                request_id,
            )
            .into_response()
        }
        Err(e) => ApiError::from_call(&e, request_id).into_response(),
    }
}
