//! Order traffic that lives through faults: clients place crossing limit orders, each with a
//! client order id, and retry an order with the same id while the platform answers 503 or
//! cannot be reached, as the 503's advice says. What they saw is kept for the checks.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bourse_tests::journal;
use serde_json::Value;
use tokio::task::JoinHandle;

/// How long one order may go unacknowledged (retried all along) before a client gives up.
const ORDER_PATIENCE: Duration = Duration::from_secs(60);

/// An order the platform acknowledged with 201.
#[derive(Debug, Clone)]
pub struct Acked {
    pub trader: usize,
    pub client_order_id: String,
    pub order_id: u64,
    /// The fault phase it was acknowledged in.
    pub phase: usize,
}

/// What the clients saw.
#[derive(Default)]
pub struct Seen {
    pub acked: Vec<Acked>,
    /// Answers a client retried: (status, error code, retry-after).
    pub retried: Vec<(u16, String, Option<String>)>,
    /// Answers no fault excuses.
    pub wrong: Vec<String>,
}

impl Seen {
    pub fn acked_in(&self, phase: usize) -> usize {
        self.acked.iter().filter(|a| a.phase == phase).count()
    }
}

/// Running clients and what they see.
pub struct Load {
    pub seen: Arc<Mutex<Seen>>,
    pub phase: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts `clients` clients; client `c` sends to `urls[c % urls.len()]` with the keys of
    /// `keys` in turn.
    pub fn start(clients: usize, urls: &[String], keys: &[String]) -> Load {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let phase = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let keys = Arc::new(keys.to_vec());
        let clients = (0..clients)
            .map(|c| {
                tokio::spawn(place_orders(
                    c,
                    urls[c % urls.len()].clone(),
                    keys.clone(),
                    seen.clone(),
                    phase.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        Load {
            seen,
            phase,
            stop,
            clients,
        }
    }

    pub fn enter(&self, phase: usize) {
        self.phase.store(phase, Ordering::Relaxed);
    }

    pub fn acked_in(&self, phase: usize) -> usize {
        self.seen.lock().expect("lock").acked_in(phase)
    }

    pub fn retried(&self) -> usize {
        self.seen.lock().expect("lock").retried.len()
    }

    /// Waits until `n` orders were acknowledged in the current phase (at most `patience`).
    pub async fn until_acked(&self, n: usize, patience: Duration) {
        let phase = self.phase.load(Ordering::Relaxed);
        let since = Instant::now();
        while self.acked_in(phase) < n && since.elapsed() < patience {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the clients once each has its current order acknowledged; what they saw.
    pub async fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        for c in self.clients {
            c.await.expect("client task");
        }
        std::mem::take(&mut *self.seen.lock().expect("lock"))
    }
}

/// Every refused order was a 503 `unavailable` that says it may be retried.
pub fn assert_retry_advice(seen: &Seen) {
    for (status, code, retry_after) in &seen.retried {
        assert_eq!(
            (*status, code.as_str(), retry_after.as_deref()),
            (503, "unavailable", Some("1")),
            "a refused order says it may be retried"
        );
    }
}

async fn place_orders(
    client: usize,
    url: String,
    keys: Arc<Vec<String>>,
    seen: Arc<Mutex<Seen>>,
    phase: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    for i in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let trader = (client + i as usize) % keys.len();
        let client_order_id = format!("c{client}-{i}");
        let body = journal::crossing_order(i, client as u64, &client_order_id);
        let since = Instant::now();
        loop {
            if since.elapsed() > ORDER_PATIENCE {
                seen.lock().expect("lock").wrong.push(format!(
                    "{client_order_id} unacknowledged after {ORDER_PATIENCE:?}"
                ));
                return;
            }
            let answer = http
                .post(format!("{url}/api/orders"))
                .bearer_auth(&keys[trader])
                .json(&body)
                .send()
                .await;
            let Ok(response) = answer else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            // A retry of an order whose first answer was lost finds it made: 200, the
            // same order (`duplicate`), which acknowledges it as well.
            let repeated = status == 200 && answer["duplicate"] == true;
            match status {
                _ if status == 201 || repeated => {
                    seen.lock().expect("lock").acked.push(Acked {
                        trader,
                        client_order_id,
                        order_id: journal::order_id(&answer),
                        phase: phase.load(Ordering::Relaxed),
                    });
                    break;
                }
                503 => {
                    let code = answer["error"]["code"].as_str().unwrap_or("").to_string();
                    seen.lock()
                        .expect("lock")
                        .retried
                        .push((status, code, retry_after));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                _ => {
                    seen.lock()
                        .expect("lock")
                        .wrong
                        .push(format!("{client_order_id}: {status} {answer}"));
                    return;
                }
            }
        }
    }
}

/// Every acknowledged order is found through `url`, is in the journal once under the id its
/// client was given, and nothing else is: each order was retried until acknowledged.
pub async fn assert_kept_once(
    seen: &Seen,
    url: &str,
    keys: &[String],
    traders: &[&str],
    replay: &journal::Replay,
) {
    let http = reqwest::Client::new();
    for a in &seen.acked {
        let status = http
            .get(format!("{url}/api/orders/{}", a.order_id))
            .bearer_auth(&keys[a.trader])
            .send()
            .await
            .expect("answered")
            .status();
        assert_eq!(status, 200, "acknowledged order {} is there", a.order_id);
        let account = journal::account_of(traders[a.trader]);
        assert_eq!(
            replay.made.get(&(account, a.client_order_id.clone())),
            Some(&vec![a.order_id]),
            "{} is journaled once, under the id its client was given",
            a.client_order_id
        );
    }
    assert_eq!(
        replay.made.len(),
        seen.acked.len(),
        "every journaled order was acknowledged in the end (each was retried until it was)"
    );
}

/// Waits until the replicas at `urls` run the `shards` shards between them, then checks that
/// the books each of them sees hash to an independent replay of the journal; the replay.
pub async fn assert_cluster_books_equal_replay(
    urls: &[String],
    database_url: &str,
    shards: u64,
) -> journal::Replay {
    let owners = bourse_tests::replicas::settled(urls, shards).await;
    println!("shards after the faults: {owners:?}");
    let replay = journal::replay(database_url, shards).await;
    for url in urls {
        assert_eq!(
            journal::host_hashes(url).await,
            replay.hashes,
            "the books seen through {url} equal the journal's replay"
        );
    }
    replay
}
