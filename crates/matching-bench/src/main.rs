//! Throughput and latency of bourse-matching against a naive BTreeMap book and peer crates
//! on the same seeded workload, with every engine's per-command fills checked against the
//! naive model.
//!
//! Usage: matching-bench [--commands N] [--runs R] [--symbols 1,100]
//!        [--mixes standard,market,cancel] [--wasm PATH] [--engines bourse,naive,lobster,matchcore,orderbook-rs,bourse-venue,bourse-wasm]
//!
//! `--help` describes the flags and their defaults.
//!
//! `bourse-venue` is the native `Venue` (what the host runs: symbol names, account strings,
//! order-id assignment) and `bourse-wasm` the same venue inside the `market` component in
//! Wasmtime, once with `submit-batch` and once with one `submit` per order; build it first
//! with `cargo build --target wasm32-wasip2 --release -p market`.

mod adapters;
mod naive;
mod wasm;
mod workload;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use adapters::{Bourse, Harness, Lobster, Matchcore, NaiveHarness, OrderbookRs};
use clap::Parser;
use wasm::{NativeVenue, Wasm};
use workload::{Mix, Op, Workload, generate};

/// Throughput and latency of bourse-matching against a naive BTreeMap book and peer crates on
/// the same seeded workload, with every engine's per-command fills checked against the naive
/// model.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Commands per workload, after the warm-up orders.
    #[arg(long, default_value_t = 1_000_000)]
    commands: usize,
    /// Runs per engine; each figure is the median over them.
    #[arg(
        long,
        default_value_t = 5,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    runs: usize,
    /// Engines to measure, comma-separated, from bourse, naive, lobster, matchcore,
    /// orderbook-rs, bourse-venue and bourse-wasm.
    #[arg(long, default_value = "bourse,naive,lobster,matchcore,orderbook-rs")]
    engines: String,
    /// Numbers of symbols to run each mix on, comma-separated. One symbol starts from 10 000
    /// resting orders, more from 100 000 / symbols per symbol (at least 10).
    #[arg(long, value_delimiter = ',', default_value = "1,100")]
    symbols: Vec<u32>,
    /// Order-flow mixes to run, comma-separated (see the workload module for each one's shares).
    #[arg(long, value_delimiter = ',', default_value = "standard,market,cancel")]
    mixes: Vec<Mix>,
    /// The market component that bourse-wasm loads.
    #[arg(long = "wasm", value_name = "PATH", default_value_os_t = wasm::default_component_path())]
    wasm_path: PathBuf,
}

struct Row {
    workload: String,
    engine: &'static str,
    ops_per_sec: f64,
    p50: u32,
    p99: u32,
    p999: u32,
    mismatches: usize,
    first_mismatch: Option<usize>,
}

const VENUE: &str = "bourse-venue (native)";
const WASM_BATCH: &str = "bourse-wasm submit-batch";
const WASM_SINGLE: &str = "bourse-wasm submit";

fn median<T: Copy + PartialOrd>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

fn fresh<H: Harness>(w: &Workload) -> H {
    let mut h = H::new(w.symbols, w.max_id);
    for op in &w.warmup {
        h.apply(op);
    }
    h
}

fn bench<H: Harness>(engine: &'static str, label: &str, w: &Workload, runs: usize) -> Row {
    let n = w.ops.len();
    let mut fills = vec![0u64; n];
    let mut lat = vec![0u32; n];
    let (mut tput, mut p50, mut p99, mut p999) = (vec![], vec![], vec![], vec![]);
    let (mut mismatches, mut first_mismatch) = (0, None);
    for run in 0..runs {
        // Throughput: whole batch under one timer, so timer cost does not pollute it.
        let mut h = fresh::<H>(w);
        let start = Instant::now();
        h.apply_all(&w.ops, &mut fills);
        let secs = start.elapsed().as_secs_f64();
        drop(h);
        tput.push(n as f64 / secs);
        if run == 0 {
            for (i, (got, want)) in fills.iter().zip(&w.expected_fills).enumerate() {
                if got != want {
                    mismatches += 1;
                    first_mismatch.get_or_insert(i);
                }
            }
        }
        // Latency: every command timed on its own (includes ~one Instant pair of overhead).
        let mut h = fresh::<H>(w);
        for (slot, op) in lat.iter_mut().zip(&w.ops) {
            let t0 = Instant::now();
            black_box(h.apply(black_box(op)));
            *slot = t0.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32;
        }
        drop(h);
        lat.sort_unstable();
        p50.push(lat[n / 2]);
        p99.push(lat[n * 99 / 100]);
        p999.push(lat[n * 999 / 1000]);
        eprintln!(
            "  {label} {engine} run {}: {:.2} Mops/s",
            run + 1,
            n as f64 / secs / 1e6
        );
    }
    Row {
        workload: label.to_string(),
        engine,
        ops_per_sec: median(tput),
        p50: median(p50),
        p99: median(p99),
        p999: median(p999),
        mismatches,
        first_mismatch,
    }
}

fn timer_overhead_ns() -> f64 {
    let n = 1_000_000;
    let start = Instant::now();
    let mut acc = 0u128;
    for _ in 0..n {
        let t = Instant::now();
        acc += t.elapsed().as_nanos();
    }
    black_box(acc);
    start.elapsed().as_nanos() as f64 / n as f64
}

fn describe(ops: &[Op]) -> String {
    let (mut limit, mut market, mut cancel) = (0, 0, 0);
    for op in ops {
        match op {
            Op::Limit { .. } => limit += 1,
            Op::Market { .. } => market += 1,
            Op::Cancel { .. } => cancel += 1,
        }
    }
    format!("{limit} limit, {market} market, {cancel} cancel")
}

