//! `bourse new`: a component from a template, or the list of templates.

use std::path::Path;
use std::process::ExitCode;

use bourse::scaffold::{self, TEMPLATES};

/// `bourse new --list`.
pub fn list() -> ExitCode {
    for t in TEMPLATES {
        println!("{:<19} {}", t.name, t.description);
    }
    ExitCode::SUCCESS
}

/// `bourse new <template> <name>`.
pub fn new(manifest: &Path, template: &str, name: &str) -> anyhow::Result<ExitCode> {
    let created = scaffold::new(manifest, template, name)?;
    println!(
        "made {} and added component {name} to {}{}",
        created.folder.display(),
        manifest.display(),
        if created.in_workspace {
            " (a member of the Cargo workspace beside it)"
        } else {
            ""
        }
    );
    if let Some(t) = TEMPLATES.iter().find(|t| t.name == template) {
        println!("next: {}", t.next.replace("__NAME__", name));
    }
    Ok(ExitCode::SUCCESS)
}
