//! The web dashboard in headless Chromium against the release binary on Postgres and Redis:
//! `dashboard/e2e/run.mjs` signs in, trades, amends and cancels, runs a backtest and a
//! simulation, swaps and rolls back a component, and saves screenshots of every page (under
//! the target directory's `dashboard-screenshots/`).

use std::process::Command;

use bourse_tests::process::{HostProcess, data_dir, database, dist, drop_database};
use bourse_tests::{ADMIN_TOKEN, workspace};

/// Imports seeded synthetic bars for the signals through the release's own CLI.
fn import_bars(url: &str) {
    let bourse = dist().join("bin/bourse");
    let dir = std::env::temp_dir().join(bourse_tests::unique("bourse-dashboard-bars-"));
    let out = dir.to_str().expect("utf-8 temp dir");
    let status = Command::new(&bourse)
        .args(["bars", "synth", "--out", out, "--seed", "7", "--years", "3"])
        .status()
        .expect("run bourse bars synth");
    assert!(status.success(), "bourse bars synth");
    for ticker in ["SPY", "XLU", "WOOD", "GLD", "TLT", "IEF", "VIX"] {
        let file = dir.join(format!("{ticker}.csv"));
        let output = Command::new(&bourse)
            .args(["bars", "import"])
            .arg(&file)
            .args(["--symbol", ticker, "--url", url, "--token", ADMIN_TOKEN])
            .output()
            .expect("run bourse bars import");
        assert!(
            output.status.success(),
            "bourse bars import {ticker}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_a_real_browser() {
    let root = workspace();
    let dashboard = root.join("dashboard");
    assert!(
        dashboard.join("node_modules/playwright-core").is_dir(),
        "dashboard/node_modules is missing: run scripts/build-dashboard.sh (npm ci)"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists()
            || std::env::var_os("CHROMIUM").is_some(),
        "Chromium is missing: apt-get install chromium (.ci/run does), or set CHROMIUM"
    );
    let (database_url, name) = database().await;
    let data = data_dir();
    let env = [
        ("JWT_SECRET", bourse_tests::JWT_SECRET),
        ("SPIN_VARIABLE_JWT_SECRET", bourse_tests::JWT_SECRET),
    ];
    let host = HostProcess::start(&database_url, &data, &env).await;
    import_bars(&host.url);

    let screenshots = root.join("target/dashboard-screenshots");
    let _ = std::fs::remove_dir_all(&screenshots);
    // coreutils' timeout: a hung browser fails the test instead of stalling the run.
    let output = Command::new("timeout")
        .args(["600", "node", "e2e/run.mjs"])
        .current_dir(&dashboard)
        .env("BOURSE_URL", &host.url)
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .env(
            "SWAP_WASM",
            dist().join("target/wasm32-wasip2/release/simulation.wasm"),
        )
        .env("SCREENSHOTS", &screenshots)
        .output()
        .expect("run node (Node.js 18 or newer is needed)");
    host.kill();
    drop_database(&name).await;
    let _ = std::fs::remove_dir_all(&data);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}"
    );
    for page in ["trade", "signals", "simulations", "components", "health"] {
        for name in [page.to_string(), format!("{page}-phone")] {
            assert!(
                screenshots.join(format!("{name}.png")).is_file(),
                "no screenshot {name}.png"
            );
        }
    }
}
