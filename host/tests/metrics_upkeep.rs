//! Histogram samples recorded while nothing scrapes `/metrics` are folded into their buckets
//! in the background, so they do not pile up in memory: a host nobody scraped once held every
//! request's duration sample it ever recorded. A test binary of its own, so that no other test
//! allocates while it reads the allocator's counters.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::time::Duration;

use bourse::telemetry;

#[test]
fn histogram_samples_do_not_pile_up_while_nobody_scrapes() {
    let _ = telemetry::prometheus();
    let in_use = || telemetry::heap_bytes().map_or(0, |(used, _)| used);
    let before = in_use();
    let histogram = metrics::histogram!("upkeep_probe_seconds");
    // 4 million samples: 32 MB held if nothing drains them.
    for _ in 0..4_000_000 {
        histogram.record(0.001);
    }
    let recorded = in_use();
    std::thread::sleep(telemetry::METRICS_UPKEEP * 2 + Duration::from_secs(1));
    // Drained samples are freed by whichever thread records next (the buckets free their
    // blocks through epoch-based reclamation), as traffic does on a live host.
    for _ in 0..100_000 {
        histogram.record(0.001);
    }
    let after = in_use();
    println!(
        "heap in use: {} MiB before, {} MiB after recording, {} MiB after upkeep",
        before >> 20,
        recorded >> 20,
        after >> 20
    );
    assert!(
        after < before + (8 << 20),
        "histogram samples are still held: heap in use went from {} to {} MiB",
        before >> 20,
        after >> 20
    );
}
