//! Fetching bars from market-data providers through the signals component: a local server
//! plays each provider with the bodies in `crates/signals/tests/fixtures/providers`, so the
//! real component sends real HTTP requests through the host's outbound grant.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest, app_text, manifest_from};
use serde_json::Value;
use std::collections::HashMap;

const TIINGO_KEY: &str = "tiingo-test-key";
// The Alpha Vantage fixture quotes the caller's key; the component must not pass it on.
const ALPHA_KEY: &str = "BOURSETEST";
const FRED_KEY: &str = "fred-test-key";

fn fixture(name: &str) -> String {
    let path = bourse_tests::workspace()
        .join("crates/signals/tests/fixtures/providers")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json_answer(status: StatusCode, body: String) -> axum::response::Response {
    (status, [("content-type", "application/json")], body).into_response()
}

/// A server answering as Tiingo, Alpha Vantage and FRED do; returns its address.
async fn provider_server() -> String {
    let app = Router::new()
        .route(
            "/tiingo/daily/{ticker}/prices",
            get(
                |Path(ticker): Path<String>, headers: HeaderMap| async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                    if auth != Some(&format!("Token {TIINGO_KEY}")) {
                        return json_answer(
                            StatusCode::UNAUTHORIZED,
                            r#"{"detail":"Invalid token."}"#.into(),
                        );
                    }
                    match ticker.as_str() {
                        "spy" => json_answer(StatusCode::OK, fixture("tiingo_spy.json")),
                        _ => json_answer(StatusCode::NOT_FOUND, fixture("tiingo_not_found.json")),
                    }
                },
            ),
        )
        .route(
            "/query",
            get(|Query(_q): Query<HashMap<String, String>>| async move {
                // Alpha Vantage answers its rate limit with 200 and a message.
                json_answer(StatusCode::OK, fixture("alphavantage_limit.json"))
            }),
        )
        .route(
            "/fred/series/observations",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                if q.get("api_key").map(String::as_str) != Some(FRED_KEY) {
                    return json_answer(StatusCode::BAD_REQUEST, fixture("fred_bad_key.json"));
                }
                assert_eq!(q.get("series_id").map(String::as_str), Some("VIXCLS"));
                json_answer(StatusCode::OK, fixture("fred_vixcls.json"))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A listener that counts connections and never answers.
async fn counting_listener() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (format!("http://{addr}"), hits)
}

/// spin.toml with keys set, every provider URL at `base`, and the Tiingo URL the component
/// reads replaced by `tiingo_override` (its grant still follows the application variable).
fn manifest_text(base: &str, tiingo_override: Option<&str>) -> String {
    let mut text = app_text();
    for (var, value, secret) in [
        ("tiingo_api_key", TIINGO_KEY, true),
        ("alphavantage_api_key", ALPHA_KEY, true),
        ("fred_api_key", FRED_KEY, true),
    ] {
        let from = format!(r#"{var} = {{ default = "", secret = {secret} }}"#);
        assert!(text.contains(&from), "spin.toml declares {var}");
        text = text.replace(
            &from,
            &format!(r#"{var} = {{ default = "{value}", secret = {secret} }}"#),
        );
    }
    for (var, public) in [
        ("tiingo_url", "https://api.tiingo.com"),
        ("alphavantage_url", "https://www.alphavantage.co"),
        ("fred_url", "https://api.stlouisfed.org"),
    ] {
        let from = format!(r#"{var} = {{ default = "{public}" }}"#);
        assert!(text.contains(&from), "spin.toml declares {var}");
        text = text.replace(&from, &format!(r#"{var} = {{ default = "{base}" }}"#));
    }
    if let Some(url) = tiingo_override {
        let from = r#"tiingo_url = "{{ tiingo_url }}""#;
        assert!(text.contains(from));
        text = text.replace(from, &format!(r#"tiingo_url = "{url}""#));
    }
    text
}

async fn fetch(host: &TestHost, token: &str, body: &str) -> (u16, Value) {
    host.post("/api/bars/fetch", Some(token), body).await
}

/// Fetches `body`, expects the error `status`/`code`, and returns its message.
async fn fetch_error(host: &TestHost, body: &str, status: u16, code: &str) -> String {
    let (got, answer) = fetch(host, ADMIN_TOKEN, body).await;
    assert_eq!(
        (got, answer["error"]["code"].as_str()),
        (status, Some(code)),
        "{body}: {answer}"
    );
    answer["error"]["message"]
        .as_str()
        .expect("message")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bars_come_from_the_configured_providers_through_the_outbound_grant() {
    let _keys = bourse_tests::signals_keys(Backend::Services).await;
    let base = provider_server().await;
    let host = TestHost::start(
        manifest_from(&manifest_text(&base, None)),
        Backend::Services,
        10_000,
    )
    .await;

    let (status, body) = host.get("/api/bars/providers", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["providers"]
            .as_array()
            .expect("list")
            .iter()
            .all(|p| p["configured"] == true),
        "{body}"
    );
    for key in [TIINGO_KEY, ALPHA_KEY, FRED_KEY] {
        assert!(!body.to_string().contains(key), "a key leaked: {body}");
    }

    let trader = host.api_key("bar-trader", &["trader"]).await;
    let (status, body) = fetch(&host, &trader, r#"{"symbol":"SPY"}"#).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );

    // SPY: the first provider with a key that serves it is Tiingo.
    let (status, body) = fetch(
        &host,
        ADMIN_TOKEN,
        r#"{"symbol":"SPY","from":"2024-01-02","to":"2024-01-08"}"#,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["provider"], "tiingo");
    assert_eq!(body["imported"], 5);
    assert_eq!(
        (body["first"].as_str(), body["last"].as_str()),
        (Some("2024-01-02"), Some("2024-01-08"))
    );

    // The VIX comes from FRED, holidays (".") skipped.
    let (status, body) = fetch(&host, ADMIN_TOKEN, r#"{"symbol":"^VIX"}"#).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["provider"].as_str(), body["symbol"].as_str()),
        (Some("fred"), Some("VIX"))
    );
    assert_eq!(body["imported"], 9);

    // A provider's refusal reaches the caller in its words, without the key it quotes.
    let message = fetch_error(
        &host,
        r#"{"symbol":"SPY","provider":"alphavantage"}"#,
        502,
        "provider_refused",
    )
    .await;
    assert!(
        message.contains("rate limit") && message.contains("***"),
        "{message}"
    );
    assert!(!message.contains(ALPHA_KEY), "{message}");

    let message = fetch_error(
        &host,
        r#"{"symbol":"NOPE","provider":"tiingo"}"#,
        502,
        "provider_refused",
    )
    .await;
    assert!(message.contains("not found"), "{message}");

    for (request, code) in [
        (
            r#"{"symbol":"VIX","provider":"tiingo"}"#,
            "unsupported_symbol",
        ),
        (r#"{"symbol":"SPY","provider":"yahoo"}"#, "unknown_provider"),
        (r#"{"symbol":"SPY","from":"2024-13-01"}"#, "invalid_from"),
        (r#"{"symbol":"S P Y"}"#, "invalid_symbol"),
        (r#"{"symbol":"SPY","extra":1}"#, "invalid_json"),
    ] {
        let (status, body) = fetch(&host, ADMIN_TOKEN, request).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some(code)),
            "{request}: {body}"
        );
    }

    // Fetched bars are ordinary bars: the signals read them.
    let (status, body) = host.get("/api/signals", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_outside_the_grant_is_refused_before_any_connection() {
    let base = provider_server().await;
    let (elsewhere, hits) = counting_listener().await;
    let text = manifest_text(&base, Some(&elsewhere));
    let host = TestHost::start(manifest_from(&text), Backend::Embedded, 10_000).await;
    let message = fetch_error(
        &host,
        r#"{"symbol":"SPY","provider":"tiingo"}"#,
        502,
        "provider_unreachable",
    )
    .await;
    assert!(message.contains("allowed_outbound_hosts"), "{message}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no connection was made");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_no_provider_is_called_and_the_error_names_the_setting() {
    let host = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let message = fetch_error(&host, r#"{"symbol":"SPY"}"#, 400, "provider_not_configured").await;
    assert!(
        message.contains("TIINGO_API_KEY") && message.contains("ALPHAVANTAGE_API_KEY"),
        "{message}"
    );
    let message = fetch_error(&host, r#"{"symbol":"VIX"}"#, 400, "provider_not_configured").await;
    assert!(message.contains("FRED_API_KEY"), "{message}");
    host.stop().await;
}
