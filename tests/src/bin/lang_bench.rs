//! What a component's language costs a request: the same work in Rust, Python and TypeScript,
//! each component made from its `bourse new` template and built with its real toolchain
//! (componentize-py and npm on PATH: `eval "$(scripts/toolchains.sh)"`). Run in release:
//!
//! ```text
//! cargo run --release -p bourse-tests --bin lang-bench -- [--runs 5] [--calls 1000] [--requests 2000] [--clients 8]
//! ```
//!
//! Rows: a typed `indicator.compute` (a fresh instance + the call) on the platform's Rust
//! `signals` component and on a `python-signal` component; an HTTP GET through a `rust-http`
//! and a `ts-http` component (a fresh instance per request, `--clients` concurrent clients in
//! the same process). Figures are medians over `--runs`.

use bourse::bindings::exports::bourse::platform::indicator::{RatioInput, Regime};
use bourse::manifest::Manifest;
use bourse_tests::scratch::{self, build_one, require};
use bourse_tests::stats::{self, Sample, at_least, http_load, timed};
use bourse_tests::typed::TypedCalls;
use bourse_tests::{Backend, TestHost, app_manifest_with};
use clap::Parser;

/// Language benchmark: a fresh instance + call per request, by the component's language.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Runs; each figure is the median over them.
    #[arg(long, default_value_t = 5, value_parser = at_least(1))]
    runs: usize,
    /// Typed calls per component and run.
    #[arg(long, default_value_t = 1_000, value_parser = at_least(1))]
    calls: usize,
    /// HTTP requests per component and run, shared among the clients.
    #[arg(long, default_value_t = 2_000, value_parser = at_least(1))]
    requests: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 8, value_parser = at_least(1))]
    clients: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    if cfg!(debug_assertions) {
        eprintln!(
            "lang-bench: built without optimisations; run with --release for meaningful figures"
        );
    }
    require("componentize-py");
    require("npm");
    let (dir, manifest_path) = scratch::app();
    scratch::cargo_workspace(&dir);
    for (template, name) in [
        ("rust-http", "hello-rs"),
        ("ts-http", "hello-ts"),
        ("python-signal", "py-signal"),
    ] {
        bourse::scaffold::new(&manifest_path, template, name)?;
    }
    let made = Manifest::load(&manifest_path)?;
    for name in ["hello-rs", "hello-ts", "py-signal"] {
        eprintln!("building {name}");
        build_one(&made, name);
    }
    // Into Bourse's own application, beside its Rust `signals` component.
    let source = |name: &str| made.resolve(&made.components[name].source);
    let extra = format!(
        "[[trigger.http]]\nroute = \"/hello-rs/...\"\ncomponent = \"hello-rs\"\n\
         [[trigger.http]]\nroute = \"/hello-ts/...\"\ncomponent = \"hello-ts\"\n\
         [component.hello-rs]\nsource = \"{}\"\n\
         [component.hello-ts]\nsource = \"{}\"\n\
         [component.py-signal]\nsource = \"{}\"\n",
        source("hello-rs").display(),
        source("hello-ts").display(),
        source("py-signal").display(),
    );
    let h = TestHost::start(app_manifest_with(&extra), Backend::Embedded, 10_000).await;
    let rt = h.runtime.clone();
    let input = RatioInput {
        name: "bench".into(),
        numerator: (1..=30).map(f64::from).collect(),
        denominator: (1..=30).map(|x| f64::from(x) * 1.01).collect(),
        lookback: 21,
        above: Regime::RiskOff,
    };
    // Warm up: first instantiations fault in the pooling allocator's slots.
    for _ in 0..50 {
        for name in ["signals", "py-signal"] {
            rt.compute_signal(name, &input).await??;
        }
    }
    let url = |route: &str| format!("{}{route}", h.url);
    http_load(&h.client, &url("/hello-rs/x"), None, 200, a.clients).await;
    http_load(&h.client, &url("/hello-ts/x"), None, 200, a.clients).await;

    let mut rows: Vec<(&str, Vec<Sample>)> = vec![
        ("typed call, Rust (signals.compute)", Vec::new()),
        ("typed call, Python (python-signal)", Vec::new()),
        ("HTTP GET, Rust (rust-http)", Vec::new()),
        ("HTTP GET, TypeScript (ts-http)", Vec::new()),
    ];
    for run in 0..a.runs {
        eprintln!("run {}/{}", run + 1, a.runs);
        for (row, name) in [(0, "signals"), (1, "py-signal")] {
            let sample = timed(a.calls, |_| {
                let rt = &rt;
                let input = &input;
                async move {
                    let answer = rt.compute_signal(name, input).await;
                    assert!(matches!(answer, Ok(Ok(_))), "{name}: {answer:?}");
                }
            })
            .await;
            rows[row].1.push(sample);
        }
        for (row, route) in [(2, "/hello-rs/x"), (3, "/hello-ts/x")] {
            let sample = http_load(&h.client, &url(route), None, a.requests, a.clients).await;
            rows[row].1.push(sample);
        }
    }
    println!(
        "\nlang-bench: median of {} runs ({} typed calls, {} HTTP requests over {} clients per run)\n",
        a.runs, a.calls, a.requests, a.clients
    );
    stats::print_medians(&rows);
    h.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
