//! `bourse deploy | components | rollback`: the ops commands, talking to a running host's
//! `/admin` API.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use super::remote::{Remote, answer, short};

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
