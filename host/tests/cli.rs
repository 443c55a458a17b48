//! The `bourse` binary's start-up errors: a person must be able to act on them.

use std::process::Command;

fn bourse(args: &[&str], dir: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(args)
        .current_dir(dir)
        .env("PORT", "0")
        .output()
        .expect("run bourse");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str, manifest: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bourse-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("spin.toml"), manifest).expect("write manifest");
    dir
}

const VALID: &str = r#"spin_manifest_version = 2

[application]
name = "t"

[[trigger.http]]
route = "/..."
component = "web"

[component.web]
source = "web.wasm"
"#;

#[test]
fn malformed_manifest_names_file_line_and_field() {
    let dir = scratch(
        "malformed",
        &VALID.replace("source = \"web.wasm\"", "source = \"web.wasm\"\nsorce = 1"),
    );
    let (ok, err) = bourse(&["serve"], &dir);
    assert!(!ok);
    assert!(
        err.contains("spin.toml:12:1: unknown field `sorce`"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn invalid_toml_is_located() {
    let dir = scratch(
        "syntax",
        "spin_manifest_version = 2\n[application\nname = 1\n",
    );
    let (ok, err) = bourse(&["serve"], &dir);
    assert!(!ok);
    assert!(err.contains("spin.toml:2:"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn missing_manifest_is_named() {
    let dir = scratch("missing", VALID);
    let (ok, err) = bourse(&["serve", "-f", "nope.toml"], &dir);
    assert!(!ok);
    assert!(err.contains("nope.toml"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_environment_names_the_variable() {
    let dir = scratch("env", VALID);
    let out = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(["serve"])
        .current_dir(&dir)
        .env("PORT", "eighty")
        .output()
        .expect("run bourse");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("PORT: \"eighty\" is not a whole number from 1 to 65535"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn build_reports_a_failing_component_by_name() {
    let manifest = VALID.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\n[component.web.build]\ncommand = \"echo compiler says no >&2; exit 3\"",
    );
    let dir = scratch("build", &manifest);
    let (ok, err) = bourse(&["build"], &dir);
    assert!(!ok);
    assert!(err.contains("[1/1] web: FAILED"), "{err}");
    assert!(err.contains("compiler says no"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
