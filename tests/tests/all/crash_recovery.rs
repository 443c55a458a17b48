//! Durable before ack: a host killed with SIGKILL under load comes back with every order it
//! acknowledged, and its books hash to the state the journaled commands produce when replayed
//! independently of the host.
//!
//! Runs the release binary (`BOURSE_RELEASE_DIST`, built by ./scripts/test) against the real
//! Postgres, in a database of its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bourse_tests::journal;
use bourse_tests::process::{self, HostProcess};
use serde_json::Value;

/// An acknowledged order: who placed it, its client order id, and the id the host gave it.
#[derive(Debug, Clone)]
struct Acked {
    key: String,
    client_order_id: String,
    order_id: String,
    body: Value,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_order_survives_sigkill_and_the_books_match_the_journal() {
    let (database_url, name) = process::database().await;
    let data_dir = process::data_dir();
    let env = [("BOURSE_MATCHING_SHARDS", "2")];
    let host = HostProcess::start(&database_url, &data_dir, &env).await;
    let client = reqwest::Client::new();
    let mut keys = Vec::new();
    for trader in ["t1", "t2", "t3", "t4"] {
        keys.push(bourse_tests::replicas::api_key(&host.url, trader, &["trader"]).await);
    }

    // Eight clients place crossing orders until the host dies under them.
    let acked = Arc::new(std::sync::Mutex::new(Vec::<Acked>::new()));
    let mut clients = Vec::new();
    for c in 0..8usize {
        let (url, key, acked, client) = (
            host.url.clone(),
            keys[c % keys.len()].clone(),
            acked.clone(),
            client.clone(),
        );
        clients.push(tokio::spawn(async move {
            for i in 0u64.. {
                let client_order_id = format!("c{c}-{i}");
                let body = journal::crossing_order(i, c as u64, &client_order_id);
                let Ok(response) = client
                    .post(format!("{url}/api/orders"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                else {
                    return;
                };
                if response.status() != 201 {
                    return;
                }
                let Ok(answer) = response.json::<Value>().await else {
                    return;
                };
                let order_id = answer["order_id"].as_str().unwrap_or_default().to_string();
                acked.lock().expect("lock").push(Acked {
                    key: key.clone(),
                    client_order_id,
                    order_id,
                    body,
                });
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    host.kill();
    for c in clients {
        let _ = c.await;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() > 200,
        "the load ran: {} orders acknowledged",
        acked.len()
    );

    let host = HostProcess::start(&database_url, &data_dir, &env).await;
    for a in &acked {
        let r = client
            .get(format!("{}/api/orders/{}", host.url, a.order_id))
            .bearer_auth(&a.key)
            .send()
            .await
            .expect("answered");
        assert_eq!(r.status(), 200, "acknowledged order {} is back", a.order_id);
    }
    // Repeating an acknowledged POST after the restart returns the same order.
    for a in acked.iter().step_by(97) {
        let (_, repeat) = bourse_tests::replicas::post_json(
            &format!("{}/api/orders", host.url),
            Some(&a.key),
            &a.body,
        )
        .await;
        assert_eq!(
            repeat["order_id"], a.order_id,
            "{} → {repeat}",
            a.client_order_id
        );
    }
    // The state hash walks every book: an operator's query.
    let host_hashes = journal::host_hashes(&host.url).await;
    host.kill();

    // Replay the journal as it is on disk, with the matching core alone.
    let replay = journal::replay(&database_url, 2).await;
    assert_eq!(
        host_hashes, replay.hashes,
        "the restarted books equal the journal's replay"
    );
    // Every acknowledged order is in the journal, once, under the id its client was given.
    let username_of: HashMap<&str, &str> = keys
        .iter()
        .map(String::as_str)
        .zip(["t1", "t2", "t3", "t4"])
        .collect();
    for a in &acked {
        let account = journal::account_of(username_of[a.key.as_str()]);
        let ids = replay.made.get(&(account, a.client_order_id.clone()));
        assert_eq!(
            ids.map(|ids| ids.iter().map(u64::to_string).collect::<Vec<_>>()),
            Some(vec![a.order_id.clone()]),
            "{} is journaled once",
            a.client_order_id
        );
    }
    // At most the requests in flight at the kill were journaled without an answer.
    let unanswered = replay.made.len() - acked.len();
    assert!(
        unanswered <= 8,
        "{unanswered} journaled orders were never acknowledged"
    );

    process::drop_database(&name).await;
    let _ = std::fs::remove_dir_all(&data_dir);
}
