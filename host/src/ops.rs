//! `bourse deploy | components | rollback`: the ops commands, talking to a running host's
//! `/admin` API.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;

/// Where the host is and how to authenticate.
#[derive(clap::Args)]
pub struct Remote {
    /// Base URL of the host.
    #[arg(long, env = "BOURSE_URL", default_value = "http://127.0.0.1:3000")]
    url: String,
    /// Bearer token with the ops role (ADMIN_TOKEN or an ops API key).
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl Remote {
    fn token(&self) -> anyhow::Result<&str> {
        self.token
            .as_deref()
            .context("no token: pass --token or set ADMIN_TOKEN")
    }
}

/// Runs an async ops command to completion.
pub fn run(
    f: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(f)
}

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

/// Reads the host's answer; an error answer becomes an error naming its code and message.
async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("the host answered {status} without JSON"))?;
    if status.is_success() {
        return Ok(body);
    }
    let code = body["error"]["code"].as_str().unwrap_or("error");
    let message = body["error"]["message"].as_str().unwrap_or("(no message)");
    bail!("{status} {code}: {message}")
}

/// `bourse deploy`.
pub async fn deploy(remote: &Remote, name: &str, file: &Path) -> anyhow::Result<ExitCode> {
    let bytes = tokio::fs::read(file)
        .await
        .with_context(|| format!("cannot read {}", file.display()))?;
    eprintln!(
        "deploy {name}: {} ({:.2} MB)",
        file.display(),
        bytes.len() as f64 / 1e6
    );
    eprintln!("deploy {name}: uploading to {} …", remote.url);
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{}/admin/components/{name}", remote.url))
        .bearer_auth(remote.token()?)
        .body(bytes)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", remote.url))?;
    eprintln!("deploy {name}: checking, compiling, smoke-testing …");
    let report = answer(response).await?;
    let digest = report["digest"].as_str().unwrap_or("");
    let previous = report["previous"]
        .as_str()
        .map_or("nothing".to_string(), |p| format!("sha256:{}", short(p)));
    let compiled = if report["compiled"].as_bool() == Some(true) {
        "compiled"
    } else {
        "from the artifact cache"
    };
    println!(
        "{name} sha256:{} is live ({compiled}; replaced {previous}; {} ms on the host, {} ms here)",
        short(digest),
        report["duration_ms"],
        started.elapsed().as_millis()
    );
    Ok(ExitCode::SUCCESS)
}

