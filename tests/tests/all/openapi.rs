//! `/api/openapi.json` against what the host really serves: a valid OpenAPI 3.1 document (by
//! an independent validator), every route of the route table described (the host's own and
//! every trigger route of the manifest, each by the component it routes to), every described
//! operation answered by a handler rather than a route miss, and a component's description
//! swapped with its code.

use std::collections::BTreeSet;

use bourse::manifest::Manifest;
use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest, built_component, unique};
use reqwest::Method;
use serde_json::Value;

/// The host's own routes, written out here rather than read from the code that registers
/// them, so a route dropped from the description (or from the router) shows.
const HOST_ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("get", "/.well-known/bourse/health"),
    ("get", "/.well-known/bourse/ready"),
    ("get", "/.well-known/bourse/metrics"),
    ("get", "/api/components"),
    ("get", "/api/engine/stats"),
    ("get", "/api/openapi.json"),
    ("get", "/ws"),
    ("post", "/api/ws/ticket"),
    ("get", "/admin/components"),
    ("post", "/admin/components/{name}"),
    ("post", "/admin/components/{name}/rollback"),
    ("get", "/admin/components/{name}/history"),
    ("post", "/api/simulations"),
    ("get", "/api/simulations/{id}"),
    ("delete", "/api/simulations/{id}"),
    ("get", "/api/simulations/{id}/bars"),
    ("get", "/api/simulations/{id}/trades"),
    ("post", "/api/indicators/{component}"),
];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn description(h: &TestHost) -> Value {
    let response = h
        .client
        .get(format!("{}/api/openapi.json", h.url))
        .send()
        .await
        .expect("request reaches the host");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    response.json().await.expect("the description is JSON")
}

/// Every (method, path) the description has an operation for.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_string(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// `template` with each `{parameter}` filled with a value that reaches the handler.
fn fill(template: &str, asset: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{file}" => asset,
            s if s.starts_with('{') && s.ends_with('}') => "nosuchthing",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A route miss, as the host and every component answer one: 405, or 404 `not_found` "no
/// route for ...".
fn is_route_miss(status: u16, body: &[u8]) -> bool {
    if status == 405 {
        return true;
    }
    let error: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    status == 404
        && error["error"]["code"] == "not_found"
        && error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("no route for"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_description_covers_every_route_and_every_described_route_is_served() {
    let h = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let doc = description(&h).await;
    assert_eq!(doc["openapi"], "3.1.0");

    // An independent judge of OpenAPI 3.1 (every $ref resolves, every schema is JSON Schema).
    bourse_tests::scratch::require("openapi-spec-validator");
    let file = std::env::temp_dir().join(format!("{}.json", unique("openapi-")));
    std::fs::write(&file, serde_json::to_vec(&doc).expect("serialise")).expect("write");
    let checked = std::process::Command::new("openapi-spec-validator")
        .arg(&file)
        .output()
        .expect("run openapi-spec-validator");
    let _ = std::fs::remove_file(&file);
    assert!(
        checked.status.success(),
        "openapi-spec-validator refused /api/openapi.json:\n{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let ops = operations(&doc);
    let described: BTreeSet<(String, String)> =
        ops.iter().map(|(m, p, _)| (m.clone(), p.clone())).collect();
    for (method, path) in HOST_ROUTES {
        assert!(
            described.contains(&(method.to_string(), path.to_string())),
            "the host route {method} {path} is not described"
        );
    }

    // Every trigger route of the manifest is described by its own component: each component
    // of this application publishes a description, so none is listed as undescribed.
    let manifest: Manifest = app_manifest();
    for route in manifest.routes.iter() {
        let by_it: Vec<&(String, String, Value)> = ops
            .iter()
            .filter(|(_, path, op)| {
                op["tags"][0] == route.component.as_str()
                    && manifest
                        .routes
                        .find(&fill(path, "x"))
                        .is_some_and(|r| r.pattern == route.pattern)
            })
            .collect();
        assert!(
            !by_it.is_empty(),
            "the trigger route {} (component {}) is not described",
            route.pattern,
            route.component
        );
        for (method, path, op) in by_it {
            assert!(
                op["operationId"].is_string(),
                "{method} {path} is listed but not described by {}: {op}",
                route.component
            );
        }
    }

    // Every described operation is served: called as an admin with an empty JSON body, it
    // reaches a handler (whatever that handler thinks of the request), never a route miss
    // and never a failure.
    let index = h
        .client
        .get(format!("{}/", h.url))
        .send()
        .await
        .expect("GET /")
        .text()
        .await
        .expect("index.html");
    let asset = index
        .split("src=\"/assets/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("index.html loads a script from /assets/");
    let key = h.api_key(&unique("openapi"), &["trader", "admin"]).await;
    for (method, path, _) in &ops {
        let token = if path.starts_with("/admin/") {
            ADMIN_TOKEN
        } else {
            key.as_str()
        };
        let url = format!("{}{}", h.url, fill(path, asset));
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let mut request = h.client.request(method.clone(), &url).bearer_auth(token);
        if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
            request = request
                .header("content-type", "application/json")
                .body("{}");
        }
        let response = request.send().await.expect("request reaches the host");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("body");
        assert!(
            !is_route_miss(status, &body),
            "{method} {path} is described but not served: {status} {}",
            String::from_utf8_lossy(&body)
        );
        assert!(
            status < 500,
            "{method} {path} failed: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_swap_brings_its_description_and_a_broken_one_is_refused() {
    let h = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let summary = |doc: &Value| {
        doc["paths"]["/api/simulations/preview"]["post"]["summary"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let before = summary(&description(&h).await);
    assert!(
        !before.is_empty(),
        "the simulation component describes its preview"
    );

    // The same component with its description's summary changed in place (same length, so
    // the custom section's size is unchanged).
    let original = built_component("simulation.wasm");
    let changed: String = before
        .chars()
        .map(|c| if c.is_ascii_lowercase() { 'z' } else { c })
        .collect();
    let needle = format!("\"summary\": \"{before}\"");
    let swapped = replace_once(
        &original,
        needle.as_bytes(),
        format!("\"summary\": \"{changed}\"").as_bytes(),
    )
    .unwrap_or_else(|| panic!("{needle} is not in simulation.wasm's description"));
    let (status, report) = h.upload("simulation", swapped).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(summary(&description(&h).await), changed);

    let (status, report) = h
        .post(
            "/admin/components/simulation/rollback",
            Some(ADMIN_TOKEN),
            "",
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(summary(&description(&h).await), before);

    // A description that is not JSON refuses the deploy, naming the section; the live version
    // and its description stay.
    let broken = replace_once(&original, needle.as_bytes(), &vec![b'{'; needle.len()])
        .expect("the summary is there");
    let (status, refusal) = h.upload("simulation", broken).await;
    assert_eq!(status, 422, "{refusal}");
    assert_eq!(refusal["error"]["code"], "invalid_description", "{refusal}");
    let message = refusal["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("bourse:openapi section is not JSON"),
        "{refusal}"
    );
    assert_eq!(summary(&description(&h).await), before);
    h.stop().await;
}

fn replace_once(haystack: &[u8], needle: &[u8], with: &[u8]) -> Option<Vec<u8>> {
    assert_eq!(needle.len(), with.len());
    let at = haystack.windows(needle.len()).position(|w| w == needle)?;
    let mut out = haystack.to_vec();
    out[at..at + needle.len()].copy_from_slice(with);
    Some(out)
}
