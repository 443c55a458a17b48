//! Simulations: a trader must not be able to hold the host's simulation capacity — a run
//! that cannot be stopped, a request sized past any bound, more runs than a fair share, a body
//! read whole on an odd method — nor guess another trader's run, nor trade as a simulation
//! account by registering its name.

use std::time::Duration;

use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest};
use reqwest::Method;
use serde_json::{Value, json};

use super::common::{access, code};

fn scenario(seed: u64) -> Value {
    json!({"symbols": ["AAPL"], "mid": 10000, "spread": 20, "seed": seed,
           "agents": {"noise": 70, "market_maker": 30, "momentum": 0}})
}

/// Starts `body` as `token`'s run; the run's id.
async fn start(host: &TestHost, token: &str, body: &Value) -> String {
    let (status, run) = host
        .post("/api/simulations", Some(token), &body.to_string())
        .await;
    assert_eq!(status, 202, "{run}");
    run["id"].as_str().expect("run id").to_string()
}

/// A long run that paces itself: it asks the host for little but would hold its slot.
fn long_paced(seed: u64) -> Value {
    json!({"scenario": scenario(seed), "rate": 10, "duration_ms": 600_000})
}

/// The run's view once it is no longer running, or `None` if it still runs after `within`.
async fn finished_within(
    host: &TestHost,
    token: &str,
    id: &str,
    within: Duration,
) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        let (status, run) = host
            .get(&format!("/api/simulations/{id}"), Some(token))
            .await;
        assert_eq!(status, 200, "{run}");
        if run["status"] != "running" {
            return Some(run);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

async fn delete(host: &TestHost, token: &str, id: &str) {
    let (status, json) = host
        .call(
            Method::DELETE,
            &format!("/api/simulations/{id}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 202, "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowly_paced_run_stops_at_once_on_request_and_at_its_deadline() {
    for backend in Backend::ALL {
        let host = TestHost::start(app_manifest(), backend, 10_000).await;
        let trader = host.api_key("pacer", &["trader"]).await;
        // The slowest pace with the biggest batch: one batch, then a wait of hours.
        let slow = |duration_ms: u64| json!({"scenario": scenario(1), "rate": 1, "batch": 65_536, "duration_ms": duration_ms});
        let stopped = start(&host, &trader, &slow(3_000_000)).await;
        let timed = start(&host, &trader, &slow(1_000)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        delete(&host, &trader, &stopped).await;
        let run = finished_within(&host, &trader, &stopped, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{backend:?}: a stopped run still runs 5 s later"));
        assert_eq!(run["status"], "stopped", "{backend:?}: {run}");
        let run = finished_within(&host, &trader, &timed, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{backend:?}: a 1 s run still runs 10 s later"));
        assert_eq!(run["status"], "completed", "{backend:?}: {run}");
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_of_a_run_request_is_bounded_with_a_named_error() {
    let host = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let trader = host.api_key("sizer", &["trader"]).await;
    let with = |field: &str, value: Value| {
        let mut body = json!({"scenario": scenario(1), "orders": 1_000});
        body[field] = value;
        body
    };
    let in_scenario = |field: &str, value: Value| {
        let mut body = json!({"scenario": scenario(1), "orders": 1_000});
        body["scenario"][field] = value;
        body
    };
    let many: Vec<String> = (0..1001).map(|i| format!("S{i}")).collect();
    let cases = [
        (with("rate", json!(1e-9)), "rate"),
        (with("rate", json!(1e12)), "rate"),
        (with("orders", json!(1_000_000_001u64)), "orders"),
        // A million orders at one a second: eleven days of one instance.
        (
            json!({"scenario": scenario(1), "orders": 1_000_000, "rate": 1}),
            "orders",
        ),
        (
            json!({"scenario": scenario(1), "duration_ms": 3_600_001u64}),
            "duration_ms",
        ),
        (with("batch", json!(65_537)), "batch"),
        (with("max_open_orders", json!(0)), "max_open_orders"),
        (
            with("max_open_orders", json!(1_000_000_000_000u64)),
            "max_open_orders",
        ),
        (in_scenario("symbols", json!([])), "symbols"),
        (in_scenario("symbols", json!(many)), "symbols"),
        (
            in_scenario("symbols", json!(["A".repeat(10_000)])),
            "symbols",
        ),
        (
            in_scenario("mid", json!(4_000_000_000_000_000_000i64)),
            "mid",
        ),
        (in_scenario("spread", json!(4_000_000_000u64)), "spread"),
        (
            in_scenario("max_quantity", json!(9_000_000_000_000_000_000u64)),
            "max_quantity",
        ),
        (in_scenario("accounts", json!(1_000_000)), "accounts"),
        (in_scenario("market_percent", json!(101)), "market_percent"),
        (in_scenario("volatility_bp", json!(10_001)), "volatility_bp"),
        (in_scenario("seed", json!(-1)), "seed"),
    ];
    for (body, field) in cases {
        let (status, json) = host
            .post("/api/simulations", Some(&trader), &body.to_string())
            .await;
        assert_eq!(status, 400, "{field}: {json}");
        assert!(
            matches!(code(&json), "invalid_scenario" | "invalid_body"),
            "{field}: {json}"
        );
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(field)),
            "the error names {field}: {json}"
        );
    }
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_in_progress_are_capped_per_caller_and_per_instance() {
    for backend in Backend::ALL {
        let host = TestHost::start_custom(app_manifest(), backend, |c| {
            c.sim_max_runs_per_principal = 2;
            c.sim_max_runs = 3;
            c.jwt_secret = Some(bourse_tests::JWT_SECRET.to_string());
        })
        .await;
        let ann = host.api_key("ann", &["trader"]).await;
        let bob = host.api_key("bob", &["trader"]).await;
        // A signed-in user counts like a bot's key.
        let cy = access(&host.sign_up("cy").await);
        let first = start(&host, &ann, &long_paced(1)).await;
        let second = start(&host, &ann, &long_paced(2)).await;
        let refused = |json: &Value, setting: &str| {
            code(json) == "too_many_runs"
                && json["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(setting))
        };
        let (status, json) = host
            .post("/api/simulations", Some(&ann), &long_paced(3).to_string())
            .await;
        assert_eq!(
            status, 429,
            "{backend:?}: a third run of one trader: {json}"
        );
        assert!(
            refused(&json, "BOURSE_SIM_MAX_RUNS_PER_PRINCIPAL"),
            "{backend:?}: {json}"
        );
        let third = start(&host, &bob, &long_paced(4)).await;
        for token in [cy.as_str(), ADMIN_TOKEN] {
            let (status, json) = host
                .post("/api/simulations", Some(token), &long_paced(5).to_string())
                .await;
            assert_eq!(
                status, 429,
                "{backend:?}: a fourth run on the instance: {json}"
            );
            assert!(
                refused(&json, "BOURSE_SIM_MAX_RUNS") && !refused(&json, "PER_PRINCIPAL"),
                "{backend:?}: {json}"
            );
        }
        // A finished run gives its place back.
        delete(&host, &ann, &first).await;
        finished_within(&host, &ann, &first, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{backend:?}: stopped run still runs"));
        let again = start(&host, &ann, &long_paced(6)).await;
        for (token, id) in [(&ann, &second), (&bob, &third), (&ann, &again)] {
            delete(&host, token, id).await;
        }
        host.stop().await;
    }
}

#[test]
fn the_memory_bound_is_on_by_default() {
    let config = bourse::config::Config::from_env().expect("configuration from the environment");
    if std::env::var_os("BOURSE_MEMORY_LIMIT_MB").is_none() {
        assert!(
            config.memory_limit_mb > 0,
            "simulations run under a resident-memory bound unless one is configured off"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_simulations_route_refuses_a_body_past_the_limit_before_reading_it() {
    let host = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    // Headers announcing 11 MB (the limit is 10) and no body: a route that reads the body
    // before answering never answers.
    for (method, path) in [
        ("PUT", "/api/simulations/sim-0"),
        ("PATCH", "/api/simulations/sim-0"),
        ("POST", "/api/simulations/preview"),
        ("POST", "/api/simulations"),
    ] {
        let answer = host
            .announce_body(method, path, Some(ADMIN_TOKEN), 11u64 << 20)
            .await;
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "{method} {path}: {answer}"
        );
        assert!(
            answer.contains(r#""code":"body_too_large""#),
            "{method} {path}: {answer}"
        );
    }
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_ids_cannot_be_guessed_from_one_another() {
    let host = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let trader = host.api_key("guesser", &["trader"]).await;
    let body = json!({"scenario": scenario(1), "orders": 10});
    let a = start(&host, &trader, &body).await;
    let b = start(&host, &trader, &body).await;
    for id in [&a, &b] {
        let random = id.strip_prefix("sim-").unwrap_or(id);
        assert!(
            random.len() >= 24 && random.bytes().all(|c| c.is_ascii_hexdigit()),
            "at least 96 random bits, hex: {id}"
        );
    }
    let shared = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    assert!(
        shared < "sim-".len() + 8,
        "consecutive ids share a {shared}-character prefix: {a} {b}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulation_accounts_are_named_where_no_username_can_be() {
    let host = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let (status, preview) = host
        .post(
            "/api/simulations/preview",
            Some(ADMIN_TOKEN),
            r#"{"symbols":["AAPL"],"mid":10000,"seed":1,"accounts":5,"count":50}"#,
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    let orders = preview["orders"].as_array().expect("orders");
    assert!(!orders.is_empty());
    for o in orders {
        let account = o["account"].as_str().expect("account");
        // A `:` is never part of a username: `sim:<n>` cannot be signed up for.
        let n = account.strip_prefix("sim:");
        assert!(
            n.is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n < 5)),
            "{account}"
        );
    }
    host.stop().await;
}
