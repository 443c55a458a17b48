//! The signals API over stored bars: import, the latest state of the five signals and their
//! consensus, one signal's history, and backtests.
//!
//! Every parameter is checked against the range in which it means something, and a request
//! naming one this API does not take is refused: nothing is silently reinterpreted or ignored.
//! A backtest covers at most [`MAX_BACKTEST_YEARS`]; its result is kept as [`crate::results`]
//! says.

use bourse_guest::bourse::platform::events;
use bourse_guest::http::{Request, Response};
use bourse_signals::backtest::{self, BacktestConfig, Decision, Rebalance};
use bourse_signals::import::BarsJson;
use bourse_signals::rules::{self, Consensus, Inputs, Params, Regime, TrendMode, VixMode};
use bourse_signals::{Series, dates, packed};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use spin_sdk::key_value::Store;

use crate::{access, bars, results};

/// Longest span a backtest covers (about 12 600 trading days, a curve of ~600 KB).
pub const MAX_BACKTEST_YEARS: i32 = 50;

/// The query parameters that change the signals' parameters, on every signals read.
const PARAM_QUERY: [&str; 6] = [
    "utilities_lookback",
    "lumber_lookback",
    "treasury_lookback",
    "treasury_band",
    "vix",
    "trend",
];

/// The tickers the signals read.
const TICKERS: [&str; 7] = ["SPY", "XLU", "WOOD", "GLD", "TLT", "IEF", "VIX"];
/// Signal names, in the order [`rules::all`] returns them.
const NAMES: [&str; 5] = ["utilities", "lumber_gold", "treasury", "vix", "trend"];

fn unavailable(request: &Request, detail: &str) -> Response {
    eprintln!("bars store: {detail}");
    Response::error(
        request,
        503,
        "store_unavailable",
        "the bar store is unavailable; try again",
    )
}

/// `POST /api/bars/import?symbol=SPY`: CSV or JSON.
pub fn import(request: &Request) -> Response {
    if let Err(refused) = access::shared_writer(request, "importing bars") {
        return refused;
    }
    let is_json = request
        .header("content-type")
        .is_some_and(|c| c.contains("json"));
    let (symbol, parsed) = if is_json {
        let body: BarsJson = match request.json() {
            Ok(b) => b,
            Err(r) => return r,
        };
        let rows = body.rows();
        (body.symbol, rows)
    } else {
        let Ok(text) = std::str::from_utf8(&request.body) else {
            return Response::error(request, 400, "invalid_csv", "the body is not UTF-8 text");
        };
        (None, bars::parse_csv(text))
    };
    let symbol = request
        .query_param("symbol")
        .map(str::to_string)
        .or(symbol)
        .and_then(|s| bars::normalise(&s));
    let Some(symbol) = symbol else {
        return Response::error(
            request,
            400,
            "invalid_symbol",
            "name the symbol: ?symbol=SPY (letters, digits and '.', up to 16)",
        );
    };
    let rows = match parsed {
        Ok(rows) => rows,
        Err(problems) => {
            return Response::error(request, 400, "invalid_bars", &problem_list(&problems));
        }
    };
    ingest(request, &symbol, &rows, json!({}))
}

/// "nothing imported; N problem(s): …", with the first twenty.
pub fn problem_list(problems: &[String]) -> String {
    let shown: Vec<&str> = problems.iter().take(20).map(String::as_str).collect();
    let more = problems.len().saturating_sub(shown.len());
    let mut message = format!(
        "nothing imported; {} problem(s): {}",
        problems.len(),
        shown.join("; ")
    );
    if more > 0 {
        message.push_str(&format!("; and {more} more"));
    }
    message
}

