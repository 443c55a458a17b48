//! `POST /api/indicators/{component}`: a custom signal, computed by the `indicator` export of
//! the component the path names (a `signal-indicator` component made with `bourse new
//! python-signal`, or any component exporting `bourse:platform/indicator`).
//!
//! The body is read whole under the application's body limit and each series is bounded, so
//! a caller sizes neither the host's memory nor the component's work past those bounds; each
//! call gets a fresh instance under the component's memory cap and deadline.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::request_id::RequestId;
use crate::bindings::exports::bourse::platform::indicator::{
    self, RatioInput, Regime, SignalError, SignalValue,
};
use crate::runtime::{CallError, Hold, Runtime};

/// Most closes in one series: forty years of trading days, many times what a daily signal reads.
pub const MAX_POINTS: usize = 10_000;
/// Longest signal name, bytes.
pub const MAX_NAME: usize = 64;

pub fn routes(body_limit: usize) -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/indicators/{component}", post(compute))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(body_limit))
}

/// A regime as the REST API spells it everywhere.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
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
#[derive(Debug, Deserialize)]
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
#[derive(Debug, Serialize)]
pub struct ComputeAnswer {
    pub component: String,
    pub name: String,
    pub ratio: f64,
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
