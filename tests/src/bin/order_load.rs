//! Order-flow load: concurrent clients over HTTP keep-alive place and cancel orders through
//! the auth and order-handler components against a host whose journal is the real Postgres,
//! while a probe measures how long a fill takes to reach a WebSocket client. Run in release:
//!
//! ```text
//! cargo run --release -p bourse-tests --bin order-load -- [--clients 32] [--seconds 10] [--runs 3]
//! ```
//!
//! `--help` describes the flags.
//!
//! Every acknowledged command (201 placement, 200 cancel) was journaled before its answer, so
//! acknowledgements per second are durable orders per second. The baseline row runs the same
//! clients against a read route of the same component (`GET /api/book/SPY`), which crosses
//! the same auth and component path but writes nothing. The host and the load generator share
//! this process and the machine's cores.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bourse_tests::stats::{Sample, at_least, median, summarise};
use bourse_tests::{Backend, TestHost, app_manifest};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Order-flow load: concurrent HTTP clients place and cancel orders through the auth and
/// order-handler components, journaled in Postgres, while a probe times fill delivery to a
/// WebSocket client; then the same clients on a read route, and native `market.submit`.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Concurrent trading clients; the native row runs four times as many tasks.
    #[arg(long, default_value_t = 32, value_parser = at_least(1))]
    clients: usize,
    /// Seconds per phase of a run (the native row runs at most 5).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// Runs; the summary line gives the median over them.
    #[arg(long, default_value_t = 3, value_parser = at_least(1))]
    runs: usize,
    /// Only the durable-orders phase: no read baseline, no native rows (to profile that
    /// phase alone, e.g. under `perf record`).
    #[arg(long)]
    orders_only: bool,
}

/// One trading client: place; if it rests, cancel it next. Returns each command's latency.
async fn trader(
    client: reqwest::Client,
    url: String,
    key: String,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> Vec<Duration> {
    let mut latencies = Vec::new();
    let mut resting: Option<String> = None;
    let mut i = seed;
    while !stop.load(Ordering::Relaxed) {
        i = i
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let started = Instant::now();
        let ok = if let Some(id) = resting.take() {
            client
                .delete(format!("{url}/api/orders/{id}"))
                .bearer_auth(&key)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success() || r.status() == 404)
        } else {
            let side = if (i >> 33).is_multiple_of(2) {
                "buy"
            } else {
                "sell"
            };
            // Prices 99.95-100.05 around a mid of 100: about half the orders cross.
            let price = format!("{:.2}", 99.95 + ((i >> 40) % 11) as f64 / 100.0);
            let symbol = ["AAPL", "MSFT", "SPY"][((i >> 20) % 3) as usize];
            let body = json!({
                "symbol": symbol,
                "side": side, "type": "limit", "price": price,
                "quantity": format!("{}", 1 + (i >> 50) % 5),
            });
            match client
                .post(format!("{url}/api/orders"))
                .bearer_auth(&key)
                .json(&body)
                .send()
                .await
            {
                Ok(r) if r.status() == 201 => {
                    let answer: Value = r.json().await.unwrap_or_default();
                    if matches!(
                        answer["status"].as_str(),
                        Some("accepted" | "partially_filled")
                    ) {
                        resting = answer["order_id"].as_str().map(str::to_string);
                    }
                    true
                }
                _ => false,
            }
        };
        if ok {
            latencies.push(started.elapsed());
        }
    }
    latencies
}

/// Read-only baseline client: the same auth and component path, no journal.
async fn reader(
    client: reqwest::Client,
    url: String,
    key: String,
    stop: Arc<AtomicBool>,
) -> Vec<Duration> {
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        if client
            .get(format!("{url}/api/book/SPY?depth=5"))
            .bearer_auth(&key)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            latencies.push(started.elapsed());
        }
    }
    latencies
}

