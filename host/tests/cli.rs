//! The `bourse` binary's start-up errors: a person must be able to act on them.

use std::process::Command;

fn bourse(args: &[&str], dir: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(args)
        .current_dir(dir)
        .env("PORT", "0")
        .output()
        .expect("run bourse");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str, manifest: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bourse-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("spin.toml"), manifest).expect("write manifest");
    dir
}

const VALID: &str = r#"spin_manifest_version = 2

[application]
name = "t"

[[trigger.http]]
route = "/..."
component = "web"

[component.web]
source = "web.wasm"
"#;

#[test]
fn malformed_manifest_names_file_line_and_field() {
    let dir = scratch(
        "malformed",
        &VALID.replace("source = \"web.wasm\"", "source = \"web.wasm\"\nsorce = 1"),
    );
    let (ok, err) = bourse(&["serve"], &dir);
    assert!(!ok);
    assert!(
        err.contains("spin.toml:12:1: unknown field `sorce`"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn invalid_toml_is_located() {
    let dir = scratch(
        "syntax",
        "spin_manifest_version = 2\n[application\nname = 1\n",
    );
    let (ok, err) = bourse(&["serve"], &dir);
    assert!(!ok);
    assert!(err.contains("spin.toml:2:"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn missing_manifest_is_named() {
    let dir = scratch("missing", VALID);
    let (ok, err) = bourse(&["serve", "-f", "nope.toml"], &dir);
    assert!(!ok);
    assert!(err.contains("nope.toml"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_environment_names_the_variable() {
    let dir = scratch("env", VALID);
    let out = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(["serve"])
        .current_dir(&dir)
        .env("PORT", "eighty")
        .output()
        .expect("run bourse");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("PORT: \"eighty\" is not a whole number from 1 to 65535"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn build_reports_a_failing_component_by_name() {
    let manifest = VALID.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\n[component.web.build]\ncommand = \"echo compiler says no >&2; exit 3\"",
    );
    let dir = scratch("build", &manifest);
    let (ok, err) = bourse(&["build"], &dir);
    assert!(!ok);
    assert!(err.contains("[1/1] web: FAILED"), "{err}");
    assert!(err.contains("compiler says no"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A running `bourse serve` of the repository's spin.toml (components must be built).
struct Served {
    child: std::process::Child,
    url: String,
    _data: std::path::PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._data);
    }
}

const TOKEN: &str = "cli-test-admin-token-42";

fn serve_repo() -> Served {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let data = std::env::temp_dir().join(format!("bourse-cli-serve-{}", std::process::id()));
    let child = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(["serve"])
        .current_dir(&root)
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("ADMIN_TOKEN", TOKEN)
        .env("BOURSE_DATA_DIR", &data)
        .env("BOURSE_WATCH", "off")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start bourse serve");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Served {
        child,
        url,
        _data: data,
    }
}

fn ops(args: &[&str], url: &str) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(args)
        .args(["--url", url])
        .env("ADMIN_TOKEN", TOKEN)
        .output()
        .expect("run bourse");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ops_commands_against_a_running_host() {
    let release =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release");
    let served = serve_repo();
    let (ok, out, err) = ops(&["components"], &served.url);
    assert!(ok, "{err}");
    assert!(
        out.contains("order-handler")
            && out.contains("loaded")
            && out.contains("bourse:platform/signals"),
        "{out}"
    );

    let signals = release.join("signals.wasm");
    let (ok, out, err) = ops(
        &["deploy", "signals", signals.to_str().expect("utf-8 path")],
        &served.url,
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("signals sha256:") && out.contains("is live"),
        "{out}"
    );
    assert!(err.contains("uploading to"), "progress is shown: {err}");

    let broken = release.join("broken_auth.wasm");
    let (ok, _, err) = ops(
        &["deploy", "auth", broken.to_str().expect("utf-8 path")],
        &served.url,
    );
    assert!(!ok);
    assert!(
        err.contains("422 Unprocessable Entity contract_mismatch"),
        "{err}"
    );

    let (ok, _, err) = ops(&["rollback", "auth"], &served.url);
    assert!(!ok, "only one version of auth exists");
    assert!(err.contains("unknown_version"), "{err}");
}

#[test]
fn sigterm_drains_in_flight_requests_and_exits_cleanly() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let faulty = root.join("target/wasm32-wasip2/release/faulty.wasm");
    let manifest = format!(
        "spin_manifest_version = 2\n[application]\nname = \"drain\"\n[[trigger.http]]\nroute = \"/faulty/...\"\ncomponent = \"faulty\"\n[component.faulty]\nsource = \"{}\"\n",
        faulty.display()
    );
    let dir = scratch("drain", &manifest);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(["serve"])
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("BOURSE_DATA_DIR", dir.join("data"))
        .env("BOURSE_WATCH", "off")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start bourse serve");
    let url = format!("http://127.0.0.1:{port}/faulty/slow");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let statuses: Vec<u16> = rt.block_on(async {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client
                .get(format!("http://127.0.0.1:{port}/health"))
                .send()
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let requests: Vec<_> = (0..8)
            .map(|_| {
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move {
                    let started = std::time::Instant::now();
                    let status = match client.get(&url).send().await {
                        Ok(r) => r.status().as_u16(),
                        Err(_) => 0,
                    };
                    // The route takes 400 ms, so these were in flight when SIGTERM came at
                    // 150 ms; a faster answer would mean the test proved nothing.
                    assert!(started.elapsed() >= std::time::Duration::from_millis(350));
                    status
                })
            })
            .collect();
        // Let the requests reach the component, then ask the host to stop.
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let mut out = Vec::new();
        for r in requests {
            out.push(r.await.unwrap_or(0));
        }
        out
    });
    let status = child.wait().expect("bourse exits");
    assert_eq!(statuses, vec![200; 8], "every accepted request completed");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens after shutdown"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn config_check_prints_the_effective_configuration_with_secrets_masked() {
    let dir = scratch("config", VALID);
    let out = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(["config", "check"])
        .current_dir(&dir)
        .env("PORT", "8080")
        .env("ADMIN_TOKEN", "super-secret-admin-token")
        .env(
            "DATABASE_URL",
            "postgres://app:hunter2@db.internal:5432/bourse",
        )
        .env("BOURSE_ROLE", "simulation")
        .output()
        .expect("run bourse");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("PORT=8080"), "{text}");
    assert!(
        text.contains("DATABASE_URL=postgres://app:****@db.internal:5432/bourse"),
        "{text}"
    );
    assert!(text.contains("ADMIN_TOKEN=**** (24 characters)"), "{text}");
    assert!(text.contains("BOURSE_ROLE=simulation"), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("super-secret"),
        "{text}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(["config", "check"])
        .current_dir(&dir)
        .env("BOURSE_ROLE", "king")
        .output()
        .expect("run bourse");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(
        err.trim(),
        "bourse: BOURSE_ROLE: \"king\" is not one of all, api, matching, simulation, auth"
    );
    let _ = std::fs::remove_dir_all(dir);
}
