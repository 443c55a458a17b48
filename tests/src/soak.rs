//! The soak: the release binary under mixed traffic for a long time — orders and cancels,
//! WebSocket subscribers joining and leaving, simulations, backtests and sign-ins — with its
//! resident memory sampled at a fixed interval. Memory must be flat after warm-up and no
//! answer may be an error the traffic did not ask for.
//!
//! `soak` (src/bin/soak.rs) runs it for 30 minutes by default; `tests/tests/soak.rs` runs a
//! six-minute variant in CI.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::process::{self, HostProcess};
use crate::replicas::api_key;

/// How long and how hard.
#[derive(Debug, Clone)]
pub struct Settings {
    pub duration: Duration,
    pub sample_every: Duration,
    /// Concurrent order clients.
    pub clients: usize,
    /// Concurrent WebSocket subscribers (each joins, listens a few seconds, leaves, again).
    pub subscribers: usize,
    /// How long the host keeps client order ids (`BOURSE_CLIENT_ORDER_ID_RETAIN_SECS`): memory
    /// can only be flat once the window is full, so it must be shorter than the warm-up.
    pub client_id_retain_secs: u64,
    /// Finished simulation runs the host keeps (`BOURSE_SIM_KEEP_RUNS`), for the same reason.
    pub sim_keep_runs: u64,
}

/// One memory sample.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Duration,
    pub rss_kib: u64,
    /// What the host's allocator holds in use (`process_heap_in_use_bytes`), when it says:
    /// the state the process keeps, without the allocator's fragmentation.
    pub heap_kib: Option<u64>,
}

/// What a soak saw.
#[derive(Debug, Default)]
pub struct Report {
    pub samples: Vec<Sample>,
    /// Operations done, by kind.
    pub counts: BTreeMap<&'static str, u64>,
    /// Answers the traffic did not ask for.
    pub errors: Vec<String>,
}

impl Report {
    /// Growth of resident memory over the last two thirds of the run, in percent: the median
    /// sample of the last third against the median of the middle one (the first third is
    /// warm-up). Medians, because a sample taken just after a shard's snapshot catches its
    /// transient buffers, which the allocator hands back within seconds.
    pub fn growth_percent(&self) -> f64 {
        self.growth_of(|s| Some(s.rss_kib))
    }

    /// Growth of the heap in use over the last two thirds, measured as [`Self::growth_percent`]
    /// (0 when the host does not report it).
    pub fn heap_growth_percent(&self) -> f64 {
        self.growth_of(|s| s.heap_kib)
    }

    /// Growth of the heap in use over the last two thirds in MiB, measured alike.
    pub fn heap_growth_mib(&self) -> f64 {
        self.medians_of(|s| s.heap_kib)
            .map_or(0.0, |(middle, last)| (last - middle) / 1024.0)
    }

    fn growth_of(&self, value: impl Fn(&Sample) -> Option<u64>) -> f64 {
        self.medians_of(value)
            .map_or(0.0, |(middle, last)| (last - middle) / middle * 100.0)
    }

    /// Medians (KiB) of the middle and last thirds of the samples `value` gives.
    fn medians_of(&self, value: impl Fn(&Sample) -> Option<u64>) -> Option<(f64, f64)> {
        let kept: Vec<u64> = self.samples.iter().filter_map(value).collect();
        let n = kept.len();
        if n < 6 {
            return None;
        }
        let median = |part: &[u64]| {
            let mut kib = part.to_vec();
            kib.sort_unstable();
            kib[kib.len() / 2].max(1) as f64
        };
        Some((median(&kept[n / 3..2 * n / 3]), median(&kept[2 * n / 3..])))
    }

    /// The samples as CSV (`seconds,rss_kib,heap_in_use_kib`).
    pub fn csv(&self) -> String {
        let mut out = String::from("seconds,rss_kib,heap_in_use_kib\n");
        for s in &self.samples {
            let heap = s.heap_kib.map(|k| k.to_string()).unwrap_or_default();
            let _ = writeln!(out, "{:.0},{},{heap}", s.at.as_secs_f64(), s.rss_kib);
        }
        out
    }