/// Stores checked rows of `symbol`, refreshes its cached closes and the signals, and answers
/// 201 with what was imported (plus the fields of `extra`).
pub fn ingest(request: &Request, symbol: &str, rows: &[(i32, f64)], extra: Value) -> Response {
    let symbol = symbol.to_string();
    if let Err(e) = bars::store(&symbol, rows) {
        return unavailable(request, &e);
    }
    // The key-value copy of this symbol's closes is rebuilt from SQL, which holds the merge of
    // this import with what was there.
    let cached = bars::load(&[symbol.as_str()]).and_then(|loaded| match loaded.get(&symbol) {
        Some(series) => bars::cache(&symbol, series),
        None => Ok(()),
    });
    if let Err(e) = cached {
        eprintln!("bars of {symbol} not cached: {e}");
        if let Some(store) = store() {
            let _ = store.delete(&format!("bars:{symbol}"));
        }
    }
    if let Err(e) = refresh() {
        // The bars are stored; without a fresh cache the next read recomputes.
        eprintln!("signals not refreshed after import: {e}");
        if let Some(store) = store() {
            let _ = store.delete(LATEST_KEY);
        }
    }
    let (first, last) = (rows[0].0, rows[rows.len() - 1].0);
    let mut answer = json!({
        "symbol": symbol, "imported": rows.len(),
        "first": dates::format(first), "last": dates::format(last),
    });
    if let (Some(answer), Value::Object(extra)) = (answer.as_object_mut(), extra) {
        answer.extend(extra);
    }
    Response::json(201, &answer)
}

/// Refuses a query parameter that is not in `allowed`, naming it and what the route takes.
fn known_query(request: &Request, allowed: &[&str]) -> Result<(), Response> {
    let unknown = request
        .query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| kv.split_once('=').map_or(kv, |(k, _)| k))
        .find(|k| !allowed.contains(k));
    match unknown {
        None => Ok(()),
        Some(name) => Err(Response::error(
            request,
            400,
            "unknown_parameter",
            &format!(
                "query parameter {name:?} is not one this route takes: {}",
                allowed.join(", ")
            ),
        )),
    }
}

/// Parameters from the query string: `vix=percentile`, `trend=50_200`, `treasury_band=0.01`,
/// and the look-backs.
fn params(request: &Request) -> Result<Params, Response> {
    let mut p = Params::default();
    let bad = |name: &str, v: &str| {
        Response::error(
            request,
            400,
            &format!("invalid_{name}"),
            &format!("{name}={v:?} is not valid"),
        )
    };
    for (name, target) in [
        ("utilities_lookback", &mut p.utilities_lookback),
        ("lumber_lookback", &mut p.lumber_lookback),
        ("treasury_lookback", &mut p.treasury_lookback),
    ] {
        if let Some(v) = request.query_param(name) {
            *target = v
                .parse()
                .ok()
                .filter(|n| (1..=rules::MAX_LOOKBACK).contains(n))
                .ok_or_else(|| bad(name, v))?;
        }
    }
    if let Some(v) = request.query_param("treasury_band") {
        p.treasury_band = v
            .parse()
            .ok()
            .filter(|b: &f64| (0.0..1.0).contains(b))
            .ok_or_else(|| bad("treasury_band", v))?;
    }
    if let Some(v) = request.query_param("vix") {
        p.vix = VixMode::from_short(v).ok_or_else(|| bad("vix", v))?;
    }
    match request.query_param("trend") {
        None | Some("200") => {}
        Some("50_200") => p.trend = TrendMode::Sma50And200,
        Some(v) => return Err(bad("trend", v)),
    }
    Ok(p)
}

fn regime(r: Regime) -> &'static str {
    match r {
        Regime::RiskOn => "risk_on",
        Regime::RiskOff => "risk_off",
        Regime::Neutral => "neutral",
    }
}

fn consensus_name(c: Consensus) -> &'static str {
    match c {
        Consensus::RiskOn => "risk_on",
        Consensus::RiskOff => "risk_off",
        Consensus::Mixed => "mixed",
    }
}

