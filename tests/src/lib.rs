//! Test harness: starts a real Bourse host in-process on a free port, against either the
//! embedded stores (SQLite file + in-process key-value) or the real Postgres and Redis on
//! 127.0.0.1, with the real built components.
//!
//! Its users: the end-to-end suites, one test binary with a module per area
//! (`tests/tests/all`, `cargo test -p bourse-tests --test all -- api::` runs one area), the two
//! suites that must own their process (`tests/tests/redis_restart.rs`, `tests/tests/dashboard.rs`)
//! and the benchmarks in `src/bin`. Tests of one binary run side by side in one process, so
//! everything a host here creates is named per host (port, data directory, database, queue).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bourse::config::Config;
use bourse::manifest::{Manifest, Route, RouteTable};
use bourse::runtime::Runtime;
use bourse::server::Host;

pub mod bars;
pub mod journal;
pub mod process;
pub mod replicas;
pub mod scratch;
pub mod services;
pub mod soak;
pub mod spin_manifest;
pub mod stats;
pub mod typed;
pub mod ws;

/// The admin token test hosts accept (ops role).
pub const ADMIN_TOKEN: &str = "test-ops-token-0123456789";

/// The JWT signing secret the test manifest gives the auth component.
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789abcdef0123";

/// Which stores a test host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file in a temporary directory, in-process key-value.
    Embedded,
    /// Postgres (a fresh database per host) and Redis on 127.0.0.1.
    Services,
}

impl Backend {
    /// Both backends, for tests that must pass on each.
    pub const ALL: [Backend; 2] = [Backend::Embedded, Backend::Services];
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Postgres server URL without a database (`TEST_POSTGRES_URL`).
pub fn postgres_server() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// The test MQTT broker, `host:port` (`TEST_MQTT_ADDRESS`, default Mosquitto on
/// `127.0.0.1:1883`).
pub fn mqtt_broker() -> String {
    std::env::var("TEST_MQTT_ADDRESS").unwrap_or_else(|_| "127.0.0.1:1883".to_string())
}

/// The test Redis URL (`TEST_REDIS_URL`, default `redis://127.0.0.1:6379`).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// Removes keys matching `pattern` that an earlier run left in the shared Redis: a
/// component's key-value keys are the same in every run, so a test that depends on what is
/// (not) stored starts from a clean slate.
pub async fn clear_redis_keys(pattern: &str) {
    let client = redis::Client::open(redis_url()).expect("Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis on 127.0.0.1:6379 (see README)");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .expect("DEL");
    }
}

/// Holds the signals component's key-value keys in the shared Redis while a test on `backend`
/// writes or reads them (`None` on [`Backend::Embedded`], whose store is the host's own).
///
/// The component keeps deployment-wide state under fixed keys (`signals:latest`, each
/// signal's history and decisions, `bars:<symbol>`): every host on the shared Redis reads and
/// writes the same ones, whatever database it has, so a test that imports bars on
/// [`Backend::Services`], or checks what an import stored, would see another test's import.
/// The end-to-end suites share one process (`tests/tests/all`), so a lock in this process
/// keeps those few tests apart and leaves every other test running alongside.
pub async fn signals_keys(backend: Backend) -> Option<tokio::sync::MutexGuard<'static, ()>> {
    static KEYS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    match backend {
        Backend::Embedded => None,
        Backend::Services => Some(KEYS.lock().await),
    }
}

/// A random lower-case hex suffix for names that must not collide between runs.
pub fn unique(prefix: &str) -> String {
    let n = getrandom::u64().unwrap_or_else(|_| std::process::id() as u64);
    format!("{prefix}{n:016x}")
}