    /// Resident memory over time as a small SVG line chart, the warm-up third shaded.
    pub fn svg(&self, title: &str) -> String {
        let (w, h, left, bottom, top, right) = (640.0, 240.0, 56.0, 32.0, 28.0, 16.0);
        let end = self
            .samples
            .last()
            .map_or(1.0, |s| s.at.as_secs_f64())
            .max(1.0);
        let high = self.samples.iter().map(|s| s.rss_kib).max().unwrap_or(1) as f64 / 1024.0;
        let ceiling = (high * 1.2 / 10.0).ceil().max(1.0) * 10.0;
        let x = |t: f64| left + t / end * (w - left - right);
        let y = |mib: f64| h - bottom - mib / ceiling * (h - bottom - top);
        let points: Vec<String> = self
            .samples
            .iter()
            .map(|s| {
                format!(
                    "{:.1},{:.1}",
                    x(s.at.as_secs_f64()),
                    y(s.rss_kib as f64 / 1024.0)
                )
            })
            .collect();
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             font-family=\"sans-serif\" font-size=\"11\">\n\
             <rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n\
             <text x=\"{left}\" y=\"16\" font-size=\"13\">{title}</text>\n\
             <rect x=\"{left}\" y=\"{top}\" width=\"{warm:.1}\" height=\"{plot_h}\" fill=\"#eee\"/>\n\
             <text x=\"{wx:.1}\" y=\"{wy}\" fill=\"#888\">warm-up</text>\n",
            warm = x(end / 3.0) - left,
            plot_h = h - bottom - top,
            wx = left + 4.0,
            wy = top + 12.0,
        );
        for i in 0..=4 {
            let mib = ceiling * f64::from(i) / 4.0;
            let _ = writeln!(
                svg,
                "<line x1=\"{left}\" x2=\"{x2}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\">{mib:.0} MiB</text>",
                x2 = w - right,
                yy = y(mib),
                tx = left - 4.0,
                ty = y(mib) + 4.0,
            );
        }
        for i in 0..=4 {
            let t = end * f64::from(i) / 4.0;
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{:.0} min</text>",
                x(t),
                h - bottom + 16.0,
                t / 60.0
            );
        }
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"#1f6feb\" stroke-width=\"2\" points=\"{}\"/>\n</svg>",
            points.join(" ")
        );
        svg
    }
}

/// Counters the traffic tasks share.
#[derive(Default)]
struct Tally {
    counts: Mutex<BTreeMap<&'static str, u64>>,
    errors: Mutex<Vec<String>>,
}

impl Tally {
    fn count(&self, kind: &'static str) {
        *self.counts.lock().expect("lock").entry(kind).or_insert(0) += 1;
    }

    fn error(&self, what: String) {
        let mut errors = self.errors.lock().expect("lock");
        // The first ones say what went wrong; a flood would only repeat them.
        if errors.len() < 100 {
            errors.push(what);
        }
    }
}