/// Loads the seven tickers and computes everything.
fn compute(p: &Params) -> Result<(Vec<rules::SignalSeries>, Vec<rules::ConsensusDay>), String> {
    let loaded = bars::load_cached(&TICKERS)?;
    let get = |s: &str| loaded.get(s).cloned().unwrap_or_default();
    let (spy, xlu, wood, gld, tlt, ief, vix) = (
        get("SPY"),
        get("XLU"),
        get("WOOD"),
        get("GLD"),
        get("TLT"),
        get("IEF"),
        get("VIX"),
    );
    let inputs = Inputs {
        spy: &spy,
        xlu: &xlu,
        wood: &wood,
        gld: &gld,
        tlt: &tlt,
        ief: &ief,
        vix: &vix,
    };
    let signals = rules::all(&inputs, p);
    let consensus = rules::consensus(&signals);
    Ok((signals, consensus))
}

/// Whether the request changes any default parameter (then nothing stored applies).
fn custom(request: &Request) -> bool {
    request
        .query
        .split('&')
        .any(|kv| !kv.is_empty() && !kv.starts_with("from=") && !kv.starts_with("to="))
}

fn store() -> Option<Store> {
    Store::open("default").ok()
}

const LATEST_KEY: &str = "signals:latest";

fn history_key(name: &str) -> String {
    format!("signals:history:{name}")
}

fn latest_json(
    signals: &[rules::SignalSeries],
    consensus: &[rules::ConsensusDay],
    p: &Params,
) -> Value {
    let mut out = serde_json::Map::new();
    for s in signals {
        out.insert(
            s.name.to_string(),
            s.points.last().map_or(Value::Null, |pt| {
                json!({"date": dates::format(pt.date), "value": pt.value, "regime": regime(pt.regime)})
            }),
        );
    }
    let latest = consensus.last().map_or(Value::Null, |(d, c, on, off)| {
        json!({"date": dates::format(*d), "state": consensus_name(*c), "risk_on": on, "risk_off": off})
    });
    json!({"signals": out, "consensus": latest, "params": p})
}

/// Recomputes the signals with the default parameters after an import, stores the latest
/// values and each history, and announces on the `signals` room which states changed.
pub fn refresh() -> Result<(), String> {
    let p = Params::default();
    let (signals, consensus) = compute(&p)?;
    let latest = latest_json(&signals, &consensus, &p);
    let store = store().ok_or("key-value store unavailable")?;
    let before: Option<Value> = store
        .get(LATEST_KEY)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let put = |key: &str, value: &dyn erased::Json| -> Result<(), String> {
        store
            .set(key, &value.bytes()?)
            .map_err(|e| format!("key-value: {e:?}"))
    };
    let put_decisions = |name: &str, days: Vec<u8>| {
        store
            .set(&decisions_key(name), &days)
            .map_err(|e| format!("key-value: {e:?}"))
    };
    for s in &signals {
        let points: Vec<(i32, f64, &str)> = s
            .points
            .iter()
            .map(|pt| (pt.date, pt.value, regime(pt.regime)))
            .collect();
        put(&history_key(s.name), &points)?;
        put_decisions(
            s.name,
            packed::encode_decisions(
                s.points
                    .iter()
                    .map(|pt| (pt.date, regime_decision(pt.regime))),
            ),
        )?;
    }
    let days: Vec<(i32, &str, u32, u32)> = consensus
        .iter()
        .map(|(d, c, on, off)| (*d, consensus_name(*c), *on, *off))
        .collect();
    put(&history_key("consensus"), &days)?;
    put_decisions(
        "consensus",
        packed::encode_decisions(
            consensus
                .iter()
                .map(|(d, c, ..)| (*d, consensus_decision(*c))),
        ),
    )?;
    put(LATEST_KEY, &latest)?;
    let state = |v: &Value, name: &str| -> Value {
        if name == "consensus" {
            v["consensus"]["state"].clone()
        } else {
            v["signals"][name]["regime"].clone()
        }
    };
    let changed: Vec<&str> = NAMES
        .iter()
        .chain(["consensus"].iter())
        .copied()
        .filter(|n| {
            before
                .as_ref()
                .is_none_or(|b| state(b, n) != state(&latest, n))
        })
        .collect();
    if !changed.is_empty() {
        // Best-effort: listeners are told; the stored values are what counts.
        let _ = events::publish(
            "signals",
            &json!({"changed": changed, "latest": latest}).to_string(),
        );
    }
    Ok(())
}

