//! Trading risk: a trader must not get around the pre-trade rules with an order type, a
//! second symbol or sheer numbers of orders.

use bourse_tests::{Backend, TestHost, app_text, manifest_from};
use serde_json::{Value, json};

use super::common::code;

async fn place(host: &TestHost, key: &str, order: Value) -> (u16, Value) {
    host.post("/api/orders", Some(key), &order.to_string())
        .await
}

fn limit(symbol: &str, side: &str, price: &str, quantity: &str) -> Value {
    json!({"symbol": symbol, "side": side, "type": "limit", "price": price, "quantity": quantity})
}

fn market(symbol: &str, side: &str, quantity: &str) -> Value {
    json!({"symbol": symbol, "side": side, "type": "market", "quantity": quantity})
}

/// The application with the order handler's `variable` defaulting to `value`.
fn with_risk_variable(variable: &str, value: &str) -> bourse::manifest::Manifest {
    let text = app_text();
    let from = format!(r#"{variable} = {{ default = ""#);
    let start = text
        .find(&from)
        .unwrap_or_else(|| panic!("spin.toml declares {variable}"));
    let end = start + from.len() + text[start + from.len()..].find('"').expect("closing quote");
    let text = format!("{}{from}{value}{}", &text[..start], &text[end..]);
    manifest_from(&text)
}

/// A market order is valued at what it would actually cost: walking the asks, not the best
/// one. With the default `max_order_notional` of 10 000 000, a buy that sweeps one lot at 100
/// and 18 000 lots at 1 000 (18 000 100 in all) is refused, though 18 001 × 100 is far under.
#[tokio::test]
async fn a_market_order_is_valued_at_the_levels_it_would_take() {
    for backend in Backend::ALL {
        let host = TestHost::start(bourse_tests::app_manifest(), backend, 10_000).await;
        let maker = host.api_key("maker", &["trader"]).await;
        let taker = host.api_key("taker", &["trader"]).await;
        for order in [
            limit("MSFT", "sell", "100", "1"),
            limit("MSFT", "sell", "1000", "9000"),
            limit("MSFT", "sell", "1000", "9000"),
        ] {
            let (status, body) = place(&host, &maker, order).await;
            assert_eq!(status, 201, "{backend:?}: {body}");
        }

        let (status, body) = place(&host, &taker, market("MSFT", "buy", "18001")).await;
        assert_eq!(
            status, 400,
            "{backend:?}: the sweep must be refused: {body}"
        );
        assert_eq!(code(&body), "invalid_quantity", "{backend:?}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("max_order_notional") && message.contains("18000100"),
            "{backend:?}: the message names the rule and the real value: {body}"
        );
        let (_, book) = host.get("/api/book/MSFT", None).await;
        assert_eq!(
            book["asks"],
            json!([["100", "1"], ["1000", "18000"]]),
            "{backend:?}: nothing traded"
        );

        // Under the limit the same kind of order goes through: 1 @ 100 + 9 000 @ 1 000.
        let (status, body) = place(&host, &taker, market("MSFT", "buy", "9001")).await;
        assert_eq!(status, 201, "{backend:?}: {body}");
        assert_eq!(body["status"], "filled", "{backend:?}: {body}");
        host.stop().await;
    }
}

/// A market order is held to the price band like a limit order: it may not sweep the book to
/// a price further from the last trade than `price_band_percent` allows.
#[tokio::test]
async fn a_market_order_may_not_sweep_beyond_the_price_band() {
    for backend in Backend::ALL {
        let host = TestHost::start(
            with_risk_variable("price_band_percent", "10"),
            backend,
            10_000,
        )
        .await;
        let maker = host.api_key("maker", &["trader"]).await;
        let taker = host.api_key("taker", &["trader"]).await;
        // Before any trade there is no band: asks at 100, 105 and (far away) 200; then a
        // trade at 100.
        for (key, order) in [
            (&maker, limit("SPY", "sell", "100", "1")),
            (&maker, limit("SPY", "sell", "105", "2")),
            (&maker, limit("SPY", "sell", "200", "5")),
            (&taker, limit("SPY", "buy", "100", "1")),
        ] {
            let (status, body) = place(&host, key, order).await;
            assert_eq!(status, 201, "{backend:?}: {body}");
        }

        let (status, body) = place(&host, &taker, market("SPY", "buy", "2")).await;
        assert_eq!(status, 201, "{backend:?}: 105 is inside the band: {body}");
        assert_eq!(body["status"], "filled", "{backend:?}: {body}");

        let (status, body) = place(&host, &taker, market("SPY", "buy", "1")).await;
        assert_eq!(status, 400, "{backend:?}: 200 is outside the band: {body}");
        assert_eq!(code(&body), "invalid_price", "{backend:?}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("price_band_percent") && message.contains("200"),
            "{backend:?}: the message names the rule and the price: {body}"
        );
        let (_, book) = host.get("/api/book/SPY", None).await;
        assert_eq!(
            book["asks"],
            json!([["200", "5"]]),
            "{backend:?}: nothing traded"
        );
        host.stop().await;
    }
}
