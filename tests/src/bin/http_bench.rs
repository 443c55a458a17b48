//! Bourse against `wasmtime serve` on the same components, driven by `wrk`: a minimal hello
//! component, the dashboard (`GET /`), and the order handler's `GET /api/symbols` (Bourse
//! only: it imports `bourse:platform/market`, which `wasmtime serve` does not host). Each in
//! two modes: a fresh instance per request, and instance reuse (`instance_reuse` in the
//! manifest; `--max-instance-reuse-count` for `wasmtime serve`).
//!
//! ```text
//! scripts/http-bench.sh [--runs 3] [--seconds 5] [--connections 32]   # installs what it needs
//! cargo run --release -p bourse-tests --bin http-bench -- --help
//! ```
//!
//! Both servers are separate processes on this machine, measured one after the other within
//! each run (the order flips every run), with a one-second warm-up before each measurement.
//! Bourse runs its release binary (`target/release/bourse serve`) with embedded stores and
//! rate limits off; everything else (auth checks, hardening headers, request ids, metrics,
//! logs) is as it ships. Figures are medians over `--runs`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use bourse_tests::stats::median;
use bourse_tests::workspace;
use clap::Parser;
use tokio::process::{Child, Command};

/// Bourse against `wasmtime serve` on the same components, in fresh-instance and reuse modes.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Measured runs; figures are their medians.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Seconds of load per measurement (after a one-second warm-up).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    seconds: u32,
    /// Open connections wrk keeps.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    connections: u32,
    /// wrk threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    threads: u32,
    /// Requests one instance serves in reuse mode.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(2..))]
    reuse: u32,
    /// Cases to run, comma-separated: hello, dashboard, symbols.
    #[arg(long, value_delimiter = ',', default_value = "hello,dashboard,symbols")]
    cases: Vec<String>,
    /// Modes to run, comma-separated: fresh, reuse.
    #[arg(long, value_delimiter = ',', default_value = "fresh,reuse")]
    modes: Vec<String>,
    /// The `wasmtime` executable (48.0.8, as Bourse's Wasmtime).
    #[arg(long, default_value = "wasmtime")]
    wasmtime: PathBuf,
    /// The Bourse executable (default: target/release/bourse).
    #[arg(long)]
    bourse: Option<PathBuf>,
}

struct Case {
    name: &'static str,
    /// The path requested.
    path: &'static str,
    /// The component file, when `wasmtime serve` can run it.
    wasm_for_wasmtime: Option<&'static str>,
}

const CASES: [Case; 3] = [
    Case {
        name: "hello",
        path: "/hello/bench",
        wasm_for_wasmtime: Some("hello_fixture.wasm"),
    },
    Case {
        name: "dashboard",
        path: "/",
        wasm_for_wasmtime: Some("dashboard.wasm"),
    },
    Case {
        name: "symbols",
        path: "/api/symbols",
        wasm_for_wasmtime: None,
    },
];

/// One wrk measurement.
#[derive(Clone, Copy, Default)]
struct Figures {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Server {
    Bourse,
    Wasmtime,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Bourse => "bourse",
            Server::Wasmtime => "wasmtime serve",
        }
    }
}

/// A server process, killed when dropped.
struct Running {
    child: Child,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn wasm(file: &str) -> PathBuf {
    workspace().join("target/wasm32-wasip2/release").join(file)
}

/// The application's manifest plus the hello component, with `reuse` requests per instance
/// for the three benchmarked components (none: a fresh instance per request). Written beside
/// the workspace's `target/` so its relative paths still resolve.
fn manifest(reuse: Option<u32>) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(workspace().join("spin.toml"))?;
    let public = "  \"/...\",\n]";
    if !text.contains(public) {
        bail!("spin.toml's public_routes no longer end with \"/...\": update http-bench");
    }
    let mut text = text
        .replace(public, "  \"/...\", \"/hello/...\",\n]")
        .lines()
        .filter(|l| !l.trim_start().starts_with("instance_reuse ="))
        .collect::<Vec<_>>()
        .join("\n");
    text.push_str(&format!(
        "\n\n[[trigger.http]]\nroute = \"/hello/...\"\ncomponent = \"hello\"\n\n[component.hello]\nsource = \"{}\"\n",
        wasm("hello_fixture.wasm").display()
    ));
    if let Some(n) = reuse {
        for (component, world) in [
            ("order-handler", "order-handler"),
            ("dashboard", "dashboard"),
        ] {
            let table = format!("world = \"bourse:platform/{world}\"\n");
            if !text.contains(&table) {
                bail!("spin.toml's {component} no longer names its world as http-bench expects");
            }
            text = text.replacen(&table, &format!("{table}instance_reuse = {n}\n"), 1);
        }
        text.push_str(&format!(
            "[component.hello.tool.bourse]\ninstance_reuse = {n}\n"
        ));
    }
    let path = workspace().join(format!(
        ".http-bench-{}.toml",
        if reuse.is_some() { "reuse" } else { "fresh" }
    ));
    std::fs::write(&path, text)?;
    Ok(path)
}