/// Serialising different value types through one closure.
mod erased {
    pub trait Json {
        fn bytes(&self) -> Result<Vec<u8>, String>;
    }

    impl<T: serde::Serialize> Json for T {
        fn bytes(&self) -> Result<Vec<u8>, String> {
            serde_json::to_vec(self).map_err(|e| e.to_string())
        }
    }
}

/// A stored history (default parameters): (date, value or state, regime or votes…) rows.
fn stored_history(name: &str) -> Option<Vec<Value>> {
    let bytes = store()?.get(&history_key(name)).ok().flatten()?;
    serde_json::from_slice(&bytes).ok()
}

/// The daily decisions of a signal (or the consensus) under the default parameters, as the
/// last import stored them.
fn stored_decisions(name: &str) -> Option<Vec<(i32, Decision)>> {
    let bytes = store()?.get(&decisions_key(name)).ok().flatten()?;
    packed::decode_decisions(&bytes)
}

fn decisions_key(name: &str) -> String {
    format!("signals:decisions:{name}")
}

fn regime_decision(r: Regime) -> Decision {
    match r {
        Regime::RiskOn => Decision::RiskOn,
        Regime::RiskOff => Decision::RiskOff,
        Regime::Neutral => Decision::Keep,
    }
}

fn consensus_decision(c: Consensus) -> Decision {
    match c {
        Consensus::RiskOn => Decision::RiskOn,
        Consensus::RiskOff => Decision::RiskOff,
        Consensus::Mixed => Decision::Keep,
    }
}

/// `GET /api/signals`: each signal's latest value and the consensus.
pub fn latest(request: &Request) -> Response {
    if let Err(refused) = known_query(request, &PARAM_QUERY) {
        return refused;
    }
    if !custom(request)
        && let Some(stored) = store()
            .and_then(|s| s.get(LATEST_KEY).ok().flatten())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        return Response::json(200, &stored);
    }
    let p = match params(request) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (signals, consensus) = match compute(&p) {
        Ok(x) => x,
        Err(e) => return unavailable(request, &e),
    };
    Response::json(200, &latest_json(&signals, &consensus, &p))
}

/// Parses the optional dates `from` and `to` (days) and checks they are in order; an error
/// names the field.
pub fn date_range(
    request: &Request,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Option<i32>, Option<i32>), Response> {
    let parse = |field: &str, text: Option<&str>| match text {
        None => Ok(None),
        Some(t) => dates::parse(t).map(Some).ok_or_else(|| {
            Response::error(
                request,
                400,
                &format!("invalid_{field}"),
                &format!("{field} {t:?} is not {}", dates::EXPECTED),
            )
        }),
    };
    let (first, last) = (parse("from", from)?, parse("to", to)?);
    if let (Some(f), Some(l)) = (first, last)
        && f > l
    {
        return Err(Response::error(
            request,
            400,
            "invalid_range",
            &format!("from {} is after to {}", dates::format(f), dates::format(l)),
        ));
    }
    Ok((first, last))
}

