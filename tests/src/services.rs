//! Private Postgres and Redis servers, one per test, for tests that restart, pause or break
//! them: the machine's own servers are shared by every test running beside them.
//!
//! Both run from the machine's installed binaries (Debian's `postgresql` and `redis-server`)
//! on free ports, in temporary directories removed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A Postgres cluster of its own (trust auth, user `postgres`, database `bourse`).
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
}

impl PrivatePostgres {
    /// Creates and starts the cluster. As root (CI), its files belong to the `postgres` user,
    /// as Postgres refuses to run as root.
    pub fn start() -> PrivatePostgres {
        let bin = postgres_bin();
        let dir = std::env::temp_dir().join(crate::unique("bourse-pg-"));
        let pg = PrivatePostgres {
            bin,
            dir,
            port: free_port(),
        };
        run(pg
            .as_owner("install")
            .args(["-d", "-m", "700"])
            .arg(&pg.dir));
        run(pg
            .as_owner(&pg.tool("initdb"))
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&pg.dir));
        pg.up();
        let created = pg
            .as_owner(&pg.tool("createdb"))
            .args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(pg.port.to_string())
            .arg("bourse")
            .status()
            .expect("createdb");
        assert!(created.success(), "createdb bourse");
        pg
    }

    /// The `bourse` database's URL.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/bourse", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        run(self
            .as_owner(&self.tool("pg_ctl"))
            .args(["-w", "-t", "60", "-D"])
            .arg(&self.dir)
            .args(["-l"])
            .arg(self.dir.join("server.log"))
            .args(["-o", &options, "start"]));
    }

    /// Stops the server: `fast` ends sessions and checkpoints, `immediate` is a crash.
    pub fn down(&self, mode: &str) {
        run(self
            .as_owner(&self.tool("pg_ctl"))
            .args(["-w", "-t", "60", "-m", mode, "-D"])
            .arg(&self.dir)
            .arg("stop"));
    }

    fn tool(&self, name: &str) -> String {
        self.bin.join(name).display().to_string()
    }

    /// `program` run as the cluster's owner.
    fn as_owner(&self, program: &str) -> Command {
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", program]);
            c
        } else {
            Command::new(program)
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .as_owner(&self.tool("pg_ctl"))
            .args(["-w", "-m", "immediate", "-D"])
            .arg(&self.dir)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis server of its own, persisting as a production Redis does (an append-only file
/// synced on every write, so a restart keeps everything), with `DEBUG` allowed for
/// `DEBUG SLEEP`.
pub struct PrivateRedis {
    child: Option<Child>,
    dir: PathBuf,
    pub port: u16,
}

impl PrivateRedis {
    pub async fn start() -> PrivateRedis {
        let dir = std::env::temp_dir().join(crate::unique("bourse-redis-"));
        std::fs::create_dir_all(&dir).expect("Redis dir");
        let mut redis = PrivateRedis {
            child: None,
            dir,
            port: free_port(),
        };
        redis.up().await;
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again, on the same port, empty) and waits until it answers.
    pub async fn up(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--enable-debug-command", "local"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        self.child = Some(child);
        for _ in 0..200 {
            if self.command(&["PING"]).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the private Redis did not start on {}", self.port);
    }

    /// Stops the server as an operator's restart does (SIGTERM: it finishes its file first).
    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Sends one command; its reply as text.
    pub async fn command(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        let client = redis::Client::open(self.url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query_async(&mut conn).await
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// The installed Postgres's programs (`pg_config --bindir`, else Debian's newest).
fn postgres_bin() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.retain(|p| p.join("initdb").exists());
    versions.sort_by_key(|p| version_of(p));
    versions
        .pop()
        .expect("Postgres's server programs (initdb, pg_ctl) are installed")
}

fn version_of(bin: &Path) -> u32 {
    bin.parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn run(command: &mut Command) {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