/// From sending a crossing order to its fill arriving on the taker's WebSocket `orders` room,
/// one probe at a time, every 20 ms. A maker account rests a sell first, so the buy always
/// finds liquidity (two accounts: self-trade prevention would cancel a probe trading with
/// itself).
async fn probe(
    host: &TestHost,
    keys: &(String, String),
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Vec<Duration>> {
    let (maker, key) = (&keys.0, keys.1.as_str());
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{}?token={key}", host.ws_url())).await?;
    ws.send(Message::Text(
        json!({"op": "subscribe", "room": "orders"})
            .to_string()
            .into(),
    ))
    .await?;
    let _ = ws.next().await;
    let mut latencies = Vec::new();
    let order = |side: &str| {
        json!({"symbol": "SPY", "side": side, "type": "limit", "price": "500", "quantity": "1"})
            .to_string()
    };
    while !stop.load(Ordering::Relaxed) {
        let (status, _) = host.post("/api/orders", Some(maker), &order("sell")).await;
        anyhow::ensure!(status == 201, "probe maker refused: {status}");
        let sent = Instant::now();
        let (status, _) = host.post("/api/orders", Some(key), &order("buy")).await;
        anyhow::ensure!(status == 201, "probe taker refused: {status}");
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await?
                .ok_or_else(|| anyhow::anyhow!("socket closed"))??;
            let Message::Text(text) = message else {
                continue;
            };
            let m: Value = serde_json::from_str(text.as_str())?;
            let taker_fill = m["data"]["updates"].as_array().is_some_and(|u| {
                u.iter()
                    .any(|e| e["type"] == "fill" && e["liquidity"] == "taker")
            });
            if taker_fill {
                latencies.push(sent.elapsed());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(latencies)
}

async fn phase(
    host: &TestHost,
    keys: &[String],
    probe_key: &(String, String),
    seconds: u64,
    read_only: bool,
) -> anyhow::Result<(Sample, Option<Sample>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(keys.len())
        .build()?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let (client, url, key, stop) =
            (client.clone(), host.url.clone(), key.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            if read_only {
                reader(client, url, key, stop).await
            } else {
                trader(client, url, key, i as u64 * 7919 + 1, stop).await
            }
        }));
    }
    let probing = (!read_only).then(|| {
        let stop = stop.clone();
        async move { probe(host, probe_key, stop).await }
    });
    let timer = {
        let stop = stop.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            stop.store(true, Ordering::Relaxed);
        }
    };
    let probe_latencies = match probing {
        Some(p) => tokio::join!(p, timer).0?,
        None => {
            timer.await;
            Vec::new()
        }
    };
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let wall = started.elapsed();
    let ws = (!probe_latencies.is_empty()).then(|| summarise(probe_latencies, wall));
    Ok((summarise(all, wall), ws))
}

