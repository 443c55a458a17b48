//! `bourse new`: a component from a template — its folder, and its entry (route, source,
//! build command) appended to the manifest — ready for `bourse build`.
//!
//! The templates live in `templates/<name>/` and are compiled into the binary. A template's
//! files may say `__NAME__` (the component id) and `__CRATE__` (the id as a Rust crate name,
//! `-` made `_`); its `spin.toml` fragment also `__SOURCE__`, `__COMMAND__`, `__DIR__` and
//! `__WORKDIR__`, which depend on where the component goes: into the Cargo workspace the
//! manifest sits beside (one `target/`, built with `-p`), or standalone, as its own workspace.
//! Nothing is left half-made: if the manifest does not load with the new entry, the entry and
//! the folder are taken back.

use std::path::{Path, PathBuf};

use crate::manifest::Manifest;

/// How a template's component is built, which decides its manifest entry's source and
/// command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toolchain {
    /// A Cargo package: into the workspace beside the manifest when it takes
    /// `components/*`, else its own workspace (`__SOURCE__`, `__COMMAND__`, `__WORKDIR__`).
    Rust,
    /// Any other: the entry names its own command and source, in the component's folder.
    Other,
}

/// One template.
pub struct Template {
    /// What `bourse new` is given.
    pub name: &'static str,
    /// One line for `bourse new --list`.
    pub description: &'static str,
    /// What builds it.
    pub toolchain: Toolchain,
    /// What to do next, said after it is made (`__NAME__` is the component id): the tool it
    /// needs, and how to reach it once built.
    pub next: &'static str,
    /// A file the template builds against that must be beside the manifest, with why.
    needs: Option<(&'static str, &'static str)>,
    /// (path inside the component's folder, content).
    files: &'static [(&'static str, &'static str)],
    /// The manifest entry, appended to `spin.toml`.
    entry: &'static str,
}

/// A Python template's files: its `app.py`, and the worlds it is built against copied into
/// its `wit/` (the same files as Bourse's own `wit/`, so the contract check and componentize-py
/// read one definition).
macro_rules! python_template {
    ($folder:literal) => {
        &[
            (
                "app.py",
                include_str!(concat!("../../templates/", $folder, "/app.py")),
            ),
            (
                ".gitignore",
                include_str!("../../templates/python.gitignore"),
            ),
            ("wit/types.wit", include_str!("../../wit/types.wit")),
            ("wit/domain.wit", include_str!("../../wit/domain.wit")),
            ("wit/plugins.wit", include_str!("../../wit/plugins.wit")),
        ]
    };
}

