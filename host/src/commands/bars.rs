//! `bourse bars synth | import | fetch`: daily bars for the signals, written locally or sent
//! to a running host.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::remote::{Remote, answer};

/// `bourse bars synth`: writes seeded synthetic closes for the seven signal tickers as
/// `<dir>/<TICKER>.csv`.
pub fn synth(dir: &Path, seed: u64, years: u32) -> anyhow::Result<ExitCode> {
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
/// `bourse bars fetch`: one request per ticker; stops at the first refusal.
pub async fn fetch(
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
/// `bourse bars import FILE --symbol SPY`: sends a CSV or JSON file to a running host.
pub async fn import(remote: &Remote, file: &Path, symbol: &str) -> anyhow::Result<ExitCode> {
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