/// `bourse components`.
pub async fn components(remote: &Remote) -> anyhow::Result<ExitCode> {
    let response = reqwest::Client::new()
        .get(format!("{}/admin/components", remote.url))
        .bearer_auth(remote.token()?)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", remote.url))?;
    let list = answer(response).await?;
    println!(
        "{:<16} {:<8} {:<14} {:<9} WORLD",
        "NAME", "STATUS", "DIGEST", "VERSIONS"
    );
    for entry in list.as_array().map(Vec::as_slice).unwrap_or_default() {
        let c = &entry["component"];
        println!(
            "{:<16} {:<8} {:<14} {:<9} {}",
            c["name"].as_str().unwrap_or("?"),
            c["status"].as_str().unwrap_or("?"),
            c["digest"].as_str().map_or("-", short),
            entry["versions"].as_array().map_or(0, Vec::len),
            c["world"].as_str().unwrap_or("-"),
        );
        if let Some(error) = c["error"].as_str() {
            println!("    {error}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `bourse rollback`.
pub async fn rollback(
    remote: &Remote,
    name: &str,
    digest: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let body = match digest {
        Some(d) => serde_json::json!({ "digest": d }).to_string(),
        None => String::new(),
    };
    let response = reqwest::Client::new()
        .post(format!("{}/admin/components/{name}/rollback", remote.url))
        .bearer_auth(remote.token()?)
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", remote.url))?;
    let report = answer(response).await?;
    println!(
        "{name} rolled back to sha256:{} ({} ms)",
        report["digest"].as_str().map_or("?", short),
        report["duration_ms"]
    );
    Ok(ExitCode::SUCCESS)
}

/// `bourse sim run FILE`: starts a simulation on a running host, draws its progress, prints
/// its summary. FILE holds a `POST /api/simulations` body (a bare scenario gets `orders`).
pub async fn sim_run(
    remote: &Remote,
    file: &Path,
    orders: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?;
    let mut body: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    if body.get("scenario").is_none() {
        body = serde_json::json!({ "scenario": body });
    }
    if let Some(n) = orders {
        body["orders"] = n.into();
    }
    if body.get("orders").is_none() && body.get("duration_ms").is_none() {
        body["orders"] = 1_000_000.into();
    }
    let client = reqwest::Client::new();
    let token = remote.token()?;
    let run = answer(
        client
            .post(format!("{}/api/simulations", remote.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", remote.url))?,
    )
    .await?;
    let id = run["id"]
        .as_str()
        .context("the host gave no run id")?
        .to_string();
    eprintln!("simulation {id} started");
    let view = loop {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let view = answer(
            client
                .get(format!("{}/api/simulations/{id}", remote.url))
                .bearer_auth(token)
                .send()
                .await?,
        )
        .await?;
        let p = &view["progress"];
        let done = p["done"].as_f64().unwrap_or(0.0).clamp(0.0, 1.0);
        let filled = (done * 30.0).round() as usize;
        eprint!(
            "\r[{}{}] {:>5.1}%  {} orders  {} trades  {:.0} orders/s   ",
            "#".repeat(filled),
            ".".repeat(30 - filled),
            done * 100.0,
            p["generated"],
            p["trades"],
            p["orders_per_second"].as_f64().unwrap_or(0.0)
        );
        if view["status"] != "running" {
            eprintln!();
            break view;
        }
    };
    println!("status: {}", view["status"].as_str().unwrap_or("?"));
    if let Some(reason) = view["reason"].as_str() {
        println!("reason: {reason}");
    }
    let p = &view["progress"];
    println!(
        "orders: {} generated, {} accepted, {} rejected; trades: {}, volume {}; {:.0} orders/s over {} ms",
        p["generated"],
        p["accepted"],
        p["rejected"],
        p["trades"],
        p["volume"],
        p["orders_per_second"].as_f64().unwrap_or(0.0),
        p["elapsed_ms"]
    );
    if let Some(symbols) = view["summary"]["symbols"].as_object() {
        for (symbol, s) in symbols {
            println!(
                "  {symbol}: {} trades, volume {}, vwap {:.2}, low {} high {} last {} (ticks)",
                s["trades"],
                s["volume"],
                s["vwap"].as_f64().unwrap_or(0.0),
                s["low"],
                s["high"],
                s["last"]
            );
        }
    }
    println!(
        "book hash: {}",
        view["summary"]["book_hash"].as_str().unwrap_or("-")
    );
    Ok(if view["status"] == "completed" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `bourse bars synth`: writes seeded synthetic closes for the seven signal tickers as
/// `<dir>/<TICKER>.csv`.
pub fn bars_synth(dir: &Path, seed: u64, years: u32) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    let start = bourse_signals::dates::parse("2005-01-03").context("start date")?;
    let days = years as usize * 261;
    for (ticker, series) in bourse_signals::synth::generate(seed, start, days) {
        let path = dir.join(format!("{ticker}.csv"));
        std::fs::write(&path, bourse_signals::synth::csv(&series))
            .with_context(|| format!("{}", path.display()))?;
        println!("{}: {} days", path.display(), series.dates.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// `bourse bars import FILE --symbol SPY`: sends a CSV or JSON file to a running host.
/// `bourse bars fetch`: one request per ticker; stops at the first refusal.
pub async fn bars_fetch(
    remote: &Remote,
    symbols: &[String],
    provider: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::new();
    for symbol in symbols {
        let body =
            serde_json::json!({"symbol": symbol, "provider": provider, "from": from, "to": to});
        let answer = answer(
            client
                .post(format!("{}/api/bars/fetch", remote.url))
                .bearer_auth(remote.token()?)
                .json(&body)
                .send()
                .await
                .with_context(|| format!("cannot reach {}", remote.url))?,
        )
        .await
        .with_context(|| symbol.clone())?;
        println!(
            "{}: {} bars from {} to {} ({})",
            answer["symbol"].as_str().unwrap_or(symbol),
            answer["imported"],
            answer["first"].as_str().unwrap_or("?"),
            answer["last"].as_str().unwrap_or("?"),
            answer["provider"].as_str().unwrap_or("?"),
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn bars_import(remote: &Remote, file: &Path, symbol: &str) -> anyhow::Result<ExitCode> {
    let body = std::fs::read(file).with_context(|| format!("{}", file.display()))?;
    let json = file.extension().is_some_and(|e| e == "json");
    let answer = answer(
        reqwest::Client::new()
            .post(format!("{}/api/bars/import?symbol={symbol}", remote.url))
            .bearer_auth(remote.token()?)
            .header(
                "content-type",
                if json { "application/json" } else { "text/csv" },
            )
            .body(body)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", remote.url))?,
    )
    .await?;
    println!(
        "{}: {} bars from {} to {}",
        answer["symbol"].as_str().unwrap_or(symbol),
        answer["imported"],
        answer["first"].as_str().unwrap_or("?"),
        answer["last"].as_str().unwrap_or("?")
    );
    Ok(ExitCode::SUCCESS)
}
