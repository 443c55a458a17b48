//! Spin parity of the manifests and components: every `spin.toml` in the repository parses
//! under a strict model of Spin's manifest v2, and each built component's imports are checked
//! against Spin's platform world (`wit/spin-platform`, from spin-sdk 5.2.0) or the dependencies
//! its manifest declares.

use std::collections::BTreeMap;

use bourse::runtime::contract::{ContractError, SpinDependency, SpinPlatform};
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

/// Spin's platform world, read once for every check.
fn spin() -> &'static SpinPlatform {
    static SPIN: std::sync::OnceLock<SpinPlatform> = std::sync::OnceLock::new();
    SPIN.get_or_init(|| {
        SpinPlatform::load(&workspace().join("wit/spin-platform")).expect("Spin's WIT parses")
    })
}

/// Offences of `file`, with dependencies given as (key, built component file or none).
fn offences(file: &str, dependencies: &[(&str, Option<&str>)]) -> Vec<String> {
    let deps: Vec<SpinDependency> = dependencies
        .iter()
        .map(|(key, file)| SpinDependency {
            key: key.to_string(),
            wasm: file.map(built_component),
        })
        .collect();
    match spin().check(&built_component(file), &deps) {
        Ok(()) => Vec::new(),
        Err(ContractError::Mismatch(m)) => m.problems,
        Err(e) => panic!("{file}: {e}"),
    }
}

#[test]
fn spin_sdk_components_import_only_what_spin_hosts() {
    assert_eq!(offences("spin_kv_fixture.wasm", &[]), Vec::<String>::new());
    // Beyond spin-sdk, the Postgres fixture binds `spin:postgres@4.1`'s connection builder,
    // which Spin 4 hosts and the reference world (spin-sdk 5.2's, Spin 3.6) does not: the
    // builder's three functions, and nothing else, are named.
    let offences = offences("spin_pg_redis_fixture.wasm", &[]);
    let builder = [
        "[constructor]connection-builder",
        "[method]connection-builder.build",
        "[method]connection-builder.set-ca-root",
    ];
    assert_eq!(offences.len(), builder.len(), "{offences:#?}");
    for (offence, function) in offences.iter().zip(builder) {
        assert!(
            offence.starts_with(&format!(
                "import `spin:postgres/postgres@4.1.0`: function `{function}:"
            )),
            "{offence}"
        );
    }
}

/// The platform's own components: what still stands between each and Spin, by import name.
/// Spin parity work shrinks this table; a change in it must be deliberate.
#[test]
fn the_platform_components_name_each_import_spin_lacks() {
    let expected: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        ("auth.wasm", vec!["bourse:platform/events@0.1.0"]),
        ("order_handler.wasm", vec!["bourse:platform/market@0.1.0"]),
        ("signals.wasm", vec!["bourse:platform/events@0.1.0"]),
        // `types` names value types only: nothing to link, Spin loads it as it is.
        ("simulation.wasm", vec![]),
        // Static files and wasi:http only.
        ("dashboard.wasm", vec![]),
    ]);
    for (file, imports) in expected {
        let found = offences(file, &[]);
        let named: Vec<&str> = found
            .iter()
            .filter_map(|p| p.strip_prefix("imports `")?.split('`').next())
            .collect();
        assert_eq!(named, imports, "{file}: {found:#?}");
        // A dependency known only by name (registry, URL) is taken at its word.
        assert_eq!(
            offences(file, &[("bourse:platform", None)]),
            Vec::<String>::new(),
            "{file}"
        );
    }
}

#[test]
fn a_local_dependency_must_export_what_it_stands_in_for() {
    // The matching core's wasm build exports `market`: it satisfies the order handler.
    assert_eq!(
        offences(
            "order_handler.wasm",
            &[("bourse:platform/market", Some("market.wasm"))]
        ),
        Vec::<String>::new()
    );
    // Claiming `events` from it is caught.
    assert_eq!(
        offences(
            "signals.wasm",
            &[("bourse:platform/events", Some("market.wasm"))]
        ),
        vec![
            "imports `bourse:platform/events@0.1.0`, which dependency `bourse:platform/events` does not export"
                .to_string()
        ]
    );
}

#[test]
fn with_the_dependencies_it_declares_every_component_of_the_application_loads_under_spin() {
    let manifest = bourse_tests::app_manifest();
    for (name, decl) in &manifest.components {
        let dependencies = bourse::runtime::compose::dependencies(&manifest, decl)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for dependency in &dependencies {
            assert!(
                dependency.wasm.is_some(),
                "{name}: dependency {} has no path",
                dependency.key
            );
        }
        let wasm =
            std::fs::read(manifest.resolve(&decl.source)).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Err(e) = spin().check(&wasm, &dependencies) {
            panic!("{name}: {e}");
        }
    }
}
