//! `bourse check`: each built component against its WIT world, or (`--spin`) against what
//! Spin hosts.

use std::path::Path;
use std::process::ExitCode;

use bourse::manifest::{ComponentDecl, Manifest};

/// `bourse check`.
pub fn check(manifest: &Manifest) -> anyhow::Result<ExitCode> {
    let wit = manifest.wit_dir();
    Ok(report_each(manifest, |name, decl| {
        let Some(world) = &decl.tool.bourse.world else {
            return Ok(format!(
                "no [component.{name}.tool.bourse] world, not checked"
            ));
        };
        bourse::runtime::contract::check(&read_source(manifest, decl)?, &wit, world)
            .map(|()| format!("honours {world}"))
            .map_err(|e| e.to_string())
    }))
}

/// `bourse check --spin`.
pub fn check_spin(manifest: &Manifest, spin_dir: &Path) -> anyhow::Result<ExitCode> {
    let spin = bourse::runtime::contract::SpinPlatform::load(spin_dir)?;
    Ok(report_each(manifest, |_, decl| {
        let dependencies =
            bourse::runtime::compose::dependencies(manifest, decl).map_err(|e| e.to_string())?;
        spin.check(&read_source(manifest, decl)?, &dependencies)
            .map(|()| "Spin hosts every import".to_string())
            .map_err(|e| e.to_string())
    }))
}

/// Runs `check` on every component, printing `name: outcome`; fails if any check failed.
fn report_each(
    manifest: &Manifest,
    check: impl Fn(&str, &ComponentDecl) -> Result<String, String>,
) -> ExitCode {
    let mut failed = 0;
    for (name, decl) in &manifest.components {
        match check(name, decl) {
            Ok(outcome) => eprintln!("{name}: {outcome}"),
            Err(e) => {
                failed += 1;
                eprintln!("{name}: {e}");
            }
        }
    }
    super::exit_code(failed)
}

fn read_source(manifest: &Manifest, decl: &ComponentDecl) -> Result<Vec<u8>, String> {
    let path = manifest.resolve(&decl.source);
    std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
