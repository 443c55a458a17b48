//! Durable before ack: a host killed with SIGKILL under load comes back with every order it
//! acknowledged, and its books hash to the state the journaled commands produce when replayed
//! independently of the host.
//!
//! Runs the release binary (`BOURSE_RELEASE_DIST`, built by ./scripts/test) against the real
//! Postgres, in a database of its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bourse::market::journal;
use bourse_matching::venue::{self, Venue};
use bourse_tests::process::{self, HostProcess};
use serde_json::{Value, json};
use sqlx::Row;

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
                let symbol = ["AAPL", "MSFT", "SPY"][(i % 3) as usize];
                let side = if (i + c as u64).is_multiple_of(2) {
                    "buy"
                } else {
                    "sell"
                };
                let client_order_id = format!("c{c}-{i}");
                let body = json!({
                    "symbol": symbol, "side": side, "type": "limit",
                    "price": format!("{}", 100 + (i * 7 + c as u64) % 5),
                    "quantity": format!("{}", 1 + i % 4),
                    "client_order_id": client_order_id,
                });
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
    let stats: Value = client
        .get(format!("{}/api/engine/stats?state_hash=true", host.url))
        .bearer_auth(bourse_tests::ADMIN_TOKEN)
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    host.kill();

    // Replay the journal as it is on disk, with the matching core alone.
    let pool = sqlx::PgPool::connect(&database_url)
        .await
        .expect("journal database");
    let rows = sqlx::query(
        "SELECT shard, first_seq, at_ms, commands FROM journal ORDER BY shard, first_seq",
    )
    .fetch_all(&pool)
    .await
    .expect("journal rows");
    let symbols = venue::default_symbols();
    let mut venues: Vec<Venue> = (0..2u64)
        .map(|k| {
            Venue::new(&symbols)
                .expect("symbols")
                .with_order_ids(k + 1, 2)
        })
        .collect();
    let mut journaled_ids: HashMap<(String, String), u64> = HashMap::new();
    for row in &rows {
        let shard: i32 = row.get(0);
        let at_ms: i64 = row.get(2);
        let text: String = row.get(3);
        let commands: Vec<journal::Command> = serde_json::from_str(&text).expect("journal JSON");
        let venue = &mut venues[shard as usize];
        venue.set_time(at_ms as u64);
        for command in commands {
            let result = command.apply(venue);
            if let (
                journal::Command::Submit {
                    client_order_id: Some(c),
                    account,
                    ..
                },
                Ok(r),
            ) = (&command, &result)
            {
                journaled_ids.insert((account.clone(), c.clone()), r.order_id);
            }
        }
    }
    pool.close().await;
    let hashes: Vec<String> = venues
        .iter()
        .map(|v| format!("{:016x}", v.engine().state_hash()))
        .collect();
    let host_hashes: Vec<String> = stats["shards"]
        .as_array()
        .expect("shards")
        .iter()
        .map(|s| s["state"]["state_hash"].as_str().expect("hash").to_string())
        .collect();
    assert_eq!(
        host_hashes, hashes,
        "the restarted books equal the journal's replay"
    );
    // Every acknowledged order is in the journal, under the id its client was given.
    let principal_of: HashMap<&str, &str> = keys
        .iter()
        .map(String::as_str)
        .zip(["user:t1", "user:t2", "user:t3", "user:t4"])
        .collect();
    for a in &acked {
        let account = principal_of[a.key.as_str()].to_string();
        let id = journaled_ids.get(&(account, a.client_order_id.clone()));
        assert_eq!(
            id.map(u64::to_string).as_deref(),
            Some(a.order_id.as_str()),
            "{} is journaled",
            a.client_order_id
        );
    }
    // At most the requests in flight at the kill were journaled without an answer.
    let unanswered = journaled_ids.len() - acked.len();
    assert!(
        unanswered <= 8,
        "{unanswered} journaled orders were never acknowledged"
    );

    process::drop_database(&name).await;
    let _ = std::fs::remove_dir_all(&data_dir);
}