/// `GET /api/signals/{name}/history?from&to`.
pub fn history(request: &Request, name: &str) -> Response {
    let mut allowed = PARAM_QUERY.to_vec();
    allowed.extend(["from", "to"]);
    let checked = known_query(request, &allowed).and_then(|()| {
        let range = date_range(
            request,
            request.query_param("from"),
            request.query_param("to"),
        )?;
        Ok((params(request)?, range))
    });
    let (p, from, to) = match checked {
        Ok((p, (f, t))) => (p, f.unwrap_or(i32::MIN), t.unwrap_or(i32::MAX)),
        Err(r) => return r,
    };
    let in_range = |d: i32| (from..=to).contains(&d);
    if !custom(request)
        && (name == "consensus" || NAMES.contains(&name))
        && let Some(rows) = stored_history(name)
    {
        let points: Vec<Value> = rows
            .iter()
            .filter(|r| r[0].as_i64().is_some_and(|d| in_range(d as i32)))
            .map(|r| {
                let date = dates::format(r[0].as_i64().unwrap_or_default() as i32);
                if name == "consensus" {
                    json!({"date": date, "state": r[1], "risk_on": r[2], "risk_off": r[3]})
                } else {
                    json!({"date": date, "value": r[1], "regime": r[2]})
                }
            })
            .collect();
        return Response::json(200, &json!({"name": name, "points": points}));
    }
    let (signals, consensus) = match compute(&p) {
        Ok(x) => x,
        Err(e) => return unavailable(request, &e),
    };
    let points: Vec<Value> = if name == "consensus" {
        consensus
            .iter()
            .filter(|(d, ..)| in_range(*d))
            .map(|(d, c, on, off)| json!({"date": dates::format(*d), "state": consensus_name(*c), "risk_on": on, "risk_off": off}))
            .collect()
    } else if let Some(s) = signals.iter().find(|s| s.name == name) {
        s.points
            .iter()
            .filter(|pt| in_range(pt.date))
            .map(|pt| json!({"date": dates::format(pt.date), "value": pt.value, "regime": regime(pt.regime)}))
            .collect()
    } else {
        return Response::error(
            request,
            404,
            "unknown_signal",
            &format!("{name:?} is not one of {}, consensus", NAMES.join(", ")),
        );
    };
    Response::json(200, &json!({"name": name, "points": points}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BacktestJson {
    #[serde(default = "default_signal")]
    signal: String,
    #[serde(default = "default_risk_on")]
    risk_on: String,
    #[serde(default = "default_risk_off")]
    risk_off: String,
    #[serde(default = "default_rebalance")]
    rebalance: Rebalance,
    #[serde(default)]
    cost_bps: f64,
    #[serde(default)]
    params: Option<Params>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

fn default_signal() -> String {
    "consensus".into()
}
fn default_risk_on() -> String {
    "SPY".into()
}
fn default_risk_off() -> String {
    "TLT".into()
}
fn default_rebalance() -> Rebalance {
    Rebalance::Weekly
}

/// The span from `first` to `last` (days) in whole years, refused past
/// [`MAX_BACKTEST_YEARS`] with a message saying what spans it and how to narrow it.
fn within_backtest_span(
    request: &Request,
    first: i32,
    last: i32,
    what: &str,
) -> Result<(), Response> {
    // Calendar years, by the dates themselves, so a leap day never tips the balance.
    let years = |d: i32| dates::civil_from_days(d);
    let ((fy, fm, fd), (ly, lm, ld)) = (years(first), years(last));
    let whole = ly - fy - i32::from((lm, ld) < (fm, fd));
    if whole < MAX_BACKTEST_YEARS {
        return Ok(());
    }
    Err(Response::error(
        request,
        400,
        "range_too_long",
        &format!(
            "{what} from {} to {} spans {whole} years; a backtest covers less than {MAX_BACKTEST_YEARS}: narrow it with from/to",
            dates::format(first),
            dates::format(last)
        ),
    ))
}

/// A backtest's asset as a stored symbol, else a 400 naming `field` (`also` lists what else
/// the field takes).
fn asset(request: &Request, field: &str, text: &str, also: &str) -> Result<String, Response> {
    bars::normalise(text).ok_or_else(|| {
        Response::error(
            request,
            400,
            &format!("invalid_{field}"),
            &format!("{field} {text:?} is not a symbol (letters, digits and '.', up to 16){also}"),
        )
    })
}

/// `POST /api/backtests`.
pub fn run_backtest(request: &Request) -> Response {
    let body: BacktestJson = match request.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    if !(0.0..=1000.0).contains(&body.cost_bps) {
        return Response::error(
            request,
            400,
            "invalid_cost_bps",
            "cost_bps must be from 0 to 1000",
        );
    }
    let (from, to) = match date_range(request, body.from.as_deref(), body.to.as_deref()) {
        Ok(range) => range,
        Err(r) => return r,
    };
    if let (Some(f), Some(t)) = (from, to)
        && let Err(r) = within_backtest_span(request, f, t, "the range")
    {
        return r;
    }
    let (from, to) = (from.unwrap_or(i32::MIN), to.unwrap_or(i32::MAX));
    let known = body.signal == "consensus" || NAMES.contains(&body.signal.as_str());
    if !known {
        return Response::error(
            request,
            400,
            "invalid_signal",
            &format!(
                "signal {:?} is not consensus or one of {}",
                body.signal,
                NAMES.join(", ")
            ),
        );
    }
    if let Some(Err(e)) = body.params.as_ref().map(Params::check) {
        return Response::error(
            request,
            400,
            "invalid_params",
            &format!("params.{}: {}", e.name, e.message),
        );
    }
    let risk_off = (!body.risk_off.eq_ignore_ascii_case("cash"))
        .then(|| asset(request, "risk_off", &body.risk_off, " or cash"))
        .transpose();
    let (risk_on_symbol, risk_off_symbol) =
        match (asset(request, "risk_on", &body.risk_on, ""), risk_off) {
            (Ok(on), Ok(off)) => (on, off),
            (Err(r), _) | (_, Err(r)) => return r,
        };
    let limits = match results::limits() {
        Ok(l) => l,
        Err(e) => return Response::error(request, 500, "invalid_configuration", &e),
    };
    let stored = if body.params.is_none() {
        stored_decisions(&body.signal)
    } else {
        None
    };
    let p = body.params.unwrap_or_default();
    let (signals, consensus) = if stored.is_some() {
        (Vec::new(), Vec::new())
    } else {
        match compute(&p) {
            Ok(x) => x,
            Err(e) => return unavailable(request, &e),
        }
    };
    let decisions: Vec<(i32, Decision)> = if let Some(days) = stored {
        days
    } else if body.signal == "consensus" {
        consensus
            .iter()
            .map(|(d, c, ..)| (*d, consensus_decision(*c)))
            .collect()
    } else {
        signals
            .iter()
            .find(|s| s.name == body.signal)
            .map(|s| {
                s.points
                    .iter()
                    .map(|pt| (pt.date, regime_decision(pt.regime)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut wanted = vec![risk_on_symbol.as_str()];
    if let Some(s) = &risk_off_symbol {
        wanted.push(s);
    }
    let loaded = match bars::load_cached(&wanted) {
        Ok(l) => l,
        Err(e) => return unavailable(request, &e),
    };
    let window = |s: &Series| Series {
        dates: s
            .dates
            .iter()
            .copied()
            .filter(|d| (from..=to).contains(d))
            .collect(),
        closes: s
            .dates
            .iter()
            .zip(&s.closes)
            .filter(|(d, _)| (from..=to).contains(*d))
            .map(|(_, c)| *c)
            .collect(),
    };
    let risk_on = window(&loaded.get(&risk_on_symbol).cloned().unwrap_or_default());
    let risk_off = risk_off_symbol
        .as_ref()
        .map(|s| window(&loaded.get(s).cloned().unwrap_or_default()));
    if let (Some(first), Some(last)) = (risk_on.dates.first(), risk_on.dates.last())
        && let Err(r) = within_backtest_span(
            request,
            *first,
            *last,
            &format!("the bars of {risk_on_symbol}"),
        )
    {
        return r;
    }
    let config = BacktestConfig {
        rebalance: body.rebalance,
        cost_bps: body.cost_bps,
    };
    match backtest::run(&decisions, &risk_on, risk_off.as_ref(), &config) {
        Ok(b) => {
            let id = backtest_id();
            let result = json!({
                "id": id, "chart": format!("/api/backtests/{id}/chart.svg"),
                "signal": body.signal, "risk_on": risk_on_symbol,
                "risk_off": risk_off_symbol.unwrap_or_else(|| "cash".into()),
                "rebalance": body.rebalance, "cost_bps": body.cost_bps,
                "from": b.curve.first().map(|c| dates::format(c.0)),
                "to": b.curve.last().map(|c| dates::format(c.0)),
                "strategy": b.strategy, "benchmark": b.benchmark,
                "switches": b.switches, "time_risk_on": b.time_risk_on,
                "time_risk_off": 1.0 - b.time_risk_on,
            });
            // Kept for the chart (days as numbers: compact, and all the chart needs). Both
            // documents are written straight from the curve, not through a `Value` tree:
            // 5 000 rows of it cost more than the backtest.
            let stored = StoredBacktest {
                summary: &result,
                curve_days: &b.curve,
            };
            // Unattributed only under Spin, which has no auth layer: they share one quota.
            let owner = access::principal_id(request).unwrap_or_else(|| "anonymous".into());
            let saved = serde_json::to_string(&stored)
                .map_err(|e| e.to_string())
                .and_then(|text| results::save(&id, &owner, text, &limits));
            if let Err(e) = saved {
                eprintln!("backtest {id} not stored ({e}); its chart will be missing");
            }
            Response::json(
                200,
                &BacktestAnswer {
                    summary: &result,
                    curve: b
                        .curve
                        .iter()
                        .map(|(d, e, h, on)| (dates::format(*d), *e, *h, *on))
                        .collect(),
                },
            )
        }
        Err(message) => Response::error(request, 422, "insufficient_data", &message),
    }
}

/// A backtest as stored for its chart: the summary fields and the curve by day number.
#[derive(Serialize)]
struct StoredBacktest<'a> {
    #[serde(flatten)]
    summary: &'a Value,
    curve_days: &'a [(i32, f64, f64, bool)],
}

/// A backtest as answered: the summary fields and the curve by date.
#[derive(Serialize)]
struct BacktestAnswer<'a> {
    #[serde(flatten)]
    summary: &'a Value,
    curve: Vec<(String, f64, f64, bool)>,
}

fn backtest_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn stored_backtest(request: &Request, id: &str) -> Result<Value, Response> {
    let missing = || {
        Response::error(
            request,
            404,
            "unknown_backtest",
            &format!("no backtest {id:?}"),
        )
    };
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(missing());
    }
    let limits = results::limits()
        .map_err(|e| Response::error(request, 500, "invalid_configuration", &e))?;
    match results::load(id, &limits) {
        Ok(Some(text)) => serde_json::from_str(&text).map_err(|_| missing()),
        Ok(None) => Err(missing()),
        Err(e) => Err(unavailable(request, &e)),
    }
}

/// `GET /api/backtests/{id}`: the stored result, without the curve.
pub fn get_backtest(request: &Request, id: &str) -> Response {
    match stored_backtest(request, id) {
        Ok(mut v) => {
            if let Some(o) = v.as_object_mut() {
                o.remove("curve_days");
            }
            Response::json(200, &v)
        }
        Err(r) => r,
    }
}

/// `GET /api/backtests/{id}/chart.svg`.
pub fn chart(request: &Request, id: &str) -> Response {
    match stored_backtest(request, id) {
        Ok(v) => Response::content(200, "image/svg+xml", crate::chart::svg(&v).into_bytes()),
        Err(r) => r,
    }
}
