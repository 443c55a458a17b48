//! The release binary (`BOURSE_RELEASE_DIST`, built by ./scripts/test) as a separate process,
//! for tests that kill hosts or run several of them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{ADMIN_TOKEN, redis_url};

/// A running host process.
pub struct HostProcess {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

/// Where scripts/build-release.sh put the release.
pub fn dist() -> PathBuf {
    PathBuf::from(std::env::var("BOURSE_RELEASE_DIST").expect(
        "BOURSE_RELEASE_DIST is not set: run ./scripts/test, which builds the release first",
    ))
}

/// A data directory seeded with the release's precompiled components, so starts skip
/// compiling them.
pub fn data_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(crate::unique("bourse-process-"));
    std::fs::create_dir_all(dir.join("artifacts")).expect("data dir");
    if let Ok(entries) = std::fs::read_dir(dist().join("data/artifacts")) {
        for entry in entries.flatten() {
            let _ = std::fs::copy(entry.path(), dir.join("artifacts").join(entry.file_name()));
        }
    }
    dir
}

impl HostProcess {
    /// Starts `bourse serve` from the release on a free port against `database_url` and the
    /// test Redis, with `env` on top, and waits until it is ready.
    pub async fn start(database_url: &str, data_dir: &Path, env: &[(&str, &str)]) -> HostProcess {
        let dist = dist();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut command = Command::new(dist.join("bin/bourse"));
        command
            .arg("serve")
            .current_dir(&dist)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("BOURSE_DATA_DIR", data_dir)
            .env("BOURSE_WATCH", "off")
            .env("DATABASE_URL", database_url)
            .env("REDIS_URL", redis_url())
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
            // These tests drive load and then check every answer: rate limits (tested on
            // their own) would turn that into 429s.
            .env("BOURSE_RATE_LIMIT_PRINCIPAL", "0")
            .env("BOURSE_RATE_LIMIT_IP", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // BOURSE_TEST_LOG_DIR keeps each host's log, as `<port>.log`, to see why a test failed.
        if let Some(dir) = std::env::var_os("BOURSE_TEST_LOG_DIR")
            && let Ok(log) = std::fs::File::create(Path::new(&dir).join(format!("{port}.log")))
            && let Ok(err) = log.try_clone()
        {
            command.stdout(log).stderr(err).env("RUST_LOG", "info");
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start the release binary");
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(r) = client.get(format!("{url}/ready")).send().await
                && r.status() == 200
            {
                return HostProcess { child, url };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the host did not become ready at {url}");
    }

    /// SIGKILL, and wait for it.
    pub fn kill(self) {
        drop(self);
    }
}

impl Drop for HostProcess {
    /// A failed test leaves no host process behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh Postgres database; returns its URL and name.
pub async fn database() -> (String, String) {
    let name = crate::unique("bourse_process_");
    let admin = sqlx::PgPool::connect(&format!("{}/test", crate::postgres_server()))
        .await
        .expect("Postgres");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("create database");
    admin.close().await;
    (format!("{}/{name}", crate::postgres_server()), name)
}

/// Drops a database made by [`database`].
pub async fn drop_database(name: &str) {
    crate::drop_database(name).await;
}