/// Runs the soak against a fresh release host (its own Postgres database, the test Redis),
/// printing a progress line at each sample.
pub async fn run(settings: &Settings) -> Report {
    let (database_url, database) = process::database().await;
    let data_dir = process::data_dir();
    let retain = settings.client_id_retain_secs.to_string();
    let keep_runs = settings.sim_keep_runs.to_string();
    let env = [
        ("JWT_SECRET", crate::JWT_SECRET),
        ("BOURSE_CLIENT_ORDER_ID_RETAIN_SECS", retain.as_str()),
        ("BOURSE_SIM_KEEP_RUNS", keep_runs.as_str()),
    ];
    let host = HostProcess::start(&database_url, &data_dir, &env).await;
    let pid = host.child.id();
    let url = host.url.clone();
    let traders: Vec<String> = (0..4)
        .map(|i| crate::unique(&format!("soak{i}-")))
        .collect();
    let mut keys = Vec::new();
    for t in &traders {
        keys.push(api_key(&url, t, &["trader"]).await);
    }
    import_bars(&url).await;

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let orders = Arc::new(AtomicU64::new(0));
    for c in 0..settings.clients {
        let key = keys[c % keys.len()].clone();
        tasks.push(tokio::spawn(trade(
            c,
            url.clone(),
            key,
            tally.clone(),
            orders.clone(),
            stop.clone(),
        )));
    }
    for s in 0..settings.subscribers {
        let key = keys[s % keys.len()].clone();
        tasks.push(tokio::spawn(subscribe(
            s,
            url.clone(),
            key,
            tally.clone(),
            stop.clone(),
        )));
    }
    tasks.push(tokio::spawn(simulate(
        url.clone(),
        tally.clone(),
        stop.clone(),
    )));
    tasks.push(tokio::spawn(backtest(
        url.clone(),
        tally.clone(),
        stop.clone(),
    )));
    tasks.push(tokio::spawn(sign_in(
        url.clone(),
        traders.clone(),
        tally.clone(),
        stop.clone(),
    )));

    let started = Instant::now();
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(settings.sample_every);
    loop {
        tick.tick().await;
        let at = started.elapsed();
        let rss_kib = rss_kib(pid).unwrap_or(0);
        let heap_kib = heap_in_use_kib(&url).await;
        samples.push(Sample {
            at,
            rss_kib,
            heap_kib,
        });
        let counts = tally.counts.lock().expect("lock").clone();
        println!(
            "{:>5.0}s  rss {:>7.1} MiB  heap in use {:>6.1} MiB  {}  errors {}",
            at.as_secs_f64(),
            rss_kib as f64 / 1024.0,
            heap_kib.unwrap_or(0) as f64 / 1024.0,
            counts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join("  "),
            tally.errors.lock().expect("lock").len()
        );
        if at >= settings.duration {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(60), t).await;
    }
    host.kill();
    process::drop_database(&database).await;
    let _ = std::fs::remove_dir_all(&data_dir);
    let counts = tally.counts.lock().expect("lock").clone();
    let errors = tally.errors.lock().expect("lock").clone();
    Report {
        samples,
        counts,
        errors,
    }
}

/// The process's resident set (VmRSS), in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The host's `process_heap_in_use_bytes` from `/metrics`, in KiB (scraped as Prometheus
/// would).
async fn heap_in_use_kib(url: &str) -> Option<u64> {
    let text = client()
        .get(format!("{url}/metrics"))
        .bearer_auth(crate::ADMIN_TOKEN)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let bytes: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("process_heap_in_use_bytes "))?
        .trim()
        .parse()
        .ok()?;
    Some(bytes as u64 / 1024)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// Seeded daily bars for every symbol the signals read, so backtests have history.
async fn import_bars(url: &str) {
    let http = client();
    for (i, symbol) in ["SPY", "XLU", "WOOD", "GLD", "TLT", "IEF", "^VIX"]
        .iter()
        .enumerate()
    {
        let response = http
            .post(format!("{url}/api/bars/import?symbol={symbol}"))
            .bearer_auth(crate::ADMIN_TOKEN)
            .header("content-type", "text/csv")
            .body(crate::bars::csv(i as u64 + 1, 0.0003))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 201, "importing {symbol}'s bars");
    }
}

/// Limit orders around a fixed mid (most cross and fill), each with a client order id;
/// the oldest resting order is cancelled whenever more than a few rest.
async fn trade(
    c: usize,
    url: String,
    key: String,
    tally: Arc<Tally>,
    orders: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let http = client();
    let mut resting: std::collections::VecDeque<String> = Default::default();
    let run = crate::unique("");
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let n = orders.fetch_add(1, Ordering::Relaxed);
        let body = crate::journal::crossing_order(n, c as u64, &format!("{run}-{c}-{i}"));
        match http
            .post(format!("{url}/api/orders"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status() == 201 => {
                tally.count("orders");
                let answer: Value = r.json().await.unwrap_or(Value::Null);
                if matches!(
                    answer["status"].as_str(),
                    Some("accepted" | "partially_filled")
                ) && let Some(id) = answer["order_id"].as_str()
                {
                    resting.push_back(id.to_string());
                }
            }
            Ok(r) => tally.error(format!("POST /api/orders: {}", r.status())),
            Err(e) => tally.error(format!("POST /api/orders: {e}")),
        }
        if resting.len() > 8
            && let Some(id) = resting.pop_front()
        {
            match http
                .delete(format!("{url}/api/orders/{id}"))
                .bearer_auth(&key)
                .send()
                .await
            {
                // Filled in the meantime (404: no open order by that id) is an answer the
                // traffic asked for.
                Ok(r) if r.status() == 200 || r.status() == 404 => tally.count("cancels"),
                Ok(r) => tally.error(format!("DELETE /api/orders/{id}: {}", r.status())),
                Err(e) => tally.error(format!("DELETE /api/orders/{id}: {e}")),
            }
        }
    }
}

