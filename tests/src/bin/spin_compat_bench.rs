//! Placing orders natively against placing them as Spin would run the application: the same
//! order-handler component, with the market either hosted natively (journal and matching
//! shards, the fast path) or composed in from its wasm build, with the books in the key-value
//! store between requests (`--spin-compat`). One client, sequential orders alternating
//! sides so half of them trade. Run in release:
//!
//! ```text
//! cargo run --release -p bourse-tests --bin spin-compat-bench -- [--orders 2000] [--runs 3]
//! ```
//!
//! `--help` describes the flags.

use std::time::Instant;

use bourse_tests::stats::{Sample, at_least, median, summarise};
use bourse_tests::{Backend, TestHost, app_manifest};
use clap::Parser;
use serde_json::json;

/// Placing orders through the order-handler component with the market hosted natively
/// against the market composed in from its wasm build, as Spin would run it (spin-compat mode).
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Sequential orders per host and run (at least 2: a resting order and the one that
    /// crosses it).
    #[arg(long, default_value_t = 2000, value_parser = at_least(2))]
    orders: usize,
    /// Runs; each figure is the median over them.
    #[arg(long, default_value_t = 3, value_parser = at_least(1))]
    runs: usize,
}

/// Places `orders` orders one after another; `auth` gives the header for an account.
async fn place(
    host: &TestHost,
    orders: usize,
    auth: &dyn Fn(&str) -> (String, String),
) -> anyhow::Result<Sample> {
    let mut latencies = Vec::with_capacity(orders);
    let started = Instant::now();
    for i in 0..orders {
        // Pairs at one price: a resting order, then a crossing one from the other account,
        // so the book stays small and every second order trades.
        let (account, side) = if i % 2 == 0 {
            ("maker", "sell")
        } else {
            ("taker", "buy")
        };
        let price = format!("{}.00", 100 + (i / 2) % 50);
        let body = json!({"symbol": "AAPL", "side": side, "type": "limit", "price": price,
                          "quantity": "1", "time_in_force": "gtc"});
        let (name, value) = auth(account);
        let t = Instant::now();
        let response = host
            .client
            .post(format!("{}/api/orders", host.url))
            .header(name, value)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        latencies.push(t.elapsed());
        anyhow::ensure!(status.as_u16() == 201, "order {i}: {status} {text}");
    }
    Ok(summarise(latencies, started.elapsed()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Args { orders, runs } = Args::parse();
    let mut native_rates = Vec::new();
    let mut composed_rates = Vec::new();
    let mut native_p50 = Vec::new();
    let mut composed_p50 = Vec::new();
    let mut native_p99 = Vec::new();
    let mut composed_p99 = Vec::new();
    for run in 1..=runs {
        let native = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
        let maker = native.api_key("maker", &["trader"]).await;
        let taker = native.api_key("taker", &["trader"]).await;
        let auth = move |a: &str| {
            let key = if a == "maker" { &maker } else { &taker };
            ("authorization".to_string(), format!("Bearer {key}"))
        };
        let n = place(&native, orders, &auth).await?;
        native.stop().await;

        let composed =
            TestHost::start_custom(app_manifest(), Backend::Embedded, |c| c.spin_compat = true)
                .await;
        let auth = |a: &str| {
            (
                "x-bourse-principal".to_string(),
                json!({"id": a, "roles": ["trader"]}).to_string(),
            )
        };
        let c = place(&composed, orders, &auth).await?;
        composed.stop().await;
        println!(
            "run {run}: native {:.0} orders/s (p50 {:.0} µs, p99 {:.0} µs); composed {:.0} orders/s (p50 {:.0} µs, p99 {:.0} µs)",
            n.per_second, n.p50_us, n.p99_us, c.per_second, c.p50_us, c.p99_us
        );
        native_rates.push(n.per_second);
        composed_rates.push(c.per_second);
        native_p50.push(n.p50_us);
        composed_p50.push(c.p50_us);
        native_p99.push(n.p99_us);
        composed_p99.push(c.p99_us);
    }
    let (nr, cr) = (median(native_rates), median(composed_rates));
    println!(
        "spin-compat-bench: {orders} sequential orders (embedded stores), median of {runs} runs\n\
         native market:   {nr:.0} orders/s, p50 {:.0} µs, p99 {:.0} µs\n\
         composed market: {cr:.0} orders/s, p50 {:.0} µs, p99 {:.0} µs\n\
         native/composed: {:.2}x",
        median(native_p50),
        median(native_p99),
        median(composed_p50),
        median(composed_p99),
        nr / cr.max(f64::MIN_POSITIVE)
    );
    Ok(())
}
