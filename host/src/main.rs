//! `bourse`: build and serve a manifest of WebAssembly components.
//!
//! This file parses the command line and hands each command to its module in
//! [`commands`]; the commands' flags are declared here, in one place.

use std::path::PathBuf;
use std::process::ExitCode;

use bourse::manifest::Manifest;
use clap::{Parser, Subcommand};

mod commands;

use commands::remote::{self, Remote};

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
        /// Serve the components that build and load even when others do not (by default a
        /// failed build or load stops `up` with a non-zero exit).
        #[arg(long)]
        keep_going: bool,
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
    /// Make a component from a template and add it to the manifest (`--list`: the templates).
    New {
        /// The template (`bourse new --list` shows them).
        #[arg(required_unless_present = "list")]
        template: Option<String>,
        /// The component id (lower-case letters, digits and dashes).
        #[arg(required_unless_present = "list")]
        name: Option<String>,
        /// List the templates.
        #[arg(long)]
        list: bool,
        /// The manifest to add the component to.
        #[arg(long, short = 'f', default_value = "spin.toml")]
        manifest: PathBuf,
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
        /// Instead: report what each component needs that Bourse does not host (imports,
        /// grants, manifest fields), then, if this directory of Spin's WIT exists (the
        /// repository keeps one in wit/spin-platform), check that Spin could load it.
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
        remote: Remote,
    },
    /// List the components live on a running host, with versions and digests.
    Components {
        #[command(flatten)]
        remote: Remote,
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
        remote: Remote,
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
        remote: Remote,
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
        remote: Remote,
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
        remote: Remote,
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
        } => Ok(commands::build::run(
            &Manifest::load(&manifest)?,
            &components,
            force,
        )),
        Cmd::Check {
            manifest,
            spin: None,
        } => commands::check::check(&Manifest::load(&manifest)?),
        Cmd::Check {
            manifest,
            spin: Some(spin_dir),
        } => commands::check::check_spin(&Manifest::load(&manifest)?, &spin_dir),
        Cmd::New { list: true, .. } => Ok(commands::new::list()),
        Cmd::New {
            template: Some(template),
            name: Some(name),
            manifest,
            ..
        } => commands::new::new(&manifest, &template, &name),
        Cmd::New { .. } => anyhow::bail!("give a template and a name, or --list"),
        Cmd::Up {
            manifest,
            spin_compat,
            keep_going,
        } => commands::serve::up(Manifest::load(&manifest)?, spin_compat, keep_going),
        Cmd::Serve {
            manifest,
            spin_compat,
        } => commands::serve::serve(Manifest::load(&manifest)?, spin_compat),
        Cmd::Precompile { manifest } => {
            commands::precompile::precompile(&Manifest::load(&manifest)?)
        }
        Cmd::Config {
            command: ConfigCmd::Check,
        } => commands::config::check(),
        Cmd::Deploy { name, file, remote } => {
            remote::run(commands::deploy::deploy(&remote, &name, &file))
        }
        Cmd::Components { remote } => remote::run(commands::deploy::components(&remote)),
        Cmd::Bars {
            command: BarsCmd::Synth { out, seed, years },
        } => commands::bars::synth(&out, seed, years),
        Cmd::Bars {
            command:
                BarsCmd::Import {
                    file,
                    symbol,
                    remote,
                },
        } => remote::run(commands::bars::import(&remote, &file, &symbol)),
        Cmd::Bars {
            command:
                BarsCmd::Fetch {
                    symbols,
                    provider,
                    from,
                    to,
                    remote,
                },
        } => remote::run(commands::bars::fetch(
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
        } => remote::run(commands::sim::run(&remote, &file, orders)),
        Cmd::Rollback {
            name,
            digest,
            remote,
        } => remote::run(commands::deploy::rollback(
            &remote,
            &name,
            digest.as_deref(),
        )),
    }
}