/// The text of the application manifest, with the test admin token as `admin_token`'s default.
pub fn app_text() -> String {
    let path = workspace().join("spin.toml");
    let text = std::fs::read_to_string(&path).expect("spin.toml at the workspace root");
    let text = text.replace(
        r#"admin_token = { default = "", secret = true }"#,
        &format!(r#"admin_token = {{ default = "{ADMIN_TOKEN}", secret = true }}"#),
    );
    let text = text.replace(
        r#"jwt_secret = { default = "", secret = true }"#,
        &format!(r#"jwt_secret = {{ default = "{JWT_SECRET}", secret = true }}"#),
    );
    assert!(
        text.contains(ADMIN_TOKEN) && text.contains(JWT_SECRET),
        "spin.toml no longer declares admin_token and jwt_secret as the tests expect"
    );
    text
}

/// The application manifest, with the test admin token as `admin_token`'s default.
pub fn app_manifest() -> Manifest {
    Manifest::parse(&workspace().join("spin.toml"), &app_text()).expect("spin.toml is valid")
}

/// The application manifest plus `extra` manifest text (more triggers and components); the
/// extra routes are public, like a fixture served without credentials.
pub fn app_manifest_with(extra: &str) -> Manifest {
    let base: Vec<String> = app_manifest()
        .routes
        .iter()
        .map(|r| r.pattern.clone())
        .collect();
    let mut manifest = manifest_from(&format!("{}\n{extra}", app_text()));
    if let Some(public) = &manifest.public {
        let mut routes: Vec<Route> = public.iter().cloned().collect();
        routes.extend(
            manifest
                .routes
                .iter()
                .filter(|r| !base.contains(&r.pattern))
                .cloned(),
        );
        manifest.public = Some(RouteTable::new(routes));
    }
    manifest
}

/// A manifest from `text`, with paths resolved against the workspace root.
pub fn manifest_from(text: &str) -> Manifest {
    let mut manifest =
        Manifest::parse(&workspace().join("test.toml"), text).expect("test manifest is valid");
    manifest.root = workspace();
    manifest
}

/// A running host.
pub struct TestHost {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The runtime, for typed calls.
    pub runtime: Arc<Runtime>,
    /// An HTTP client.
    pub client: reqwest::Client,
    /// The Postgres database created for this host, if any.
    pub database: Option<String>,
    /// Where the embedded stores keep their files.
    pub data_dir: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestHost {
    /// Starts `manifest` on `backend` with a `timeout_ms` call deadline.
    pub async fn start(manifest: Manifest, backend: Backend, timeout_ms: u64) -> TestHost {
        TestHost::start_with(manifest, backend, timeout_ms, false).await
    }

    /// As [`TestHost::start`], optionally watching component files for hot swap.
    pub async fn start_with(
        manifest: Manifest,
        backend: Backend,
        timeout_ms: u64,
        watch: bool,
    ) -> TestHost {
        TestHost::start_as(
            manifest,
            backend,
            timeout_ms,
            watch,
            bourse::config::Role::All,
        )
        .await
    }

    /// As [`TestHost::start_with`], running only `role`'s components.
    pub async fn start_as(
        manifest: Manifest,
        backend: Backend,
        timeout_ms: u64,
        watch: bool,
        role: bourse::config::Role,
    ) -> TestHost {
        TestHost::start_custom(manifest, backend, move |c| {
            c.request_timeout_ms = timeout_ms;
            c.watch = watch;
            c.role = role;
        })
        .await
    }

    /// Starts `manifest` on `backend` with the test defaults changed by `customize`.
    pub async fn start_custom(
        manifest: Manifest,
        backend: Backend,
        customize: impl FnOnce(&mut Config),
    ) -> TestHost {
        let data_dir = std::env::temp_dir().join(unique("bourse-test-"));
        let (database_url, redis_url, database) = match backend {
            Backend::Embedded => (None, None, None),
            Backend::Services => {
                let name = unique("bourse_test_");
                let admin = format!("{}/test", postgres_server());
                let pool = sqlx::PgPool::connect(&admin)
                    .await
                    .expect("Postgres on 127.0.0.1:5432 (see README)");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&pool)
                    .await
                    .expect("create test database");
                pool.close().await;
                (
                    Some(format!("{}/{name}", postgres_server())),
                    Some(redis_url()),
                    Some(name),
                )
            }
        };
        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("literal address"),
            database_url,
            redis_url,
            data_dir: data_dir.clone(),
            request_timeout_ms: 10_000,
            instance_memory_mb: 64,
            admin_token: Some(ADMIN_TOKEN.to_string()),
            retain_versions: 5,
            watch: false,
            matching_shards: 2,
            snapshot_every: 100_000,
            max_open_orders: 1_000,
            client_order_id_retain_secs: 600,
            auth_cache_ms: 5_000,
            sim_local_max_rate: 10_000,
            sim_handoff_ms: 300,
            // Each test host has its own queue: hosts of other tests must not take its runs.
            sim_queue: unique("bourse:test-simulations:"),
            sim_max_runs_per_principal: 3,
            sim_max_runs: 16,
            sim_keep_runs: 100,
            rate_limit_principal: 0,
            rate_limit_ip: 0,
            trusted_proxies: 0,
            jwt_secret: None,
            allowed_origins: vec!["https://app.example.com".to_string()],
            log_format: bourse::config::LogFormat::Text,
            role: bourse::config::Role::All,
            shutdown_timeout_ms: 5_000,
            body_limit_mb: 10,
            memory_limit_mb: bourse::config::DEFAULT_MEMORY_LIMIT_MB,
            spin_compat: false,
            cluster: None,
            replica_id: None,
            lease_ms: 3_000,
            event_retain: 1_000,
            event_retain_secs: 900,
            ws_max_per_ip: 256,
            ws_max_per_principal: 32,
        };
        customize(&mut config);
        let host = Host::start(&config, manifest).await.expect("host starts");
        let runtime = host.runtime.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let result = host
                .serve(
                    config.listen,
                    move |addr| {
                        let _ = addr_tx.send(addr);
                    },
                    async move {
                        let _ = rx.await;
                    },
                )
                .await;
            if let Err(e) = result {
                eprintln!("test host stopped with an error: {e}");
            }
        });
        let addr = addr_rx.await.expect("host bound its port");
        TestHost {
            url: format!("http://{addr}"),
            runtime,
            client: reqwest::Client::new(),
            database,
            shutdown: Some(tx),
            data_dir,
        }
    }

    /// `GET path` → (status, JSON body).
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = self.client.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::read(req.send().await.expect("request reaches the host")).await
    }

    /// A component's swap history as `"<via> <outcome>"`, newest first (e.g. `"upload live"`).
    pub async fn swap_trail(&self, component: &str) -> Vec<String> {
        let (status, history) = self
            .get(
                &format!("/admin/components/{component}/history"),
                Some(ADMIN_TOKEN),
            )
            .await;
        assert_eq!(status, 200, "{history}");
        history
            .as_array()
            .expect("history rows")
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r["via"].as_str().unwrap_or(""),
                    r["outcome"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    /// `method path` with an optional raw JSON body → (status, JSON body).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::read(req.send().await.expect("request reaches the host")).await
    }

    /// Sends only the head of `method path`, announcing a body of `length` bytes that never
    /// comes, and returns the start of the answer: a route that refuses a body on its declared
    /// length answers, one that reads the body first never does (a panic after 10 s).
    pub async fn announce_body(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        length: u64,
    ) -> String {
        let addr = self.url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let auth = token.map_or_else(String::new, |t| format!("authorization: Bearer {t}\r\n"));
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}content-type: application/json\r\ncontent-length: {length}\r\n\r\n"
        );
        tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes())
            .await
            .expect("send headers");
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tokio::io::AsyncReadExt::read(&mut stream, &mut answer),
        )
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer in 10 s, the body is awaited"))
        .expect("read answer");
        String::from_utf8_lossy(&answer[..n]).into_owned()
    }

    /// Uploads `wasm` as component `name`'s new version (a hot swap, as the operator) →
    /// (status, JSON answer).
    pub async fn upload(&self, name: &str, wasm: Vec<u8>) -> (u16, serde_json::Value) {
        let request = self
            .client
            .post(format!("{}/admin/components/{name}", self.url))
            .bearer_auth(ADMIN_TOKEN)
            .body(wasm);
        Self::read(request.send().await.expect("upload reaches the host")).await
    }

    /// `ws://` address of this host's WebSocket endpoint.
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.url.replacen("http://", "ws://", 1))
    }

    /// `POST path` with a raw body → (status, JSON body).
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::read(req.send().await.expect("request reaches the host")).await
    }

    async fn read(response: reqwest::Response) -> (u16, serde_json::Value) {
        let status = response.status().as_u16();
        let text = response.text().await.expect("response body");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {text:?}"));
        (status, json)
    }

    /// Registers `username` and signs in; the session JSON (access and refresh tokens).
    pub async fn sign_up(&self, username: &str) -> serde_json::Value {
        let credentials =
            serde_json::json!({"username": username, "password": "correct horse battery"})
                .to_string();
        let (status, body) = self.post("/api/auth/register", None, &credentials).await;
        assert_eq!(status, 201, "{body}");
        let (status, session) = self.post("/api/auth/login", None, &credentials).await;
        assert_eq!(status, 200, "{session}");
        session
    }

    /// Creates an API key for user `username` with `roles` through the auth component
    /// (registering the user with those roles first if need be).
    pub async fn api_key(&self, username: &str, roles: &[&str]) -> String {
        replicas::api_key(&self.url, username, roles).await
    }

    /// Polls simulation run `id` (as ops) until it is no longer running, for at most 60 s;
    /// its last view.
    pub async fn finish_run(&self, id: &str) -> serde_json::Value {
        for _ in 0..1200 {
            let (status, run) = self
                .get(&format!("/api/simulations/{id}"), Some(ADMIN_TOKEN))
                .await;
            assert_eq!(status, 200, "{run}");
            if run["status"] != "running" {
                return run;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("simulation {id} did not finish in 60 s");
    }

    /// Stops the host and removes what it created.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some(name) = self.database.take() {
            self.runtime.platform().sql.main().close().await;
            drop_database(&name).await;
        }
    }
}

/// Drops the test database `name` and the roles the host made for its components' databases
/// (roles are cluster-wide: left alone, every test run would add more).
pub async fn drop_database(name: &str) {
    let server = postgres_server();
    let mut roles = Vec::new();
    if let Ok(pool) = sqlx::PgPool::connect(&format!("{server}/{name}")).await {
        roles = sqlx::query_scalar::<_, String>(
            "SELECT DISTINCT r.rolname::text FROM pg_namespace n \
             JOIN pg_roles r ON r.oid = n.nspowner WHERE starts_with(r.rolname, $1)",
        )
        .bind(bourse::store::sql::ROLE_PREFIX)
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        pool.close().await;
    }
    if let Ok(pool) = sqlx::PgPool::connect(&format!("{server}/test")).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&pool)
            .await;
        for role in roles {
            let _ = sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
                .execute(&pool)
                .await;
        }
        pool.close().await;
    }
}

/// Reads a built component, or fails with how to build it.
pub fn built_component(file: &str) -> Vec<u8> {
    let path = workspace().join("target/wasm32-wasip2/release").join(file);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Build the components first: `cargo run -p bourse -- build && cargo run -p bourse -- build -f tests/fixtures/spin.toml` (./scripts/test does both)",
            path.display()
        )
    })
}
