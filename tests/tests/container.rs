//! The Railway image, built with podman from the Dockerfile and started as Railway starts it:
//! `$PORT` set, a non-root user, a read-only root filesystem with a writable data volume. It
//! must become ready, place and fill an order, drain on SIGTERM (every acknowledged order kept)
//! and start again on the same volume with the orders there.
//!
//! The image is made from the Dockerfile with its build stage replaced by the release
//! `./scripts/test` has just built (`BOURSE_RELEASE_DIST`); `BOURSE_CONTAINER_BUILD=full`
//! builds the Dockerfile as it is, compiling the workspace inside the image as Railway does
//! (long: Wasmtime compiles from scratch there).
//! The base images come from `scripts/container-bases.sh` (debootstrap; no registry here).
//!
//! Not run by a plain `cargo test` (`test = false` in tests/Cargo.toml): `./scripts/test` runs
//! it on its own with its output shown, so that a machine where containers cannot run says so
//! in the log instead of passing silently:
//!
//! ```text
//! cargo test -p bourse-tests --test container -- --nocapture
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bourse_tests::replicas::{api_key, get_json, post_json};
use bourse_tests::{ADMIN_TOKEN, unique, workspace};
use serde_json::{Value, json};

const BASES: [&str; 2] = [
    "docker.io/library/debian:bookworm-slim",
    "docker.io/library/rust:1.95-slim-bookworm",
];

/// podman with this machine's quirks: `runc` where it is installed (crun refuses hybrid
/// cgroup hierarchies), and open-file and process limits no higher than this process's own
/// (podman's defaults exceed what an unprivileged container manager may set).
fn podman(args: &[&str]) -> Command {
    let mut c = Command::new("podman");
    if Path::new("/usr/bin/runc").exists() || Path::new("/usr/sbin/runc").exists() {
        c.args(["--runtime", "runc"]);
    }
    c.args(args);
    c
}

fn limits() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let hard = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l[name.len()..].split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    // Seen here: runc could set open files up to the hard limit, processes only well below.
    let mut flags = Vec::new();
    if let Some(n) = hard("Max open files") {
        let n = n.min(65_536);
        flags.extend(["--ulimit".to_string(), format!("nofile={n}:{n}")]);
    }
    if let Some(n) = hard("Max processes") {
        let n = n.min(4096);
        flags.extend(["--ulimit".to_string(), format!("nproc={n}:{n}")]);
    }
    flags
}

fn output(mut command: Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Why containers cannot be tested on this machine, if they cannot.
fn unusable() -> Option<String> {
    if Command::new("podman").arg("--version").output().is_err() {
        return Some("podman is not installed (apt-get install podman runc)".into());
    }
    for base in BASES {
        if !output(podman(&["image", "exists", base])).status.success() {
            return Some(format!(
                "base image {base} is missing (scripts/container-bases.sh makes it)"
            ));
        }
    }
    let mut probe = podman(&["run", "--rm", "--network", "host"]);
    probe.args(limits()).args([BASES[0], "true"]);
    let o = output(probe);
    (!o.status.success()).then(|| format!("podman cannot run a container here: {}", text(&o)))
}

/// A container that is removed, with its image, when the test ends.
struct Container {
    name: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = output(podman(&["rm", "-f", "-t", "0", &self.name]));
    }
}

fn run_image(image: &str, name: &str, port: u16, data: &Path) -> Container {
    let mut run = podman(&[
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "host",
        "--read-only",
    ]);
    run.args(limits())
        .arg("-v")
        .arg(format!("{}:/app/data", data.display()))
        .args(["-e", &format!("PORT={port}")])
        .args(["-e", "HOST=127.0.0.1"])
        .args(["-e", &format!("ADMIN_TOKEN={ADMIN_TOKEN}")])
        .args(["-e", &format!("SPIN_VARIABLE_ADMIN_TOKEN={ADMIN_TOKEN}")])
        .arg(image);
    let o = output(run);
    assert!(o.status.success(), "podman run: {}", text(&o));
    Container {
        name: name.to_string(),
    }
}