/// Every template.
pub const TEMPLATES: &[Template] = &[
    Template {
        name: "rust-http",
        description: "an HTTP component in Rust (spin-sdk), routed at /<name>/...",
        toolchain: Toolchain::Rust,
        needs: None,
        next: "bourse build __NAME__, then bourse up: its route is /__NAME__/...",
        files: &[
            (
                "Cargo.toml",
                include_str!("../../templates/rust-http/Cargo.toml"),
            ),
            (
                "src/lib.rs",
                include_str!("../../templates/rust-http/src/lib.rs"),
            ),
        ],
        entry: include_str!("../../templates/rust-http/spin.toml"),
    },
    Template {
        name: "rust-order-handler",
        description: "an order handler in Rust with its own pre-trade rule, at POST /<name>/orders (inside Bourse's repository)",
        toolchain: Toolchain::Rust,
        needs: Some((
            "crates/guest/Cargo.toml",
            "it builds against Bourse's guest crate: make it inside Bourse's repository",
        )),
        next: "bourse build __NAME__, then bourse up: POST /__NAME__/orders (with credentials) places an order; \
               its rule is desk_rule in src/lib.rs",
        files: &[
            (
                "Cargo.toml",
                include_str!("../../templates/rust-order-handler/Cargo.toml"),
            ),
            (
                "src/lib.rs",
                include_str!("../../templates/rust-order-handler/src/lib.rs"),
            ),
        ],
        entry: include_str!("../../templates/rust-order-handler/spin.toml"),
    },
    Template {
        name: "python-signal",
        description: "a custom signal in Python (componentize-py), computed by POST /api/indicators/<name>",
        toolchain: Toolchain::Other,
        needs: None,
        next: "needs componentize-py (pip install componentize-py==0.25.1); bourse build __NAME__, \
               then bourse up, or upload it to a running host: POST /api/indicators/__NAME__ computes it",
        files: python_template!("python-signal"),
        entry: include_str!("../../templates/python-signal/spin.toml"),
    },
    Template {
        name: "python-agent",
        description: "a simulation agent in Python (componentize-py), run by POST /api/simulations with \"generator\": \"<name>\"",
        toolchain: Toolchain::Other,
        needs: None,
        next: "needs componentize-py (pip install componentize-py==0.25.1); bourse build __NAME__, \
               then bourse up, or upload it to a running host: POST /api/simulations with \"generator\": \"__NAME__\" runs it",
        files: python_template!("python-agent"),
        entry: include_str!("../../templates/python-agent/spin.toml"),
    },
    Template {
        name: "ts-http",
        description: "an HTTP component in TypeScript (jco, npm), routed at /<name>/...",
        toolchain: Toolchain::Other,
        needs: None,
        next: "needs Node.js 18+ and npm (the build installs jco into the component's folder); \
               bourse build __NAME__, then bourse up: its route is /__NAME__/...",
        files: &[
            (
                "package.json",
                include_str!("../../templates/ts-http/package.json"),
            ),
            (
                "package-lock.json",
                include_str!("../../templates/ts-http/package-lock.json"),
            ),
            (
                "build/preopen.mjs",
                include_str!("../../templates/ts-http/build/preopen.mjs"),
            ),
            (
                "src/index.ts",
                include_str!("../../templates/ts-http/src/index.ts"),
            ),
            (
                ".gitignore",
                include_str!("../../templates/ts-http/.gitignore"),
            ),
            (
                "wit/world.wit",
                include_str!("../../templates/ts-http/wit/world.wit"),
            ),
            (
                "wit/SOURCE.md",
                include_str!("../../templates/ts-http/wit/SOURCE.md"),
            ),
            (
                "wit/deps/wasi-http@0.2.10/http.wit",
                include_str!("../../templates/ts-http/wit/deps/wasi-http@0.2.10/http.wit"),
            ),
            (
                "wit/deps/wasi-io@0.2.10/io.wit",
                include_str!("../../templates/ts-http/wit/deps/wasi-io@0.2.10/io.wit"),
            ),
            (
                "wit/deps/wasi-clocks@0.2.10/clocks.wit",
                include_str!("../../templates/ts-http/wit/deps/wasi-clocks@0.2.10/clocks.wit"),
            ),
        ],
        entry: include_str!("../../templates/ts-http/spin.toml"),
    },
];

/// Why a component was not made.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// No such template.
    #[error("no template {0:?}; `bourse new --list` shows them")]
    UnknownTemplate(String),
    /// The id is not a component id.
    #[error(
        "{0:?} is not a component id: use 1-48 lower-case letters, digits and single dashes, starting with a letter"
    )]
    BadName(String),
    /// The manifest already has it.
    #[error("the manifest already has a component {0:?}")]
    Exists(String),
    /// Its folder is already there.
    #[error("{} already exists", .0.display())]
    FolderExists(PathBuf),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The template builds against a file that is not beside the manifest.
    #[error("template {template} needs {} beside the manifest: {why}", path.display())]
    Needs {
        template: &'static str,
        path: PathBuf,
        why: &'static str,
    },
    /// The Cargo workspace beside the manifest could not be told to leave the folder out.
    #[error("{}: {why}", path.display())]
    Workspace { path: PathBuf, why: String },
    /// The manifest did not load with the new entry (it has been put back as it was).
    #[error("the manifest would not load with the new entry, which was taken back: {0}")]
    Manifest(String),
}

/// What `new` made.
#[derive(Debug)]
pub struct Created {
    /// The component's folder.
    pub folder: PathBuf,
    /// Whether it joined the Cargo workspace beside the manifest.
    pub in_workspace: bool,
}

