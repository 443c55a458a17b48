//! Soak: the release binary under mixed traffic (orders and cancels, WebSocket subscribers
//! joining and leaving, simulations, backtests, sign-ins) for a long time, its resident
//! memory sampled at an interval. Writes the samples as CSV and an SVG chart, and fails if
//! memory grew past the bound after warm-up or any answer was an error. Run in release,
//! after `./scripts/build-release.sh target/dist`:
//!
//! ```text
//! BOURSE_RELEASE_DIST=$PWD/target/dist \
//!   cargo run --release -p bourse-tests --bin soak -- [--minutes 30] [--out docs/soak]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bourse_tests::soak::{self, Settings};
use bourse_tests::stats::at_least;
use clap::Parser;

/// Mixed traffic against the release binary for `--minutes`, resident memory sampled every
/// `--sample-seconds`; fails when memory grows more than `--bound-percent` over the last two
/// thirds of the run or any answer is an error the traffic did not ask for.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Length of the run.
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Seconds between memory samples.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    sample_seconds: u64,
    /// Concurrent order clients.
    #[arg(long, default_value_t = 8, value_parser = at_least(1))]
    clients: usize,
    /// Concurrent WebSocket subscribers.
    #[arg(long, default_value_t = 4, value_parser = at_least(1))]
    subscribers: usize,
    /// Seconds the host keeps client order ids (its default is 600): memory is flat only once
    /// that window is full, so keep it under the first third of the run.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    client_id_retain_secs: u64,
    /// Finished simulation runs the host keeps (its default is 100, about two minutes of this
    /// traffic's back-to-back runs).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    sim_keep_runs: u64,
    /// Highest allowed growth of resident memory after warm-up, in percent.
    #[arg(long, default_value_t = 10.0)]
    bound_percent: f64,
    /// Folder for soak.csv and soak.svg.
    #[arg(long, default_value = "target/soak")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    anyhow::ensure!(
        args.minutes > 0.0 && args.minutes <= 24.0 * 60.0,
        "--minutes must be in (0, 1440]"
    );
    let settings = Settings {
        duration: Duration::from_secs_f64(args.minutes * 60.0),
        sample_every: Duration::from_secs(args.sample_seconds),
        clients: args.clients,
        subscribers: args.subscribers,
        client_id_retain_secs: args.client_id_retain_secs,
        sim_keep_runs: args.sim_keep_runs,
    };
    let report = soak::run(&settings).await;
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("soak.csv"), report.csv())?;
    let title = format!(
        "Bourse resident memory, {:.0}-minute soak of mixed traffic",
        args.minutes
    );
    std::fs::write(args.out.join("soak.svg"), report.svg(&title))?;
    let growth = report.growth_percent();
    println!("operations: {:?}", report.counts);
    println!(
        "resident memory grew {growth:.1} % over the last two thirds (bound {} %); the heap in \
         use {:.1} %",
        args.bound_percent,
        report.heap_growth_percent()
    );
    println!("samples and chart: {}", args.out.display());
    for e in &report.errors {
        println!("error: {e}");
    }
    Ok(
        if report.errors.is_empty() && growth <= args.bound_percent {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}
