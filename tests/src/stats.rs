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

/// Runs `op(0..n)` one after another; latencies and rate.
pub async fn timed<F, Fut>(n: usize, mut op: F) -> Sample
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut latencies = Vec::with_capacity(n);
    let wall = std::time::Instant::now();
    for i in 0..n {
        let t = std::time::Instant::now();
        op(i).await;
        latencies.push(t.elapsed());
    }
    summarise(latencies, wall.elapsed())
}

/// `requests` GETs of `url` shared among `clients` concurrent clients (with `bearer`, if any);
/// panics on a failed request, so a figure is never of errors.
pub async fn http_load(
    client: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    requests: usize,
    clients: usize,
) -> Sample {
    let wall = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = client.clone();
        let url = url.to_string();
        let bearer = bearer.map(str::to_string);
        let n = requests / clients;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(n);
            for _ in 0..n {
                let t = std::time::Instant::now();
                let mut request = client.get(&url);
                if let Some(token) = &bearer {
                    request = request.bearer_auth(token);
                }
                let ok = match request.send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if !ok {
                    return Err(format!("request to {url} failed"));
                }
                latencies.push(t.elapsed());
            }
            Ok(latencies)
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for t in tasks {
        match t.await {
            Ok(Ok(l)) => all.extend(l),
            Ok(Err(e)) => panic!("{e}"),
            Err(e) => panic!("client task: {e}"),
        }
    }
    summarise(all, wall.elapsed())
}

/// Prints `rows` (a name and one sample per run) as a Markdown table of medians.
pub fn print_medians(rows: &[(&str, Vec<Sample>)]) {
    println!("| path | ops/s | p50 µs | p99 µs |");
    println!("|---|---:|---:|---:|");
    for (name, samples) in rows {
        let ops = median(samples.iter().map(|s| s.per_second).collect());
        let p50 = median(samples.iter().map(|s| s.p50_us).collect());
        let p99 = median(samples.iter().map(|s| s.p99_us).collect());
        println!("| {name} | {ops:.0} | {p50:.1} | {p99:.1} |");
    }
}
