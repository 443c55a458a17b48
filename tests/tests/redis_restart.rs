//! Redis going away and coming back while the host serves: /ready says 503 naming the
//! key-value store, routes that do not need it keep working, and the host reconnects by
//! itself. This stops and restarts the machine's real Redis with the commands in
//! `../shared/DESIGN.md`, so it is its own test binary (cargo runs binaries one at a time)
//! rather than a module of `tests/tests/all`, whose tests would lose Redis meanwhile.

use std::process::Command;
use std::time::Duration;

use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest, unique};

fn redis_cli(args: &[&str]) -> bool {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379"])
        .args(args)
        .output()
        .map(|o| o.status.success() && !String::from_utf8_lossy(&o.stdout).contains("ERR"))
        .unwrap_or(false)
}

fn start_redis() {
    let _ = std::fs::create_dir_all("/var/log/redis");
    let _ = std::fs::create_dir_all("/var/lib/redis");
    let started = Command::new("redis-server")
        .args([
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ])
        .status();
    assert!(
        started.is_ok_and(|s| s.success()),
        "redis-server could not be started again"
    );
    for _ in 0..100 {
        if redis_cli(&["ping"]) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("redis did not come back");
}

/// Restarts Redis even if the test fails half-way, so later tests find it running.
struct RestartOnDrop;

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        if !redis_cli(&["ping"]) {
            start_redis();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_rides_out_a_redis_restart() {
    let h = TestHost::start(app_manifest(), Backend::Services, 5_000).await;
    let name = unique("restart-");
    let body = serde_json::json!({"name": name, "numerator": [1.0, 2.0], "denominator": [1.0, 1.0], "lookback": 1}).to_string();
    let (status, _) = h.post("/api/signals/ratio", Some(ADMIN_TOKEN), &body).await;
    assert_eq!(status, 200);

    let t0 = std::time::Instant::now();
    let _guard = RestartOnDrop;
    assert!(
        redis_cli(&["shutdown", "nosave"]) || !redis_cli(&["ping"]),
        "redis stopped"
    );
    let mut down_seen = false;
    for _ in 0..50 {
        let (status, ready) = h.get("/ready", None).await;
        if status == 503 && ready["checks"]["kv"]["status"] == "down" {
            assert_eq!(
                ready["checks"]["sql"]["status"], "ok",
                "only the key-value store is down: {ready}"
            );
            down_seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(down_seen, "/ready reported the key-value store down");
    eprintln!("down seen after {:?}", t0.elapsed());
    // What does not need Redis keeps serving.
    let (status, _) = h.get("/api/book/AAPL", None).await;
    assert_eq!(status, 200);
    let (status, json) = h.post("/api/signals/ratio", Some(ADMIN_TOKEN), &body).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (503, Some("store_unavailable")),
        "{json}"
    );

    eprintln!("before restart {:?}", t0.elapsed());
    start_redis();
    eprintln!("restarted {:?}", t0.elapsed());
    let mut back = false;
    for _ in 0..100 {
        let (status, _) = h.get("/ready", None).await;
        if status == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "/ready recovered after Redis came back");
    eprintln!("ready again {:?}", t0.elapsed());
    let (status, json) = h.post("/api/signals/ratio", Some(ADMIN_TOKEN), &body).await;
    assert_eq!(status, 200, "the host reconnected by itself: {json}");
    h.stop().await;
}