async fn wait_ready(child: &mut Child, url: &str, what: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for _ in 0..1200 {
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited before it was ready: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{what} was not ready at {url} within 60 s")
}

async fn start_bourse(bin: &Path, manifest: &Path, data_dir: &Path) -> anyhow::Result<Running> {
    let port = free_port()?;
    let mut command = Command::new(bin);
    command
        .args(["serve", "-f"])
        .arg(manifest)
        .current_dir(workspace())
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("BOURSE_DATA_DIR", data_dir)
        .env("BOURSE_WATCH", "off")
        .env("BOURSE_RATE_LIMIT_IP", "0")
        .env("BOURSE_RATE_LIMIT_PRINCIPAL", "0")
        .env("ADMIN_TOKEN", "http-bench-admin-token-0123456789")
        .env(
            "SPIN_VARIABLE_ADMIN_TOKEN",
            "http-bench-admin-token-0123456789",
        )
        .env(
            "SPIN_VARIABLE_JWT_SECRET",
            "http-bench-jwt-secret-0123456789abcdef",
        )
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL");
    launch(command, port, "/ready", "bourse").await
}

async fn start_wasmtime(
    bin: &Path,
    wasm: &Path,
    path: &str,
    reuse: Option<u32>,
) -> anyhow::Result<Running> {
    let port = free_port()?;
    let mut command = Command::new(bin);
    command
        .args(["serve", "-Scli", "--addr"])
        .arg(format!("127.0.0.1:{port}"));
    if let Some(n) = reuse {
        command.arg(format!("--max-instance-reuse-count={n}"));
    }
    command.arg(wasm);
    launch(command, port, path, "wasmtime serve").await
}

/// Starts `command`, a server on `port`, and waits until `ready_path` answers 2xx.
async fn launch(
    mut command: Command,
    port: u16,
    ready_path: &str,
    what: &str,
) -> anyhow::Result<Running> {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {what} (see scripts/http-bench.sh)"))?;
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&mut child, &format!("{url}{ready_path}"), what).await?;
    Ok(Running { child, url })
}

/// A duration as wrk prints it (`812.00us`, `1.23ms`, `2.00s`), in milliseconds.
fn millis(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// Reads wrk's `--latency` report; a report with failed or non-2xx answers is an error, as a
/// figure that counts errors as served requests would flatter the server.
fn parse_wrk(report: &str) -> anyhow::Result<Figures> {
    let mut figures = Figures::default();
    for line in report.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("Requests/sec:"), Some(n)) => figures.per_second = n.parse()?,
            (Some("50%"), Some(t)) => figures.p50_ms = millis(t).context("wrk's 50% latency")?,
            (Some("99%"), Some(t)) => figures.p99_ms = millis(t).context("wrk's 99% latency")?,
            (Some("Non-2xx"), _) | (Some("Socket"), _) => bail!("wrk saw failures: {line}"),
            _ => {}
        }
    }
    if figures.per_second == 0.0 {
        bail!("no Requests/sec in wrk's report:\n{report}");
    }
    Ok(figures)
}

async fn wrk(args: &Args, url: &str, seconds: u32) -> anyhow::Result<Figures> {
    let output = Command::new("wrk")
        .arg(format!("-t{}", args.threads))
        .arg(format!("-c{}", args.connections))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        .arg(url)
        .output()
        .await
        .context("running wrk (apt-get install wrk; scripts/http-bench.sh does)")?;
    let report = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed: {report}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_wrk(&report)
}

async fn measure(args: &Args, url: &str) -> anyhow::Result<Figures> {
    wrk(args, url, 1).await?;
    wrk(args, url, args.seconds).await
}

