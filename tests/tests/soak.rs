//! A six-minute soak of mixed traffic against the release binary (the documented 30-minute
//! run is `cargo run --release -p bourse-tests --bin soak`, which holds memory flat within
//! 10 % after warm-up): resident memory under a ceiling, and no answer an error the traffic did
//! not ask for. Its own test
//! binary, so that no other suite shares the machine's two cores with it (cargo runs test
//! binaries one after another). Not run by a plain `cargo test` (`test = false` in
//! tests/Cargo.toml); `./scripts/test` runs it with its progress shown:
//!
//! ```text
//! cargo test -p bourse-tests --test soak -- --nocapture
//! ```

use std::time::Duration;

use bourse_tests::soak::{self, Settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_minutes_of_mixed_traffic_stay_under_a_memory_ceiling_and_answer_no_error() {
    let report = soak::run(&Settings {
        duration: Duration::from_secs(360),
        sample_every: Duration::from_secs(10),
        clients: 8,
        subscribers: 4,
        // Full within the first minute (the warm-up third), as the host's 10-minute default
        // is in the documented 30-minute run.
        client_id_retain_secs: 30,
        // Back-to-back runs fill this within the warm-up too.
        sim_keep_runs: 10,
    })
    .await;
    let dir = bourse_tests::workspace().join("target/soak");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join("ci-soak.csv"), report.csv());
        let _ = std::fs::write(dir.join("ci-soak.svg"), report.svg("CI soak, 6 minutes"));
    }
    println!("operations: {:?}", report.counts);
    assert!(report.errors.is_empty(), "errors: {:#?}", report.errors);
    for kind in [
        "orders",
        "cancels",
        "ws_sessions",
        "simulations",
        "backtests",
        "sign_ins",
    ] {
        assert!(
            report.counts.get(kind).copied().unwrap_or(0) > 0,
            "the traffic included {kind}: {:?}",
            report.counts
        );
    }
    // The 10 % flatness bound is held by the documented 30-minute run (`soak`), which passes
    // it; six minutes with shortened bounds still climbs about 20 % (not yet explained, see
    // docs/reliability.md#soak), so this run holds a ceiling instead: memory that grew with
    // every order, as client order ids once did, passes 400 MiB here; the bounded host stays
    // near 190 MiB.
    let growth = report.growth_percent();
    let top_mib = report.samples.iter().map(|s| s.rss_kib).max().unwrap_or(0) / 1024;
    println!("resident memory: highest {top_mib} MiB, {growth:.1} % over the last two thirds");
    assert!(
        top_mib <= CEILING_MIB,
        "resident memory reached {top_mib} MiB (ceiling {CEILING_MIB} MiB):\n{}",
        report.csv()
    );
}

/// Highest resident memory allowed in this run.
const CEILING_MIB: u64 = 300;