fn valid_name(name: &str) -> bool {
    name.len() <= 48
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ScaffoldError + '_ {
    move |source| ScaffoldError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether the folder `manifest_dir` holds a Cargo workspace that takes `components/*`.
fn workspace_takes_components(manifest_dir: &Path) -> bool {
    std::fs::read_to_string(manifest_dir.join("Cargo.toml"))
        .is_ok_and(|t| t.contains("[workspace]") && t.contains("\"components/*\""))
}

/// Leaves `dir` out of the Cargo workspace at `root` when that workspace takes
/// `components/*`: cargo refuses a member folder without a `Cargo.toml`, so a component in
/// another language there would stop every `cargo` command. Adds `dir` to the workspace's
/// `exclude`; the text before, to take it back, or `None` when there is nothing to do.
fn exclude_from_workspace(root: &Path, dir: &str) -> Result<Option<String>, ScaffoldError> {
    let path = root.join("Cargo.toml");
    if !workspace_takes_components(root) {
        return Ok(None);
    }
    let before = std::fs::read_to_string(&path).map_err(io(&path))?;
    let refuse = |why: String| ScaffoldError::Workspace {
        path: path.clone(),
        why,
    };
    let entry = format!("\"{dir}\"");
    let mut lines: Vec<String> = before.lines().map(str::to_string).collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == "[workspace]")
        .ok_or_else(|| refuse("no [workspace] table".into()))?;
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| start + 1 + i);
    let existing = lines[start + 1..end]
        .iter()
        .position(|l| l.trim_start().starts_with("exclude"))
        .map(|i| start + 1 + i);
    match existing {
        Some(i) => {
            let line = &mut lines[i];
            let close = line.rfind(']').filter(|_| line.contains('[')).ok_or_else(|| {
                refuse(format!(
                    "its [workspace] exclude spans lines: add {entry} to it, then run bourse new again"
                ))
            })?;
            let sep = if line[..close].trim_end().ends_with('[') {
                ""
            } else {
                ", "
            };
            line.insert_str(close, &format!("{sep}{entry}"));
        }
        None => lines.insert(start + 1, format!("exclude = [{entry}]")),
    }
    let after = lines.join("\n") + "\n";
    // What cargo will read must say what was meant.
    let excluded = toml::from_str::<toml::Table>(&after).ok().is_some_and(|t| {
        t.get("workspace")
            .and_then(|w| w.get("exclude"))
            .and_then(|e| e.as_array())
            .is_some_and(|e| e.iter().any(|v| v.as_str() == Some(dir)))
    });
    if !excluded {
        return Err(refuse(format!(
            "could not add {entry} to its [workspace] exclude: add it, then run bourse new again"
        )));
    }
    std::fs::write(&path, after).map_err(io(&path))?;
    Ok(Some(before))
}

