//! `bourse build`: runs each component's `[component.X.build].command`, as `spin build` does,
//! skipping components whose `.wasm` is newer than everything their `watch` globs cover.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use crate::manifest::{BuildDecl, Manifest};

/// What happened to one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The command ran and succeeded.
    Built,
    /// The `.wasm` is newer than its watched sources.
    UpToDate,
    /// No build section.
    NoBuild,
    /// The command failed; the last lines of its output.
    Failed(String),
}

/// Builds the components named in `only` (all when empty). Progress goes to stderr.
pub fn build(manifest: &Manifest, only: &[String], force: bool) -> Vec<(String, Outcome)> {
    let selected: Vec<(&String, &crate::manifest::ComponentDecl)> = manifest
        .components
        .iter()
        .filter(|(name, _)| only.is_empty() || only.contains(name))
        .collect();
    let total = selected.len();
    let mut outcomes = Vec::new();
    // Each Rust target a command names, checked (and added if missing) once per run.
    let mut targets: HashMap<String, Result<(), String>> = HashMap::new();
    for (i, (name, decl)) in selected.into_iter().enumerate() {
        let step = format!("[{}/{total}] {name}", i + 1);
        let outcome = match &decl.build {
            None => {
                eprintln!(
                    "{step}: no [component.{name}.build] section, using {}",
                    decl.source.display()
                );
                Outcome::NoBuild
            }
            Some(b) if !force && up_to_date(manifest, &manifest.resolve(&decl.source), b) => {
                eprintln!("{step}: up to date");
                Outcome::UpToDate
            }
            Some(b) => {
                eprintln!("{step}: {}", b.command);
                let started = Instant::now();
                let dir = workdir(manifest, b);
                let missing = rust_targets(&b.command).into_iter().find_map(|t| {
                    targets
                        .entry(t.clone())
                        .or_insert_with(|| ensure_target(&t, &dir))
                        .clone()
                        .err()
                });
                let outcome = match missing {
                    Some(why) => Outcome::Failed(why),
                    None => run(&dir, b),
                };
                match &outcome {
                    Outcome::Failed(tail) => eprintln!("{step}: FAILED\n{tail}"),
                    _ => eprintln!("{step}: built in {:.1}s", started.elapsed().as_secs_f64()),
                }
                outcome
            }
        };
        outcomes.push((name.clone(), outcome));
    }
    outcomes
}

fn workdir(manifest: &Manifest, build: &BuildDecl) -> PathBuf {
    build
        .workdir
        .as_ref()
        .map_or_else(|| manifest.root.clone(), |w| manifest.resolve(w))
}

/// The Rust targets a build command asks cargo for (`--target X`, `--target=X`).
fn rust_targets(command: &str) -> Vec<String> {
    if !command.contains("cargo") {
        return Vec::new();
    }
    let mut words = command.split_whitespace();
    let mut targets = Vec::new();
    while let Some(word) = words.next() {
        let target = match word.strip_prefix("--target") {
            Some("") => words.next(),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(t) = target.filter(|t| !t.is_empty() && !targets.iter().any(|x| x == t)) {
            targets.push(t.to_string());
        }
    }
    targets
}

/// Makes sure the Rust toolchain that builds in `dir` has `target`, adding it with rustup
/// when it has not (a fresh rustup install has only the host's target); or says the one
/// command to run. Without rustup, cargo is left to report.
fn ensure_target(target: &str, dir: &Path) -> Result<(), String> {
    let rustup = |args: &[&str]| Command::new("rustup").args(args).current_dir(dir).output();
    let Ok(installed) = rustup(&["target", "list", "--installed"]) else {
        return Ok(());
    };
    if !installed.status.success()
        || String::from_utf8_lossy(&installed.stdout)
            .lines()
            .any(|l| l.trim() == target)
    {
        return Ok(());
    }
    eprintln!("the Rust target {target} is not installed: running `rustup target add {target}`");
    match rustup(&["target", "add", target]) {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            Err(format!(
                "the Rust target `{target}` is not installed, and `rustup target add {target}` \
                 failed ({}): run it yourself, then build again",
                last.trim()
            ))
        }
        Err(e) => Err(format!(
            "the Rust target `{target}` is not installed ({e}): run `rustup target add {target}`"
        )),
    }
}

fn run(dir: &Path, build: &BuildDecl) -> Outcome {
    let output = Command::new("sh")
        .arg("-c")
        .arg(&build.command)
        .current_dir(dir)
        .output();
    match output {
        Ok(out) if out.status.success() => Outcome::Built,
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(20)..].join("\n");
            // The shell's "command not found": say so plainly, with where to get the tools.
            let hint = if out.status.code() == Some(127) {
                "\n(a program the build command runs is not installed: componentize-py for \
                 Python components, node and npm for TypeScript ones; scripts/toolchains.sh \
                 installs the pinned versions)"
            } else {
                ""
            };
            Outcome::Failed(format!("exit status {}: {tail}{hint}", out.status))
        }
        Err(e) => Outcome::Failed(format!(
            "cannot run `sh -c {:?}` in {}: {e}",
            build.command,
            dir.display()
        )),
    }
}

/// The directory part of a glob before its first wildcard: `components/auth/src/**/*.rs` →
/// `components/auth/src`.
fn glob_base(pattern: &str) -> PathBuf {
    let mut base = PathBuf::new();
    for part in Path::new(pattern).components() {
        let s = part.as_os_str().to_string_lossy();
        if s.contains(['*', '?', '[']) {
            break;
        }
        base.push(part);
    }
    base
}

fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    let own = meta.modified().ok();
    if !meta.is_dir() {
        return own;
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| newest(&entry.path()))
        .chain(own)
        .max()
}

fn up_to_date(manifest: &Manifest, wasm: &Path, build: &BuildDecl) -> bool {
    let Some(built) = std::fs::metadata(wasm).and_then(|m| m.modified()).ok() else {
        return false;
    };
    if build.watch.is_empty() {
        // Without watch globs staleness is unknown: let the build tool decide.
        return false;
    }
    build
        .watch
        .iter()
        .filter_map(|pattern| newest(&manifest.resolve(&glob_base(pattern))))
        .all(|changed| changed <= built)
}

#[cfg(test)]
mod tests {
    use super::{glob_base, rust_targets};
    use std::path::PathBuf;

    #[test]
    fn the_rust_targets_a_command_names() {
        assert_eq!(
            rust_targets("cargo build --target wasm32-wasip2 --release -p auth"),
            ["wasm32-wasip2"]
        );
        assert_eq!(
            rust_targets(
                "cargo build --target=wasm32-wasip1 && cargo build --target wasm32-wasip1"
            ),
            ["wasm32-wasip1"]
        );
        assert!(rust_targets("npm run build -- --target es2020").is_empty());
        assert!(rust_targets("cargo build --release").is_empty());
    }

    #[test]
    fn glob_base_stops_at_the_first_wildcard() {
        assert_eq!(
            glob_base("components/auth/src/**/*.rs"),
            PathBuf::from("components/auth/src")
        );
        assert_eq!(glob_base("Cargo.toml"), PathBuf::from("Cargo.toml"));
        assert_eq!(glob_base("*.rs"), PathBuf::new());
    }
}
