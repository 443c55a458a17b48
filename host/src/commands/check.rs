//! `bourse check`: each built component against its WIT world, or (`--spin`) what a Spin
//! application needs that Bourse does not host, and whether Spin could load each component.

use std::path::Path;
use std::process::ExitCode;

use bourse::manifest::{ComponentDecl, Manifest};

/// `bourse check`.
pub fn check(manifest: &Manifest) -> anyhow::Result<ExitCode> {
    Ok(report_each(manifest, |name, decl| {
        let Some(world) = &decl.tool.bourse.world else {
            return Ok(format!(
                "no [component.{name}.tool.bourse] world, not checked"
            ));
        };
        let wit = manifest.wit_dir_of(decl);
        bourse::runtime::contract::check(&read_source(manifest, decl)?, &wit, world)
            .map(|()| format!("honours {world}"))
            .map_err(|e| e.to_string())
    }))
}

/// `bourse check --spin`: for each component, everything it needs that Bourse does not host
/// (imports, grants, manifest fields), as `bourse up` would run it and as `--spin-compat`
/// would; then, where Spin's WIT is at `spin_dir`, whether Spin could load it.
pub fn check_spin(manifest: &Manifest, spin_dir: &Path) -> anyhow::Result<ExitCode> {
    use bourse::capabilities::Set;
    use bourse::runtime::unhosted::unhosted;
    let on_bourse = report_each(manifest, |name, decl| {
        let wasm = read_source(manifest, decl)?;
        let mut missing = unhosted(manifest, name, decl, &wasm, Set::Bourse);
        for line in unhosted(manifest, name, decl, &wasm, Set::Spin) {
            if !missing.contains(&line) {
                missing.push(format!("with --spin-compat: {line}"));
            }
        }
        if missing.is_empty() {
            Ok("Bourse hosts every import, grant and field it uses".to_string())
        } else {
            Err(format!(
                "Bourse does not host:\n  - {}",
                missing.join("\n  - ")
            ))
        }
    });
    if !spin_dir.is_dir() {
        eprintln!(
            "(no Spin WIT at {}: whether Spin could load each component is not checked)",
            spin_dir.display()
        );
        return Ok(on_bourse);
    }
    let spin = bourse::runtime::contract::SpinPlatform::load(spin_dir)?;
    let on_spin = report_each(manifest, |_, decl| {
        let dependencies =
            bourse::runtime::compose::dependencies(manifest, decl).map_err(|e| e.to_string())?;
        spin.check(&read_source(manifest, decl)?, &dependencies)
            .map(|()| "Spin hosts every import".to_string())
            .map_err(|e| e.to_string())
    });
    Ok(if on_bourse == ExitCode::SUCCESS {
        on_spin
    } else {
        on_bourse
    })
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
