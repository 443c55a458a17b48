//! Spin parity of the manifests and components: every `spin.toml` in the repository parses
//! under a strict model of Spin's manifest v2, and each built component's imports are checked
//! against Spin's platform world (`wit/spin-platform`, from spin-sdk 5.2.0) or the dependencies
//! its manifest declares.

use std::collections::BTreeMap;

use bourse::runtime::contract::{ContractError, check_spin};
use bourse_tests::{built_component, spin_manifest, workspace};

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_manifests_are_valid_spin_manifests() {
    for path in ["spin.toml", "tests/fixtures/spin.toml"] {
        let manifest = spin_manifest::parse(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(!manifest.components.is_empty(), "{path}");
    }
}

#[test]
fn the_strict_model_refuses_what_spin_refuses() {
    let base = read("spin.toml");
    let cases = [
        // A Bourse setting outside the tool table.
        (
            base.replacen(
                "[component.signals]\n",
                "[component.signals]\nworld = \"bourse:platform/signals\"\n",
                1,
            ),
            "world",
        ),
        (
            base.replacen("[application]\n", "[application]\npublic_routes = []\n", 1),
            "public_routes",
        ),
        (
            base.replacen(
                "route = \"/api/symbols\"",
                "route = \"/api/symbols\"\nroles = []",
                1,
            ),
            "roles",
        ),
        (
            base.replacen("spin_manifest_version = 2", "spin_manifest_version = 1", 1),
            "spin_manifest_version",
        ),
    ];
    for (text, field) in cases {
        assert_ne!(text, base, "the case for {field} changed the manifest");
        let err = spin_manifest::parse(&text).expect_err(field);
        assert!(err.contains(field), "{field}: {err}");
    }
}

fn spin_dir() -> std::path::PathBuf {
    workspace().join("wit/spin-platform")
}

fn offences(file: &str, dependencies: &[&str]) -> Vec<String> {
    let deps: Vec<String> = dependencies.iter().map(|d| d.to_string()).collect();
    match check_spin(&built_component(file), &spin_dir(), &deps) {
        Ok(()) => Vec::new(),
        Err(ContractError::Mismatch(m)) => m.problems,
        Err(e) => panic!("{file}: {e}"),
    }
}

#[test]
fn spin_sdk_components_import_only_what_spin_hosts() {
    for file in ["spin_kv_fixture.wasm", "spin_pg_redis_fixture.wasm"] {
        assert_eq!(offences(file, &[]), Vec::<String>::new(), "{file}");
    }
}

/// The platform's own components: what still stands between each and Spin, by import name.
/// Spin parity work shrinks this table; a change in it must be deliberate.
#[test]
fn the_platform_components_name_each_import_spin_lacks() {
    let expected: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        (
            "auth.wasm",
            vec![
                "bourse:platform/events@0.1.0",
                "bourse:platform/types@0.1.0",
            ],
        ),
        (
            "order_handler.wasm",
            vec![
                "bourse:platform/market@0.1.0",
                "bourse:platform/types@0.1.0",
            ],
        ),
        ("signals.wasm", vec!["bourse:platform/events@0.1.0"]),
        ("simulation.wasm", vec!["bourse:platform/types@0.1.0"]),
    ]);
    for (file, imports) in expected {
        let found = offences(file, &[]);
        let named: Vec<&str> = found
            .iter()
            .filter_map(|p| p.strip_prefix("imports `")?.split('`').next())
            .collect();
        assert_eq!(named, imports, "{file}: {found:#?}");
        // A declared dependency on the package satisfies them.
        assert_eq!(
            offences(file, &["bourse:platform"]),
            Vec::<String>::new(),
            "{file}"
        );
    }
}
