//! `bourse up | serve`: the host, serving a manifest until SIGINT or SIGTERM (`up` builds what
//! is stale first).

use std::process::ExitCode;

use anyhow::Context;
use bourse::build::{Outcome, build};
use bourse::config::Config;
use bourse::manifest::Manifest;
use bourse::server::Host;

/// `bourse up`: builds what is stale, then serves. A component that does not build or load
/// stops it (non-zero exit) unless `keep_going`, so a first run cannot look as if it worked.
pub fn up(manifest: Manifest, spin_compat: bool, keep_going: bool) -> anyhow::Result<ExitCode> {
    let failed: Vec<String> = build(&manifest, &[], false)
        .into_iter()
        .filter(|(_, outcome)| matches!(outcome, Outcome::Failed(_)))
        .map(|(name, _)| name)
        .collect();
    if !failed.is_empty() {
        if !keep_going {
            eprintln!(
                "bourse: not serving: {} did not build (see above); fix it, or pass --keep-going to serve the rest",
                failed.join(", ")
            );
            return Ok(ExitCode::FAILURE);
        }
        eprintln!(
            "bourse: {} did not build; serving the others (--keep-going)",
            failed.join(", ")
        );
    }
    run(manifest, spin_compat, !keep_going)
}

/// `bourse serve`: serves what loads, reporting what does not (`/ready` names it).
pub fn serve(manifest: Manifest, spin_compat: bool) -> anyhow::Result<ExitCode> {
    run(manifest, spin_compat, false)
}

/// Serves `manifest`; with `strict`, a component that does not load stops it first.
fn run(manifest: Manifest, spin_compat: bool, strict: bool) -> anyhow::Result<ExitCode> {
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
        if strict && !host.failures.is_empty() {
            eprintln!(
                "bourse: not serving: {} component(s) did not load; fix them, or pass --keep-going to serve the rest",
                host.failures.len()
            );
            return Ok(ExitCode::FAILURE);
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
