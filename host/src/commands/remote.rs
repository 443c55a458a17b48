//! What the commands that talk to a running host share: where it is, the token they
//! present, and how its answers are read (an error answer becomes an error naming its code).

use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::Value;

/// Where the host is and how to authenticate.
#[derive(clap::Args)]
pub struct Remote {
    /// Base URL of the host.
    #[arg(long, env = "BOURSE_URL", default_value = "http://127.0.0.1:3000")]
    pub(super) url: String,
    /// Bearer token with the ops role (ADMIN_TOKEN or an ops API key).
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl Remote {
    pub(super) fn token(&self) -> anyhow::Result<&str> {
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

pub(super) fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

/// Reads the host's answer; an error answer becomes an error naming its code and message.
pub(super) async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
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
