//! Authentication cost per request: the cached path (what most requests take: hash the token,
//! look it up), the cold path (the auth component's `authenticate` export verifying a JWT),
//! and sign-in latency (argon2id inside the component). Run in release:
//!
//! ```text
//! cargo run --release -p bourse-tests --bin auth-bench -- [--runs 5] [--calls 2000]
//! ```
//!
//! `--help` describes the flags.

use bourse_tests::typed::TypedCalls;
use std::time::Instant;

use bourse::api::AuthCache;
use bourse::bindings::bourse::platform::types::Principal;
use bourse_tests::stats::{Sample, at_least, median, summarise};
use bourse_tests::{Backend, TestHost, app_manifest};
use clap::Parser;
use serde_json::json;

/// Authentication cost per request: the cached path (hash the token, look it up), the cold
/// path (the auth component verifying a JWT) and sign-in (argon2id inside the component).
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Runs; each figure is the median over them.
    #[arg(long, default_value_t = 5, value_parser = at_least(1))]
    runs: usize,
    /// Cached-path calls per run; the cold path makes a tenth as many.
    #[arg(long, default_value_t = 2000, value_parser = at_least(1))]
    calls: usize,
}

fn report(label: &str, samples: &[Sample]) {
    println!(
        "{label:<44} p50 {:>9.2} µs  p99 {:>9.2} µs  ({:.0}/s)",
        median(samples.iter().map(|s| s.p50_us).collect()),
        median(samples.iter().map(|s| s.p99_us).collect()),
        median(samples.iter().map(|s| s.per_second).collect()),
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Args { runs, calls } = Args::parse();
    let host = TestHost::start(app_manifest(), Backend::Services, 10_000).await;
    let credentials = json!({"username": "bench", "password": "a long benchmark password"});
    let (status, body) = host
        .post("/api/auth/register", None, &credentials.to_string())
        .await;
    anyhow::ensure!(status == 201, "register: {body}");
    let (_, session) = host
        .post("/api/auth/login", None, &credentials.to_string())
        .await;
    let token = session["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no access token: {session}"))?
        .to_string();
    let principal = Principal {
        id: "bench".into(),
        roles: vec!["trader".into()],
    };
    let cache = AuthCache::new(std::time::Duration::from_secs(60));
    cache.put(AuthCache::digest(&token), &principal);
    let headers = vec![("authorization".to_string(), format!("Bearer {token}"))];

    let (mut cached, mut cold, mut login) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let mut l = Vec::with_capacity(calls);
        let wall = Instant::now();
        for _ in 0..calls {
            let t = Instant::now();
            let hit = cache.get(&AuthCache::digest(std::hint::black_box(&token)));
            std::hint::black_box(hit);
            l.push(t.elapsed());
        }
        cached.push(summarise(l, wall.elapsed()));

        let mut l = Vec::with_capacity(calls / 10);
        let wall = Instant::now();
        for _ in 0..(calls / 10).max(1) {
            let t = Instant::now();
            let p = host.runtime.authenticate("auth", headers.clone()).await;
            anyhow::ensure!(matches!(p, Ok(Ok(_))), "cold authenticate failed");
            l.push(t.elapsed());
        }
        cold.push(summarise(l, wall.elapsed()));

        let mut l = Vec::new();
        let wall = Instant::now();
        for _ in 0..5 {
            let t = Instant::now();
            let (status, _) = host
                .post("/api/auth/login", None, &credentials.to_string())
                .await;
            anyhow::ensure!(status == 200, "login failed: {status}");
            l.push(t.elapsed());
        }
        login.push(summarise(l, wall.elapsed()));
    }
    println!("auth-bench: median of {runs} runs");
    report("cached credential (hash + cache lookup)", &cached);
    report("cold: auth component verifies a JWT", &cold);
    report("sign-in over HTTP (argon2id m=19MiB t=2)", &login);
    host.stop().await;
    Ok(())
}
