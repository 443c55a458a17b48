//! A six-minute soak of mixed traffic against the release binary (the documented 30-minute
//! run is `cargo run --release -p bourse-tests --bin soak`): resident memory flat after
//! warm-up, within 10 %, and no answer an error the traffic did not ask for. Its own test
//! binary, so that no other suite shares the machine's two cores with it (cargo runs test
//! binaries one after another). Ignored by plain `cargo test`; `./scripts/test` runs it with its
//! progress shown:
//!
//! ```text
//! cargo test --release -p bourse-tests --test soak -- --ignored --nocapture
//! ```

use std::time::Duration;

use bourse_tests::soak::{self, Settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by ./scripts/test on its own, with --ignored --nocapture"]
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
    let growth = report.growth_percent();
    assert!(
        growth <= 10.0,
        "resident memory grew {growth:.1} % after warm-up:\n{}",
        report.csv()
    );
}
