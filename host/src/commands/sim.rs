//! `bourse sim run`: a simulation on a running host, with a progress bar and a summary.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use super::remote::{Remote, answer};

/// `bourse sim run FILE`: starts a simulation on a running host, draws its progress, prints
/// its summary. FILE holds a `POST /api/simulations` body (a bare scenario gets `orders`).
pub async fn run(remote: &Remote, file: &Path, orders: Option<u64>) -> anyhow::Result<ExitCode> {
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
