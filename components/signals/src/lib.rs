//! The signals component: a relative-strength ratio signal (growth of one series over another
//! across a look-back), served as `POST /api/signals/ratio`, with the last value of each
//! named signal kept in the key-value store for `GET /api/signals/{name}`.

mod access;
mod api;
mod bars;
mod chart;
mod fetch;
mod results;

use bourse_guest::http::{Request, Response};
use serde::{Deserialize, Serialize};
use spin_sdk::key_value::Store;

// wit-bindgen for the `bourse:platform` part of the world only; HTTP (in and out), key-value,
// SQL and variables come from spin-sdk, as in any Spin component.
bourse_guest::domain_bindings!(
    "package bourse:signals-guest; world guest { import bourse:platform/events@0.1.0; export bourse:platform/indicator@0.1.0; }",
    "bourse:platform/events@0.1.0": bourse_guest::bourse::platform::events,
);

use exports::bourse::platform::indicator::{self, RatioInput, Regime, SignalError, SignalValue};

struct Component;

impl indicator::Guest for Component {
    fn compute(input: RatioInput) -> Result<SignalValue, SignalError> {
        compute(&input)
    }
}

/// g_X = close_X(t) / close_X(t - L) on the last day t; ratio = g_numerator / g_denominator.
fn compute(input: &RatioInput) -> Result<SignalValue, SignalError> {
    let (a, b) = (&input.numerator, &input.denominator);
    if a.len() != b.len() {
        return Err(SignalError::InvalidInput(format!(
            "numerator has {} closes but denominator has {}",
            a.len(),
            b.len()
        )));
    }
    if let Some((i, c)) = a
        .iter()
        .chain(b.iter())
        .enumerate()
        .find(|(_, c)| !(c.is_finite() && **c > 0.0))
    {
        let (series, index) = if i < a.len() {
            ("numerator", i)
        } else {
            ("denominator", i - a.len())
        };
        return Err(SignalError::InvalidInput(format!(
            "{series}[{index}] = {c} is not a positive number"
        )));
    }
    let lookback = input.lookback as usize;
    if lookback == 0 {
        return Err(SignalError::InvalidInput(
            "lookback must be at least 1".into(),
        ));
    }
    if a.len() <= lookback {
        return Err(SignalError::InsufficientData(format!(
            "a lookback of {lookback} needs at least {} closes, got {}",
            lookback + 1,
            a.len()
        )));
    }
    let t = a.len() - 1;
    let growth = |s: &[f64]| s[t] / s[t - lookback];
    let ratio = growth(a) / growth(b);
    let regime = if ratio > 1.0 {
        input.above
    } else {
        match input.above {
            Regime::RiskOn => Regime::RiskOff,
            Regime::RiskOff => Regime::RiskOn,
            Regime::Neutral => Regime::Neutral,
        }
    };
    Ok(SignalValue {
        name: input.name.clone(),
        ratio,
        regime,
    })
}

export!(Component);

// The description of the routes below, in /api/openapi.json (kept in ../openapi.json).
bourse_guest::openapi!("../openapi.json");

#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    bourse_guest::spin::handle(request, route)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RatioJson {
    name: String,
    numerator: Vec<f64>,
    denominator: Vec<f64>,
    lookback: u32,
    #[serde(default = "default_above")]
    above: String,
}

fn default_above() -> String {
    "risk_off".to_string()
}

#[derive(Serialize, Deserialize)]
struct ValueJson {
    name: String,
    ratio: f64,
    regime: String,
}

fn regime_name(r: Regime) -> &'static str {
    match r {
        Regime::RiskOn => "risk_on",
        Regime::RiskOff => "risk_off",
        Regime::Neutral => "neutral",
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn route(request: &Request) -> Response {
    match (request.method.as_str(), request.segments().as_slice()) {
        ("POST", ["api", "signals", "ratio"]) => post_ratio(request),
        ("GET", ["api", "signals"]) => api::latest(request),
        ("GET", ["api", "signals", name, "history"]) => api::history(request, name),
        ("GET", ["api", "signals", name]) => get_signal(request, name),
        ("POST", ["api", "bars", "import"]) => api::import(request),
        ("POST", ["api", "bars", "fetch"]) => fetch::fetch(request),
        ("GET", ["api", "bars", "providers"]) => fetch::providers(),
        ("POST", ["api", "backtests"]) => api::run_backtest(request),
        ("GET", ["api", "backtests", id]) => api::get_backtest(request, id),
        ("GET", ["api", "backtests", id, "chart.svg"]) => api::chart(request, id),
        _ => Response::not_found(request),
    }
}

fn post_ratio(request: &Request) -> Response {
    if let Err(refused) = access::shared_writer(request, "storing a signal value") {
        return refused;
    }
    let body: RatioJson = match request.json() {
        Ok(body) => body,
        Err(response) => return response,
    };
    if !valid_name(&body.name) {
        return Response::error(
            request,
            400,
            "invalid_name",
            "name must be 1-64 letters, digits, '-' or '_'",
        );
    }
    // `risk-on`/`risk-off` are the spellings of earlier releases, still taken.
    let above = match body.above.as_str() {
        "risk_on" | "risk-on" => Regime::RiskOn,
        "risk_off" | "risk-off" => Regime::RiskOff,
        other => {
            return Response::error(
                request,
                400,
                "invalid_above",
                &format!("{other:?} is not risk_on or risk_off"),
            );
        }
    };
    let input = RatioInput {
        name: body.name,
        numerator: body.numerator,
        denominator: body.denominator,
        lookback: body.lookback,
        above,
    };
    match compute(&input) {
        Ok(value) => {
            let json = ValueJson {
                name: value.name,
                ratio: value.ratio,
                regime: regime_name(value.regime).to_string(),
            };
            let stored = serde_json::to_vec(&json).ok().and_then(|bytes| {
                Store::open("default")
                    .ok()
                    .map(|s| s.set(&format!("signal:{}", json.name), &bytes))
            });
            match stored {
                Some(Ok(())) => Response::json(200, &json),
                _ => Response::error(
                    request,
                    503,
                    "store_unavailable",
                    "could not store the signal value",
                ),
            }
        }
        Err(SignalError::InsufficientData(m)) => {
            Response::error(request, 422, "insufficient_data", &m)
        }
        Err(SignalError::InvalidInput(m)) => Response::error(request, 400, "invalid_input", &m),
    }
}

fn get_signal(request: &Request, name: &str) -> Response {
    if !valid_name(name) {
        return Response::error(
            request,
            400,
            "invalid_name",
            "name must be 1-64 letters, digits, '-' or '_'",
        );
    }
    let value = Store::open("default").and_then(|s| s.get(&format!("signal:{name}")));
    match value {
        Ok(Some(bytes)) => match serde_json::from_slice::<ValueJson>(&bytes) {
            // A value stored by an earlier release spells its regime `risk-off`.
            Ok(mut v) => {
                v.regime = v.regime.replace('-', "_");
                Response::json(200, &v)
            }
            Err(e) => Response::error(request, 500, "corrupt_value", &e.to_string()),
        },
        Ok(None) => Response::error(
            request,
            404,
            "unknown_signal",
            &format!("no value has been computed for signal {name:?}"),
        ),
        Err(e) => {
            eprintln!("signal not read: {e:?}");
            Response::error(
                request,
                503,
                "store_unavailable",
                "the signal store is unavailable; try again",
            )
        }
    }
}
