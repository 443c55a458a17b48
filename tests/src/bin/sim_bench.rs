//! Simulation throughput on one core: the simulation component's `next-batch` feeding the
//! native matching core (a sandbox venue), end to end, at batch sizes 1, 64 and 1024. Run in
//! release:
//!
//! ```text
//! cargo run --release -p bourse-tests --bin sim-bench -- [--runs 3] [--orders 2000000]
//! ```
//!
//! `--help` describes the flags.

use bourse_tests::typed::TypedCalls;
use std::time::{Duration, Instant};

use bourse::simulation::ScenarioJson;
use bourse_matching::venue::Venue;
use bourse_tests::stats::{at_least, median};
use bourse_tests::{Backend, TestHost, app_manifest};
use clap::Parser;

/// Simulation throughput on one core: the simulation component's `next-batch` feeding the
/// native matching core (a sandbox venue), end to end, at batch sizes 1, 64 and 1024.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Runs per batch size; each figure is the median over them.
    #[arg(long, default_value_t = 3, value_parser = at_least(1))]
    runs: usize,
    /// Orders per run at batch size 1024; batch 64 runs a quarter, batch 1 a fortieth.
    #[arg(long, default_value_t = 2_000_000)]
    orders: u64,
}

fn scenario() -> ScenarioJson {
    serde_json::from_value(serde_json::json!({
        "symbols": ["AAPL", "MSFT", "SPY"], "mid": 10000, "spread": 20, "max_quantity": 50,
        "market_percent": 10, "accounts": 100, "seed": 42, "volatility_bp": 300,
        "agents": {"noise": 60, "market_maker": 30, "momentum": 10},
    }))
    .unwrap_or_else(|e| panic!("scenario literal: {e}"))
}

struct Figures {
    orders_per_second: f64,
    call_us_per_batch: f64,
    core_ns_per_order: f64,
}

async fn run(host: &TestHost, batch: u32, orders: u64) -> anyhow::Result<Figures> {
    let scenario = scenario();
    let mut session = host
        .runtime
        .start_simulation("simulation", &scenario.to_wit())
        .await?
        .map_err(|m| anyhow::anyhow!("scenario refused: {m}"))?;
    let mut sandbox = Venue::new(&bourse::simulation::sandbox_symbols(&scenario.symbols))?;
    let (mut in_component, mut in_core) = (Duration::ZERO, Duration::ZERO);
    let (mut generated, mut calls) = (0u64, 0u64);
    let wall = Instant::now();
    while generated < orders {
        let t = Instant::now();
        let orders = session.next_batch(batch).await?;
        in_component += t.elapsed();
        calls += 1;
        let t = Instant::now();
        for o in &orders {
            let _ = sandbox.submit(&bourse::simulation::venue_order(o));
        }
        in_core += t.elapsed();
        generated += orders.len() as u64;
    }
    let wall = wall.elapsed();
    Ok(Figures {
        orders_per_second: generated as f64 / wall.as_secs_f64(),
        call_us_per_batch: in_component.as_secs_f64() * 1e6 / calls as f64,
        core_ns_per_order: in_core.as_secs_f64() * 1e9 / generated as f64,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let Args { runs, orders } = Args::parse();
    let host = TestHost::start(app_manifest(), Backend::Embedded, 60_000).await;
    println!(
        "sim-bench: one core (current-thread runtime), median of {runs} runs; component next-batch -> native sandbox venue"
    );
    for batch in [1u32, 64, 1024] {
        // Small batches are slow per order: fewer orders keep the run short.
        let n = match batch {
            1 => orders / 40,
            64 => orders / 4,
            _ => orders,
        };
        let mut figures = Vec::new();
        for _ in 0..runs {
            figures.push(run(&host, batch, n).await?);
        }
        println!(
            "batch {batch:>5}: {:>10.0} orders/s end to end | next-batch call {:>9.2} µs per batch ({:.1} ns per order) | matching {:>6.1} ns per order",
            median(figures.iter().map(|f| f.orders_per_second).collect()),
            median(figures.iter().map(|f| f.call_us_per_batch).collect()),
            median(
                figures
                    .iter()
                    .map(|f| f.call_us_per_batch * 1000.0 / f64::from(batch))
                    .collect()
            ),
            median(figures.iter().map(|f| f.core_ns_per_order).collect()),
        );
    }
    host.stop().await;
    Ok(())
}