type Key = (&'static str, &'static str, Server);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cases: Vec<&Case> = CASES
        .iter()
        .filter(|c| args.cases.iter().any(|n| n == c.name))
        .collect();
    let modes: Vec<(&'static str, Option<u32>)> = [("fresh", None), ("reuse", Some(args.reuse))]
        .into_iter()
        .filter(|(m, _)| args.modes.iter().any(|n| n == m))
        .collect();
    if cases.is_empty() || modes.is_empty() {
        bail!("nothing to run: --cases takes hello,dashboard,symbols and --modes fresh,reuse");
    }
    let bourse = args
        .bourse
        .clone()
        .unwrap_or_else(|| workspace().join("target/release/bourse"));
    for file in ["hello_fixture.wasm", "dashboard.wasm", "order_handler.wasm"] {
        if !wasm(file).is_file() {
            bail!(
                "{} is missing: run scripts/http-bench.sh, which builds the components",
                wasm(file).display()
            );
        }
    }
    let version = std::process::Command::new(&args.wasmtime)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "not found".into());
    println!(
        "http-bench: wrk -t{} -c{} -d{}s, {} runs; {version}; bourse: {}",
        args.threads,
        args.connections,
        args.seconds,
        args.runs,
        bourse.display()
    );
    let data_dir = std::env::temp_dir().join(bourse_tests::unique("bourse-http-bench-"));
    std::fs::create_dir_all(&data_dir)?;
    let mut results: Vec<(Key, Vec<Figures>)> = Vec::new();
    let mut record = |key: Key, f: Figures| match results.iter_mut().find(|(k, _)| *k == key) {
        Some((_, v)) => v.push(f),
        None => results.push((key, vec![f])),
    };
    for run in 1..=args.runs {
        for &(mode, reuse) in &modes {
            let manifest = manifest(reuse)?;
            let host = start_bourse(&bourse, &manifest, &data_dir).await?;
            for case in &cases {
                let mut order = vec![Server::Bourse];
                if case.wasm_for_wasmtime.is_some() {
                    order.push(Server::Wasmtime);
                }
                if run % 2 == 0 {
                    order.reverse();
                }
                for server in order {
                    let figures = match (server, case.wasm_for_wasmtime) {
                        (Server::Bourse, _) => {
                            measure(&args, &format!("{}{}", host.url, case.path)).await?
                        }
                        (Server::Wasmtime, Some(file)) => {
                            let peer =
                                start_wasmtime(&args.wasmtime, &wasm(file), case.path, reuse)
                                    .await?;
                            let f = measure(&args, &format!("{}{}", peer.url, case.path)).await?;
                            drop(peer);
                            f
                        }
                        (Server::Wasmtime, None) => continue,
                    };
                    println!(
                        "run {run} {:<9} {:<5} {:<14} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
                        case.name,
                        mode,
                        server.name(),
                        figures.per_second,
                        figures.p50_ms,
                        figures.p99_ms
                    );
                    record((case.name, mode, server), figures);
                }
            }
            drop(host);
            let _ = std::fs::remove_file(&manifest);
        }
    }
    let _ = std::fs::remove_dir_all(&data_dir);

    println!(
        "\nmedians of {} runs (wrk -t{} -c{} -d{}s):",
        args.runs, args.threads, args.connections, args.seconds
    );
    println!(
        "{:<9} {:<5} {:<14} {:>9} {:>9} {:>9} {:>14}",
        "case", "mode", "server", "req/s", "p50 ms", "p99 ms", "bourse/peer"
    );
    let med = |v: &[Figures], f: fn(&Figures) -> f64| median(v.iter().map(f).collect());
    for ((case, mode, server), figures) in &results {
        let per_second = med(figures, |f| f.per_second);
        let ratio = match server {
            Server::Bourse => results
                .iter()
                .find(|((c, m, s), _)| c == case && m == mode && *s == Server::Wasmtime)
                .map(|(_, peer)| format!("{:.2}x", per_second / med(peer, |f| f.per_second)))
                .unwrap_or_else(|| "no peer".into()),
            Server::Wasmtime => String::new(),
        };
        println!(
            "{case:<9} {mode:<5} {:<14} {per_second:>9.0} {:>9.2} {:>9.2} {ratio:>14}",
            server.name(),
            med(figures, |f| f.p50_ms),
            med(figures, |f| f.p99_ms),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_wrk_report() {
        let report = "Running 5s test @ http://127.0.0.1:1/\n  1 threads and 32 connections\n  Latency Distribution\n     50%  812.00us\n     75%    1.10ms\n     90%    1.50ms\n     99%    2.31ms\n  31000 requests in 5.00s, 3.1MB read\nRequests/sec:   6200.10\nTransfer/sec:      0.62MB\n";
        let f = parse_wrk(report).expect("a good report");
        assert_eq!(f.per_second, 6200.10);
        assert!((f.p50_ms - 0.812).abs() < 1e-9, "{}", f.p50_ms);
        assert!((f.p99_ms - 2.31).abs() < 1e-9, "{}", f.p99_ms);
    }

    #[test]
    fn a_report_with_failed_answers_is_refused() {
        let report = "     50%  1.00ms\n     99%  2.00ms\n  Non-2xx or 3xx responses: 12\nRequests/sec: 100.0\n";
        let e = parse_wrk(report)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("Non-2xx"), "{e}");
    }
}
