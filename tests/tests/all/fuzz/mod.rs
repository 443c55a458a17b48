//! Property tests of the host's input edges, one module per edge: the manifest parser and
//! route patterns (pure), order JSON through the order handler and WebSocket client messages
//! (through a running host). Each property checks what must hold for any input, not only that
//! nothing panics.
//!
//! CI runs a fixed case budget per property; a longer run:
//! `PROPTEST_CASES=100000 cargo test -p bourse-tests --test all -- fuzz::`.

mod manifest;
mod orders;
mod ws;

use proptest::test_runner::Config;

/// `default_cases` unless `PROPTEST_CASES` says otherwise.
fn cases(default_cases: u32) -> Config {
    let env = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok());
    Config::with_cases(env.unwrap_or(default_cases))
}
