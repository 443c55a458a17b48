//! The container's build steps: the Dockerfile must run scripts/build-release.sh and start
//! what it produces, and that output must start and serve from its precompiled artifacts.
//! `./scripts/test` runs the script first and passes its output in `BOURSE_RELEASE_DIST`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use bourse_tests::workspace;

fn dockerfile() -> String {
    std::fs::read_to_string(workspace().join("Dockerfile")).expect("Dockerfile at the root")
}

fn dist() -> PathBuf {
    let dir = std::env::var("BOURSE_RELEASE_DIST").expect(
        "BOURSE_RELEASE_DIST is not set: run ./scripts/test, which runs scripts/build-release.sh first",
    );
    PathBuf::from(dir)
}

#[test]
fn dockerfile_runs_the_release_script_and_starts_its_output() {
    let text = dockerfile();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for required in [
        "RUN rustup target add wasm32-wasip2",
        // `bourse build` runs scripts/build-dashboard.sh, which needs npm.
        "RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*",
        "RUN scripts/build-release.sh /dist",
        "COPY --from=build --chown=bourse:bourse /dist /app",
        "WORKDIR /app",
        "USER bourse",
        r#"CMD ["/app/bin/bourse", "serve"]"#,
    ] {
        assert!(lines.contains(&required), "Dockerfile lost `{required}`");
    }
    let run_steps: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("RUN ") && l.contains("cargo"))
        .collect();
    assert!(
        run_steps.is_empty(),
        "build steps belong in scripts/build-release.sh, not the Dockerfile: {run_steps:?}"
    );
    let script =
        std::fs::read_to_string(workspace().join("scripts/build-release.sh")).expect("script");
    assert!(
        script.contains(r#"cp "$bin" "$dest/bin/bourse""#),
        "the script no longer puts the host where CMD starts it"
    );
    let railway = std::fs::read_to_string(workspace().join("railway.toml")).expect("railway.toml");
    assert!(
        railway.contains(r#"builder = "DOCKERFILE""#)
            && railway.contains(r#"healthcheckPath = "/ready""#)
    );
}

#[test]
fn the_release_output_serves_from_precompiled_artifacts() {
    let dist = dist();
    let bin = dist.join("bin/bourse");
    assert!(bin.is_file(), "{} is missing", bin.display());
    let manifest =
        bourse::manifest::Manifest::load(&dist.join("spin.toml")).expect("dist/spin.toml");
    for (name, decl) in &manifest.components {
        assert!(
            manifest.resolve(&decl.source).is_file(),
            "{name}: {} missing from the release",
            decl.source.display()
        );
    }
    let artifacts = || {
        std::fs::read_dir(dist.join("data/artifacts"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let before = artifacts();
    assert_eq!(
        before.len(),
        manifest.components.len(),
        "one precompiled artifact per component"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut child = Command::new(&bin)
        .arg("serve")
        .current_dir(&dist)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("BOURSE_DATA_DIR", dist.join("data"))
        .env("BOURSE_WATCH", "off")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stderr(Stdio::null())
        .spawn()
        .expect("start the release binary");
    let ready = (|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            let client = reqwest::Client::new();
            for _ in 0..200 {
                if let Ok(r) = client
                    .get(format!("http://127.0.0.1:{port}/ready"))
                    .send()
                    .await
                {
                    let status = r.status().as_u16();
                    let body: serde_json::Value = r.json().await.ok()?;
                    return Some((status, body));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None
        })
    })();
    let _ = child.kill();
    let _ = child.wait();
    let (status, body) = ready.expect("the release binary answered /ready");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(
        artifacts(),
        before,
        "start-up loaded the precompiled artifacts instead of compiling"
    );
}
