//! Delegation across processes: two hosts from the release binary on 127.0.0.1 against the
//! real Redis. A small run stays where it was received; a big one is taken by the instance
//! with the `simulation` role and is visible (and stoppable) from the receiving instance;
//! with no simulation instance, a big run falls back to the receiving instance and says so.

use std::time::Duration;

use bourse_tests::process::{self, HostProcess};
use bourse_tests::{ADMIN_TOKEN, unique};
use serde_json::{Value, json};

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url).bearer_auth(ADMIN_TOKEN);
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn wait_done(client: &reqwest::Client, url: &str, id: &str) -> Value {
    for _ in 0..400 {
        let (status, view) = call(
            client,
            reqwest::Method::GET,
            format!("{url}/api/simulations/{id}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{view}");
        if view["status"] != "running" {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {id} did not finish");
}

fn run(rate: Option<f64>, orders: u64, seed: u64) -> Value {
    json!({
        "scenario": {"symbols": ["AAPL"], "mid": 10000, "spread": 20, "seed": seed,
                     "agents": {"noise": 70, "market_maker": 30, "momentum": 0}},
        "rate": rate, "orders": orders,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_runs_go_to_simulation_instances_small_ones_stay_and_nobody_means_fallback() {
    let (database_url, name) = process::database().await;
    let queue = unique("bourse:test-delegation:");
    let common = [
        ("BOURSE_SIM_QUEUE", queue.as_str()),
        ("BOURSE_SIM_HANDOFF_MS", "2000"),
    ];
    let api = HostProcess::start(&database_url, &process::data_dir(), &common).await;
    let client = reqwest::Client::new();
    let post = |body: Value| {
        call(
            &client,
            reqwest::Method::POST,
            format!("{}/api/simulations", api.url),
            Some(body),
        )
    };

    // No simulation instance yet: a big run waits for the hand-off, then runs here.
    let (status, fallback) = post(run(None, 20_000, 1)).await;
    assert_eq!(status, 202, "{fallback}");
    assert_eq!(fallback["fell_back"], true, "{fallback}");
    let done = wait_done(&client, &api.url, fallback["id"].as_str().expect("id")).await;
    assert_eq!(done["status"], "completed", "{done}");
    let fallback_hash = done["summary"]["book_hash"].clone();

    let mut env = common.to_vec();
    env.push(("BOURSE_ROLE", "simulation"));
    let worker = HostProcess::start(&database_url, &process::data_dir(), &env).await;
    // Give the worker a moment to join the consumer group (it reads new jobs only).
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let (status, small) = post(run(Some(5_000.0), 2_000, 2)).await;
    assert_eq!(status, 202, "{small}");
    assert_eq!(small["fell_back"], false);
    let small_done = wait_done(&client, &api.url, small["id"].as_str().expect("id")).await;
    assert_eq!(small_done["status"], "completed", "{small_done}");
    let (_, api_stats) = call(
        &client,
        reqwest::Method::GET,
        format!("{}/health", api.url),
        None,
    )
    .await;
    let api_instance = small_done["ran_on"].clone();
    assert!(api_stats["status"] == "ok");

    let (status, big) = post(run(None, 20_000, 1)).await;
    assert_eq!(status, 202, "{big}");
    let id = big["id"].as_str().expect("id").to_string();
    let done = wait_done(&client, &api.url, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_ne!(
        done["ran_on"], api_instance,
        "the simulation instance ran it: {done}"
    );
    assert_eq!(done["fell_back"], false);
    assert_eq!(
        done["summary"]["book_hash"], fallback_hash,
        "same scenario and seed, same market, whichever instance ran it"
    );
    let (status, bars) = call(
        &client,
        reqwest::Method::GET,
        format!("{}/api/simulations/{id}/bars?symbol=AAPL", api.url),
        None,
    )
    .await;
    assert_eq!(status, 200, "{bars}");
    assert!(
        bars["bars"].as_array().is_some_and(|b| !b.is_empty()),
        "{bars}"
    );

    // A long delegated run is stopped from the receiving instance.
    let (_, long) = post(json!({
        "scenario": {"symbols": ["AAPL"], "mid": 10000, "seed": 3}, "duration_ms": 60_000,
        "rate": 20_000,
    }))
    .await;
    let long_id = long["id"].as_str().expect("id").to_string();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (status, _) = call(
        &client,
        reqwest::Method::DELETE,
        format!("{}/api/simulations/{long_id}", api.url),
        None,
    )
    .await;
    assert_eq!(status, 202);
    let stopped = wait_done(&client, &api.url, &long_id).await;
    assert_eq!(stopped["status"], "stopped", "{stopped}");

    api.kill();
    worker.kill();
    process::drop_database(&name).await;
}
