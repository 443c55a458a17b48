//! Signals, bars and backtests: the shared data (stored signal values, daily bars and the
//! signals computed from them) is written only by the ops or admin role while anyone reads it;
//! a trader's stored backtests expire and are capped per principal; requests are bounded and
//! every parameter out of its range is refused with a 400 naming it.

use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest, app_text, manifest_from};
use serde_json::{Value, json};

use super::common::{access, code};

/// `date,close` CSV of `days` weekdays from 2024-01-01 (a Monday), rising slowly.
fn bars_csv(days: usize) -> String {
    let start = bourse_signals::dates::parse("2024-01-01").expect("date");
    let mut out = String::from("date,close\n");
    let (mut n, mut day) = (0, start);
    while n < days {
        if (day - start) % 7 < 5 {
            let d = bourse_signals::dates::format(day);
            out.push_str(&format!("{d},{:.2}\n", 100.0 + n as f64 * 0.1));
            n += 1;
        }
        day += 1;
    }
    out
}

/// `POST /api/bars/import?symbol=…` with a CSV body as `token`.
async fn import(host: &TestHost, symbol: &str, csv: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = host
        .client
        .post(format!("{}/api/bars/import?symbol={symbol}", host.url))
        .header("content-type", "text/csv")
        .body(csv.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// Imports SPY and TLT (enough for a SPY/TLT backtest) as ops.
async fn seed_bars(host: &TestHost) {
    for symbol in ["SPY", "TLT"] {
        let (status, body) = import(host, symbol, &bars_csv(30), Some(ADMIN_TOKEN)).await;
        assert_eq!(status, 201, "{symbol}: {body}");
    }
}

/// The application manifest with `variable`'s default set to `value`.
fn with_variable(text: String, variable: &str, value: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{variable} = {{ default = ")))
        .unwrap_or_else(|| panic!("spin.toml declares {variable}"))
        .to_string();
    text.replace(&line, &format!(r#"{variable} = {{ default = "{value}" }}"#))
}

async fn backtest(host: &TestHost, token: &str, body: Value) -> (u16, Value) {
    host.post("/api/backtests", Some(token), &body.to_string())
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_ops_write_shared_signals_and_bars() {
    for backend in Backend::ALL {
        let _keys = bourse_tests::signals_keys(backend).await;
        let host = TestHost::start(app_manifest(), backend, 10_000).await;
        let trader = access(&host.sign_up(&bourse_tests::unique("sig-trader-")).await);
        let name = bourse_tests::unique("shared-");
        let ratio = json!({"name": name, "numerator": [1.0, 2.0], "denominator": [1.0, 1.0], "lookback": 1})
            .to_string();

        // The signal store is read by everyone: an anonymous write must not reach it.
        let (status, body) = host.post("/api/signals/ratio", None, &ratio).await;
        assert_eq!(
            (status, code(&body)),
            (401, "unauthenticated"),
            "{backend:?}: {body}"
        );
        let (status, body) = host.post("/api/signals/ratio", Some(&trader), &ratio).await;
        assert_eq!(
            (status, code(&body)),
            (403, "forbidden"),
            "{backend:?}: {body}"
        );
        let (status, body) = host.get(&format!("/api/signals/{name}"), None).await;
        assert_eq!(status, 404, "nothing was stored: {body}");
        let (status, body) = host
            .post("/api/signals/ratio", Some(ADMIN_TOKEN), &ratio)
            .await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        let (status, body) = host.get(&format!("/api/signals/{name}"), None).await;
        assert_eq!(status, 200, "reads stay public: {body}");

        // Bars feed the signals everyone sees: a trader's import or fetch is refused.
        let (status, body) = import(&host, "SPY", &bars_csv(5), Some(&trader)).await;
        assert_eq!(
            (status, code(&body)),
            (403, "forbidden"),
            "{backend:?}: {body}"
        );
        let (status, body) = import(&host, "SPY", &bars_csv(5), None).await;
        assert_eq!(status, 401, "{backend:?}: {body}");
        let (status, body) = host
            .post("/api/bars/fetch", Some(&trader), r#"{"symbol":"SPY"}"#)
            .await;
        assert_eq!(
            (status, code(&body)),
            (403, "forbidden"),
            "{backend:?}: {body}"
        );
        // On Redis the cached closes are shared by every test host running at once: only the
        // embedded store shows this host's bars alone.
        if backend == Backend::Embedded {
            let (_, history) = host.get("/api/signals/trend/history", None).await;
            assert_eq!(history["points"], json!([]), "no refused import was stored");
        }
        let (status, body) = import(&host, "SPY", &bars_csv(5), Some(ADMIN_TOKEN)).await;
        assert_eq!(status, 201, "{backend:?}: {body}");
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_backtests_are_capped_per_principal() {
    for backend in Backend::ALL {
        let _keys = bourse_tests::signals_keys(backend).await;
        let text = with_variable(app_text(), "backtest_quota", "3");
        let host = TestHost::start(manifest_from(&text), backend, 10_000).await;
        seed_bars(&host).await;
        let alice = access(&host.sign_up(&bourse_tests::unique("bt-alice-")).await);
        let bob = access(&host.sign_up(&bourse_tests::unique("bt-bob-")).await);
        let (status, theirs) = backtest(&host, &bob, json!({"risk_off": "TLT"})).await;
        assert_eq!(status, 200, "{backend:?}: {theirs}");
        let mut ids = Vec::new();
        for _ in 0..4 {
            let (status, result) = backtest(&host, &alice, json!({"risk_off": "TLT"})).await;
            assert_eq!(status, 200, "{backend:?}: {result}");
            ids.push(result["id"].as_str().expect("id").to_string());
        }
        // The oldest of alice's four is dropped to keep three; bob's is not hers to evict.
        let (status, body) = host
            .get(&format!("/api/backtests/{}", ids[0]), Some(&alice))
            .await;
        assert_eq!(
            (status, code(&body)),
            (404, "unknown_backtest"),
            "{backend:?}: {body}"
        );
        for id in &ids[1..] {
            let (status, body) = host
                .get(&format!("/api/backtests/{id}"), Some(&alice))
                .await;
            assert_eq!(status, 200, "{backend:?} {id}: {body}");
        }
        let bobs = theirs["id"].as_str().expect("id");
        let (status, body) = host
            .get(&format!("/api/backtests/{bobs}"), Some(&bob))
            .await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_backtests_expire() {
    for backend in Backend::ALL {
        let _keys = bourse_tests::signals_keys(backend).await;
        let text = with_variable(app_text(), "backtest_ttl_seconds", "3");
        let host = TestHost::start(manifest_from(&text), backend, 10_000).await;
        seed_bars(&host).await;
        let (status, result) = backtest(&host, ADMIN_TOKEN, json!({"risk_off": "TLT"})).await;
        assert_eq!(status, 200, "{backend:?}: {result}");
        let path = format!("/api/backtests/{}", result["id"].as_str().expect("id"));
        let (status, body) = host.get(&path, Some(ADMIN_TOKEN)).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        tokio::time::sleep(std::time::Duration::from_secs(4)).await;
        let (status, body) = host.get(&path, Some(ADMIN_TOKEN)).await;
        assert_eq!(
            (status, code(&body)),
            (404, "unknown_backtest"),
            "{backend:?}: {body}"
        );
        let (status, _) = host
            .get(&format!("{path}/chart.svg"), Some(ADMIN_TOKEN))
            .await;
        assert_eq!(
            status, 404,
            "{backend:?}: the chart expires with its backtest"
        );
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_requests_are_bounded() {
    let host = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    // Two closes 74 years apart: without from/to the backtest would span them all.
    for symbol in ["SPY", "TLT"] {
        let csv = "date,close\n1950-01-03,10\n2024-01-02,400\n";
        let (status, body) = import(&host, symbol, csv, Some(ADMIN_TOKEN)).await;
        assert_eq!(status, 201, "{body}");
    }
    let cases = [
        (json!({}), "range_too_long", ""),
        (
            json!({"from": "2024-01-01", "to": "2023-01-01"}),
            "invalid_range",
            "from",
        ),
        (
            json!({"from": "1900-01-01", "to": "2024-01-01"}),
            "range_too_long",
            "from",
        ),
        (
            json!({"risk_on": "no such symbol!"}),
            "invalid_risk_on",
            "risk_on",
        ),
        (json!({"risk_off": ""}), "invalid_risk_off", "risk_off"),
        (
            json!({"signal": "astrology"}),
            "invalid_signal",
            "astrology",
        ),
    ];
    for (body, want, mentions) in cases {
        let (status, answer) = backtest(&host, ADMIN_TOKEN, body.clone()).await;
        assert_eq!((status, code(&answer)), (400, want), "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(mentions), "{body}: {message}");
    }
    // Narrowed to a range it may cover, the same bars are no longer refused for their span.
    let (status, answer) = backtest(&host, ADMIN_TOKEN, json!({"from": "2000-01-01"})).await;
    assert_ne!(code(&answer), "range_too_long", "{status}: {answer}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_out_of_range_are_refused() {
    let host = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    seed_bars(&host).await;
    let percentile = |low: f64, high: f64, window: u64| json!({"params": {"vix": {"mode": "percentile", "window": window, "low": low, "high": high}}});
    let cases = [
        // A percentage where a share of the window is meant.
        (percentile(25.0, 75.0, 252), "params.vix.low"),
        (percentile(0.25, 75.0, 252), "params.vix.high"),
        (percentile(0.75, 0.25, 252), "params.vix.low"),
        (percentile(0.25, 0.75, 0), "params.vix.window"),
        (percentile(0.25, 0.75, 100_000), "params.vix.window"),
        (
            json!({"params": {"vix": {"mode": "threshold", "level": -3.0}}}),
            "params.vix.level",
        ),
        (
            json!({"params": {"utilities_lookback": 0}}),
            "params.utilities_lookback",
        ),
        (
            json!({"params": {"lumber_lookback": 100_000}}),
            "params.lumber_lookback",
        ),
        (
            json!({"params": {"treasury_band": 5.0}}),
            "params.treasury_band",
        ),
    ];
    for (body, parameter) in cases {
        let (status, answer) = backtest(&host, ADMIN_TOKEN, body.clone()).await;
        assert_eq!(
            (status, code(&answer)),
            (400, "invalid_params"),
            "{body}: {answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(parameter), "{parameter}: {message}");
    }
    // Query parameters the signal routes do not know are refused, not ignored.
    for path in [
        "/api/signals?lookback=5",
        "/api/signals/trend/history?vix_low=25",
        "/api/signals/trend/history?from=2024-02-01&to=2024-01-01",
        "/api/signals?treasury_band=-0.5",
    ] {
        let (status, answer) = host.get(path, None).await;
        assert_eq!(status, 400, "{path}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        let named = path
            .rsplit(['?', '&'])
            .next()
            .and_then(|kv| kv.split('=').next())
            .unwrap_or_default();
        assert!(
            message.contains(named) || message.contains("from"),
            "{path}: {message}"
        );
    }
    // Bars dated where no market was (or will be) are not signals anyone can use.
    for csv in [
        "date,close\n9999-01-04,100\n",
        "date,close\n0001-01-01,100\n",
    ] {
        let (status, answer) = import(&host, "GLD", csv, Some(ADMIN_TOKEN)).await;
        assert_eq!(
            (status, code(&answer)),
            (400, "invalid_bars"),
            "{csv}: {answer}"
        );
    }
    let (status, answer) = host
        .post(
            "/api/bars/fetch",
            Some(ADMIN_TOKEN),
            r#"{"symbol":"SPY","from":"2024-02-01","to":"2024-01-01"}"#,
        )
        .await;
    assert_eq!((status, code(&answer)), (400, "invalid_range"), "{answer}");
    host.stop().await;
}
