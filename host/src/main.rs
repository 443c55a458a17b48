//! `bourse`: build and serve a manifest of WebAssembly components.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use bourse::build::{Outcome, build};
use bourse::config::Config;
use bourse::manifest::Manifest;
use bourse::server::Host;
use clap::{Parser, Subcommand};

mod ops;

#[derive(Parser)]
#[command(
    name = "bourse",
    version,
    about = "WebAssembly component platform for trading systems"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build what is stale, then serve.
    Up {
        /// The manifest.
        #[arg(long, short = 'f', default_value = "spin.toml")]
        manifest: PathBuf,
        /// Run the manifest as Spin would: only Spin's platform interfaces, each component's
        /// `[component.X.dependencies]` composed into it, no auth layer (local development).
        #[arg(long)]
        spin_compat: bool,
    },
    /// Serve the manifest's components as they are.
    Serve {
        /// The manifest.
        #[arg(long, short = 'f', default_value = "spin.toml")]
        manifest: PathBuf,
        /// Run the manifest as Spin would: only Spin's platform interfaces, each component's
        /// `[component.X.dependencies]` composed into it, no auth layer (local development).
        #[arg(long)]
        spin_compat: bool,
    },
    /// Run each component's build command.
    Build {
        /// The manifest.
        #[arg(long, short = 'f', default_value = "spin.toml")]
        manifest: PathBuf,
        /// Only these components.
        components: Vec<String>,
        /// Build even when up to date.
        #[arg(long)]
        force: bool,
    },
    /// Check each built component against its WIT world.
    Check {
        /// The manifest.
        #[arg(long, short = 'f', default_value = "spin.toml")]
        manifest: PathBuf,
        /// Instead: check that Spin could load each component, against the platform world in
        /// this directory of Spin's WIT (the repository keeps one in wit/spin-platform).
        #[arg(long, value_name = "SPIN_WIT_DIR", num_args = 0..=1, default_missing_value = "wit/spin-platform")]
        spin: Option<PathBuf>,
    },
    /// Compile every component into the artifact cache (BOURSE_DATA_DIR), without serving.
    Precompile {
        /// The manifest.
        #[arg(long, short = 'f', default_value = "spin.toml")]
        manifest: PathBuf,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCmd,
    },
    /// Put a new version of a component live on a running host.
    Deploy {
        /// Component id.
        name: String,
        /// The `.wasm` file.
        file: PathBuf,
        #[command(flatten)]
        remote: ops::Remote,
    },
    /// List the components live on a running host, with versions and digests.
    Components {
        #[command(flatten)]
        remote: ops::Remote,
    },
    /// Daily bars for the signals.
    Bars {
        #[command(subcommand)]
        command: BarsCmd,
    },
    /// Simulation commands.
    Sim {
        #[command(subcommand)]
        command: SimCmd,
    },
    /// Put a retained version live again (the previous one, or the given digest).
    Rollback {
        /// Component id.
        name: String,
        /// Digest (`sha256:…` or its hex) to go back to.
        digest: Option<String>,
        #[command(flatten)]
        remote: ops::Remote,
    },
}

#[derive(Subcommand)]
enum BarsCmd {
    /// Write seeded synthetic closes for SPY, XLU, WOOD, GLD, TLT, IEF and VIX as CSV files.
    Synth {
        /// Directory for the files.
        #[arg(long, default_value = "bars")]
        out: PathBuf,
        /// Seed: the same seed gives the same series.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Years of weekdays.
        #[arg(long, default_value_t = 20)]
        years: u32,
    },
    /// Import a CSV (`Date,…,Adj Close,…` or `date,close`) or JSON file into a running host.
    Import {
        /// The file.
        file: PathBuf,
        /// Its ticker, e.g. SPY.
        #[arg(long)]
        symbol: String,
        #[command(flatten)]
        remote: ops::Remote,
    },
    /// Have a running host fetch daily closes from a data provider whose key it has
    /// (TIINGO_API_KEY, ALPHAVANTAGE_API_KEY, FRED_API_KEY set where the host runs).
    Fetch {
        /// Tickers, e.g. SPY XLU WOOD GLD TLT IEF VIX.
        #[arg(required = true)]
        symbols: Vec<String>,
        /// tiingo, alphavantage or fred (default: the first configured one serving the ticker).
        #[arg(long)]
        provider: Option<String>,
        /// First date, YYYY-MM-DD.
        #[arg(long)]
        from: Option<String>,
        /// Last date, YYYY-MM-DD.
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        remote: ops::Remote,
    },
}

