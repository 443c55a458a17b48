//! Hot swap: uploads, rollback, the file watcher, refusals that leave the live version alone,
//! the audit trail, per-component limits, and no failed request while versions change.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest_with, built_component, workspace};
use serde_json::Value;

fn manifest(swap_source: &str, faulty_limits: &str) -> bourse::manifest::Manifest {
    app_manifest_with(&format!(
        r#"
[[trigger.http]]
route = "/swap/..."
component = "swap"

[[trigger.http]]
route = "/faulty/..."
component = "faulty"

[component.swap]
source = "{swap_source}"

[component.faulty]
source = "target/wasm32-wasip2/release/faulty.wasm"
[component.faulty.tool.bourse]
{faulty_limits}
"#
    ))
}

/// What is tested, component, bytes, token, expected status and error code.
type UploadCase<'a> = (&'a str, &'a str, Vec<u8>, Option<&'a str>, u16, &'a str);

async fn version(h: &TestHost) -> String {
    let (status, json) = h.get("/swap/version", None).await;
    assert_eq!(status, 200, "{json}");
    json["version"].as_str().unwrap_or("").to_string()
}

async fn upload(h: &TestHost, name: &str, bytes: Vec<u8>, token: Option<&str>) -> (u16, Value) {
    // Its own connection: the host answers an oversized upload before reading all of it and
    // then closes that connection, which a pooled client would try to reuse.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    // An oversized upload races the host's early answer: the client may still be writing the
    // body when the host closes the connection, and then sees a broken pipe instead of the
    // answer. Only such a body is sent again; the answer is what is checked.
    let oversized = bytes.len() > bourse::runtime::MAX_COMPONENT_BYTES;
    let mut attempt = 0;
    let response = loop {
        attempt += 1;
        let mut req = client
            .post(format!("{}/admin/components/{name}", h.url))
            .body(bytes.clone());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        match req.send().await {
            Ok(r) => break r,
            Err(e) if oversized && e.is_request() && attempt < 10 => continue,
            Err(e) => panic!("upload reaches the host: {e:?}"),
        }
    };
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON answer"))
}

