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
    assert!(!err.contains("is not installed"), "{err}");
    let _ = std::fs::remove_dir_all(dir);

    // A toolchain that is not there is said to be missing, with where to get it.
    let manifest = VALID.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\n[component.web.build]\ncommand = \"componentize-py-not-here componentize app\"",
    );
    let dir = scratch("build-missing", &manifest);
    let (ok, err) = bourse(&["build"], &dir);
    assert!(!ok);
    assert!(
        err.contains("a program the build command runs is not installed")
            && err.contains("scripts/toolchains.sh"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs `bourse args` in `dir` for at most `secs`: its exit status (none if it was still
/// running, and was killed) and its stderr.
fn bourse_for(args: &[&str], dir: &std::path::Path, secs: u64) -> (Option<bool>, String) {
    use std::io::Read;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(args)
        .current_dir(dir)
        .env("PORT", port.to_string())
        .env("BOURSE_DATA_DIR", dir.join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run bourse");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status.success());
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut err);
    }
    (status, err)
}

/// A first run cannot look as if it worked: `bourse up` stops with a non-zero exit when a
/// component does not build, naming it and the way to serve the rest anyway.
#[test]
fn up_stops_when_a_component_does_not_build_unless_told_to_keep_going() {
    let manifest = VALID.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\n[component.web.build]\ncommand = \"echo compiler says no >&2; exit 3\"",
    );
    let dir = scratch("up-build", &manifest);
    let (status, err) = bourse_for(&["up"], &dir, 60);
    assert_eq!(status, Some(false), "{err}");
    assert!(err.contains("compiler says no"), "{err}");
    assert!(
        err.contains("bourse: not serving: web did not build (see above); fix it, or pass --keep-going to serve the rest"),
        "{err}"
    );
    // With --keep-going it serves (and is still serving when stopped).
    let (status, err) = bourse_for(&["up", "--keep-going"], &dir, 8);
    assert_eq!(status, None, "still serving: {err}");
    assert!(
        err.contains("bourse: web did not build; serving the others (--keep-going)"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn up_stops_when_a_component_does_not_load() {
    let dir = scratch("up-load", VALID);
    let (status, err) = bourse_for(&["up"], &dir, 60);
    assert_eq!(status, Some(false), "{err}");
    assert!(err.contains("bourse: component web not loaded"), "{err}");
    assert!(
        err.contains("bourse: not serving: 1 component(s) did not load; fix them, or pass --keep-going to serve the rest"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A Rust target the toolchain lacks is added with rustup, or named with the one command
/// to run when that fails (here: a target no toolchain has).
#[test]
fn a_missing_rust_target_is_named_with_the_command_that_adds_it() {
    let manifest = VALID.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\n[component.web.build]\ncommand = \"cargo build --target wasm32-no-such-target --release\"",
    );
    let dir = scratch("target", &manifest);
    let (ok, err) = bourse(&["build"], &dir);
    assert!(!ok, "{err}");
    assert!(
        err.contains("the Rust target wasm32-no-such-target is not installed: running `rustup target add wasm32-no-such-target`"),
        "{err}"
    );
    assert!(
        err.contains("`rustup target add wasm32-no-such-target` failed")
            && err.contains("run it yourself, then build again"),
        "{err}"
    );
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

/// `bourse new`: the templates listed; a component made beside a manifest with no Cargo
/// workspace (standalone: its own workspace, built in its own folder); what cannot be made is
/// refused, naming why, and leaves the manifest as it was.
#[test]
fn new_makes_a_component_from_a_template_or_says_why_not() {
    let out = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(["new", "--list"])
        .output()
        .expect("run bourse");
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(listed.starts_with("rust-http "), "{listed}");
    for template in [
        "rust-order-handler ",
        "python-signal ",
        "python-agent ",
        "ts-http ",
    ] {
        assert!(listed.contains(template), "{template}: {listed}");
    }

    let dir = scratch("new", VALID);
    let (ok, err) = bourse(&["new", "rust-http", "hello-api"], &dir);
    assert!(ok, "{err}");
    let cargo =
        std::fs::read_to_string(dir.join("components/hello-api/Cargo.toml")).expect("Cargo.toml");
    assert!(
        cargo.contains("name = \"hello-api\"") && cargo.ends_with("\n[workspace]\n"),
        "{cargo}"
    );
    let lib = std::fs::read_to_string(dir.join("components/hello-api/src/lib.rs")).expect("lib.rs");
    assert!(lib.contains(r#""component": "hello-api","#), "{lib}");
    let manifest = std::fs::read_to_string(dir.join("spin.toml")).expect("spin.toml");
    assert!(manifest.starts_with(VALID), "appended, the rest untouched");
    for line in [
        "route = \"/hello-api/...\"",
        "source = \"components/hello-api/target/wasm32-wasip2/release/hello_api.wasm\"",
        "command = \"cargo build --target wasm32-wasip2 --release\"",
        "workdir = \"components/hello-api\"",
    ] {
        assert!(manifest.contains(line), "{line}: {manifest}");
    }

    for (args, says) in [
        (
            &["new", "rust-http", "hello-api"][..],
            "the manifest already has a component \"hello-api\"",
        ),
        (
            &["new", "rust-http", "Hello_API"][..],
            "\"Hello_API\" is not a component id",
        ),
        (
            &["new", "cobol-http", "x"][..],
            "no template \"cobol-http\"; `bourse new --list` shows them",
        ),
        (&["new", "rust-http"][..], "required"),
    ] {
        let (ok, err) = bourse(args, &dir);
        assert!(!ok, "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("spin.toml")).expect("spin.toml"),
        manifest,
        "refusals leave the manifest as it was"
    );
    // A folder in the way is named, and nothing is added.
    std::fs::create_dir_all(dir.join("components/taken")).expect("folder");
    let (ok, err) = bourse(&["new", "rust-http", "taken"], &dir);
    assert!(
        !ok && err.contains("components/taken already exists"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("spin.toml")).expect("spin.toml"),
        manifest
    );

    // A Python component: no Cargo, its own WIT copy, the world its entry names; what it needs
    // to build is said first.
    let out = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(["new", "python-signal", "my-signal"])
        .current_dir(&dir)
        .output()
        .expect("run bourse");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("needs componentize-py (pip install componentize-py==0.25.1)")
            && said.contains("POST /api/indicators/my-signal"),
        "{said}"
    );
    let folder = dir.join("components/my-signal");
    assert!(!folder.join("Cargo.toml").exists());
    for file in [
        "app.py",
        "wit/types.wit",
        "wit/domain.wit",
        "wit/plugins.wit",
    ] {
        assert!(folder.join(file).exists(), "{file}");
    }
    let manifest = std::fs::read_to_string(dir.join("spin.toml")).expect("spin.toml");
    for line in [
        "command = \"componentize-py -d wit -w signal-indicator componentize app -o my-signal.wasm\"",
        "source = \"components/my-signal/my-signal.wasm\"",
        "workdir = \"components/my-signal\"",
        "world = \"bourse:platform/signal-indicator\"",
        "wit = \"components/my-signal/wit\"",
    ] {
        assert!(manifest.contains(line), "{line}: {manifest}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
