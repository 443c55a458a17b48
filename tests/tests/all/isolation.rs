//! Failure isolation and storage isolation: a trapping, spinning or memory-hungry component
//! gets a JSON error and the host keeps serving; a missing component file is named; each
//! component's keys and tables are its own.

use bourse_tests::{
    ADMIN_TOKEN, Backend, TestHost, app_manifest, app_manifest_with, app_text, manifest_from,
    redis_url, unique,
};

/// The application plus the faulty fixture and a component whose file does not exist.
fn mixed_manifest() -> bourse::manifest::Manifest {
    app_manifest_with(
        r#"
[[trigger.http]]
route = "/faulty/..."
component = "faulty"

[[trigger.http]]
route = "/ghost/..."
component = "ghost"

[component.faulty]
source = "target/wasm32-wasip2/release/faulty.wasm"

[component.ghost]
source = "target/wasm32-wasip2/release/does_not_exist.wasm"
"#,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_components_are_isolated() {
    let h = TestHost::start(mixed_manifest(), Backend::Embedded, 1_000).await;

    let (status, json) = h.get("/faulty/ok", None).await;
    assert_eq!((status, &json["ok"]), (200, &serde_json::json!(true)));

    for (path, want_status, want_code) in [
        ("/faulty/panic", 500, "component_failed"),
        ("/faulty/spin", 504, "component_timeout"),
        ("/faulty/grow", 500, "component_failed"),
        ("/ghost/anything", 503, "component_unavailable"),
    ] {
        let (status, json) = h.get(path, None).await;
        assert_eq!(
            (status, json["error"]["code"].as_str()),
            (want_status, Some(want_code)),
            "{path}: {json}"
        );
        assert!(
            json["error"]["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{path}: {json}"
        );
        // The host and the other components keep serving.
        let (status, _) = h.get("/faulty/ok", None).await;
        assert_eq!(status, 200, "after {path}");
        let (status, _) = h.get("/api/symbols", None).await;
        assert_eq!(status, 200, "after {path}");
    }
    let (_, json) = h.get("/ghost/anything", None).await;
    let message = json["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("component ghost is not available"),
        "{message}"
    );
    assert!(
        !message.contains(".wasm"),
        "no server paths in client errors: {message}"
    );

    let (status, health) = h.get("/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["components"]["failed"], serde_json::json!(["ghost"]));
    let (_, components) = h.get("/api/components", Some(ADMIN_TOKEN)).await;
    let ghost = components
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "ghost"))
        .expect("ghost is listed");
    assert_eq!(ghost["status"], "failed");
    assert!(
        ghost["error"]
            .as_str()
            .is_some_and(|e| e.contains("does_not_exist.wasm"))
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_that_breaks_its_contract_is_refused_at_load() {
    let text = app_text().replace(
        "target/wasm32-wasip2/release/auth.wasm",
        "target/wasm32-wasip2/release/broken_auth.wasm",
    );
    let h = TestHost::start(manifest_from(&text), Backend::Embedded, 5_000).await;
    let (_, components) = h.get("/api/components", Some(ADMIN_TOKEN)).await;
    let auth = components
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "auth"))
        .expect("auth is listed");
    assert_eq!(auth["status"], "failed");
    let error = auth["error"].as_str().unwrap_or("");
    assert!(
        error.contains("does not honour world bourse:platform/auth"),
        "{error}"
    );
    // Requests that need authentication now fail clearly; public routes still work.
    let (status, json) = h.get("/api/auth/me", Some("anything")).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (503, Some("component_unavailable")),
        "{json}"
    );
    let (status, _) = h.get("/api/book/AAPL", None).await;
    assert_eq!(status, 200);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_value_is_namespaced_per_component_in_redis() {
    let h = TestHost::start(app_manifest(), Backend::Services, 10_000).await;
    let name = unique("iso-");
    let body = serde_json::json!({"name": name, "numerator": [1.0, 2.0], "denominator": [1.0, 1.0], "lookback": 1});
    let (status, _) = h
        .post("/api/signals/ratio", Some(ADMIN_TOKEN), &body.to_string())
        .await;
    assert_eq!(status, 200);
    let client = redis::Client::open(redis_url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis on 127.0.0.1:6379");
    let key = format!("bourse:kv:signals:default:signal:{name}");
    let stored: Option<Vec<u8>> = redis::AsyncCommands::get(&mut conn, &key)
        .await
        .expect("GET");
    assert!(
        stored.is_some(),
        "the signals component's value is under its own prefix {key}"
    );
    let _: () = redis::AsyncCommands::del(&mut conn, &key)
        .await
        .expect("DEL");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_tables_live_in_the_components_own_schema_in_postgres() {
    let h = TestHost::start(app_manifest(), Backend::Services, 10_000).await;
    h.api_key(&unique("frank-"), &["trader"]).await;
    let db = h.database.clone().expect("services backend has a database");
    let pool = sqlx::PgPool::connect(&format!("{}/{db}", bourse_tests::postgres_server()))
        .await
        .expect("connect to the test database");
    let schemas: Vec<(String,)> = sqlx::query_as(
        "SELECT table_schema::text FROM information_schema.tables WHERE table_name = 'api_keys'",
    )
    .fetch_all(&pool)
    .await
    .expect("query catalog");
    assert_eq!(schemas, [("c_auth__default".to_string(),)]);
    let loads: (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM component_events WHERE outcome = 'live' AND via = 'startup'",
    )
    .fetch_one(&pool)
    .await
    .expect("host table from migrations");
    assert_eq!(loads.0, 5, "every component of spin.toml");
    pool.close().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_tables_live_in_the_components_own_file_when_embedded() {
    let h = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    h.api_key(&unique("grace-"), &["trader"]).await;
    let (status, health) = h.get("/health", None).await;
    assert_eq!(
        (status, health["checks"]["sql"]["backend"].as_str()),
        (200, Some("sqlite"))
    );
    let own = h.data_dir.join("sql/auth__default.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", own.display()))
        .await
        .expect("the auth component's own database file exists");
    let tables: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&pool)
            .await
            .expect("list tables");
    let names: Vec<&str> = tables.iter().map(|(n,)| n.as_str()).collect();
    assert_eq!(
        names,
        ["api_keys", "login_attempts", "refresh_tokens", "users"]
    );
    pool.close().await;
    let main = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        h.data_dir.join("sql/bourse.db").display()
    ))
    .await
    .expect("the host's database file exists");
    let leaked: (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM sqlite_master WHERE name = 'api_keys'")
            .fetch_one(&main)
            .await
            .expect("query");
    assert_eq!(
        leaked.0, 0,
        "component tables never land in the host database"
    );
    main.close().await;
    h.stop().await;
}
