//! Several host processes (the release binary) sharing one Postgres database and the test
//! Redis: one cluster, as Railway runs replicas of one service.

use std::time::Duration;

use serde_json::Value;

use crate::process::{self, HostProcess};

/// Replicas of one cluster.
pub struct Replicas {
    pub database_url: String,
    pub database: String,
    pub hosts: Vec<Option<HostProcess>>,
}

impl Replicas {
    /// Starts `n` replicas one after another (the first takes every shard) with `env`.
    pub async fn start(n: usize, env: &[(&str, &str)]) -> Replicas {
        let (database_url, database) = process::database().await;
        let mut hosts = Vec::new();
        for i in 0..n {
            let id = format!("replica-{i}");
            let mut env: Vec<(&str, &str)> = env.to_vec();
            env.push(("BOURSE_REPLICA_ID", &id));
            let host = HostProcess::start(&database_url, &process::data_dir(), &env).await;
            hosts.push(Some(host));
        }
        Replicas {
            database_url,
            database,
            hosts,
        }
    }

    /// Replica `i`'s address.
    pub fn url(&self, i: usize) -> String {
        self.hosts[i].as_ref().expect("replica running").url.clone()
    }

    /// SIGKILLs replica `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(host) = self.hosts[i].take() {
            host.kill();
        }
    }

    /// Stops every replica and drops the database.
    pub async fn stop(mut self) {
        for i in 0..self.hosts.len() {
            self.kill(i);
        }
        process::drop_database(&self.database).await;
    }
}

impl Drop for Replicas {
    /// A failed test still leaves no host process behind.
    fn drop(&mut self) {
        for i in 0..self.hosts.len() {
            self.kill(i);
        }
    }
}

/// `GET url`'s JSON body, with `token` as bearer credentials if given.
pub async fn get_json(url: &str, token: Option<&str>) -> Value {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON")
}

/// `POST url` with a JSON `body` (and `token` as bearer credentials if given) → (status,
/// JSON body; null if it has none).
pub async fn post_json(url: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `GET url/ready`'s body.
pub async fn ready(url: &str) -> Value {
    get_json(&format!("{url}/ready"), None).await
}

/// The shards replica `url` runs, from `/ready`.
pub async fn owned(url: &str) -> Vec<u64> {
    ready(url).await["replica"]["owned_shards"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

/// Waits until the replicas at `urls` together run shards `0..shards`, each exactly once;
/// returns who runs what.
pub async fn settled(urls: &[String], shards: u64) -> Vec<Vec<u64>> {
    for _ in 0..200 {
        let mut all = Vec::new();
        for url in urls {
            all.push(owned(url).await);
        }
        let mut flat: Vec<u64> = all.iter().flatten().copied().collect();
        flat.sort_unstable();
        if flat == (0..shards).collect::<Vec<_>>() {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the replicas never settled who runs which shard");
}

/// An API key for user `username` with `roles`, made through `url` by the operator: the user
/// is registered first if need be and given `roles` (keys are issued only to existing
/// accounts, and never with more than their owner's roles).
pub async fn api_key(url: &str, username: &str, roles: &[&str]) -> String {
    let client = reqwest::Client::new();
    let registered = client
        .post(format!("{url}/api/auth/register"))
        .json(&serde_json::json!({"username": username, "password": "a long test password"}))
        .send()
        .await
        .expect("answered")
        .status()
        .as_u16();
    assert!(
        [201, 409].contains(&registered),
        "registering {username}: {registered}"
    );
    let granted = client
        .post(format!("{url}/api/auth/roles"))
        .bearer_auth(crate::ADMIN_TOKEN)
        .json(&serde_json::json!({"username": username, "roles": roles}))
        .send()
        .await
        .expect("answered")
        .status()
        .as_u16();
    assert_eq!(granted, 200, "granting {roles:?} to {username}");
    let r: Value = client
        .post(format!("{url}/api/auth/api-keys"))
        .bearer_auth(crate::ADMIN_TOKEN)
        .json(&serde_json::json!({"principal": username, "roles": roles}))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    r["api_key"]
        .as_str()
        .unwrap_or_else(|| panic!("an api key for {username}: {r}"))
        .to_string()
}