/// Makes component `name` from `template` beside the manifest at `manifest_path`.
pub fn new(manifest_path: &Path, template: &str, name: &str) -> Result<Created, ScaffoldError> {
    let template = TEMPLATES
        .iter()
        .find(|t| t.name == template)
        .ok_or_else(|| ScaffoldError::UnknownTemplate(template.to_string()))?;
    if !valid_name(name) {
        return Err(ScaffoldError::BadName(name.to_string()));
    }
    let manifest =
        Manifest::load(manifest_path).map_err(|e| ScaffoldError::Manifest(e.to_string()))?;
    if manifest.components.contains_key(name) {
        return Err(ScaffoldError::Exists(name.to_string()));
    }
    if let Some((needed, why)) = template.needs {
        let path = manifest.root.join(needed);
        if !path.exists() {
            return Err(ScaffoldError::Needs {
                template: template.name,
                path,
                why,
            });
        }
    }
    let dir = format!("components/{name}");
    let folder = manifest.root.join(&dir);
    if folder.exists() {
        return Err(ScaffoldError::FolderExists(folder));
    }
    let krate = name.replace('-', "_");
    let in_workspace =
        template.toolchain == Toolchain::Rust && workspace_takes_components(&manifest.root);
    let fill = |text: &str| text.replace("__NAME__", name).replace("__CRATE__", &krate);

    let cargo_before = if template.toolchain == Toolchain::Other {
        exclude_from_workspace(&manifest.root, &dir)?
    } else {
        None
    };
    for (path, content) in template.files {
        let path = folder.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut content = fill(content);
        if template.toolchain == Toolchain::Rust
            && !in_workspace
            && path.file_name().is_some_and(|f| f == "Cargo.toml")
        {
            // Its own workspace, so no Cargo workspace above it claims it.
            content.push_str("\n[workspace]\n");
        }
        std::fs::write(&path, content).map_err(io(&path))?;
    }

    let (source, command, workdir) = if in_workspace {
        (
            format!("target/wasm32-wasip2/release/{krate}.wasm"),
            format!("cargo build --target wasm32-wasip2 --release -p {name}"),
            String::new(),
        )
    } else {
        (
            format!("{dir}/target/wasm32-wasip2/release/{krate}.wasm"),
            "cargo build --target wasm32-wasip2 --release".to_string(),
            format!("workdir = \"{dir}\"\n"),
        )
    };
    let entry = fill(template.entry)
        .replace("__SOURCE__", &source)
        .replace("__COMMAND__", &command)
        .replace("__WORKDIR__", &workdir)
        .replace("__DIR__", &dir);
    let before = std::fs::read_to_string(manifest_path).map_err(io(manifest_path))?;
    let mut after = before.clone();
    if !after.ends_with('\n') {
        after.push('\n');
    }
    after.push_str(&entry);
    std::fs::write(manifest_path, &after).map_err(io(manifest_path))?;
    if let Err(e) = Manifest::load(manifest_path) {
        let _ = std::fs::write(manifest_path, &before);
        let _ = std::fs::remove_dir_all(&folder);
        if let Some(text) = &cargo_before {
            let _ = std::fs::write(manifest.root.join("Cargo.toml"), text);
        }
        return Err(ScaffoldError::Manifest(e.to_string()));
    }
    Ok(Created {
        folder,
        in_workspace,
    })
}

#[cfg(test)]
mod tests {
    use super::{exclude_from_workspace, valid_name};

    #[test]
    fn a_folder_in_another_language_is_left_out_of_a_cargo_workspace() {
        let root = std::env::temp_dir().join(format!("bourse-exclude-{}", std::process::id()));
        std::fs::create_dir_all(&root).expect("scratch");
        let cargo = root.join("Cargo.toml");
        let with = |exclude: &str| {
            format!(
                "[workspace]\nresolver = \"3\"\nmembers = [\"components/*\"]\n{exclude}\n[workspace.package]\nedition = \"2024\"\n"
            )
        };
        for (exclude, expected) in [
            ("", "exclude = [\"components/sig\"]"),
            ("exclude = []", "exclude = [\"components/sig\"]"),
            (
                "exclude = [\"components/old\"]",
                "exclude = [\"components/old\", \"components/sig\"]",
            ),
        ] {
            let before = with(exclude);
            std::fs::write(&cargo, &before).expect("Cargo.toml");
            let kept = exclude_from_workspace(&root, "components/sig").expect("excluded");
            assert_eq!(kept.as_deref(), Some(before.as_str()));
            let after = std::fs::read_to_string(&cargo).expect("Cargo.toml");
            assert!(after.contains(expected), "{exclude:?}: {after}");
            assert!(after.contains("[workspace.package]"), "{after}");
        }
        // Spanning lines: said, and the file left alone.
        let before = with("exclude = [\n  \"components/old\",\n]");
        std::fs::write(&cargo, &before).expect("Cargo.toml");
        let refused = exclude_from_workspace(&root, "components/sig").expect_err("refused");
        assert!(refused.to_string().contains("spans lines"), "{refused}");
        assert_eq!(std::fs::read_to_string(&cargo).expect("Cargo.toml"), before);
        // No workspace taking components/*: nothing to do.
        std::fs::write(&cargo, "[package]\nname = \"x\"\n").expect("Cargo.toml");
        assert!(
            exclude_from_workspace(&root, "components/sig")
                .expect("nothing to do")
                .is_none()
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn component_ids_are_kebab_case() {
        for ok in ["hello", "my-signal", "a1", "x-2-y"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Hello",
            "1st",
            "-a",
            "a-",
            "a--b",
            "a_b",
            "a b",
            &"a".repeat(49),
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
