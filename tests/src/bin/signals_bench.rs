//! Signals cost: all five signals, the consensus and a weekly backtest over 20 years of daily
//! bars for the seven tickers, through the signals component (SQL reads included). Run in
//! release:
//!
//! ```text
//! cargo run --release -p bourse-tests --bin signals-bench -- [--runs 20]
//! ```
//!
//! `--help` describes the flags.

use std::time::Instant;

use bourse_tests::stats::{at_least, summarise};
use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest};
use clap::Parser;
use serde_json::json;

/// Signals cost: all five signals, the consensus and a weekly backtest over 20 years of daily
/// bars for seven tickers, through the signals component (SQL reads included).
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Requests of each kind; latencies are percentiles over them.
    #[arg(long, default_value_t = 20, value_parser = at_least(1))]
    runs: usize,
}

/// 20 years of weekdays of a seeded walk, as `date,close` CSV.
fn csv(seed: u64) -> String {
    let mut state = seed | 1;
    let mut price: f64 = 50.0 + seed as f64;
    let mut out = String::from("date,close\n");
    let start = bourse_signals::dates::parse("2005-01-03").unwrap_or_default();
    for day in start..start + 20 * 365 {
        if (day - start) % 7 >= 5 {
            continue;
        }
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let r = (state >> 11) as f64 / (1u64 << 53) as f64;
        price *= 1.0 + 0.0003 + (r - 0.5) * 0.025;
        out.push_str(&format!(
            "{},{price:.4}\n",
            bourse_signals::dates::format(day)
        ));
    }
    out
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Args { runs } = Args::parse();
    let host = TestHost::start(app_manifest(), Backend::Services, 60_000).await;
    for (i, symbol) in ["SPY", "XLU", "WOOD", "GLD", "TLT", "IEF", "VIX"]
        .iter()
        .enumerate()
    {
        let response = host
            .client
            .post(format!("{}/api/bars/import?symbol={symbol}", host.url))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "text/csv")
            .body(csv(i as u64 + 1))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == 201,
            "import {symbol}: {}",
            response.text().await?
        );
    }
    let body = json!({"signal": "consensus", "risk_off": "TLT", "rebalance": "weekly"}).to_string();
    // Explicit parameters bypass what the import stored: everything is computed per request.
    let fresh_body =
        json!({"signal": "consensus", "risk_off": "TLT", "rebalance": "weekly", "params": {}})
            .to_string();
    let mut backtests = Vec::new();
    let mut fresh = Vec::new();
    let mut latest = Vec::new();
    let wall = Instant::now();
    for _ in 0..runs {
        let t = Instant::now();
        let (status, result) = host.post("/api/backtests", Some(ADMIN_TOKEN), &body).await;
        anyhow::ensure!(status == 200, "backtest: {result}");
        backtests.push(t.elapsed());
        let t = Instant::now();
        let (status, result) = host
            .post("/api/backtests", Some(ADMIN_TOKEN), &fresh_body)
            .await;
        anyhow::ensure!(status == 200, "backtest: {result}");
        fresh.push(t.elapsed());
        let t = Instant::now();
        let (status, _) = host.get("/api/signals", None).await;
        anyhow::ensure!(status == 200, "signals");
        latest.push(t.elapsed());
    }

    let b = summarise(backtests, wall.elapsed());
    let l = summarise(latest, wall.elapsed());
    let f = summarise(fresh, wall.elapsed());
    println!(
        "signals-bench: 7 tickers x 20 years of daily bars (about 5 200 each) on Postgres, {runs} runs"
    );
    println!(
        "POST /api/backtests (signals as stored by the import + weekly backtest): p50 {:.1} ms, p99 {:.1} ms",
        b.p50_us / 1e3,
        b.p99_us / 1e3
    );
    println!(
        "POST /api/backtests with explicit params (all computed per request): p50 {:.1} ms, p99 {:.1} ms",
        f.p50_us / 1e3,
        f.p99_us / 1e3
    );
    println!(
        "GET /api/signals (5 signals + consensus, latest):               p50 {:.1} ms, p99 {:.1} ms",
        l.p50_us / 1e3,
        l.p99_us / 1e3
    );

    host.stop().await;
    Ok(())
}
