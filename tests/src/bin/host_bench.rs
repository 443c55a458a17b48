//! Host benchmark: what a component costs on each path, against a native peer measured in the
//! same run. Run in release:
//!
//! ```text
//! cargo run --release -p bourse-tests --bin host-bench -- [--runs 5] [--calls 2000] [--requests 4000] [--clients 8]
//! ```
//!
//! Rows: a typed export call (instantiate + call) on the signals component; an order placed
//! through the order-handler component (instantiate + validation + `market.submit` import)
//! against the same submit done natively; and HTTP requests per second through a component
//! route against a native route (`/api/components` with `ADMIN_TOKEN`, no component, no I/O) on the same
//! server, with the client in the same process. Figures are medians over `--runs`; `--help`
//! describes the flags.

use bourse_tests::typed::TypedCalls;

use bourse::bindings::bourse::platform::types::Principal;
use bourse::bindings::exports::bourse::platform::indicator::{RatioInput, Regime};
use bourse::bindings::exports::bourse::platform::order_handling::NewOrder;
use bourse::market::{OrderKind, OrderRequest, Side, TimeInForce};
use bourse_tests::stats::{self, Sample, at_least, median, timed};
use bourse_tests::{Backend, TestHost, app_manifest};
use clap::Parser;

/// Host benchmark: what a component costs on each path (typed export call, order through the
/// order-handler component, HTTP route), against a native peer measured in the same run.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Runs; each figure is the median over them.
    #[arg(long, default_value_t = 5, value_parser = at_least(1))]
    runs: usize,
    /// Typed calls and component orders per run; the native peer makes ten times as many.
    #[arg(long, default_value_t = 2_000, value_parser = at_least(1))]
    calls: usize,
    /// HTTP requests per route and run, shared among the clients.
    #[arg(long, default_value_t = 4_000, value_parser = at_least(1))]
    requests: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 8, value_parser = at_least(1))]
    clients: usize,
}

/// `path` on the host under load; the native peer is an operator route (`ADMIN_TOKEN`).
async fn http_load(h: &TestHost, path: &str, requests: usize, clients: usize) -> Sample {
    let operator = (path == "/api/components").then_some(bourse_tests::ADMIN_TOKEN);
    stats::http_load(
        &h.client,
        &format!("{}{path}", h.url),
        operator,
        requests,
        clients,
    )
    .await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    if cfg!(debug_assertions) {
        eprintln!(
            "host-bench: built without optimisations; run with --release for meaningful figures"
        );
    }
    let h = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let rt = h.runtime.clone();
    let principal = Principal {
        id: "bench".into(),
        roles: vec!["trader".into()],
    };
    let input = RatioInput {
        name: "bench".into(),
        numerator: (1..=30).map(f64::from).collect(),
        denominator: (1..=30).map(|x| f64::from(x) * 1.01).collect(),
        lookback: 21,
        above: Regime::RiskOff,
    };
    // Alternate sides around two prices so the book stays small and every order is a real
    // add or a real match.
    let new_order = |i: usize| NewOrder {
        symbol: "AAPL".into(),
        side: if i.is_multiple_of(2) { "buy" } else { "sell" }.into(),
        kind: "limit".into(),
        price: Some(if i % 4 < 2 { "100.00" } else { "100.01" }.into()),
        quantity: "1".into(),
        time_in_force: None,
        post_only: false,
        client_order_id: None,
    };
    let native_order = |i: usize| OrderRequest {
        symbol: "MSFT".into(),
        side: if i.is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        },
        kind: OrderKind::Limit,
        price: if i % 4 < 2 { 10_000 } else { 10_001 },
        quantity: 1,
        time_in_force: TimeInForce::Gtc,
        post_only: false,
        client_order_id: None,
        account: "bench-native".into(),
    };
    // Warm up: first instantiations fault in the pooling allocator's slots.
    for i in 0..200 {
        rt.compute_signal("signals", &input).await??;
        rt.place_order("order-handler", &principal, &new_order(i))
            .await??;
    }

    let mut rows: Vec<(&str, Vec<Sample>)> = vec![
        (
            "typed call: signals.compute (instantiate + call)",
            Vec::new(),
        ),
        (
            "order via order-handler (instantiate + validate + market.submit)",
            Vec::new(),
        ),
        (
            "native peer: market.submit in the host, no component",
            Vec::new(),
        ),
        ("HTTP GET /api/symbols through order-handler", Vec::new()),
        ("HTTP GET /api/components, native route (peer)", Vec::new()),
    ];
    for run in 0..a.runs {
        eprintln!("run {}/{}", run + 1, a.runs);
        rows[0].1.push(
            timed(a.calls, |_| async {
                let _ = rt.compute_signal("signals", &input).await;
            })
            .await,
        );
        rows[1].1.push(
            timed(a.calls, |i| {
                let o = new_order(i);
                let rt = &rt;
                let p = &principal;
                async move {
                    let _ = rt.place_order("order-handler", p, &o).await;
                }
            })
            .await,
        );
        rows[2].1.push(
            timed(a.calls * 10, |i| {
                let o = native_order(i);
                let rt = &rt;
                async move {
                    let _ = rt.platform().market.submit(&o).await;
                }
            })
            .await,
        );
        rows[3]
            .1
            .push(http_load(&h, "/api/symbols", a.requests, a.clients).await);
        rows[4]
            .1
            .push(http_load(&h, "/api/components", a.requests, a.clients).await);
    }
    println!(
        "\nhost-bench: median of {} runs ({} calls, {} HTTP requests over {} clients per run)\n",
        a.runs, a.calls, a.requests, a.clients
    );
    stats::print_medians(&rows);
    // The order path does what the typed-call row does plus validation and the market
    // import; the difference bounds what `market.submit` costs a component through the host.
    let p50 = |row: usize| median(rows[row].1.iter().map(|s| s.p50_us).collect());
    let p99 = |row: usize| median(rows[row].1.iter().map(|s| s.p99_us).collect());
    println!(
        "\nvalidation + market.submit from a component, through the host (order row − typed-call row): p50 {:.1} µs, p99 {:.1} µs",
        p50(1) - p50(0),
        p99(1) - p99(0)
    );
    h.stop().await;
    Ok(())
}
