//! `bourse new`: a component made from its template beside a manifest, built with its real
//! toolchain by `bourse build`, served, called, then edited, rebuilt and swapped into the
//! running host.

use bourse::manifest::Manifest;
use bourse_tests::scratch::{build_one, edit, require, upload};
use bourse_tests::typed::TypedCalls;
use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest_with, scratch};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_http_component_from_its_template_builds_serves_and_swaps() {
    let (dir, manifest_path) = scratch::app();
    // A Cargo workspace beside the manifest, as in Bourse's repository: the component joins it.
    scratch::cargo_workspace(&dir);

    let created = bourse::scaffold::new(&manifest_path, "rust-http", "hello-api")
        .expect("made from template");
    assert!(created.in_workspace);
    let manifest = Manifest::load(&manifest_path).expect("the manifest loads");
    build_one(&manifest, "hello-api");

    let host = TestHost::start(manifest.clone(), Backend::Embedded, 10_000).await;
    let (status, answer) = host.get("/hello-api/quotes?x=1", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"component": "hello-api", "method": "GET", "path": "/hello-api/quotes"})
    );

    // Edited, rebuilt and uploaded: the running host serves the new version.
    edit(
        &created.folder.join("src/lib.rs"),
        r#""component": "hello-api","#,
        r#""component": "hello-api", "edited": true,"#,
    );
    build_one(&manifest, "hello-api");
    upload(&host, &manifest, "hello-api").await;
    let (status, answer) = host.get("/hello-api/quotes", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["edited"], true, "{answer}");
    host.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_signal_from_its_template_builds_computes_and_swaps() {
    require("componentize-py");
    let (dir, manifest_path) = scratch::app();
    // Beside a Cargo workspace taking components/* (as in Bourse's repository), which must
    // leave the Python folder out or every cargo command there would fail.
    scratch::cargo_workspace(&dir);
    let created = bourse::scaffold::new(&manifest_path, "python-signal", "my-signal")
        .expect("made from template");
    assert!(!created.in_workspace);
    let metadata = std::process::Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(&dir)
        .output()
        .expect("cargo runs");
    assert!(
        metadata.status.success(),
        "{}",
        String::from_utf8_lossy(&metadata.stderr)
    );
    assert!(created.folder.join("wit/plugins.wit").exists());
    let manifest = Manifest::load(&manifest_path).expect("the manifest loads");
    build_one(&manifest, "my-signal");
    // The component's world is checked at load against the component's own WIT copy.
    let host = TestHost::start(manifest.clone(), Backend::Embedded, 10_000).await;

    let input = |numerator: Value, lookback: u32| {
        json!({
            "numerator": numerator, "denominator": [200.0, 205.0, 210.0],
            "lookback": lookback, "above": "risk_on",
        })
        .to_string()
    };
    let rising = || input(json!([100.0, 105.0, 110.0]), 2);
    let (status, answer) = host
        .post("/api/indicators/my-signal", None, &rising())
        .await;
    assert_eq!(status, 200, "{answer}");
    let ratio = answer["ratio"].as_f64().expect("ratio");
    assert!(
        (ratio - (110.0 / 100.0) / (210.0 / 200.0)).abs() < 1e-12,
        "{answer}"
    );
    assert_eq!(answer["component"], "my-signal", "{answer}");
    assert_eq!(answer["name"], "my-signal", "{answer}");
    assert_eq!(answer["regime"], "risk_on", "{answer}");

    // The component's refusals, in its words; the host's, naming what is wrong.
    let long = vec![1.0; bourse::api::indicators::MAX_POINTS + 1];
    let bad_regime =
        json!({"numerator": [1.0], "denominator": [1.0], "lookback": 1, "above": "up"}).to_string();
    for (component, body, status_code, code, says) in [
        (
            "my-signal",
            input(json!([100.0, 105.0, 110.0]), 5),
            422,
            "insufficient_data",
            "need 6 closes, have 3",
        ),
        (
            "my-signal",
            input(json!([100.0, -1.0, 110.0]), 2),
            422,
            "invalid_input",
            "close -1.0 is not a positive finite number",
        ),
        (
            "no-such",
            rising(),
            404,
            "unknown_indicator",
            "no component named \"no-such\"",
        ),
        (
            "my-signal",
            input(json!(long), 2),
            400,
            "invalid_body",
            "numerator has 10001 closes",
        ),
        ("my-signal", bad_regime, 400, "invalid_body", "above"),
    ] {
        let (status, answer) = host
            .post(&format!("/api/indicators/{component}"), None, &body)
            .await;
        assert_eq!(status, status_code, "{answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(says)),
            "{says}: {answer}"
        );
    }

    // Edited (a higher bar for risk-on), rebuilt and uploaded: the running host computes
    // with the new version.
    edit(
        &created.folder.join("app.py"),
        "if ratio > 1:",
        "if ratio > 1.1:",
    );
    build_one(&manifest, "my-signal");
    upload(&host, &manifest, "my-signal").await;
    let (status, answer) = host
        .post("/api/indicators/my-signal", None, &rising())
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["regime"], "risk_off", "{answer}");
    host.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_simulation_agent_from_its_template_generates_a_run_and_swaps() {
    require("componentize-py");
    let (dir, manifest_path) = scratch::app();
    let created = bourse::scaffold::new(&manifest_path, "python-agent", "my-agent")
        .expect("made from template");
    let manifest = Manifest::load(&manifest_path).expect("the manifest loads");
    build_one(&manifest, "my-agent");
    // Into Bourse's own application (auth, the market), as its entry says, with its paths.
    let decl = &manifest.components["my-agent"];
    let extra = format!(
        "[component.my-agent]\nsource = \"{}\"\n[component.my-agent.tool.bourse]\nworld = \"bourse:platform/simulation-agent\"\nwit = \"{}\"\nroles = [\"simulation\"]\n",
        manifest.resolve(&decl.source).display(),
        created.folder.join("wit").display(),
    );
    let app = app_manifest_with(&extra);
    let host = TestHost::start(app.clone(), Backend::Embedded, 10_000).await;

    let run = |seed: u64, generator: &str| {
        json!({
            "generator": generator, "orders": 5_000,
            "scenario": {
                "symbols": ["AAPL", "MSFT"], "mid": 10000, "spread": 5, "max_quantity": 20,
                "market_percent": 20, "accounts": 8, "seed": seed, "volatility_bp": 500,
            },
        })
        .to_string()
    };
    let mut hashes = Vec::new();
    for _ in 0..2 {
        let (status, started) = host
            .post("/api/simulations", Some(ADMIN_TOKEN), &run(13, "my-agent"))
            .await;
        assert_eq!(status, 202, "{started}");
        assert_eq!(started["generator"], "my-agent", "{started}");
        let done = host.finish_run(started["id"].as_str().expect("id")).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["progress"]["generated"], 5_000, "{done}");
        assert!(
            done["progress"]["trades"].as_u64().unwrap_or(0) > 100,
            "market orders against resting limits trade: {done}"
        );
        hashes.push(done["summary"]["book_hash"].clone());
    }
    assert_eq!(hashes[0], hashes[1], "the same seed gives the same market");

    // A generator that is not there, or that generates nothing, is the caller's mistake.
    for (generator, says) in [
        ("no-such", "no component named"),
        ("Bad Name", "is not a component id"),
        ("auth", "does not export bourse:platform/generator"),
    ] {
        let (status, answer) = host
            .post("/api/simulations", Some(ADMIN_TOKEN), &run(13, generator))
            .await;
        assert_eq!(status, 400, "{generator}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(says)),
            "{generator}: {answer}"
        );
    }

    // Edited to refuse seed 13, rebuilt and uploaded: the next run starts on the new version.
    edit(
        &created.folder.join("app.py"),
        "        STATE.scenario = scenario\n",
        "        if scenario.seed == 13:\n            raise Err(\"seed 13 is unlucky\")\n        STATE.scenario = scenario\n",
    );
    build_one(&manifest, "my-agent");
    upload(&host, &app, "my-agent").await;
    let (status, answer) = host
        .post("/api/simulations", Some(ADMIN_TOKEN), &run(13, "my-agent"))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["message"], "seed 13 is unlucky", "{answer}");
    host.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typescript_http_component_from_its_template_builds_serves_and_swaps() {
    require("npm");
    let (dir, manifest_path) = scratch::app();
    let created =
        bourse::scaffold::new(&manifest_path, "ts-http", "hello-ts").expect("made from template");
    let manifest = Manifest::load(&manifest_path).expect("the manifest loads");
    build_one(&manifest, "hello-ts");
    let host = TestHost::start(manifest.clone(), Backend::Embedded, 10_000).await;
    let (status, answer) = host.get("/hello-ts/quotes?x=1", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"component": "hello-ts", "method": "GET", "path": "/hello-ts/quotes"})
    );

    edit(
        &created.folder.join("src/index.ts"),
        "component: \"hello-ts\",",
        "component: \"hello-ts\", edited: true,",
    );
    build_one(&manifest, "hello-ts");
    upload(&host, &manifest, "hello-ts").await;
    let (status, answer) = host.get("/hello-ts/quotes", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["edited"], true, "{answer}");
    host.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_order_handler_from_its_template_places_orders_under_its_rule_and_swaps() {
    use bourse::bindings::bourse::platform::types::{OrderStatus, Principal};
    use bourse::bindings::exports::bourse::platform::order_handling::NewOrder;

    let (dir, manifest_path) = scratch::app();
    // It builds against Bourse's guest crate: refused where that is not beside the manifest.
    let refused = bourse::scaffold::new(&manifest_path, "rust-order-handler", "desk")
        .expect_err("no crates/guest here");
    assert!(
        refused.to_string().starts_with(&format!(
            "template rust-order-handler needs {} beside the manifest",
            dir.join("crates/guest/Cargo.toml").display()
        )),
        "{refused}"
    );
    scratch::bourse_like_workspace(&dir);
    let created = bourse::scaffold::new(&manifest_path, "rust-order-handler", "desk")
        .expect("made from template");
    assert!(created.in_workspace);
    let manifest = Manifest::load(&manifest_path).expect("the manifest loads");
    build_one(&manifest, "desk");
    // Into Bourse's own application (auth, the market), checked against its world.
    let extra = format!(
        "[[trigger.http]]\nroute = \"/desk/...\"\ncomponent = \"desk\"\n[component.desk]\nsource = \"{}\"\n[component.desk.tool.bourse]\nworld = \"bourse:platform/order-handler\"\n",
        manifest
            .resolve(&manifest.components["desk"].source)
            .display(),
    );
    let app = app_manifest_with(&extra);
    let host = TestHost::start(app.clone(), Backend::Embedded, 10_000).await;

    let order = |kind: &str, price: Option<&str>, quantity: &str| {
        json!({"symbol": "AAPL", "side": "sell", "type": kind, "price": price, "quantity": quantity})
            .to_string()
    };
    let (status, answer) = host
        .post(
            "/desk/orders",
            Some(ADMIN_TOKEN),
            &order("limit", Some("101.00"), "5"),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["status"], "accepted", "{answer}");
    assert_eq!(answer["remaining_lots"], 5, "{answer}");
    for (body, token, status_code, code, says) in [
        (
            order("market", None, "2"),
            Some(ADMIN_TOKEN),
            400,
            "invalid_type",
            "this desk sends limit orders only",
        ),
        (
            order("limit", Some("101.00"), "2000"),
            Some(ADMIN_TOKEN),
            400,
            "invalid_quantity",
            "2000 lots is over this desk's 1000",
        ),
        (
            order("limit", Some("101.001"), "1"),
            Some(ADMIN_TOKEN),
            400,
            "invalid_price",
            "",
        ),
        (
            order("limit", Some("101.00"), "1"),
            None,
            401,
            "unauthenticated",
            "this route needs credentials",
        ),
    ] {
        let (status, answer) = host.post("/desk/orders", token, &body).await;
        assert_eq!(status, status_code, "{answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(says)),
            "{says}: {answer}"
        );
    }
    // The typed export the host calls does the same: a buy crosses the resting sell.
    let buyer = Principal {
        id: "desk-buyer".into(),
        roles: vec!["trader".into()],
    };
    let buy = NewOrder {
        symbol: "AAPL".into(),
        side: "buy".into(),
        kind: "limit".into(),
        price: Some("101.00".into()),
        quantity: "2".into(),
        time_in_force: None,
        post_only: false,
        client_order_id: None,
    };
    let result = host
        .runtime
        .place_order("desk", &buyer, &buy)
        .await
        .expect("called")
        .expect("placed");
    assert_eq!(result.status, OrderStatus::Filled);
    assert_eq!(result.trades.len(), 1);

    // A tighter rule, rebuilt and uploaded: the running host places orders under it.
    edit(
        &created.folder.join("src/lib.rs"),
        "const MAX_LOTS: u64 = 1_000;",
        "const MAX_LOTS: u64 = 10;",
    );
    build_one(&manifest, "desk");
    upload(&host, &app, "desk").await;
    let (status, answer) = host
        .post(
            "/desk/orders",
            Some(ADMIN_TOKEN),
            &order("limit", Some("101.00"), "50"),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["error"]["message"], "50 lots is over this desk's 10",
        "{answer}"
    );
    host.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
