//! Isolation between components: a component granted a SQL database reaches only that
//! database. On Postgres it connects as its own role, owning only its schema, so another
//! component's tables and the host's journal are out of reach; on SQLite it cannot attach
//! (or vacuum into) any other file. A component that names a world is checked against it or
//! refused, never loaded unchecked.

use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest_with, app_text, manifest_from};

/// The application plus the spin-sdk fixture, whose `POST /spin/sql-exec` runs the SQL
/// statement in its body on the fixture's own database, as a hostile component would.
fn manifest() -> bourse::manifest::Manifest {
    app_manifest_with(
        r#"
[[trigger.http]]
route = "/spin/..."
component = "spin-kv"

[component.spin-kv]
source = "target/wasm32-wasip2/release/spin_kv_fixture.wasm"
sqlite_databases = ["default"]
"#,
    )
}

/// Runs `statement` through the fixture → (status, body text).
async fn exec(host: &TestHost, statement: &str) -> (u16, String) {
    let response = host
        .client
        .post(format!("{}/spin/sql-exec", host.url))
        .body(statement.to_string())
        .send()
        .await
        .expect("request reaches the host");
    let status = response.status().as_u16();
    (status, response.text().await.expect("response body"))
}

/// Asserts the fixture's `statement` was refused for lack of rights (Postgres) or by the
/// confinement of SQLite connections, not merely failed.
async fn refused(host: &TestHost, statement: &str) -> String {
    let (status, body) = exec(host, statement).await;
    assert_eq!(status, 422, "{statement} must be refused, got: {body}");
    assert!(
        [
            "permission denied",
            "must be owner",
            "stays in its own database"
        ]
        .iter()
        .any(|why| body.contains(why)),
        "{statement} failed for another reason: {body}"
    );
    body
}

