//! Hot-swap load test: continuous requests at a component while it is swapped between two
//! versions whose answers differ. Run in release:
//!
//! ```text
//! cargo run --release -p bourse-tests --bin swap-load -- [--swaps 20] [--clients 4]
//! ```
//!
//! `--help` describes the flags.
//!
//! Prints requests sent, failed requests, how many answers came from each version, and the
//! upload-to-live latency (POST sent → answer that the version is live) for the first upload
//! of each version (compiled) and for the rest (artifact cache warm).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bourse_tests::stats::at_least;
use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest_with, built_component};
use clap::Parser;

/// Hot-swap load test: continuous requests at a component while it is swapped between two
/// versions whose answers differ; counts failed requests and times upload-to-live.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Uploads, alternating between the two versions (at least 2, so both go live).
    #[arg(long, default_value_t = 20, value_parser = at_least(2))]
    swaps: usize,
    /// Clients sending requests throughout.
    #[arg(long, default_value_t = 4, value_parser = at_least(1))]
    clients: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let Args { swaps, clients } = Args::parse();
    let manifest = app_manifest_with(
        "[[trigger.http]]\nroute = \"/swap/...\"\ncomponent = \"swap\"\n\n[component.swap]\nsource = \"target/wasm32-wasip2/release/swap_v1.wasm\"\n",
    );
    let h = Arc::new(TestHost::start(manifest, Backend::Embedded, 5_000).await);
    let versions = [
        built_component("swap_v2.wasm"),
        built_component("swap_v1.wasm"),
    ];
    let size = versions[0].len();

    let stop = Arc::new(AtomicBool::new(false));
    let counters: Arc<[AtomicU64; 4]> = Arc::new(Default::default()); // sent, failed, v1, v2
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (h, stop, counters) = (h.clone(), stop.clone(), counters.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                counters[0].fetch_add(1, Ordering::Relaxed);
                let answer = match h.client.get(format!("{}/swap/version", h.url)).send().await {
                    Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.ok(),
                    _ => None,
                };
                match answer.as_ref().and_then(|j| j["version"].as_str()) {
                    Some("v1") => counters[2].fetch_add(1, Ordering::Relaxed),
                    Some("v2") => counters[3].fetch_add(1, Ordering::Relaxed),
                    _ => counters[1].fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let uploader = reqwest::Client::new();
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for i in 0..swaps {
        let started = Instant::now();
        let response = uploader
            .post(format!("{}/admin/components/swap", h.url))
            .bearer_auth(ADMIN_TOKEN)
            .body(versions[i % 2].clone())
            .send()
            .await?;
        let status = response.status();
        let report: serde_json::Value = response.json().await?;
        let elapsed = started.elapsed();
        anyhow::ensure!(status.is_success(), "swap {i} refused: {report}");
        if report["compiled"].as_bool() == Some(true) {
            cold.push(elapsed);
        } else {
            warm.push(elapsed);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let p50 = |v: &mut Vec<Duration>| {
        v.sort_unstable();
        v.get(v.len() / 2).map_or(0.0, ms)
    };
    let max = |v: &Vec<Duration>| v.iter().map(ms).fold(0.0, f64::max);
    println!(
        "swap-load: {swaps} swaps of a {:.2} MB component, {clients} clients",
        size as f64 / 1e6
    );
    println!(
        "requests sent {}, failed {}, answered by v1 {}, by v2 {}",
        counters[0].load(Ordering::Relaxed),
        counters[1].load(Ordering::Relaxed),
        counters[2].load(Ordering::Relaxed),
        counters[3].load(Ordering::Relaxed)
    );
    println!(
        "upload-to-live, compiled (first upload of a version): n={} p50 {:.1} ms max {:.1} ms",
        cold.len(),
        p50(&mut cold),
        max(&cold)
    );
    println!(
        "upload-to-live, warm artifact cache: n={} p50 {:.1} ms max {:.1} ms",
        warm.len(),
        p50(&mut warm),
        max(&warm)
    );
    if let Ok(h) = Arc::try_unwrap(h) {
        h.stop().await;
    }
    Ok(())
}