async fn wait_ready(url: &str, container: &Container) -> Duration {
    let started = Instant::now();
    let client = reqwest::Client::new();
    while started.elapsed() < Duration::from_secs(180) {
        if let Ok(r) = client.get(format!("{url}/ready")).send().await
            && r.status() == 200
        {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let logs = output(podman(&["logs", &container.name]));
    panic!("the container never became ready:\n{}", text(&logs));
}

fn exec(container: &Container, command: &[&str]) -> Output {
    let mut c = podman(&["exec", &container.name]);
    c.args(command);
    output(c)
}

/// The Dockerfile with its build stage replaced by the release already built: every line of
/// the stage that ships is the Dockerfile's own, and the build stage's one step is the script
/// `./scripts/test` has just run (`release.rs` holds the Dockerfile to that script).
fn prebuilt_dockerfile(dockerfile: &str) -> String {
    let mut out = String::new();
    let mut stages = 0;
    let mut in_build = false;
    for line in dockerfile.lines() {
        if line.starts_with("FROM ") {
            in_build = line.ends_with(" AS build");
            if in_build {
                stages += 1;
                out.push_str("FROM scratch AS build\nCOPY dist /dist\n");
                continue;
            }
        }
        if !in_build {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert_eq!(stages, 1, "the Dockerfile has one stage named build");
    out
}

/// The build context for the prebuilt image: that Dockerfile and the release as `dist/`.
fn prebuilt_context() -> PathBuf {
    let dist = PathBuf::from(std::env::var("BOURSE_RELEASE_DIST").expect(
        "BOURSE_RELEASE_DIST is not set: run ./scripts/test, which builds the release first",
    ));
    let context = std::env::temp_dir().join(unique("bourse-image-"));
    std::fs::create_dir_all(&context).expect("context");
    let dockerfile =
        std::fs::read_to_string(workspace().join("Dockerfile")).expect("the Dockerfile");
    std::fs::write(context.join("Dockerfile"), prebuilt_dockerfile(&dockerfile))
        .expect("Dockerfile");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&dist)
        .arg(context.join("dist"))
        .status()
        .expect("cp");
    assert!(copied.success(), "copying the release into the context");
    context
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_serves_as_railway_runs_it_and_drains_on_sigterm() {
    if let Some(why) = unusable() {
        println!("container test SKIPPED: {why}");
        return;
    }
    let full = std::env::var("BOURSE_CONTAINER_BUILD").is_ok_and(|v| v == "full");
    let image = format!("localhost/{}", unique("bourse-test-"));
    let context = if full {
        workspace()
    } else {
        prebuilt_context()
    };
    let started = Instant::now();
    let mut build = podman(&["build", "--network", "host", "-t", &image]);
    build.args(limits());
    build
        .arg("-f")
        .arg(context.join("Dockerfile"))
        .arg(&context);
    let built = output(build);
    if !full {
        let _ = std::fs::remove_dir_all(&context);
    }
    assert!(built.status.success(), "podman build:\n{}", text(&built));
    println!(
        "built {image} ({}) in {:.0} s",
        if full {
            "from the sources"
        } else {
            "from the prebuilt release"
        },
        started.elapsed().as_secs_f64()
    );
    let inspect = output(podman(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.User}} {{.Size}}",
        &image,
    ]));
    println!("image user and size: {}", text(&inspect).trim());

    // The writable volume belongs to the image's user; the rest of the filesystem is read-only.
    let data = std::env::temp_dir().join(unique("bourse-volume-"));
    std::fs::create_dir_all(&data).expect("volume");
    let chowned = Command::new("chown")
        .arg("10001:10001")
        .arg(&data)
        .status()
        .expect("chown");
    assert!(chowned.success(), "chown the volume to the image's user");

    let port = bourse_tests::services::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let name = unique("bourse-test-");
    let container = run_image(&image, &name, port, &data);
    let took = wait_ready(&url, &container).await;
    println!("ready after {:.1} s on $PORT {port}", took.as_secs_f64());
    let who = exec(&container, &["id", "-u"]);
    assert_eq!(
        text(&who).trim(),
        "10001",
        "the host runs as the image's user"
    );
    let write = exec(&container, &["touch", "/app/written"]);
    assert!(!write.status.success(), "the root filesystem is read-only");

    // An order placed and filled.
    let maker = api_key(&url, "maker", &["trader"]).await;
    let taker = api_key(&url, "taker", &["trader"]).await;
    let order = |side: &str| json!({"symbol": "AAPL", "side": side, "type": "limit", "price": "101", "quantity": "2"});
    let (status, resting) =
        post_json(&format!("{url}/api/orders"), Some(&maker), &order("sell")).await;
    assert_eq!(status, 201, "{resting}");
    let (status, filled) =
        post_json(&format!("{url}/api/orders"), Some(&taker), &order("buy")).await;
    assert_eq!(
        (status, filled["status"].as_str()),
        (201, Some("filled")),
        "{filled}"
    );
    println!(
        "order {} filled against {}",
        filled["order_id"], resting["order_id"]
    );

    // SIGTERM with orders in flight: each is answered, and what was acknowledged stays.
    let in_flight: Vec<_> = (0..16)
        .map(|i| {
            let (url, key) = (url.clone(), maker.clone());
            tokio::spawn(async move {
                let body = json!({"symbol": "MSFT", "side": "buy", "type": "limit",
                    "price": "90", "quantity": "1", "client_order_id": format!("drain-{i}")});
                let r = reqwest::Client::new()
                    .post(format!("{url}/api/orders"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await?;
                let status = r.status().as_u16();
                Ok::<_, reqwest::Error>((status, r.json::<Value>().await.unwrap_or(Value::Null)))
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let signalled = Instant::now();
    let o = output(podman(&["kill", "--signal", "TERM", &name]));
    assert!(o.status.success(), "podman kill: {}", text(&o));
    let mut acknowledged = Vec::new();
    for t in in_flight {
        match t.await.expect("task") {
            Ok((201, answer)) => acknowledged.push(answer["order_id"].as_str().map(str::to_string)),
            Ok((status, answer)) => panic!("an order in flight at SIGTERM got {status}: {answer}"),
            // Not yet accepted when the listener closed: never acknowledged, so not lost.
            Err(_) => {}
        }
    }
    let waited = output(podman(&["wait", &name]));
    let exit = text(&waited).trim().to_string();
    println!(
        "SIGTERM: exited with {exit} after {:.2} s; {} of 16 orders in flight acknowledged",
        signalled.elapsed().as_secs_f64(),
        acknowledged.len()
    );
    assert_eq!(exit, "0", "a drained host exits 0");
    let logs = text(&output(podman(&["logs", &name])));
    let last: Vec<&str> = logs.lines().rev().take(3).collect();
    assert!(
        logs.lines()
            .any(|l| l.starts_with('{') && l.contains("draining in-flight requests")),
        "JSON log lines announce the drain: {last:?}"
    );
    println!("last log lines: {last:#?}");
    drop(container);

    // A new container on the same volume has every acknowledged order.
    let name = unique("bourse-test-");
    let container = run_image(&image, &name, port, &data);
    let took = wait_ready(&url, &container).await;
    println!(
        "restarted on the volume, ready after {:.1} s",
        took.as_secs_f64()
    );
    for id in &acknowledged {
        let id = id.as_deref().expect("an acknowledged order has an id");
        let kept = get_json(&format!("{url}/api/orders/{id}"), Some(&maker)).await;
        assert_eq!(
            kept["order_id"], id,
            "order {id}, acknowledged during the drain, is back"
        );
    }
    let trades: Value = get_json(&format!("{url}/api/trades/AAPL"), None).await;
    println!(
        "after the restart: the {} orders acknowledged during the drain are there; AAPL trades {trades}",
        acknowledged.len()
    );
    drop(container);
    let _ = output(podman(&["rmi", "-f", &image]));
    let _ = std::fs::remove_dir_all(&data);
}
