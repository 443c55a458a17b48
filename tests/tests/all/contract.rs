//! WIT contract tests: every built component honours the world its manifest entry names, and
//! a deliberately broken component is refused with a message that says what is wrong.

use bourse::runtime::contract::{ContractError, check};
use bourse_tests::{app_manifest, built_component, workspace};

#[test]
fn every_component_honours_its_world() {
    let manifest = app_manifest();
    let wit = workspace().join("wit");
    let mut checked = 0;
    for (name, decl) in &manifest.components {
        let world = decl.tool.bourse.world.as_deref().unwrap_or_else(|| {
            panic!("component {name} names no world in [component.{name}.tool.bourse]")
        });
        let file = decl
            .source
            .file_name()
            .and_then(|f| f.to_str())
            .expect("source file name");
        let bytes = built_component(file);
        if let Err(e) = check(&bytes, &wit, world) {
            panic!("{name}: {e}");
        }
        checked += 1;
    }
    assert_eq!(
        checked, 5,
        "order-handler, auth, simulation, signals and dashboard"
    );
}

#[test]
fn the_matching_cores_wasm_build_honours_market_core() {
    let bytes = built_component("market.wasm");
    if let Err(e) = check(
        &bytes,
        &workspace().join("wit"),
        "bourse:platform/market-core",
    ) {
        panic!("market: {e}");
    }
}

#[test]
fn a_broken_component_fails_with_a_readable_difference() {
    let bytes = built_component("broken_auth.wasm");
    let err = check(&bytes, &workspace().join("wit"), "bourse:platform/auth").unwrap_err();
    let ContractError::Mismatch(mismatch) = &err else {
        panic!("expected a mismatch, got {err}");
    };
    let text = err.to_string();
    assert!(
        text.contains("does not honour world bourse:platform/auth"),
        "{text}"
    );
    assert!(
        mismatch.problems.iter().any(|p| p
            .contains("`authenticate` is `func(token: string) -> bool`")
            && p.contains("func(headers: list<tuple<string, string>>)")),
        "{text}"
    );
    assert!(
        mismatch
            .problems
            .iter()
            .any(|p| p == "missing export `wasi:http/incoming-handler@0.2.12`"),
        "{text}"
    );
}

#[test]
fn a_component_checked_against_the_wrong_world_fails() {
    // The signals component is a fine component, but not an auth component.
    let bytes = built_component("signals.wasm");
    let err = check(&bytes, &workspace().join("wit"), "bourse:platform/auth").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("missing export `bourse:platform/authenticator@0.1.0`"),
        "{text}"
    );
    assert!(
        text.contains("unexpected export `bourse:platform/indicator@0.1.0`"),
        "{text}"
    );
}

#[test]
fn an_import_the_world_does_not_grant_is_named() {
    // The order handler imports the market; the simulation world grants no market.
    let bytes = built_component("order_handler.wasm");
    let err = check(
        &bytes,
        &workspace().join("wit"),
        "bourse:platform/simulation",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("imports `bourse:platform/market@0.1.0`, which world bourse:platform/simulation does not grant"),
        "{text}"
    );
}

#[test]
fn the_dashboard_world_grants_no_imports() {
    // The signals component serves HTTP too, but with stores and the network behind it.
    let bytes = built_component("signals.wasm");
    let err = check(
        &bytes,
        &workspace().join("wit"),
        "bourse:platform/dashboard",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("imports `fermyon:spin/key-value@2.0.0`, which world bourse:platform/dashboard does not grant"),
        "{text}"
    );
}

#[test]
fn garbage_is_not_a_component() {
    let err = check(
        b"not wasm",
        &workspace().join("wit"),
        "bourse:platform/auth",
    )
    .unwrap_err();
    assert!(matches!(err, ContractError::Decode(_)), "{err}");
}

#[test]
fn unknown_world_is_reported() {
    let bytes = built_component("auth.wasm");
    let err = check(&bytes, &workspace().join("wit"), "bourse:platform/nope").unwrap_err();
    assert!(matches!(err, ContractError::Wit { .. }), "{err}");
}
