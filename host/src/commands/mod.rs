//! The `bourse` commands, one module per command; `main.rs` parses the command line and
//! calls them. Commands that talk to a running host share [`remote`].

pub mod bars;
pub mod build;
pub mod check;
pub mod config;
pub mod deploy;
pub mod new;
pub mod precompile;
pub mod remote;
pub mod serve;
pub mod sim;

use std::process::ExitCode;

/// Success when nothing of a command's items failed.
fn exit_code(failed: usize) -> ExitCode {
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