/// The component's own database works, and the host keeps serving, after the refusals.
async fn own_database_still_works(host: &TestHost) {
    for statement in [
        "CREATE TABLE IF NOT EXISTS mine (note TEXT NOT NULL)",
        "INSERT INTO mine (note) VALUES ('kept')",
    ] {
        let (status, body) = exec(host, statement).await;
        assert_eq!(status, 200, "{statement}: {body}");
    }
    let (status, body) = exec(host, "SELECT note FROM mine").await;
    assert_eq!((status, body.contains("kept")), (200, true), "{body}");
    let (status, _) = host.get("/api/book/AAPL", None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_cannot_read_or_change_another_components_tables() {
    for backend in Backend::ALL {
        let host = TestHost::start(manifest(), backend, 10_000).await;
        // The auth component now has a key in its own database.
        host.api_key("isolation-victim", &["trader"]).await;
        let attacks: Vec<String> = match backend {
            Backend::Services => vec![
                "SELECT key_hash, principal FROM c_auth__default.api_keys".into(),
                "UPDATE c_auth__default.users SET roles = 'admin'".into(),
                "ALTER SCHEMA c_auth__default RENAME TO stolen".into(),
                "SET ROLE postgres".into(),
            ],
            Backend::Embedded => {
                let auth = host.data_dir.join("sql/auth__default.db");
                let auth = auth.display();
                vec![
                    format!("ATTACH DATABASE '{auth}' AS victim"),
                    format!("ATTACH DATABASE 'file:{auth}?mode=ro' AS victim"),
                    format!("ATTACH DATABASE '{auth}' || '' AS victim"),
                ]
            }
        };
        for attack in &attacks {
            let body = refused(&host, attack).await;
            assert!(!body.contains("user:isolation-victim"), "{attack}: {body}");
        }
        own_database_still_works(&host).await;
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_cannot_reach_the_hosts_journal_or_files() {
    for backend in Backend::ALL {
        let host = TestHost::start(manifest(), backend, 10_000).await;
        let attacks: Vec<String> = match backend {
            Backend::Services => vec![
                "INSERT INTO public.journal (shard, first_seq, last_seq, at_ms, commands) \
                 VALUES (0, 999999, 999999, 0, '[]')"
                    .into(),
                "SELECT component, digest FROM public.component_events".into(),
                "DELETE FROM public.journal_fence".into(),
                "CREATE TABLE public.planted (a INTEGER)".into(),
                "CREATE SCHEMA planted".into(),
            ],
            Backend::Embedded => {
                let sql = host.data_dir.join("sql");
                let sql = sql.display();
                vec![
                    format!("ATTACH DATABASE '{sql}/bourse.db' AS host"),
                    format!("VACUUM INTO '{sql}/copied.db'"),
                    "SELECT load_extension('libanything')".into(),
                    "PRAGMA soft_heap_limit = 1".into(),
                    "PRAGMA temp_store_directory = '/tmp'".into(),
                ]
            }
        };
        for attack in &attacks {
            refused(&host, attack).await;
        }
        if backend == Backend::Embedded {
            assert!(
                !host.data_dir.join("sql/copied.db").exists(),
                "VACUUM INTO wrote a file outside the component's database"
            );
            // A plain VACUUM of its own file stays allowed.
            let (status, body) = exec(&host, "VACUUM").await;
            assert_eq!(status, 200, "{body}");
        }
        own_database_still_works(&host).await;
        host.stop().await;
    }
}

/// Roles made for a test host's database, by the schemas they own there.
async fn component_roles(database: &str) -> Vec<String> {
    let url = format!("{}/{database}", bourse_tests::postgres_server());
    let pool = sqlx::PgPool::connect(&url).await.expect("test database");
    let roles: Vec<(String,)> = sqlx::query_as(
        "SELECT r.rolname::text FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner \
         WHERE n.nspname LIKE 'c\\_%' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("list schema owners");
    pool.close().await;
    roles.into_iter().map(|(r,)| r).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_component_database_has_its_own_role_and_it_goes_with_the_test_database() {
    let host = TestHost::start(manifest(), Backend::Services, 10_000).await;
    let (status, body) = exec(&host, "SELECT current_user::text").await;
    assert_eq!(status, 200, "{body}");
    let database = host
        .database
        .clone()
        .expect("services backend has a database");
    let roles = component_roles(&database).await;
    assert!(
        roles.iter().any(|r| body.contains(r.as_str())),
        "the fixture runs as the owner of its schema ({roles:?}), not as {body}"
    );
    assert!(!body.contains("postgres"), "{body}");
    // Two databases (two hosts) never share a role.
    let other = TestHost::start(manifest(), Backend::Services, 10_000).await;
    let (_, other_user) = exec(&other, "SELECT current_user::text").await;
    assert_ne!(body, other_user);
    other.stop().await;
    host.stop().await;

    let admin = sqlx::PgPool::connect(&format!("{}/test", bourse_tests::postgres_server()))
        .await
        .expect("Postgres");
    for role in &roles {
        let left: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM pg_roles WHERE rolname = $1")
            .bind(role)
            .fetch_one(&admin)
            .await
            .expect("pg_roles");
        assert_eq!(left.0, 0, "role {role} outlived its test database");
    }
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_role_that_cannot_create_roles_is_named_at_start() {
    let server = bourse_tests::postgres_server();
    let name = bourse_tests::unique("bourse_test_");
    let role = format!("{name}_host");
    let admin = sqlx::PgPool::connect(&format!("{server}/test"))
        .await
        .expect("Postgres");
    for statement in [
        format!("CREATE ROLE {role} LOGIN NOCREATEROLE"),
        format!("CREATE DATABASE {name} OWNER {role}"),
    ] {
        sqlx::query(&statement)
            .execute(&admin)
            .await
            .expect(&statement);
    }
    let url = server.replacen("postgres@", &format!("{role}@"), 1);
    let dir = std::env::temp_dir().join(&name);
    let result = bourse::store::sql::Sql::connect(Some(&format!("{url}/{name}")), &dir).await;
    let error = result.err().map(|e| e.to_string()).unwrap_or_default();
    for statement in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("DROP ROLE IF EXISTS {role}"),
    ] {
        let _ = sqlx::query(&statement).execute(&admin).await;
    }
    admin.close().await;
    assert!(
        error.contains("CREATEROLE") && error.contains(&role),
        "the start-up error names the missing privilege and the role: {error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_naming_a_world_is_refused_when_the_wit_directory_is_missing() {
    let text = app_text().replace("wit = \"wit\"", "wit = \"no-such-wit\"");
    assert!(
        text.contains("no-such-wit"),
        "spin.toml names its wit directory"
    );
    let host = TestHost::start(manifest_from(&text), Backend::Embedded, 10_000).await;
    let (status, components) = host.get("/api/components", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{components}");
    let order_handler = components
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "order-handler"))
        .expect("order-handler is listed");
    assert_eq!(order_handler["status"], "failed", "{order_handler}");
    let error = order_handler["error"].as_str().unwrap_or("");
    assert!(error.contains("no-such-wit"), "{error}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_made_by_an_older_host_is_handed_to_the_components_role() {
    let (url, name) = bourse_tests::process::database().await;
    // What a host that connected components as its own role left behind.
    let old = sqlx::PgPool::connect(&url).await.expect("test database");
    for statement in [
        "CREATE SCHEMA c_legacy__default",
        "CREATE TABLE c_legacy__default.notes (id SERIAL PRIMARY KEY, note TEXT NOT NULL)",
        "INSERT INTO c_legacy__default.notes (note) VALUES ('from before')",
    ] {
        sqlx::query(statement).execute(&old).await.expect(statement);
    }
    old.close().await;

    let dir = std::env::temp_dir().join(&name);
    let sql = bourse::store::sql::Sql::connect(Some(&url), &dir)
        .await
        .expect("host connects");
    let pool = sql
        .component_pool("legacy", "default")
        .await
        .expect("component pool");
    let inserted = sql
        .execute(&pool, "INSERT INTO notes (note) VALUES ('after')", vec![])
        .await;
    let rows = sql
        .execute(&pool, "SELECT COUNT(*) AS n FROM notes", vec![])
        .await;
    pool.close().await;
    sql.main().close().await;
    bourse_tests::drop_database(&name).await;
    assert!(inserted.is_ok(), "{inserted:?}");
    let rows = rows.expect("the component reads its old table");
    assert_eq!(rows.rows, [[bourse::store::sql::SqlValue::Integer(2)]]);
}
