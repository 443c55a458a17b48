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

/// Checks an answer is the refusal `(status, code)` whose message names each of `names`.
fn assert_refused(answer: &(u16, Value), expected: (u16, &str), names: &[&str], what: &str) {
    let (status, body) = answer;
    assert_eq!((*status, code(body)), expected, "{what}: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    for name in names {
        assert!(
            message.contains(name),
            "{what}: the message names {name}: {body}"
        );
    }
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

        let refused = place(&host, &taker, market("SPY", "buy", "1")).await;
        assert_refused(
            &refused,
            (400, "invalid_price"),
            &["price_band_percent", "200"],
            &format!("{backend:?}: 200 is outside the band"),
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

/// A host whose accounts may each have `cap` orders resting at once.
async fn with_open_order_cap(backend: Backend, cap: u64) -> TestHost {
    TestHost::start_custom(bourse_tests::app_manifest(), backend, |c| {
        c.max_open_orders = cap;
    })
    .await
}

/// The caller's open orders, as `GET /api/orders?status=open` lists them.
async fn open_orders(host: &TestHost, key: &str) -> Vec<Value> {
    let (status, body) = host
        .get("/api/orders?status=open&limit=1000", Some(key))
        .await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .or_else(|| body["orders"].as_array())
        .cloned()
        .unwrap_or_else(|| panic!("a list of orders: {body}"))
}

/// An account may not fill the books with resting orders: beyond the cap (spread over symbols
/// that live in different matching shards) a limit order is refused, naming the cap. Every way
/// an order closes — a cancel, a fill by someone else — gives its place back, and an order
/// that never rests (IOC) is not counted.
#[tokio::test]
async fn an_account_cannot_rest_more_orders_than_the_open_order_cap() {
    for backend in Backend::ALL {
        let host = with_open_order_cap(backend, 3).await;
        let maker = host.api_key("maker", &["trader"]).await;
        let taker = host.api_key("taker", &["trader"]).await;
        let mut ids = Vec::new();
        for symbol in ["AAPL", "MSFT", "SPY"] {
            let (status, body) = place(&host, &maker, limit(symbol, "sell", "100", "1")).await;
            assert_eq!(status, 201, "{backend:?}: {body}");
            ids.push(body["order_id"].as_str().expect("order id").to_string());
        }
        let refused = place(&host, &maker, limit("AAPL", "sell", "101", "1")).await;
        assert_refused(
            &refused,
            (422, "too_many_open_orders"),
            &["3", "BOURSE_MAX_OPEN_ORDERS"],
            &format!("{backend:?}: a fourth resting order"),
        );
        // An order that cannot rest does not count against the cap.
        let mut ioc = limit("MSFT", "buy", "1", "1");
        ioc["time_in_force"] = json!("ioc");
        let (status, body) = place(&host, &maker, ioc).await;
        assert_eq!(status, 201, "{backend:?}: an IOC never rests: {body}");
        // Another account has its own count.
        let (status, body) = place(&host, &taker, limit("AAPL", "buy", "50", "1")).await;
        assert_eq!(status, 201, "{backend:?}: {body}");

        let (status, body) = host
            .call(
                reqwest::Method::DELETE,
                &format!("/api/orders/{}", ids[0]),
                Some(&maker),
                None,
            )
            .await;
        assert_eq!(status, 200, "{backend:?}: cancel: {body}");
        let (status, body) = place(&host, &maker, limit("AAPL", "sell", "102", "1")).await;
        assert_eq!(status, 201, "{backend:?}: a cancel frees a place: {body}");
        let (status, body) = place(&host, &maker, limit("AAPL", "sell", "103", "1")).await;
        assert_eq!(status, 422, "{backend:?}: full again: {body}");

        // Someone else's order fills one of the maker's: that place is free too.
        let (status, body) = place(&host, &taker, limit("MSFT", "buy", "100", "1")).await;
        assert_eq!(status, 201, "{backend:?}: {body}");
        assert_eq!(body["status"], "filled", "{backend:?}: {body}");
        let (status, body) = place(&host, &maker, limit("MSFT", "sell", "104", "1")).await;
        assert_eq!(status, 201, "{backend:?}: a fill frees a place: {body}");
        assert_eq!(open_orders(&host, &maker).await.len(), 3, "{backend:?}");
        host.stop().await;
    }
}

/// Placements racing each other, on symbols of different shards, cannot get past the cap
/// together: exactly `cap` of them rest, the others are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_placements_cannot_exceed_the_open_order_cap() {
    for backend in Backend::ALL {
        let cap = 5;
        let host = with_open_order_cap(backend, cap).await;
        let key = host.api_key("flooder", &["trader"]).await;
        let placements = (0..60).map(|i| {
            let symbol = ["AAPL", "MSFT", "SPY"][i % 3];
            place(
                &host,
                &key,
                limit(symbol, "buy", &format!("{}", 10 + i), "1"),
            )
        });
        let answers = futures_util::future::join_all(placements).await;
        let accepted = answers.iter().filter(|(status, _)| *status == 201).count();
        for (status, body) in &answers {
            assert!(
                *status == 201 || (*status == 422 && code(body) == "too_many_open_orders"),
                "{backend:?}: {status} {body}"
            );
        }
        assert_eq!(accepted as u64, cap, "{backend:?}");
        assert_eq!(
            open_orders(&host, &key).await.len() as u64,
            cap,
            "{backend:?}"
        );
        host.stop().await;
    }
}

/// A client order id names one order per account, whatever the symbol: the same id sent on
/// two symbols at once (which live in different matching shards) makes one order, and every
/// other answer is that order, marked as a repeat (or, with Redis, a 409 while the first
/// order is under way on another replica's shard).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_order_id_on_two_symbols_at_once_makes_one_order() {
    for backend in Backend::ALL {
        let host = TestHost::start(bourse_tests::app_manifest(), backend, 10_000).await;
        let key = host.api_key("twin", &["trader"]).await;
        let rounds = 15;
        for round in 0..rounds {
            let placements = (0..6).map(|i| {
                let symbol = ["AAPL", "MSFT"][i % 2];
                let mut order = limit(symbol, "buy", "10", "1");
                order["client_order_id"] = json!(format!("twin-{round}"));
                place(&host, &key, order)
            });
            let answers = futures_util::future::join_all(placements).await;
            let mut made = std::collections::BTreeSet::new();
            for (status, body) in &answers {
                // On a cluster's Redis a repeat on the other symbol cannot wait for the first
                // order: while it is not on the books the repeat is refused as a duplicate.
                if *status == 409 {
                    assert_eq!(
                        code(body),
                        "duplicate_client_order_id",
                        "{backend:?}: {body}"
                    );
                    continue;
                }
                assert!(
                    *status == 201 || *status == 200,
                    "{backend:?}: round {round}: {status} {body}"
                );
                made.insert(body["order_id"].as_str().unwrap_or_default().to_string());
            }
            assert_eq!(
                made.len(),
                1,
                "{backend:?}: round {round}: one order for one client order id: {answers:?}"
            );
            let created = answers.iter().filter(|(status, _)| *status == 201).count();
            assert_eq!(created, 1, "{backend:?}: round {round}: {answers:?}");
        }
        assert_eq!(open_orders(&host, &key).await.len(), rounds, "{backend:?}");
        host.stop().await;
    }
}

