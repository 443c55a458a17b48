//! Scale-out: two replicas (the release binary) sharing the real Postgres and Redis.
//!
//! ```text
//! scripts/build-release.sh target/dist
//! BOURSE_RELEASE_DIST=target/dist cargo run --release -p bourse-tests --bin scale-out-bench -- \
//!     [--trades 300] [--clients 1000] [--traders 16] [--seconds 5] [--runs 3]
//! ```
//!
//! `--help` describes the flags.
//!
//! Latency: an order crossing a resting one is sent to replica A; the clock stops when the
//! trade reaches a WebSocket client of replica B (the books run on A, so the event crosses
//! Redis). The baseline row, measured in the same run, stops the clock at a client of A.
//! Fan-out: `--clients` WebSocket clients, half on each replica, subscribed to one trades
//! room while `--traders` clients cross orders through both replicas; events delivered per
//! second to all of them together. Host processes, Redis, Postgres and the clients share the machine's cores.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bourse_tests::replicas::{self, Replicas};
use bourse_tests::stats::{at_least, median, summarise};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Scale-out: two replicas (the release binary) sharing the real Postgres and Redis; order to
/// trade-event latency across replicas, and event fan-out to many WebSocket clients.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Trades timed per run, for each of the cross-replica and same-replica rows.
    #[arg(long, default_value_t = 300)]
    trades: usize,
    /// WebSocket clients in the fan-out, half on each replica.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Clients crossing orders during the fan-out (at least 2: one buys, one sells).
    #[arg(long, default_value_t = 16, value_parser = at_least(2))]
    traders: usize,
    /// Seconds the fan-out is measured for in each run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Runs; the summary gives the median over them.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(url: &str, room: &str) -> anyhow::Result<Ws> {
    let ws_url = format!("{}/ws", url.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await?;
    ws.send(Message::Text(
        json!({"op": "subscribe", "room": room}).to_string().into(),
    ))
    .await?;
    loop {
        let Some(m) = ws.next().await else {
            anyhow::bail!("socket closed before the subscription was confirmed");
        };
        if let Message::Text(t) = m? {
            let v: Value = serde_json::from_str(t.as_str())?;
            if v["type"] == "subscribed" {
                return Ok(ws);
            }
        }
    }
}

/// Waits for the next event of `room` on `ws`.
async fn next_event(ws: &mut Ws, room: &str) -> anyhow::Result<()> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .map_err(|_| anyhow::anyhow!("no event within 10 s"))?
            .ok_or_else(|| anyhow::anyhow!("socket closed"))??;
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str())?;
            if v["room"] == room && v["seq"].is_u64() {
                return Ok(());
            }
        }
    }
}