/// Joins the book and trades rooms, listens for two to five seconds, leaves; again.
async fn subscribe(s: usize, url: String, key: String, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let ws_url = format!("{}/ws?token={key}", url.replacen("http://", "ws://", 1));
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&ws_url).await else {
            tally.error("WebSocket upgrade failed".into());
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        tally.count("ws_sessions");
        let symbol = ["AAPL", "MSFT", "SPY"][(s + round as usize) % 3];
        for room in [format!("book:{symbol}"), format!("trades:{symbol}")] {
            let message = json!({"op": "subscribe", "room": room}).to_string();
            if ws.send(Message::Text(message.into())).await.is_err() {
                tally.error("WebSocket send failed".into());
            }
        }
        let listen = Duration::from_millis(2000 + (round * 700 + s as u64 * 300) % 3000);
        let until = tokio::time::Instant::now() + listen;
        while let Ok(Some(message)) = tokio::time::timeout_at(until, ws.next()).await {
            match message {
                Ok(Message::Text(text)) => {
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    if v["type"] == "error" {
                        tally.error(format!("WebSocket: {text}"));
                    } else {
                        tally.count("ws_messages");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tally.error(format!("WebSocket: {e}"));
                    break;
                }
            }
        }
        let _ = ws.close(None).await;
    }
}

/// A small simulation, run to its end; again.
async fn simulate(url: String, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let http = client();
    let mut seed = 0u64;
    while !stop.load(Ordering::Relaxed) {
        seed += 1;
        let body = json!({
            "scenario": {
                "symbols": ["AAPL", "MSFT"], "mid": 10000, "spread": 20, "max_quantity": 50,
                "market_percent": 10, "accounts": 50, "seed": seed, "volatility_bp": 300,
                "agents": {"noise": 60, "market_maker": 30, "momentum": 10},
            },
            "orders": 20_000,
        });
        let started = http
            .post(format!("{url}/api/simulations"))
            .bearer_auth(crate::ADMIN_TOKEN)
            .json(&body)
            .send()
            .await;
        let run: Value = match started {
            Ok(r) if r.status() == 202 => r.json().await.unwrap_or(Value::Null),
            Ok(r) => {
                tally.error(format!("POST /api/simulations: {}", r.status()));
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
            Err(e) => {
                tally.error(format!("POST /api/simulations: {e}"));
                continue;
            }
        };
        let Some(id) = run["id"].as_str().map(str::to_string) else {
            tally.error(format!("a simulation without an id: {run}"));
            continue;
        };
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let state: Value = match http
                .get(format!("{url}/api/simulations/{id}"))
                .bearer_auth(crate::ADMIN_TOKEN)
                .send()
                .await
            {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(e) => {
                    tally.error(format!("GET /api/simulations/{id}: {e}"));
                    break;
                }
            };
            match state["status"].as_str() {
                Some("running") => continue,
                Some("completed") => {
                    tally.count("simulations");
                    break;
                }
                _ => {
                    tally.error(format!("simulation {id}: {state}"));
                    break;
                }
            }
        }
    }
}

/// A backtest of the consensus signal every two seconds.
async fn backtest(url: String, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let http = client();
    let body =
        json!({"signal": "consensus", "risk_off": "TLT", "rebalance": "weekly", "cost_bps": 5});
    while !stop.load(Ordering::Relaxed) {
        match http
            .post(format!("{url}/api/backtests"))
            .bearer_auth(crate::ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status() == 200 => tally.count("backtests"),
            Ok(r) => tally.error(format!("POST /api/backtests: {}", r.status())),
            Err(e) => tally.error(format!("POST /api/backtests: {e}")),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Signs a trader in (and reads who it is with the session) every half second.
async fn sign_in(url: String, traders: Vec<String>, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let http = client();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let username = &traders[i % traders.len()];
        let body = json!({"username": username, "password": "a long test password"});
        match http
            .post(format!("{url}/api/auth/login"))
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status() == 200 => tally.count("sign_ins"),
            Ok(r) => tally.error(format!("POST /api/auth/login: {}", r.status())),
            Err(e) => tally.error(format!("POST /api/auth/login: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
