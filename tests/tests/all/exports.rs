//! The typed exports of each component, called through the host (no HTTP), with tables of
//! cases including bad input.

use bourse::bindings::bourse::platform::types::{
    OrderKind, OrderStatus, Principal, Side, TimeInForce,
};
use bourse::bindings::exports::bourse::platform::authenticator::AuthError;
use bourse::bindings::exports::bourse::platform::generator::{AgentMix, Scenario};
use bourse::bindings::exports::bourse::platform::indicator::{RatioInput, Regime, SignalError};
use bourse::bindings::exports::bourse::platform::order_handling::{NewOrder, OrderError};
use bourse::runtime::CallError;
use bourse_tests::typed::TypedCalls;
use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest, unique};

/// A table row: what it tests, the request headers, the principal id expected (or the error).
type AuthCase<'a> = (&'a str, Vec<(String, String)>, Result<&'a str, AuthError>);

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn order(side: &str, price: Option<&str>, quantity: &str) -> NewOrder {
    NewOrder {
        symbol: "SPY".into(),
        side: side.into(),
        kind: if price.is_some() { "limit" } else { "market" }.into(),
        price: price.map(String::from),
        quantity: quantity.into(),
        time_in_force: None,
        post_only: false,
        client_order_id: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_exports_through_the_host() {
    let h = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let rt = h.runtime.clone();

    // auth.authenticate
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let ops = rt
        .authenticate("auth", headers(&[("authorization", &bearer)]))
        .await
        .expect("call completes");
    assert_eq!(ops.as_ref().map(|p| p.id.as_str()), Ok("operator"));
    let key = h.api_key("carol", &["trader", "admin"]).await;
    let cases: Vec<AuthCase> = vec![
        (
            "api key",
            headers(&[("authorization", &format!("Bearer {key}"))]),
            Ok("user:carol"),
        ),
        (
            "header name case",
            headers(&[("Authorization", &format!("Bearer {key}"))]),
            Ok("user:carol"),
        ),
        (
            "no header",
            headers(&[("accept", "*/*")]),
            Err(AuthError::MissingCredentials),
        ),
        (
            "not bearer",
            headers(&[("authorization", "Basic abc")]),
            Err(AuthError::InvalidCredentials),
        ),
        (
            "empty bearer",
            headers(&[("authorization", "Bearer ")]),
            Err(AuthError::InvalidCredentials),
        ),
        (
            "wrong admin token",
            headers(&[("authorization", "Bearer test-ops-token-0123456788")]),
            Err(AuthError::InvalidCredentials),
        ),
        (
            "revoked or unknown key",
            headers(&[("authorization", "Bearer bk_ffff")]),
            Err(AuthError::InvalidCredentials),
        ),
    ];
    for (what, hs, want) in cases {
        let got = rt.authenticate("auth", hs).await.expect("call completes");
        assert_eq!(
            got.as_ref().map(|p| p.id.as_str()),
            want.as_ref().map(|s| *s),
            "{what}"
        );
    }
    let roles = rt
        .authenticate(
            "auth",
            headers(&[("authorization", &format!("Bearer {key}"))]),
        )
        .await
        .expect("call completes")
        .expect("valid key")
        .roles;
    assert_eq!(roles, ["trader", "admin"]);

    // order-handling.handle
    let dave = Principal {
        id: unique("dave-"),
        roles: vec!["trader".into()],
    };
    let erin = Principal {
        id: unique("erin-"),
        roles: vec!["trader".into()],
    };
    let rested = rt
        .place_order("order-handler", &dave, &order("sell", Some("400.10"), "3"))
        .await
        .expect("call");
    let rested = rested.expect("accepted");
    assert_eq!(
        (rested.status, rested.remaining_quantity),
        (OrderStatus::Accepted, 3)
    );
    let mut trades = rt.platform().events.subscribe("trades:SPY");
    let mut own = rt
        .platform()
        .events
        .subscribe(&format!("orders:{}", erin.id));
    let taken = rt
        .place_order("order-handler", &erin, &order("buy", None, "2"))
        .await
        .expect("call")
        .expect("filled");
    // The market publishes the trade on the symbol's room, in decimals...
    let market = trades.try_recv().expect("the market published the trade");
    assert_eq!(market.source, "market");
    let data: serde_json::Value = serde_json::from_str(market.data.get()).expect("JSON payload");
    assert_eq!(
        (&data["trades"][0]["price"], &data["trades"][0]["quantity"]),
        (&serde_json::json!("400.1"), &serde_json::json!("2"))
    );
    // ...and the taker's fill on the account's own room.
    let own = own
        .try_recv()
        .expect("the market published the account's fill");
    let data: serde_json::Value = serde_json::from_str(own.data.get()).expect("JSON payload");
    let fill = data["updates"]
        .as_array()
        .and_then(|u| u.iter().find(|e| e["type"] == "fill"))
        .expect("a fill update");
    assert_eq!(
        (&fill["price"], &fill["liquidity"]),
        (&serde_json::json!("400.1"), &serde_json::json!("taker"))
    );
    assert_eq!(taken.status, OrderStatus::Filled);
    assert_eq!(taken.trades.len(), 1);
    assert_eq!(taken.trades[0].price, 40010, "price in ticks of 0.01");
    let bad: Vec<(&str, NewOrder, &str)> = vec![
        (
            "symbol",
            NewOrder {
                symbol: "NOPE".into(),
                ..order("buy", Some("1"), "1")
            },
            "symbol",
        ),
        ("side", order("hold", Some("1"), "1"), "side"),
        ("price precision", order("buy", Some("1.001"), "1"), "price"),
        ("quantity", order("buy", Some("1"), "-3"), "quantity"),
        (
            "client id length",
            NewOrder {
                client_order_id: Some("x".repeat(65)),
                ..order("buy", Some("1"), "1")
            },
            "client_order_id",
        ),
    ];
    for (what, o, field) in bad {
        match rt
            .place_order("order-handler", &dave, &o)
            .await
            .expect("call completes")
        {
            Err(OrderError::Invalid(e)) => assert_eq!(e.field, field, "{what}: {}", e.message),
            other => panic!("{what}: expected invalid {field}, got {other:?}"),
        }
    }
    let post_only = NewOrder {
        post_only: true,
        ..order("buy", Some("400.10"), "1")
    };
    assert!(matches!(
        rt.place_order("order-handler", &erin, &post_only)
            .await
            .expect("call"),
        Err(OrderError::Rejected(_))
    ));

    // indicator.compute
    let input = |a: Vec<f64>, b: Vec<f64>, lookback: u32| RatioInput {
        name: "t".into(),
        numerator: a,
        denominator: b,
        lookback,
        above: Regime::RiskOn,
    };
    let v = rt
        .compute_signal("signals", &input(vec![1.0, 2.0], vec![1.0, 1.0], 1))
        .await
        .expect("call")
        .expect("ok");
    assert_eq!((v.ratio, v.regime), (2.0, Regime::RiskOn));
    let v = rt
        .compute_signal("signals", &input(vec![2.0, 1.0], vec![1.0, 1.0], 1))
        .await
        .expect("call")
        .expect("ok");
    assert_eq!((v.ratio, v.regime), (0.5, Regime::RiskOff));
    let errors = [
        input(vec![1.0], vec![1.0], 1),
        input(vec![1.0, f64::NAN], vec![1.0, 1.0], 1),
        input(vec![1.0, 2.0], vec![1.0], 1),
    ];
    let got: Vec<bool> = futures_like(&rt, &errors).await;
    assert_eq!(
        got,
        [true, false, false],
        "insufficient data, then two invalid inputs"
    );

    // generator.start / next-batch
    let scenario = Scenario {
        symbols: vec!["AAPL".into()],
        mid: 10_000,
        spread: 20,
        max_quantity: 10,
        market_percent: 0,
        accounts: 3,
        seed: 9,
        volatility_bp: 0,
        agents: AgentMix {
            noise: 100,
            market_maker: 0,
            momentum: 0,
        },
    };
    let mut sim = rt
        .start_simulation("simulation", &scenario)
        .await
        .expect("call")
        .expect("valid scenario");
    let a = sim.next_batch(100).await.expect("batch");
    let b = sim.next_batch(100).await.expect("batch");
    assert_eq!((a.len(), b.len()), (100, 100));
    assert_ne!(a, b, "the flow advances");
    assert!(
        a.iter()
            .all(|o| o.kind == OrderKind::Limit && o.time_in_force == TimeInForce::Gtc)
    );
    assert!(
        a.iter().all(|o| (9_981..=10_019).contains(&o.price)),
        "prices stay within the spread"
    );
    assert!(a.iter().any(|o| o.side == Side::Buy) && a.iter().any(|o| o.side == Side::Sell));
    let mut again = rt
        .start_simulation("simulation", &scenario)
        .await
        .expect("call")
        .expect("valid");
    assert_eq!(
        again.next_batch(100).await.expect("batch"),
        a,
        "same seed, same orders"
    );
    let bad = Scenario {
        accounts: 0,
        ..scenario.clone()
    };
    let refused = rt
        .start_simulation("simulation", &bad)
        .await
        .expect("call completes");
    assert!(
        matches!(refused, Err(ref m) if m.contains("accounts")),
        "{:?}",
        refused.err()
    );

    // A component without the export, and one that does not exist.
    assert!(matches!(
        rt.compute_signal("auth", &input(vec![1.0, 2.0], vec![1.0, 1.0], 1))
            .await,
        Err(CallError::MissingExport { .. })
    ));
    assert!(matches!(
        rt.authenticate("nope", Vec::new()).await,
        Err(CallError::UnknownComponent(_))
    ));
    h.stop().await;
}

/// `true` where the call failed with insufficient data, `false` for invalid input.
async fn futures_like(rt: &bourse::runtime::Runtime, inputs: &[RatioInput]) -> Vec<bool> {
    let mut out = Vec::new();
    for i in inputs {
        match rt
            .compute_signal("signals", i)
            .await
            .expect("call completes")
        {
            Err(SignalError::InsufficientData(_)) => out.push(true),
            Err(SignalError::InvalidInput(_)) => out.push(false),
            Ok(v) => panic!("expected an error, got {v:?}"),
        }
    }
    out
}
