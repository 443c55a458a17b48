//! Order JSON through a running host (`POST /api/orders`, the order handler component):
//! - any body is answered 201 or a 4xx carrying the one error shape, never a 5xx;
//! - with every other field valid, a price or quantity is accepted exactly when the shared
//!   decimal rules accept it (scale, tick, lot, sign, range), and refused naming that field
//!   with the rule's own message.

use bourse_matching::decimal;
use bourse_tests::{Backend, TestHost, app_manifest};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

use super::cases;

/// AAPL as configured in spin.toml: tick 0.01, lot 1.
const PRICE_SCALE: u8 = 2;
const QUANTITY_SCALE: u8 = 0;

fn check_error_shape(status: u16, body: &Value) -> Result<(), TestCaseError> {
    prop_assert!(
        status == 201 || (400..500).contains(&status),
        "{} {}",
        status,
        body
    );
    if status != 201 {
        let e = &body["error"];
        for key in ["code", "message", "request_id"] {
            prop_assert!(
                e[key].as_str().is_some_and(|s| !s.is_empty()),
                "error without {}: {}",
                key,
                body
            );
        }
    }
    Ok(())
}

fn decimal_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[0-9]{1,4}(\\.[0-9]{1,3})?",
        1 => "-?[0-9]{1,22}(\\.[0-9]{0,4})?",
        1 => "[-+0-9.eE ,]{0,12}",
        1 => any::<String>(),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Order bodies: mostly well-formed fields with wild values, some wholly arbitrary.
fn order_body() -> impl Strategy<Value = String> {
    let field = |good: &'static [&'static str]| {
        prop_oneof![
            6 => proptest::sample::select(good).prop_map(Value::from),
            1 => any_json(),
        ]
    };
    let order = (
        field(&["AAPL", "MSFT", "NOPE", ""]),
        field(&["buy", "sell", "BUY", "hold"]),
        field(&["limit", "market", "stop"]),
        prop_oneof![3 => decimal_text().prop_map(Value::from), 1 => any_json()],
        prop_oneof![3 => decimal_text().prop_map(Value::from), 1 => any_json()],
        field(&["gtc", "ioc", "fok", "day"]),
        prop_oneof![any::<bool>().prop_map(Value::from), any_json()],
        proptest::option::of((".{0,12}", any_json())),
    )
        .prop_map(
            |(symbol, side, kind, price, quantity, tif, post_only, extra)| {
                let mut o = json!({
                    "symbol": symbol, "side": side, "type": kind, "price": price,
                    "quantity": quantity, "time_in_force": tif, "post_only": post_only,
                });
                if let (Some((k, v)), Some(map)) = (extra, o.as_object_mut()) {
                    map.insert(k, v);
                }
                o.to_string()
            },
        );
    prop_oneof![
        6 => order,
        1 => any_json().prop_map(|v| v.to_string()),
        1 => any::<String>(),
    ]
}

/// Checks `property` on `strategy`'s inputs against a host on each backend, as a trader.
fn on_each_backend<S: Strategy>(
    strategy: S,
    property: impl Fn(&tokio::runtime::Runtime, &TestHost, &str, S::Value) -> Result<(), TestCaseError>,
) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    for backend in Backend::ALL {
        let host = rt.block_on(TestHost::start(app_manifest(), backend, 10_000));
        let key = rt.block_on(host.api_key("fuzzer", &["trader"]));
        TestRunner::new(cases(64))
            .run(&strategy, |input| property(&rt, &host, &key, input))
            .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        rt.block_on(host.stop());
    }
}

#[test]
fn any_order_body_is_answered_with_an_order_or_a_clear_4xx() {
    on_each_backend(order_body(), |rt, host, key, body| {
        let (status, reply) = rt.block_on(host.post("/api/orders", Some(key), &body));
        check_error_shape(status, &reply)
    });
}

#[test]
fn prices_and_quantities_are_accepted_exactly_when_the_decimal_rules_accept_them() {
    let input = (decimal_text(), decimal_text(), any::<bool>());
    on_each_backend(input, |rt, host, key, (price, quantity, buy)| {
        // IOC with nothing resting: nothing rests, nothing trades.
        let body = json!({
            "symbol": "AAPL", "side": if buy { "buy" } else { "sell" }, "type": "limit",
            "price": price, "quantity": quantity, "time_in_force": "ioc",
        });
        let (status, reply) = rt.block_on(host.post("/api/orders", Some(key), &body.to_string()));
        check_error_shape(status, &reply)?;
        let code = reply["error"]["code"].as_str().unwrap_or("");
        let message = reply["error"]["message"].as_str().unwrap_or("");
        match decimal::price_ticks(&price, PRICE_SCALE, 1) {
            Err(e) => {
                prop_assert_eq!((status, code), (400, "invalid_price"), "{}", reply);
                prop_assert_eq!(message, e.to_string());
                return Ok(());
            }
            Ok(_) => prop_assert_ne!(code, "invalid_price", "{}", reply),
        }
        match decimal::quantity_lots(&quantity, QUANTITY_SCALE, 1) {
            Err(e) => {
                prop_assert_eq!((status, code), (400, "invalid_quantity"), "{}", reply);
                prop_assert_eq!(message, e.to_string());
            }
            // Accepted, or refused by a risk rule that names itself.
            Ok(_) => prop_assert!(
                status == 201 || message.contains("(rule "),
                "{} {}",
                status,
                reply
            ),
        }
        Ok(())
    });
}