#[derive(Subcommand)]
enum SimCmd {
    /// Run a scenario on a running host, with a progress bar and a summary.
    Run {
        /// JSON file: a `POST /api/simulations` body, or just its scenario.
        file: PathBuf,
        /// How many orders (default: the file's, else 1 000 000).
        #[arg(long)]
        orders: Option<u64>,
        #[command(flatten)]
        remote: ops::Remote,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Validate the environment and print the effective configuration, secrets masked.
    Check,
}

fn main() -> ExitCode {
    // The log format is the one setting needed before the configuration is validated.
    let format = match std::env::var("LOG_FORMAT").as_deref() {
        Ok("json") => bourse::config::LogFormat::Json,
        _ => bourse::config::LogFormat::Text,
    };
    bourse::telemetry::init(format);
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bourse: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Cmd::Build {
            manifest,
            components,
            force,
        } => {
            let manifest = Manifest::load(&manifest)?;
            let outcomes = build(&manifest, &components, force);
            let failed = outcomes
                .iter()
                .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
                .count();
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Check {
            manifest,
            spin: None,
        } => check(&Manifest::load(&manifest)?),
        Cmd::Check {
            manifest,
            spin: Some(spin_dir),
        } => check_spin(&Manifest::load(&manifest)?, &spin_dir),
        Cmd::Up {
            manifest,
            spin_compat,
        } => {
            let manifest = Manifest::load(&manifest)?;
            let outcomes = build(&manifest, &[], false);
            for (name, outcome) in &outcomes {
                if let Outcome::Failed(_) = outcome {
                    eprintln!("bourse: {name} did not build; serving the others");
                }
            }
            serve(manifest, spin_compat)
        }
        Cmd::Serve {
            manifest,
            spin_compat,
        } => serve(Manifest::load(&manifest)?, spin_compat),
        Cmd::Precompile { manifest } => precompile(&Manifest::load(&manifest)?),
        Cmd::Config {
            command: ConfigCmd::Check,
        } => {
            let config = Config::from_env()?;
            for (name, value) in config.effective() {
                println!("{name}={value}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Deploy { name, file, remote } => ops::run(ops::deploy(&remote, &name, &file)),
        Cmd::Components { remote } => ops::run(ops::components(&remote)),
        Cmd::Bars {
            command: BarsCmd::Synth { out, seed, years },
        } => ops::bars_synth(&out, seed, years),
        Cmd::Bars {
            command:
                BarsCmd::Import {
                    file,
                    symbol,
                    remote,
                },
        } => ops::run(ops::bars_import(&remote, &file, &symbol)),
        Cmd::Bars {
            command:
                BarsCmd::Fetch {
                    symbols,
                    provider,
                    from,
                    to,
                    remote,
                },
        } => ops::run(ops::bars_fetch(
            &remote,
            &symbols,
            provider.as_deref(),
            from.as_deref(),
            to.as_deref(),
        )),
        Cmd::Sim {
            command:
                SimCmd::Run {
                    file,
                    orders,
                    remote,
                },
        } => ops::run(ops::sim_run(&remote, &file, orders)),
        Cmd::Rollback {
            name,
            digest,
            remote,
        } => ops::run(ops::rollback(&remote, &name, digest.as_deref())),
    }
}

fn check(manifest: &Manifest) -> anyhow::Result<ExitCode> {
    let wit = manifest.wit_dir();
    Ok(report_each(manifest, |name, decl| {
        let Some(world) = &decl.tool.bourse.world else {
            return Ok(format!(
                "no [component.{name}.tool.bourse] world, not checked"
            ));
        };
        bourse::runtime::contract::check(&read_source(manifest, decl)?, &wit, world)
            .map(|()| format!("honours {world}"))
            .map_err(|e| e.to_string())
    }))
}

fn check_spin(manifest: &Manifest, spin_dir: &Path) -> anyhow::Result<ExitCode> {
    let spin = bourse::runtime::contract::SpinPlatform::load(spin_dir)?;
    Ok(report_each(manifest, |_, decl| {
        let dependencies =
            bourse::runtime::compose::dependencies(manifest, decl).map_err(|e| e.to_string())?;
        spin.check(&read_source(manifest, decl)?, &dependencies)
            .map(|()| "Spin hosts every import".to_string())
            .map_err(|e| e.to_string())
    }))
}

/// Runs `check` on every component, printing `name: outcome`; fails if any check failed.
fn report_each(
    manifest: &Manifest,
    check: impl Fn(&str, &bourse::manifest::ComponentDecl) -> Result<String, String>,
) -> ExitCode {
    let mut failed = 0;
    for (name, decl) in &manifest.components {
        match check(name, decl) {
            Ok(outcome) => eprintln!("{name}: {outcome}"),
            Err(e) => {
                failed += 1;
                eprintln!("{name}: {e}");
            }
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn read_source(
    manifest: &Manifest,
    decl: &bourse::manifest::ComponentDecl,
) -> Result<Vec<u8>, String> {
    let path = manifest.resolve(&decl.source);
    std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn precompile(manifest: &Manifest) -> anyhow::Result<ExitCode> {
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
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn serve(manifest: Manifest, spin_compat: bool) -> anyhow::Result<ExitCode> {
    let mut config = Config::from_env()?;
    config.spin_compat |= spin_compat;
    if config.spin_compat {
        tracing::warn!(
            "running as Spin would: no auth layer, no native market or event hub; for local development only"
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
