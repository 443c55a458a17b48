//! Components made from `bourse new`'s templates in a scratch application, built with their
//! real toolchains (for the template tests and `lang-bench`).

use std::path::{Path, PathBuf};

use bourse::build::{Outcome, build};
use bourse::manifest::Manifest;

use crate::{TestHost, unique, workspace};

/// Fails, naming what installs it, when `tool` is not on PATH: the templates build with the
/// real toolchains, which `.ci/run` installs with `scripts/toolchains.sh`.
pub fn require(tool: &str) {
    let found = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} is not on PATH: `scripts/toolchains.sh` installs the pinned toolchains and prints the PATH to use"
    );
}

/// A scratch folder holding a plain application manifest: (folder, manifest path).
pub fn app() -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(unique("bourse-new-"));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let manifest_path = dir.join("spin.toml");
    std::fs::write(
        &manifest_path,
        "spin_manifest_version = 2\n\n[application]\nname = \"mine\"\n",
    )
    .expect("spin.toml");
    (dir, manifest_path)
}

/// Makes `dir` a Cargo workspace taking `components/*`, as Bourse's repository is, sharing the
/// repository's toolchain, lock file and target folder (so a build reuses what is compiled).
pub fn cargo_workspace(dir: &Path) {
    std::fs::write(
        dir.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = [\"components/*\"]\n",
    )
    .expect("Cargo.toml");
    for file in ["Cargo.lock", "rust-toolchain.toml"] {
        std::fs::copy(workspace().join(file), dir.join(file)).expect(file);
    }
    std::os::unix::fs::symlink(workspace().join("target"), dir.join("target")).expect("target");
}

/// Makes `dir` a copy of Bourse's repository as far as a component built against its guest
/// crate needs: the workspace's `Cargo.toml` (its shared package fields and dependency
/// versions) taking `components/*` and the guest crate with the matching core it uses, which
/// are linked in from the repository, with the WIT they are generated from.
pub fn bourse_like_workspace(dir: &Path) {
    let text = std::fs::read_to_string(workspace().join("Cargo.toml")).expect("Cargo.toml");
    let members = "members = [\"components/*\", \"crates/guest\", \"crates/matching\"]";
    let text: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("default-members"))
        .map(|l| {
            if l.starts_with("members = ") {
                members.to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(dir.join("Cargo.toml"), text.join("\n") + "\n").expect("Cargo.toml");
    for file in ["Cargo.lock", "rust-toolchain.toml"] {
        std::fs::copy(workspace().join(file), dir.join(file)).expect(file);
    }
    for link in ["target", "crates", "wit"] {
        std::os::unix::fs::symlink(workspace().join(link), dir.join(link)).expect(link);
    }
}

/// Builds `name` in `manifest` with its template's toolchain.
pub fn build_one(manifest: &Manifest, name: &str) {
    assert_eq!(
        build(manifest, &[name.to_string()], true),
        vec![(name.to_string(), Outcome::Built)]
    );
}

/// Replaces `from` with `to` in `file`, which must contain it.
pub fn edit(file: &Path, from: &str, to: &str) {
    let source = std::fs::read_to_string(file).expect("template source");
    assert!(
        source.contains(from),
        "{} no longer holds {from:?} where it is edited",
        file.display()
    );
    std::fs::write(file, source.replace(from, to)).expect("edit");
}

/// Uploads `name`'s built component to the running host (a hot swap).
pub async fn upload(host: &TestHost, manifest: &Manifest, name: &str) {
    let wasm = std::fs::read(manifest.resolve(&manifest.components[name].source))
        .expect("built component");
    let (status, answer) = host.upload(name, wasm).await;
    assert_eq!(status, 200, "{answer}");
}