/// The same durable placements without HTTP or components: tasks calling the host's market
/// (journal + matching core) directly. Shows what the journal's group commit sustains.
async fn native(host: &TestHost, clients: usize, seconds: u64) -> Sample {
    use bourse::market::{OrderKind, OrderRequest, Side, TimeInForce};
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (runtime, stop) = (host.runtime.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let market = &runtime.platform().market;
            let mut latencies = Vec::new();
            let mut i = c as u64 * 7919 + 1;
            while !stop.load(Ordering::Relaxed) {
                i = i
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let order = OrderRequest {
                    symbol: ["AAPL", "MSFT", "SPY"][((i >> 20) % 3) as usize].to_string(),
                    side: if (i >> 33).is_multiple_of(2) {
                        Side::Buy
                    } else {
                        Side::Sell
                    },
                    kind: OrderKind::Limit,
                    price: 9_995 + ((i >> 40) % 11) as i64,
                    quantity: 1 + (i >> 50) % 5,
                    time_in_force: TimeInForce::Ioc,
                    post_only: false,
                    client_order_id: None,
                    account: format!("native-{c}"),
                };
                let t = Instant::now();
                if market.submit(&order).await.is_ok() {
                    latencies.push(t.elapsed());
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    summarise(all, started.elapsed())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let host = TestHost::start(app_manifest(), Backend::Services, 10_000).await;
    let mut keys = Vec::new();
    for i in 0..args.clients {
        keys.push(host.api_key(&format!("load-{i}"), &["trader"]).await);
    }
    let probe_key = (
        host.api_key("probe-maker", &["trader"]).await,
        host.api_key("probe-taker", &["trader"]).await,
    );
    println!(
        "order-load: {} clients, {} s per run, {} runs; journal in Postgres; host and clients in one process",
        args.clients, args.seconds, args.runs
    );
    // Warm the instance pools and the journal's connections.
    phase(&host, &keys, &probe_key, 2, false).await?;
    let mut durable = Vec::new();
    let mut reads = Vec::new();
    for run in 1..=args.runs {
        let (orders, ws) = phase(&host, &keys, &probe_key, args.seconds, false).await?;
        if args.orders_only {
            println!(
                "run {run}: durable commands {:>8.0}/s  ack p50 {:>6.0} µs  p99 {:>6.0} µs",
                orders.per_second, orders.p50_us, orders.p99_us
            );
            continue;
        }
        let (read, _) = phase(&host, &keys, &probe_key, args.seconds, true).await?;
        let ws_text = ws.as_ref().map_or("no probe".to_string(), |w| {
            format!("p50 {:.0} µs, p99 {:.0} µs", w.p50_us, w.p99_us)
        });
        println!(
            "run {run}: durable commands {:>8.0}/s  ack p50 {:>6.0} µs  p99 {:>6.0} µs  p99.9 {:>6.0} µs | ws fill delivery {ws_text} | baseline GET /api/book {:>8.0}/s p50 {:>6.0} µs",
            orders.per_second,
            orders.p50_us,
            orders.p99_us,
            orders.p999_us,
            read.per_second,
            read.p50_us
        );
        durable.push((orders, ws));
        reads.push(read);
    }
    if args.orders_only {
        return Ok(());
    }
    let mut natives = Vec::new();
    for run in 1..=args.runs {
        let n = native(&host, args.clients * 4, args.seconds.min(5)).await;
        println!(
            "run {run}: native market.submit (journal + core, no HTTP, no component), {} tasks: {:>8.0} durable orders/s  p50 {:>6.0} µs  p99 {:>6.0} µs",
            args.clients * 4,
            n.per_second,
            n.p50_us,
            n.p99_us
        );
        natives.push(n.per_second);
    }
    let stats = host.get("/api/engine/stats", None).await.1;
    let batches: u64 = stats["shards"].as_array().map_or(0, |s| {
        s.iter()
            .map(|x| x["journal_batches"].as_u64().unwrap_or(0))
            .sum()
    });
    let commands: u64 = stats["shards"].as_array().map_or(0, |s| {
        s.iter()
            .map(|x| x["durable_seq"].as_u64().unwrap_or(0))
            .sum()
    });
    println!(
        "median of {} runs: durable commands {:.0}/s, ack p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs; ws fill delivery p50 {:.0} µs, p99 {:.0} µs; baseline reads {:.0}/s",
        args.runs,
        median(durable.iter().map(|(o, _)| o.per_second).collect()),
        median(durable.iter().map(|(o, _)| o.p50_us).collect()),
        median(durable.iter().map(|(o, _)| o.p99_us).collect()),
        median(durable.iter().map(|(o, _)| o.p999_us).collect()),
        median(
            durable
                .iter()
                .filter_map(|(_, w)| w.as_ref().map(|w| w.p50_us))
                .collect()
        ),
        median(
            durable
                .iter()
                .filter_map(|(_, w)| w.as_ref().map(|w| w.p99_us))
                .collect()
        ),
        median(reads.iter().map(|r| r.per_second).collect()),
    );
    println!(
        "native market.submit median: {:.0} durable orders/s",
        median(natives)
    );
    println!(
        "journal: {commands} commands in {batches} commits ({:.1} commands per commit)",
        commands as f64 / batches.max(1) as f64
    );
    host.stop().await;
    Ok(())
}
