//! `bourse config check`: the environment validated and the effective configuration
//! printed, secrets masked.

use std::process::ExitCode;

use bourse::config::Config;

/// `bourse config check`.
pub fn check() -> anyhow::Result<ExitCode> {
    let config = Config::from_env()?;
    for (name, value) in config.effective() {
        println!("{name}={value}");
    }
    Ok(ExitCode::SUCCESS)
}
