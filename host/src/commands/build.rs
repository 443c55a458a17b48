//! `bourse build`: each component's build command.

use std::process::ExitCode;

use bourse::build::{Outcome, build};
use bourse::manifest::Manifest;

/// `bourse build`: builds `components` (all when empty) that are stale, or all with `force`.
pub fn run(manifest: &Manifest, components: &[String], force: bool) -> ExitCode {
    let outcomes = build(manifest, components, force);
    let failed = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
        .count();
    super::exit_code(failed)
}
