//! Latency summaries and flag bounds shared by the benchmark programs.

use std::time::Duration;

/// Per-operation latencies of one run.
pub struct Sample {
    /// Operations per second over the run's wall time.
    pub per_second: f64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// 99.9th percentile, µs.
    pub p999_us: f64,
}

/// Sorts `latencies` and summarises them against `wall`.
pub fn summarise(mut latencies: Vec<Duration>, wall: Duration) -> Sample {
    latencies.sort_unstable();
    let pick = |q: f64| {
        let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    Sample {
        per_second: latencies.len() as f64 / wall.as_secs_f64(),
        p50_us: pick(0.50),
        p99_us: pick(0.99),
        p999_us: pick(0.999),
    }
}

/// The median of `v` (the upper one for an even count); 0 for none.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// A parser for a count flag that rejects values below `min`: with fewer runs, clients or
/// orders a program has nothing to measure, or no trade to time.
pub fn at_least(min: u64) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(min..)
}
