//! Bourse's end-to-end suites as one test binary, one module per area, over the shared harness
//! in `tests/src` (`bourse_tests`). Every suite links Wasmtime, Cranelift and sqlx: one binary
//! links them once instead of once per suite.
//!
//! Run one area by filtering on its module path; a filter matches anywhere in a test's name,
//! so `isolation::` also runs `abuse::isolation::` (narrow with `--skip abuse::`):
//!
//! ```text
//! cargo test -p bourse-tests --test all                       # every suite here
//! cargo test -p bourse-tests --test all -- api::              # one area
//! cargo test -p bourse-tests --test all -- abuse::trading::   # one abuse area
//! cargo test -p bourse-tests --test all -- --list             # what there is
//! ```
//!
//! Suites here share one process and run two tests at a time (the default thread count on
//! two cores), so what a test changes must be its own: hosts get their own port, data
//! directory, Postgres database, cluster name and simulation queue from the harness; user
//! names, signal names and client addresses that reach the shared Redis are made unique per
//! test ([`bourse_tests::unique`]); nothing sets environment variables. The one shared thing
//! that cannot be made unique is a component's fixed key-value keys in the shared Redis (the
//! signals component's latest state and bar cache): tests that depend on them hold
//! [`bourse_tests::signals_keys`], which serialises those few tests and nothing else.
//!
//! Two suites stay binaries of their own, in `tests/tests/`, because they must not share a
//! process (cargo runs test binaries one after another):
//!
//! - `redis_restart.rs` stops and restarts the machine's Redis: every other test using Redis
//!   would fail while it is down.
//! - `dashboard.rs` drives headless Chromium through Node for minutes against the release
//!   binary; beside other suites on two cores it would starve tests that run under call
//!   deadlines, and it writes the signals component's shared Redis keys from another process.

mod abuse;
mod api;
mod auth;
mod bar_providers;
mod contract;
mod crash_recovery;
mod dashboard_assets;
mod exports;
mod faults;
mod fuzz;
mod hot_swap;
mod instance_reuse;
mod isolation;
mod openapi;
mod order_flow;
mod production;
mod release;
mod scale_out;
mod signals;
mod sim_delegation;
mod simulations;
mod spin_compat;
mod spin_conformance;
mod spin_manifest;
mod spin_sdk;
mod templates;
