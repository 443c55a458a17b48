//! A six-minute soak of mixed traffic against the release binary (the documented 30-minute
//! run is `cargo run --release -p bourse-tests --bin soak`, which holds resident memory flat
//! within 10 % after warm-up): the heap in use flat within 10 % after warm-up, resident memory
//! under a ceiling, and no answer an error the traffic did not ask for. Its own test
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
async fn six_minutes_of_mixed_traffic_keep_memory_flat_and_answer_no_error() {
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
    // Flat after warm-up: the heap in use (what the host holds, as its allocator reports it)
    // within 10 % over the last two thirds. Resident memory also counts the allocator's
    // fragmentation, which swings by a tenth from one sample to the next in six minutes
    // (snapshot-sized buffers come and go), so it is held to a ceiling here and to the 10 %
    // bound by the 30-minute run.
    let heap_growth = report.heap_growth_percent();
    let growth = report.growth_percent();
    let top_mib = report.samples.iter().map(|s| s.rss_kib).max().unwrap_or(0) / 1024;
    println!(
        "resident memory: highest {top_mib} MiB, {growth:.1} % over the last two thirds; heap in \
         use {heap_growth:.1} %"
    );
    assert!(
        report.samples.iter().all(|s| s.heap_kib.is_some()),
        "the host reports its heap in use on /metrics"
    );
    // A heap of some 30 MiB grows 10 % with one hash table reaching its final size (the CI
    // run saw one +2.8 MiB step at 200 s, then nothing), so growth under 8 MiB passes too;
    // the leaks this caught grew 40 MiB in four minutes.
    let heap_growth_mib = report.heap_growth_mib();
    assert!(
        heap_growth <= 10.0 || heap_growth_mib < 8.0,
        "the heap in use grew {heap_growth:.1} % ({heap_growth_mib:.1} MiB) after warm-up \
         (bound 10 % or 8 MiB):\n{}",
        report.csv()
    );
    assert!(
        top_mib <= CEILING_MIB,
        "resident memory reached {top_mib} MiB (ceiling {CEILING_MIB} MiB):\n{}",
        report.csv()
    );
}

/// Highest resident memory allowed in this run: the host reached 130 MiB in it, and 192 MiB
/// while the leaks docs/reliability.md#soak describes were in.
const CEILING_MIB: u64 = 200;