async fn place(client: &reqwest::Client, url: &str, key: &str, body: &Value) -> anyhow::Result<()> {
    let r = client
        .post(format!("{url}/api/orders"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 201, "order refused: {}", r.text().await?);
    Ok(())
}

/// Order → trade event latencies at a client of `watch_url`, orders sent to `order_url`.
async fn latencies(
    order_url: &str,
    watch_url: &str,
    maker: &str,
    taker: &str,
    trades: usize,
) -> anyhow::Result<Vec<Duration>> {
    let client = reqwest::Client::new();
    let mut ws = subscribe(watch_url, "trades:SPY").await?;
    let mut out = Vec::with_capacity(trades);
    let sell =
        json!({"symbol": "SPY", "side": "sell", "type": "limit", "price": "450", "quantity": "1"});
    let buy =
        json!({"symbol": "SPY", "side": "buy", "type": "limit", "price": "450", "quantity": "1"});
    for _ in 0..trades {
        place(&client, order_url, maker, &sell).await?;
        let started = Instant::now();
        place(&client, order_url, taker, &buy).await?;
        next_event(&mut ws, "trades:SPY").await?;
        out.push(started.elapsed());
    }
    Ok(out)
}

/// Events per second delivered to `clients` subscribers (half on each replica) while
/// `traders` clients cross orders through both replicas for `seconds`.
async fn fan_out(
    urls: &[String],
    keys: &[String],
    clients: usize,
    traders: usize,
    seconds: u64,
) -> anyhow::Result<(f64, f64)> {
    let delivered = Arc::new(AtomicU64::new(0));
    let mut sockets = Vec::with_capacity(clients);
    for i in 0..clients {
        sockets.push(subscribe(&urls[i % 2], "trades:AAPL").await?);
    }
    let counting = Arc::new(AtomicBool::new(true));
    let mut readers = Vec::new();
    for mut ws in sockets {
        let (delivered, counting) = (delivered.clone(), counting.clone());
        readers.push(tokio::spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = m
                    && t.as_str().contains("\"seq\"")
                    && counting.load(Ordering::Relaxed)
                {
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let published = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut placing = Vec::new();
    for t in 0..traders {
        let (url, key, stop, published) = (
            urls[t % 2].clone(),
            keys[t % keys.len()].clone(),
            stop.clone(),
            published.clone(),
        );
        placing.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let side = if t % 2 == 0 { "buy" } else { "sell" };
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"symbol": "AAPL", "side": side, "type": "limit", "price": "190", "quantity": "1"});
                if place(&client, &url, &key, &body).await.is_ok() {
                    published.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let started = Instant::now();
    delivered.store(0, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let events = delivered.load(Ordering::Relaxed);
    let wall = started.elapsed().as_secs_f64();
    counting.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for t in placing {
        let _ = t.await;
    }
    for r in readers {
        r.abort();
    }
    let orders = published.load(Ordering::Relaxed) as f64 / wall;
    Ok((events as f64 / wall, orders))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Args {
        trades,
        clients,
        traders,
        seconds,
        runs,
    } = Args::parse();
    let cluster = Replicas::start(2, &[("BOURSE_MATCHING_SHARDS", "1")]).await;
    let urls = [cluster.url(0), cluster.url(1)];
    replicas::settled(&urls, 1).await;
    let maker = replicas::api_key(&urls[0], "bench-maker", &["trader"]).await;
    let taker = replicas::api_key(&urls[1], "bench-taker", &["trader"]).await;

    println!("scale-out: 2 replicas, books on replica A; {trades} trades per run, {runs} runs");
    let (mut cross, mut same, mut fan, mut orders) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        let b = latencies(&urls[0], &urls[1], &maker, &taker, trades).await?;
        let a = latencies(&urls[0], &urls[0], &maker, &taker, trades).await?;
        let (b, a) = (
            summarise(b, Duration::from_secs(1)),
            summarise(a, Duration::from_secs(1)),
        );
        let (events, placed) = fan_out(
            &urls,
            &[maker.clone(), taker.clone()],
            clients,
            traders,
            seconds,
        )
        .await?;
        println!(
            "run {run}: order on A -> trade on B's client p50 {:.0} µs p99 {:.0} µs | on A's client p50 {:.0} µs p99 {:.0} µs | fan-out {events:.0} events/s to {clients} clients ({placed:.0} orders/s)",
            b.p50_us, b.p99_us, a.p50_us, a.p99_us
        );
        cross.push((b.p50_us, b.p99_us));
        same.push((a.p50_us, a.p99_us));
        fan.push(events);
        orders.push(placed);
    }
    let m = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| median(v.iter().map(f).collect());
    println!("median of {runs} runs:");
    println!(
        "  order on A -> trade at a client of B: p50 {:.0} µs, p99 {:.0} µs",
        m(&cross, |x| x.0),
        m(&cross, |x| x.1)
    );
    println!(
        "  baseline, client of A:              p50 {:.0} µs, p99 {:.0} µs",
        m(&same, |x| x.0),
        m(&same, |x| x.1)
    );
    println!(
        "  fan-out: {:.0} events/s delivered to {clients} clients across 2 replicas ({:.0} orders/s driving it)",
        median(fan),
        median(orders)
    );
    cluster.stop().await;
    Ok(())
}
