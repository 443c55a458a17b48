//! `bourse up | serve`: the host, serving a manifest until SIGINT or SIGTERM (`up` builds what
//! is stale first).

use std::process::ExitCode;

use anyhow::Context;
use bourse::build::{Outcome, build};
use bourse::config::Config;
use bourse::manifest::Manifest;
use bourse::server::Host;

/// `bourse up`: builds what is stale (serving the others if one fails), then serves.
pub fn up(manifest: Manifest, spin_compat: bool) -> anyhow::Result<ExitCode> {
    let outcomes = build(&manifest, &[], false);
    for (name, outcome) in &outcomes {
        if let Outcome::Failed(_) = outcome {
            eprintln!("bourse: {name} did not build; serving the others");
        }
    }
    serve(manifest, spin_compat)
}

/// `bourse serve`.
pub fn serve(manifest: Manifest, spin_compat: bool) -> anyhow::Result<ExitCode> {
    let mut config = Config::from_env()?;
    config.spin_compat |= spin_compat;
    if config.spin_compat {
        tracing::warn!(
            "running as Spin would: no auth layer, no native market or event hub; for local development only"
        );
    }
    if config.spin_compat || manifest.is_spin_app() {
        tracing::info!(
            "serving the application's routes as Spin does; the host's own routes answer where no application route matches, and always under /.well-known/bourse/ (health, ready, metrics)"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let host = Host::start(&config, manifest).await?;
        for failure in &host.failures {
            eprintln!(
                "bourse: component {} not loaded: {}",
                failure.name, failure.error
            );
        }
        host.serve(
            config.listen,
            |addr| tracing::info!(%addr, "bourse listening"),
            shutdown_signal(),
        )
        .await?;
        tracing::info!("bourse stopped");
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
