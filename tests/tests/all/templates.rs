//! `bourse new`: a component made from its template beside a manifest, built with its real
//! toolchain by `bourse build`, served, called, then edited, rebuilt and swapped into the
//! running host.

use bourse::build::{Outcome, build};
use bourse::manifest::Manifest;
use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, unique, workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_http_component_from_its_template_builds_serves_and_swaps() {
    let dir = std::env::temp_dir().join(unique("bourse-new-"));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    // A Cargo workspace beside the manifest, as in Bourse's repository: the component joins
    // it. It shares the repository's toolchain, lock file and target folder, so the build
    // reuses what is already compiled (spin-sdk).
    std::fs::write(
        dir.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = [\"components/*\"]\n",
    )
    .expect("Cargo.toml");
    for file in ["Cargo.lock", "rust-toolchain.toml"] {
        std::fs::copy(workspace().join(file), dir.join(file)).expect(file);
    }
    std::os::unix::fs::symlink(workspace().join("target"), dir.join("target")).expect("target");
    let manifest_path = dir.join("spin.toml");
    std::fs::write(
        &manifest_path,
        "spin_manifest_version = 2\n\n[application]\nname = \"mine\"\n",
    )
    .expect("spin.toml");

    let created = bourse::scaffold::new(&manifest_path, "rust-http", "hello-api")
        .expect("made from template");
    assert!(created.in_workspace);
    let manifest = Manifest::load(&manifest_path).expect("the manifest loads");
    assert_eq!(
        build(&manifest, &["hello-api".to_string()], true),
        vec![("hello-api".to_string(), Outcome::Built)]
    );

    let host = TestHost::start(manifest.clone(), Backend::Embedded, 10_000).await;
    let (status, answer) = host.get("/hello-api/quotes?x=1", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        serde_json::json!({"component": "hello-api", "method": "GET", "path": "/hello-api/quotes"})
    );

    // Edited, rebuilt and uploaded: the running host serves the new version.
    let lib = created.folder.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).expect("lib.rs");
    let edited = source.replace(
        r#""component": "hello-api","#,
        r#""component": "hello-api", "edited": true,"#,
    );
    assert_ne!(
        source, edited,
        "the template's answer is where the test edits it"
    );
    std::fs::write(&lib, edited).expect("edit");
    assert_eq!(
        build(&manifest, &["hello-api".to_string()], true),
        vec![("hello-api".to_string(), Outcome::Built)]
    );
    let wasm = std::fs::read(manifest.resolve(&manifest.components["hello-api"].source))
        .expect("built component");
    let response = host
        .client
        .post(format!("{}/admin/components/hello-api", host.url))
        .bearer_auth(ADMIN_TOKEN)
        .body(wasm)
        .send()
        .await
        .expect("upload reaches the host");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let (status, answer) = host.get("/hello-api/quotes", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["edited"], true, "{answer}");
    host.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