/// Mean submits per `submit-batch` call: batches end at `wasm::BATCH` or at a cancel.
fn mean_batch(ops: &[Op]) -> f64 {
    let (mut calls, mut submits, mut run) = (0u64, 0u64, 0usize);
    for op in ops {
        if matches!(op, Op::Cancel { .. }) {
            calls += u64::from(run > 0);
            run = 0;
        } else {
            submits += 1;
            run += 1;
            if run == wasm::BATCH {
                calls += 1;
                run = 0;
            }
        }
    }
    calls += u64::from(run > 0);
    submits as f64 / calls.max(1) as f64
}

fn main() {
    let Args {
        commands,
        runs,
        engines,
        symbols: symbol_counts,
        mixes,
        wasm_path,
    } = Args::parse();
    let enabled = |name: &str| engines.split(',').any(|e| e == name);
    let wasm_ok = enabled("bourse-wasm")
        && match wasm::load(&wasm_path) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("skipping bourse-wasm: {e}");
                false
            }
        };
    let mut batch_notes = Vec::new();

    let mut rows = Vec::new();
    let runs_of = mixes
        .iter()
        .flat_map(|&mix| symbol_counts.iter().map(move |&s| (mix, s)));
    for (mix, symbols) in runs_of {
        if symbols == 0 {
            eprintln!("skipping a workload of 0 symbols");
            continue;
        }
        let warmup = if symbols == 1 {
            10_000
        } else {
            (100_000 / symbols as usize).max(10)
        };
        let label = format!("{symbols} sym {}", mix.name());
        // The standard mix keeps the seeds it always had, so its figures stay comparable.
        let seed = 0x5EED_0000 + u64::from(symbols) + ((mix as u64) << 32);
        let w = generate(mix, symbols, warmup, commands, seed);
        let filled: u64 = w.expected_fills.iter().sum();
        eprintln!(
            "workload {label}: {} warm-up orders, {} commands ({}), {} lots filled",
            w.warmup.len(),
            w.ops.len(),
            describe(&w.ops),
            filled
        );
        if enabled("bourse") {
            rows.push(bench::<Bourse>("bourse-matching", &label, &w, runs));
        }
        if enabled("naive") {
            rows.push(bench::<NaiveHarness>("naive BTreeMap", &label, &w, runs));
        }
        if enabled("lobster") {
            rows.push(bench::<Lobster>("lobster 0.7", &label, &w, runs));
        }
        if enabled("matchcore") {
            rows.push(bench::<Matchcore>("matchcore 0.4", &label, &w, runs));
        }
        if enabled("orderbook-rs") {
            rows.push(bench::<OrderbookRs>("orderbook-rs 0.15", &label, &w, runs));
        }
        if enabled("bourse-venue") || wasm_ok {
            rows.push(bench::<NativeVenue>(VENUE, &label, &w, runs));
        }
        if wasm_ok {
            rows.push(bench::<Wasm<true>>(WASM_BATCH, &label, &w, runs));
            rows.push(bench::<Wasm<false>>(WASM_SINGLE, &label, &w, runs));
            batch_notes.push(format!(
                "{label}: {:.1} submits per submit-batch call on average (a cancel ends a batch)",
                mean_batch(&w.ops)
            ));
        }
    }

    println!();
    println!(
        "{} commands per workload, median of {} runs; latency per command incl. ~{:.0} ns timer overhead",
        commands,
        runs,
        timer_overhead_ns()
    );
    println!();
    println!(
        "| workload | engine | Mops/s | ns/op | p50 ns | p99 ns | p99.9 ns | fills vs naive | x naive |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---|---:|");
    for r in &rows {
        let naive = rows
            .iter()
            .find(|n| n.workload == r.workload && n.engine == "naive BTreeMap")
            .map_or(f64::NAN, |n| r.ops_per_sec / n.ops_per_sec);
        let check = match r.first_mismatch {
            None => "ok".to_string(),
            Some(i) => format!("DISAGREES ({} cmds, first #{i})", r.mismatches),
        };
        println!(
            "| {} | {} | {:.2} | {:.0} | {} | {} | {} | {} | {:.2} |",
            r.workload,
            r.engine,
            r.ops_per_sec / 1e6,
            1e9 / r.ops_per_sec,
            r.p50,
            r.p99,
            r.p999,
            check,
            naive
        );
    }
    let find = |workload: &str, engine: &str| {
        rows.iter()
            .find(|r| r.workload == workload && r.engine == engine)
            .map(|r| r.ops_per_sec)
    };
    let labels: Vec<&str> = {
        let mut l: Vec<&str> = rows.iter().map(|r| r.workload.as_str()).collect();
        l.dedup();
        l
    };
    for label in labels {
        let Some(venue) = find(label, VENUE) else {
            continue;
        };
        for wasm in [WASM_BATCH, WASM_SINGLE] {
            let Some(w) = find(label, wasm) else {
                continue;
            };
            // Venue vs component is like for like; the raw engine skips the venue's
            // string handling, so that ratio is the whole price of the slow path.
            let engine = find(label, "bourse-matching").map_or(String::new(), |n| {
                format!(", bourse-matching/wasm {:.2}x", n / w)
            });
            println!(
                "{label} {wasm}: native venue/wasm {:.2}x{engine}",
                venue / w
            );
        }
    }
    for note in &batch_notes {
        println!("{note}");
    }
}
