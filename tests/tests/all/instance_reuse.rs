//! Instance reuse for HTTP requests (`instance_reuse` in `[component.X.tool.bourse]`): a
//! fresh instance per request by default; with reuse, an instance serves up to its count and
//! is dropped after a trap, a timeout, an idle spell or a hot swap, and each request gets the
//! whole deadline. The fixtures answer how many requests their instance has served (`served`:
//! 1 on a fresh instance).
//!
//! Requests here are sent one after another with a short pause, so the instance that served
//! one is idle again when the next arrives; without the pause a request may find it still
//! finishing and start another instance, which is correct but makes counts less telling.

use std::time::Duration;

use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest_with, built_component};
use serde_json::Value;

fn manifest(faulty: &str, swap: &str) -> bourse::manifest::Manifest {
    app_manifest_with(&format!(
        r#"
[[trigger.http]]
route = "/faulty/..."
component = "faulty"

[[trigger.http]]
route = "/swap/..."
component = "swap"

[component.faulty]
source = "target/wasm32-wasip2/release/faulty.wasm"
[component.faulty.tool.bourse]
{faulty}

[component.swap]
source = "target/wasm32-wasip2/release/swap_v1.wasm"
[component.swap.tool.bourse]
{swap}
"#
    ))
}

const PAUSE: Duration = Duration::from_millis(50);

/// `served` of one answer from `path`, which must be a 200.
async fn served(h: &TestHost, path: &str) -> u64 {
    tokio::time::sleep(PAUSE).await;
    let (status, json) = h.get(path, None).await;
    assert_eq!(status, 200, "{path}: {json}");
    json["served"]
        .as_u64()
        .unwrap_or_else(|| panic!("{path}: no served count in {json}"))
}

async fn counts(h: &TestHost, path: &str, n: usize) -> Vec<u64> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(served(h, path).await);
    }
    out
}

/// Three answers from `path`, at least one of them from a reused instance.
async fn reused(h: &TestHost, path: &str) -> Vec<u64> {
    let seen = counts(h, path, 3).await;
    assert!(seen.iter().any(|n| *n >= 2), "not reused: {seen:?}");
    seen
}

/// A host serving the application plus the fixtures with these `tool.bourse` settings.
async fn host(faulty: &str, swap: &str, timeout_ms: u64) -> TestHost {
    TestHost::start(manifest(faulty, swap), Backend::Embedded, timeout_ms).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_gets_a_fresh_instance_by_default() {
    let h = host("", "", 2_000).await;
    assert_eq!(counts(&h, "/faulty/count", 5).await, vec![1; 5]);
    assert_eq!(counts(&h, "/swap/version", 3).await, vec![1; 3]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_instance_serves_up_to_its_count_then_goes() {
    let h = host(
        "instance_reuse = 3\nidle_instance_timeout_ms = 60000",
        "",
        2_000,
    )
    .await;
    let seen = counts(&h, "/faulty/count", 9).await;
    assert!(seen.iter().all(|n| (1..=3).contains(n)), "{seen:?}");
    assert!(
        seen.iter().any(|n| *n >= 2),
        "no instance was reused: {seen:?}"
    );
    // The components list shows the settings.
    let (_, list) = h.get("/api/components", Some(ADMIN_TOKEN)).await;
    let faulty = list
        .as_array()
        .and_then(|l| l.iter().find(|c| c["name"] == "faulty"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        faulty["limits"]["reuse"],
        serde_json::json!({"requests": 3, "concurrent": 1, "idle_timeout_ms": 60000}),
        "{list}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_or_a_timeout_drops_the_instance_and_the_next_request_is_served() {
    let h = host(
        "instance_reuse = 1000\nidle_instance_timeout_ms = 60000",
        "",
        1_000,
    )
    .await;
    for (path, status, code) in [
        ("/faulty/panic", 500, "component_failed"),
        ("/faulty/spin", 504, "component_timeout"),
    ] {
        let before = reused(&h, "/faulty/count").await;
        let (got, json) = h.get(path, None).await;
        assert_eq!(
            (got, json["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}: {json}"
        );
        // A trapped instance is never entered again: the next requests are served, by a
        // fresh instance (the trapped one had served more).
        let after = counts(&h, "/faulty/count", 3).await;
        assert_eq!(after[0], 1, "after {path}: {after:?} (before: {before:?})");
        assert!(after.iter().all(|n| *n <= 3), "after {path}: {after:?}");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_on_a_reused_instance_gets_the_whole_deadline() {
    // Four 400 ms requests on one instance take longer than the 1 s deadline together; each
    // alone is well inside it.
    let h = host(
        "instance_reuse = 10\nidle_instance_timeout_ms = 60000",
        "",
        1_000,
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        tokio::time::sleep(PAUSE).await;
        statuses.push(h.get("/faulty/slow", None).await.0);
    }
    assert_eq!(statuses, vec![200; 4]);
    let n = served(&h, "/faulty/count").await;
    assert!(
        n >= 3,
        "the slow requests did not share an instance: served {n}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_instance_is_dropped_after_its_idle_timeout() {
    let h = host(
        "instance_reuse = 100\nidle_instance_timeout_ms = 200",
        "",
        2_000,
    )
    .await;
    reused(&h, "/faulty/count").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (status, json) = h.get("/faulty/count", None).await;
    assert_eq!(
        (status, &json["served"]),
        (200, &serde_json::json!(1)),
        "{json}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_swap_sends_the_next_request_to_a_fresh_instance_of_the_new_version() {
    let h = host(
        "",
        "instance_reuse = 100\nidle_instance_timeout_ms = 60000",
        2_000,
    )
    .await;
    reused(&h, "/swap/version").await;
    let response = h
        .client
        .post(format!("{}/admin/components/swap", h.url))
        .bearer_auth(ADMIN_TOKEN)
        .body(built_component("swap_v2.wasm"))
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 200);
    let (status, json) = h.get("/swap/version", None).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(
        (&json["version"], &json["served"]),
        (&serde_json::json!("v2"), &serde_json::json!(1)),
        "{json}"
    );
    for _ in 0..3 {
        tokio::time::sleep(PAUSE).await;
        let (_, json) = h.get("/swap/version", None).await;
        assert_eq!(json["version"], "v2", "an old instance answered: {json}");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_compat_serves_each_request_with_a_fresh_instance_whatever_the_manifest_says() {
    let h = TestHost::start_custom(
        manifest("instance_reuse = 100\nidle_instance_timeout_ms = 60000", ""),
        Backend::Embedded,
        |c| c.spin_compat = true,
    )
    .await;
    assert_eq!(counts(&h, "/faulty/count", 4).await, vec![1; 4]);
    h.stop().await;
}