fn live_digest(h: &TestHost, name: &str) -> String {
    h.runtime
        .component(name)
        .map(|c| c.digest.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_rollback_history_and_events() {
    let h = TestHost::start(
        manifest("target/wasm32-wasip2/release/swap_v1.wasm", ""),
        Backend::Embedded,
        5_000,
    )
    .await;
    let mut events = h.runtime.platform().events.subscribe("components");
    assert_eq!(version(&h).await, "v1");
    let v1 = live_digest(&h, "swap");

    let (status, report) = upload(
        &h,
        "swap",
        built_component("swap_v2.wasm"),
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["previous"], v1.as_str());
    assert_eq!(version(&h).await, "v2");
    let v2 = live_digest(&h, "swap");
    assert_eq!(report["digest"], v2.as_str());
    let event = loop {
        let e = events.recv().await.expect("components event");
        if e.room == "components" {
            break e;
        }
    };
    let data: Value = serde_json::from_str(event.data.get()).expect("JSON event");
    assert_eq!(
        (data["component"].as_str(), data["outcome"].as_str()),
        (Some("swap"), Some("live"))
    );

    // Rollback to the previous version, then forward again by digest: no recompilation.
    let (status, back) = post_json(&h, "/admin/components/swap/rollback", "").await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(
        (back["digest"].as_str(), back["compiled"].as_bool()),
        (Some(v1.as_str()), Some(false))
    );
    assert_eq!(version(&h).await, "v1");
    let (status, fwd) = post_json(
        &h,
        "/admin/components/swap/rollback",
        &format!(r#"{{"digest":"{v2}"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{fwd}");
    assert_eq!(version(&h).await, "v2");
    let (status, missing) = post_json(
        &h,
        "/admin/components/swap/rollback",
        r#"{"digest":"sha256:00"}"#,
    )
    .await;
    assert_eq!(
        (status, missing["error"]["code"].as_str()),
        (404, Some("unknown_version"))
    );

    let (status, history) = h
        .get("/admin/components/swap/history", Some(ADMIN_TOKEN))
        .await;
    assert_eq!(status, 200);
    let rows = history.as_array().expect("rows");
    let vias: Vec<&str> = rows
        .iter()
        .map(|r| r["via"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        vias,
        ["rollback", "rollback", "upload", "startup"],
        "newest first"
    );
    assert!(
        rows.iter()
            .all(|r| r["outcome"] == "live" && r["duration_ms"].as_i64().is_some())
    );
    assert_eq!(rows[2]["actor"], "admin-token");

    let (status, list) = h.get("/admin/components", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    let swap = list
        .as_array()
        .and_then(|a| a.iter().find(|c| c["component"]["name"] == "swap"))
        .expect("swap listed");
    assert_eq!(swap["versions"].as_array().map(Vec::len), Some(2));
    h.stop().await;
}

async fn post_json(h: &TestHost, path: &str, body: &str) -> (u16, Value) {
    h.post(path, Some(ADMIN_TOKEN), body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_and_the_live_version_keeps_serving() {
    let h = TestHost::start(
        manifest("target/wasm32-wasip2/release/swap_v1.wasm", ""),
        Backend::Embedded,
        5_000,
    )
    .await;
    let trader = h.api_key("tina", &["trader"]).await;
    let auth_before = live_digest(&h, "auth");
    let swap_before = live_digest(&h, "swap");
    let cases: Vec<UploadCase> = vec![
        (
            "garbage",
            "swap",
            b"definitely not wasm".to_vec(),
            Some(ADMIN_TOKEN),
            400,
            "not_wasm",
        ),
        (
            "core module",
            "swap",
            b"\0asm\x01\0\0\0".to_vec(),
            Some(ADMIN_TOKEN),
            400,
            "core_module",
        ),
        (
            "truncated component",
            "swap",
            b"\0asm\x0d\0\x01\0\x01".to_vec(),
            Some(ADMIN_TOKEN),
            422,
            "compile_failed",
        ),
        (
            "another world",
            "auth",
            built_component("signals.wasm"),
            Some(ADMIN_TOKEN),
            422,
            "contract_mismatch",
        ),
        (
            "missing export",
            "auth",
            built_component("broken_auth.wasm"),
            Some(ADMIN_TOKEN),
            422,
            "contract_mismatch",
        ),
        (
            "too large",
            "swap",
            vec![0u8; bourse::runtime::MAX_COMPONENT_BYTES + 1],
            Some(ADMIN_TOKEN),
            413,
            "component_too_large",
        ),
        (
            "unknown component",
            "nope",
            built_component("swap_v2.wasm"),
            Some(ADMIN_TOKEN),
            404,
            "unknown_component",
        ),
        (
            "no token",
            "swap",
            built_component("swap_v2.wasm"),
            None,
            401,
            "unauthenticated",
        ),
        (
            "trader",
            "swap",
            built_component("swap_v2.wasm"),
            Some(trader.as_str()),
            403,
            "forbidden",
        ),
        (
            "bad token",
            "swap",
            built_component("swap_v2.wasm"),
            Some("bk_nope"),
            401,
            "invalid_credentials",
        ),
    ];
    for (what, name, bytes, token, want_status, want_code) in cases {
        let (status, json) = upload(&h, name, bytes, token).await;
        assert_eq!(
            (status, json["error"]["code"].as_str()),
            (want_status, Some(want_code)),
            "{what}: {json}"
        );
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}"
        );
        assert_eq!(
            live_digest(&h, "auth"),
            auth_before,
            "{what}: auth untouched"
        );
        assert_eq!(
            live_digest(&h, "swap"),
            swap_before,
            "{what}: swap untouched"
        );
        assert_eq!(version(&h).await, "v1", "{what}: still serving");
    }
    let (_, json) = upload(
        &h,
        "auth",
        built_component("broken_auth.wasm"),
        Some(ADMIN_TOKEN),
    )
    .await;
    let message = json["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("missing export `wasi:http/incoming-handler@0.2.12`"),
        "{message}"
    );
    let (_, history) = h
        .get("/admin/components/auth/history?limit=1", Some(ADMIN_TOKEN))
        .await;
    assert_eq!(history[0]["outcome"], "refused");
    assert!(
        history[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("does not honour"))
    );
    // An ops key minted by the auth component may deploy too.
    let ops = h.api_key("oscar", &["ops"]).await;
    let (status, json) = upload(&h, "swap", built_component("swap_v2.wasm"), Some(&ops)).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(version(&h).await, "v2");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_file_goes_live_by_itself() {
    let dir = std::env::temp_dir().join(bourse_tests::unique("bourse-watch-"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let live = dir.join("swap.wasm");
    std::fs::copy(
        workspace().join("target/wasm32-wasip2/release/swap_v1.wasm"),
        &live,
    )
    .expect("copy v1");
    let h = TestHost::start_with(
        manifest(&live.display().to_string(), ""),
        Backend::Embedded,
        5_000,
        true,
    )
    .await;
    assert_eq!(version(&h).await, "v1");
    copy_over(
        &workspace().join("target/wasm32-wasip2/release/swap_v2.wasm"),
        &live,
    );
    assert!(wait_for(&h, "v2").await, "the watcher put v2 live");
    // A broken build does not replace what is live. The next write waits until the watcher
    // has read this one (a fixed pause lost the race on a loaded machine: the watcher then
    // saw only the write after it).
    std::fs::write(&live, b"half-written").expect("write garbage");
    let mut refused = false;
    for _ in 0..100 {
        if h.swap_trail("swap").await.first().map(String::as_str) == Some("watch refused") {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the watcher refused the broken build");
    assert_eq!(version(&h).await, "v2");
    copy_over(
        &workspace().join("target/wasm32-wasip2/release/swap_v1.wasm"),
        &live,
    );
    assert!(wait_for(&h, "v1").await, "the watcher put v1 back");
    assert_eq!(
        h.swap_trail("swap").await,
        ["watch live", "watch refused", "watch live", "startup live"]
    );
    h.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

fn copy_over(from: &Path, to: &Path) {
    // Write then rename, as build tools do, so the watcher never reads half a file.
    let tmp = to.with_extension("tmp");
    std::fs::copy(from, &tmp).expect("copy");
    std::fs::rename(&tmp, to).expect("rename");
}

async fn wait_for(h: &TestHost, want: &str) -> bool {
    for _ in 0..100 {
        if version(h).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_component_limits_apply_to_that_component_only() {
    let limits = "timeout_ms = 200\nmemory_mb = 16\nmax_concurrency = 1";
    let h = TestHost::start(
        manifest("target/wasm32-wasip2/release/swap_v1.wasm", limits),
        Backend::Embedded,
        10_000,
    )
    .await;
    let (status, json) = h.get("/faulty/spin", None).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (504, Some("component_timeout")),
        "{json}"
    );
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("200 ms")),
        "{json}"
    );
    let (status, json) = h.get("/faulty/grow", None).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (500, Some("component_failed")),
        "{json}"
    );
    let (_, components) = h.get("/api/components", Some(ADMIN_TOKEN)).await;
    let faulty = components
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "faulty"))
        .expect("listed");
    assert_eq!(
        faulty["limits"],
        serde_json::json!({
            "memory_bytes": 16 << 20,
            "timeout_ms": 200,
            "max_concurrency": 1,
            "reuse": {"requests": 1, "concurrent": 1, "idle_timeout_ms": 1000},
        })
    );
    let swap = components
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "swap"))
        .expect("listed");
    assert_eq!(
        swap["limits"]["timeout_ms"], 10_000,
        "others keep the defaults"
    );
    assert_eq!(version(&h).await, "v1");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_at_its_concurrency_limit_answers_busy() {
    let limits = "timeout_ms = 3000\nmax_concurrency = 1";
    let h = Arc::new(
        TestHost::start(
            manifest("target/wasm32-wasip2/release/swap_v1.wasm", limits),
            Backend::Embedded,
            10_000,
        )
        .await,
    );
    let spin = || {
        let h = h.clone();
        tokio::spawn(async move { h.get("/faulty/spin", None).await })
    };
    // On a loaded machine the spinner may not hold the permit yet when the probe
    // arrives (the probe is then served), or the probe may hold it when the spinner
    // arrives (the spinner is then refused and starts again): probe until refused.
    let mut spinner = spin();
    let mut refused = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if spinner.is_finished() {
            let (status, _) = spinner.await.expect("spinner task");
            assert_eq!(status, 503, "only a probe can hold the permit");
            spinner = spin();
            continue;
        }
        let (status, json) = h.get("/faulty/ok", None).await;
        if status != 200 {
            refused = Some((status, json));
            break;
        }
    }
    let (status, json) = refused.expect("a probe was refused while the spinner ran");
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (503, Some("component_busy")),
        "{json}"
    );
    let (status, _) = spinner.await.expect("spinner task");
    assert_eq!(status, 504);
    let (status, _) = h.get("/faulty/ok", None).await;
    assert_eq!(status, 200, "the permit came back");
    if let Ok(h) = Arc::try_unwrap(h) {
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_fails_while_versions_change() {
    let h = Arc::new(
        TestHost::start(
            manifest("target/wasm32-wasip2/release/swap_v1.wasm", ""),
            Backend::Embedded,
            5_000,
        )
        .await,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (h, stop, sent, failed) = (h.clone(), stop.clone(), sent.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                sent.fetch_add(1, Ordering::Relaxed);
                let ok = match h.client.get(format!("{}/swap/version", h.url)).send().await {
                    Ok(r) => {
                        r.status().is_success()
                            && r.json::<Value>()
                                .await
                                .is_ok_and(|j| j["version"] == "v1" || j["version"] == "v2")
                    }
                    Err(_) => false,
                };
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let versions = [
        built_component("swap_v2.wasm"),
        built_component("swap_v1.wasm"),
    ];
    for i in 0..6 {
        let (status, json) = upload(&h, "swap", versions[i % 2].clone(), Some(ADMIN_TOKEN)).await;
        assert_eq!(status, 200, "{json}");
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client task");
    }
    assert!(sent.load(Ordering::Relaxed) > 0);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "of {} requests",
        sent.load(Ordering::Relaxed)
    );
    if let Ok(h) = Arc::try_unwrap(h) {
        h.stop().await;
    }
}
