//! Hot swaps in a cluster, with faults: a replica killed in the middle of a deploy, and a
//! deploy while the shards' lease passes to another replica. Every replica ends on one version
//! of the component, a restarted replica included, and the books equal the journal's replay.

use std::time::Duration;

use bourse_tests::ADMIN_TOKEN;
use bourse_tests::process::{self, HostProcess};
use bourse_tests::replicas::{self, Replicas};
use serde_json::Value;

use super::load::{Load, assert_cluster_books_equal_replay, assert_kept_once, assert_retry_advice};

const TRADERS: [&str; 2] = ["s1", "s2"];
const COMPONENT: &str = "order-handler";

/// The release's order handler with a custom section appended: another digest, the same code.
fn order_handler(tag: &str) -> Vec<u8> {
    let path = process::dist().join("target/wasm32-wasip2/release/order_handler.wasm");
    let mut bytes = std::fs::read(&path).expect("the release's order handler");
    let name = b"bourse-test";
    let payload = tag.as_bytes();
    let size = 1 + name.len() + payload.len();
    assert!(size < 128, "one-byte LEB128 sizes");
    bytes.push(0);
    bytes.push(size as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    bytes
}

fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex(&sha2::Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The digest of `COMPONENT` live on the replica at `url`.
async fn live(url: &str) -> Option<String> {
    let components = replicas::get_json(&format!("{url}/api/components"), Some(ADMIN_TOKEN)).await;
    components
        .as_array()?
        .iter()
        .find(|c| c["name"] == COMPONENT)?["digest"]
        .as_str()
        .map(str::to_string)
}

/// Waits until every replica at `urls` serves one version (`want`, if given); returns it.
async fn one_version(urls: &[String], want: Option<&str>) -> String {
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen.clear();
        for url in urls {
            seen.push(live(url).await);
        }
        if seen[0].is_some()
            && seen.iter().all(|d| *d == seen[0])
            && want.is_none_or(|w| seen[0].as_deref() == Some(w))
        {
            return seen[0].clone().unwrap_or_default();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the replicas never agreed on version {want:?}: {seen:?}");
}

async fn upload(url: &str, bytes: Vec<u8>) -> reqwest::Result<(u16, Value)> {
    let r = reqwest::Client::new()
        .post(format!("{url}/admin/components/{COMPONENT}"))
        .bearer_auth(ADMIN_TOKEN)
        .body(bytes)
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

fn env(id: &str) -> [(&'static str, String); 3] {
    [
        ("BOURSE_MATCHING_SHARDS", "2".into()),
        ("BOURSE_LEASE_MS", "1000".into()),
        ("BOURSE_REPLICA_ID", id.into()),
    ]
}

/// Starts another process for replica `id` of `cluster`.
async fn restart(cluster: &Replicas, id: &str) -> HostProcess {
    let env = env(id);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    HostProcess::start(&cluster.database_url, &process::data_dir(), &env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_during_a_deploy_leaves_the_cluster_on_one_version() {
    let env = [("BOURSE_MATCHING_SHARDS", "2"), ("BOURSE_LEASE_MS", "1000")];
    let mut cluster = Replicas::start(2, &env).await;
    let (a, b) = (cluster.url(0), cluster.url(1));
    let v1 = one_version(&[a.clone(), b.clone()], None).await;

    // Killed while its deploy is being checked and compiled: nobody serves the new version.
    let deploy = {
        let b = b.clone();
        tokio::spawn(async move { upload(&b, order_handler("v2")).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    cluster.kill(1);
    let answered = deploy.await.expect("task");
    println!("deploy cut short: {answered:?}");
    let b = restart(&cluster, "replica-1").await;
    let after_cut = one_version(&[a.clone(), b.url.clone()], None).await;
    if answered.is_err() {
        assert_eq!(
            after_cut, v1,
            "a deploy cut before its answer left v1 everywhere"
        );
    }

    // A deploy answered, then its replica killed at once: the version lives on, everywhere,
    // and the restarted replica serves it instead of its image's file.
    let v3 = order_handler("v3");
    let (status, report) = upload(&b.url, v3.clone()).await.expect("answered");
    assert_eq!(status, 200, "{report}");
    b.kill();
    let v3 = digest(&v3);
    one_version(std::slice::from_ref(&a), Some(&v3)).await;
    let b = restart(&cluster, "replica-1").await;
    assert_eq!(
        live(&b.url).await.as_deref(),
        Some(v3.as_str()),
        "the restarted replica serves the version deployed before it died, from its start"
    );

    // A rollback through one replica reaches the other.
    let rolled = reqwest::Client::new()
        .post(format!("{a}/admin/components/{COMPONENT}/rollback"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"digest": v1}))
        .send()
        .await
        .expect("answered");
    assert_eq!(rolled.status(), 200);
    one_version(&[a.clone(), b.url.clone()], Some(&v1)).await;
    b.kill();
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_during_a_lease_takeover_keeps_versions_and_books_consistent() {
    let env = [("BOURSE_MATCHING_SHARDS", "2"), ("BOURSE_LEASE_MS", "1000")];
    let mut cluster = Replicas::start(2, &env).await;
    let urls = [cluster.url(0), cluster.url(1)];
    let owners = replicas::settled(&urls, 2).await;
    assert_eq!(owners[0], [0, 1], "replica A runs the books");
    let mut keys = Vec::new();
    for t in TRADERS {
        keys.push(replicas::api_key(&urls[1], t, &["trader"]).await);
    }
    let load = Load::start(4, std::slice::from_ref(&urls[1]), &keys);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // A dies; its shards wait out their lease while B deploys a new order handler.
    load.enter(1);
    cluster.kill(0);
    let v2 = order_handler("takeover");
    let (status, report) = upload(&urls[1], v2.clone()).await.expect("answered");
    assert_eq!(status, 200, "{report}");
    let b_url = urls[1].clone();
    load.until_acked(50, Duration::from_secs(30)).await;

    // A comes back as a new process: it takes the version, not its image's file.
    load.enter(2);
    let a = restart(&cluster, "replica-0").await;
    let both = [a.url.clone(), b_url.clone()];
    assert_eq!(
        live(&a.url).await,
        Some(digest(&v2)),
        "the restarted replica serves the version, from its start"
    );
    one_version(&both, Some(&digest(&v2))).await;
    load.until_acked(50, Duration::from_secs(30)).await;
    let seen = load.finish().await;
    for p in 0..=2 {
        println!("phase {p}: {} orders acknowledged", seen.acked_in(p));
    }
    assert!(seen.wrong.is_empty(), "unexcused answers: {:?}", seen.wrong);
    assert!(seen.acked_in(1) >= 50, "B took the books over");
    assert_retry_advice(&seen);

    let replay = assert_cluster_books_equal_replay(&both, &cluster.database_url, 2).await;
    assert_kept_once(&seen, &b_url, &keys, &TRADERS, &replay).await;
    a.kill();
    cluster.stop().await;
}
