//! `POST /api/bars/fetch`: a ticker's daily closes from a market-data provider (Tiingo, Alpha
//! Vantage or FRED), checked like an import and stored the same way. A provider is used only
//! when its key is configured (`TIINGO_API_KEY`, `ALPHAVANTAGE_API_KEY`, `FRED_API_KEY`), and
//! only through the component's `allowed_outbound_hosts`.

use bourse_guest::http::{Request, Response};
use bourse_guest::outbound;
use bourse_signals::providers::{Provider, ProviderError, Query};
use serde::Deserialize;
use serde_json::json;
use spin_sdk::variables;

use crate::{access, api, bars};

/// Largest provider answer read: 20 years of Alpha Vantage's daily JSON is about 2 MB.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchJson {
    symbol: String,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

fn key(provider: Provider) -> Option<String> {
    variables::get(provider.key_variable())
        .ok()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
}

fn base(provider: Provider) -> String {
    variables::get(provider.url_variable())
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| provider.default_base().to_string())
}

/// `GET /api/bars/providers`: which providers are configured (never their keys).
pub fn providers() -> Response {
    let list: Vec<_> = Provider::ALL
        .iter()
        .map(|p| {
            json!({
                "name": p.name(),
                "configured": key(*p).is_some(),
                "key_env": p.key_variable().to_ascii_uppercase(),
                "url": base(*p),
            })
        })
        .collect();
    Response::json(200, &json!({ "providers": list }))
}

/// `POST /api/bars/fetch` `{"symbol":"SPY","provider":"tiingo","from":"2005-01-01","to":…}`.
pub fn fetch(request: &Request) -> Response {
    // Also spends the platform's provider quota.
    if let Err(refused) = access::shared_writer(request, "fetching bars") {
        return refused;
    }
    let body: FetchJson = match request.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(symbol) = bars::normalise(&body.symbol) else {
        return Response::error(
            request,
            400,
            "invalid_symbol",
            "symbol: letters, digits and '.', up to 16",
        );
    };
    if let Err(refused) = api::date_range(request, body.from.as_deref(), body.to.as_deref()) {
        return refused;
    }
    let (provider, key) = match choose(&symbol, body.provider.as_deref()) {
        Ok(chosen) => chosen,
        Err((code, message)) => return Response::error(request, 400, code, &message),
    };
    let query = Query {
        symbol: &symbol,
        from: body.from.as_deref(),
        to: body.to.as_deref(),
    };
    // Provider messages may quote the key (Alpha Vantage does); it never leaves the component.
    let redact = |m: &str| m.replace(&key, "***");
    let outgoing = match provider.request(&base(provider), &query, &key) {
        Ok(r) => r,
        Err(e) => return Response::error(request, 400, "unsupported_symbol", &e.to_string()),
    };
    let answer = match outbound::get(&outgoing.url, &outgoing.headers, MAX_ANSWER_BYTES) {
        Ok(a) => a,
        Err(e) => {
            return Response::error(
                request,
                502,
                "provider_unreachable",
                &format!("{}: {}", provider.name(), redact(&e)),
            );
        }
    };
    let rows = match provider.parse(answer.status, &answer.body, &query) {
        Ok(rows) => rows,
        Err(e) => {
            let code = match e {
                ProviderError::Refused { .. } => "provider_refused",
                ProviderError::Malformed { .. } => "provider_malformed",
                ProviderError::Unsupported { .. } => "unsupported_symbol",
            };
            return Response::error(request, 502, code, &redact(&e.to_string()));
        }
    };
    if rows.is_empty() {
        return Response::error(
            request,
            404,
            "no_bars",
            &format!(
                "{} has no daily closes for {symbol} in that range",
                provider.name()
            ),
        );
    }
    let checked = bars::check(rows.into_iter().map(|(date, close)| {
        (
            format!("{} {date}", provider.name()),
            date,
            close.to_string(),
        )
    }));
    match checked {
        Ok(rows) => api::ingest(
            request,
            &symbol,
            &rows,
            json!({ "provider": provider.name() }),
        ),
        Err(problems) => Response::error(
            request,
            502,
            "provider_data_invalid",
            &api::problem_list(&problems),
        ),
    }
}

/// The provider named, or the first configured one that serves `symbol`, with its key.
fn choose(symbol: &str, named: Option<&str>) -> Result<(Provider, String), (&'static str, String)> {
    let env = |p: Provider| p.key_variable().to_ascii_uppercase();
    if let Some(name) = named {
        let provider = Provider::from_name(name).ok_or_else(|| {
            (
                "unknown_provider",
                format!("provider {name:?} is not one of tiingo, alphavantage, fred"),
            )
        })?;
        if !provider.serves(symbol) {
            return Err((
                "unsupported_symbol",
                format!("{} does not serve {symbol}", provider.name()),
            ));
        }
        let key = key(provider).ok_or_else(|| {
            (
                "provider_not_configured",
                format!("{} has no key: set {}", provider.name(), env(provider)),
            )
        })?;
        return Ok((provider, key));
    }
    let serving: Vec<Provider> = Provider::ALL
        .into_iter()
        .filter(|p| p.serves(symbol))
        .collect();
    serving
        .iter()
        .find_map(|p| key(*p).map(|k| (*p, k)))
        .ok_or_else(|| {
            let names: Vec<String> = serving.iter().map(|p| env(*p)).collect();
            (
                "provider_not_configured",
                format!(
                    "no provider with a key serves {symbol}: set {} (or import a CSV, or use `bourse bars synth`)",
                    names.join(" or ")
                ),
            )
        })
}