/// The engine stats are public and cheap; the state hash, which walks every book on the
/// matching tasks, is for operators only, and a parameter the route does not know is named.
#[tokio::test]
async fn the_state_hash_of_the_engine_stats_is_for_operators() {
    for backend in Backend::ALL {
        let host = TestHost::start(bourse_tests::app_manifest(), backend, 10_000).await;
        let key = host.api_key("curious", &["trader"]).await;
        let (status, stats) = host.get("/api/engine/stats", None).await;
        assert_eq!(status, 200, "{backend:?}: {stats}");
        assert!(
            stats["shards"][0]["state"]["state_hash"].is_null(),
            "{backend:?}: {stats}"
        );
        for token in [None, Some(key.as_str())] {
            let (status, body) = host.get("/api/engine/stats?state_hash=true", token).await;
            assert!(
                status == 401 || status == 403,
                "{backend:?}: {token:?}: {status} {body}"
            );
        }
        let (status, body) = host.get("/api/engine/stats?book=all", None).await;
        assert_refused(
            &(status, body),
            (400, "unknown_parameter"),
            &["book=all"],
            &format!("{backend:?}"),
        );
        let (status, stats) = host
            .get(
                "/api/engine/stats?state_hash=true",
                Some(bourse_tests::ADMIN_TOKEN),
            )
            .await;
        assert_eq!(status, 200, "{backend:?}: {stats}");
        assert!(
            stats["shards"][0]["state"]["state_hash"].is_string(),
            "{backend:?}: {stats}"
        );
        host.stop().await;
    }
}
