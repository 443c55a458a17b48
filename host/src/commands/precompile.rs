//! `bourse precompile`: every component compiled into the artifact cache (BOURSE_DATA_DIR),
//! without serving.

use std::process::ExitCode;

use anyhow::Context;
use bourse::config::Config;
use bourse::manifest::Manifest;

/// `bourse precompile`.
pub fn precompile(manifest: &Manifest) -> anyhow::Result<ExitCode> {
    let config = Config::from_env()?;
    let runtime_config = bourse::runtime::RuntimeConfig {
        timeout: std::time::Duration::from_millis(config.request_timeout_ms),
        memory_mb: config.instance_memory_mb,
        data_dir: config.data_dir.clone(),
        retain_versions: config.retain_versions,
        role: config.role,
        memory_limit_bytes: None,
        spin_compat: config.spin_compat,
    };
    let results = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(bourse::runtime::precompile(manifest, &runtime_config));
    let mut failed = 0;
    for (name, result) in results {
        match result {
            Ok((digest, true)) => eprintln!("{name}: compiled {digest}"),
            Ok((digest, false)) => eprintln!("{name}: already cached {digest}"),
            Err(e) => {
                failed += 1;
                eprintln!("{name}: {e}");
            }
        }
    }
    eprintln!(
        "artifacts in {}",
        config.data_dir.join("artifacts").display()
    );
    Ok(super::exit_code(failed))
}
