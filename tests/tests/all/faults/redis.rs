//! The cluster's Redis failing while two replicas serve orders and WebSocket clients: clients
//! paused (`CLIENT PAUSE`), the server stalled (`DEBUG SLEEP`), the server restarted. Leases
//! and fencing keep one writer per shard (the books equal the journal's replay), orders answer
//! 503 with retry advice meanwhile, nothing acknowledged is lost or made twice, and WebSocket
//! clients on both replicas see every trade once, numbered without a gap.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bourse_tests::replicas::{self, Replicas};
use bourse_tests::services::PrivateRedis;
use bourse_tests::ws::{self, Ws};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::load::{Load, assert_cluster_books_equal_replay, assert_kept_once, assert_retry_advice};

const TRADERS: [&str; 3] = ["r1", "r2", "r3"];
const SYMBOLS: [&str; 3] = ["AAPL", "MSFT", "SPY"];

/// What one WebSocket client saw of the trade rooms.
#[derive(Default, Debug)]
struct Watched {
    /// Per room, the numbers of the events delivered, in order.
    seqs: BTreeMap<String, Vec<u64>>,
    /// Per room, trades delivered.
    trades: BTreeMap<String, usize>,
    /// What says an event was skipped: a `lagged` message, a resume that missed some.
    skips: Vec<Value>,
    /// Times the connection was lost and resumed.
    resumes: usize,
}

/// A client of `url` subscribed to every symbol's trades; resumes its session when the
/// connection drops, as a trading UI does.
async fn watch(url: String, key: String, watched: Arc<Mutex<Watched>>, stop: Arc<AtomicBool>) {
    let mut session: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        let query = match &session {
            Some(s) => format!("token={key}&session={s}"),
            None => format!("token={key}"),
        };
        let ws_url = format!("{}/ws?{query}", url.replacen("http://", "ws://", 1));
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(ws_url).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if session.is_some() {
            watched.lock().expect("lock").resumes += 1;
        } else {
            for symbol in SYMBOLS {
                ws::send(
                    &mut socket,
                    json!({"op": "subscribe", "room": format!("trades:{symbol}")}),
                )
                .await;
            }
        }
        read(&mut socket, &mut session, &watched, &stop).await;
    }
}

async fn read(
    socket: &mut Ws,
    session: &mut Option<String>,
    watched: &Mutex<Watched>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) {
        let message = match tokio::time::timeout(Duration::from_millis(200), socket.next()).await {
            Err(_) => continue,
            Ok(Some(Ok(Message::Text(text)))) => text,
            Ok(Some(Ok(_))) => continue,
            Ok(_) => return,
        };
        let m: Value = serde_json::from_str(&message).unwrap_or(Value::Null);
        let mut w = watched.lock().expect("lock");
        match (m["type"].as_str(), m["room"].as_str()) {
            (Some("subscribed"), _) => {
                if let Some(s) = m["session"].as_str() {
                    *session = Some(s.to_string());
                }
                if m["missed"].as_u64().unwrap_or(0) > 0 {
                    w.skips.push(m);
                }
            }
            (Some("session"), _) if m["resumed"] != true => w.skips.push(m),
            (Some("lagged"), _) => w.skips.push(m),
            (None, Some(room)) if room.starts_with("trades:") => {
                let n = m["data"]["trades"].as_array().map_or(0, Vec::len);
                *w.trades.entry(room.to_string()).or_default() += n;
                if let Some(seq) = m["seq"].as_u64() {
                    w.seqs.entry(room.to_string()).or_default().push(seq);
                }
            }
            _ => {}
        }
    }
}

/// Stalls the Redis server at `url` for `seconds` (`DEBUG SLEEP`), on a connection of its own.
fn stall(url: String, seconds: u32) -> tokio::task::JoinHandle<redis::RedisResult<redis::Value>> {
    tokio::spawn(async move {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(seconds)
            .query_async::<redis::Value>(&mut conn)
            .await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_stalled_and_restarted_under_two_replicas() {
    let mut redis = PrivateRedis::start().await;
    let redis_url = redis.url();
    let env = [
        ("BOURSE_MATCHING_SHARDS", "2"),
        ("BOURSE_LEASE_MS", "1000"),
        ("REDIS_URL", redis_url.as_str()),
    ];
    let cluster = Replicas::start(2, &env).await;
    let urls = [cluster.url(0), cluster.url(1)];
    replicas::settled(&urls, 2).await;
    let mut keys = Vec::new();
    for trader in TRADERS {
        keys.push(replicas::api_key(&urls[0], trader, &["trader"]).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let watchers: Vec<(Arc<Mutex<Watched>>, tokio::task::JoinHandle<()>)> = urls
        .iter()
        .map(|url| {
            let watched = Arc::new(Mutex::new(Watched::default()));
            let task = tokio::spawn(watch(
                url.clone(),
                keys[0].clone(),
                watched.clone(),
                stop.clone(),
            ));
            (watched, task)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let load = Load::start(4, &urls, &keys);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // 1. Every client of Redis paused for longer than a lease.
    load.enter(1);
    redis
        .command(&["CLIENT", "PAUSE", "2500", "ALL"])
        .await
        .expect("CLIENT PAUSE");
    tokio::time::sleep(Duration::from_secs(5)).await;

    // 2. The server itself stalls for two seconds.
    load.enter(2);
    let stalled = stall(redis_url.clone(), 2);
    stalled.await.expect("task").expect("DEBUG SLEEP");
    tokio::time::sleep(Duration::from_secs(3)).await;

    // 3. Redis restarts: down for two seconds, back with its data.
    load.enter(3);
    redis.down();
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.up().await;

    // 4. Both replicas serve orders again, without a restart.
    load.enter(4);
    load.until_acked(50, Duration::from_secs(30)).await;
    let seen = load.finish().await;
    for p in 0..=4 {
        println!("phase {p}: {} orders acknowledged", seen.acked_in(p));
    }
    println!("{} answers retried", seen.retried.len());
    assert!(seen.wrong.is_empty(), "unexcused answers: {:?}", seen.wrong);
    assert!(seen.acked_in(0) > 20, "the load ran before the faults");
    assert!(
        seen.acked_in(4) >= 50,
        "orders are served again after the faults"
    );
    assert_retry_advice(&seen);

    let replay = assert_cluster_books_equal_replay(&urls, &cluster.database_url, 2).await;
    assert_kept_once(&seen, &urls[1], &keys, &TRADERS, &replay).await;

    // Every trade reaches both clients once, numbered without a gap.
    let expected: BTreeMap<String, usize> = SYMBOLS
        .iter()
        .map(|s| {
            (
                format!("trades:{s}"),
                replay.trades.get(*s).copied().unwrap_or(0),
            )
        })
        .collect();
    for _ in 0..100 {
        let done = watchers
            .iter()
            .all(|(w, _)| w.lock().expect("lock").trades == expected);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut views = Vec::new();
    for (watched, task) in watchers {
        task.await.expect("watcher");
        let w = std::mem::take(&mut *watched.lock().expect("lock"));
        println!("client: {} resumes, trades {:?}", w.resumes, w.trades);
        assert!(
            w.skips.is_empty(),
            "a client was told it missed events: {:?}",
            w.skips
        );
        for (room, seqs) in &w.seqs {
            let first = seqs[0];
            let want: Vec<u64> = (first..first + seqs.len() as u64).collect();
            assert_eq!(seqs, &want, "{room}'s events are numbered without a gap");
        }
        assert_eq!(w.trades, expected, "every trade is delivered once");
        views.push(w.seqs);
    }
    assert_eq!(views[0], views[1], "both replicas number the events alike");
    cluster.stop().await;
}

/// Events of one room a hub subscriber receives, up to `most` of them or for `within`:
/// (number, payload).
async fn received(
    subscription: &mut bourse::events::Subscription,
    most: usize,
    within: Duration,
) -> Vec<(u64, String)> {
    let mut got = Vec::new();
    let until = tokio::time::Instant::now() + within;
    while got.len() < most {
        match tokio::time::timeout_at(until, subscription.recv()).await {
            Ok(Ok(event)) => got.push((event.seq, event.data.get().to_string())),
            _ => break,
        }
    }
    got
}

/// Events published while Redis is down, or while it stalls past the publisher's response
/// timeout (so it runs a script call whose caller gave up on it), reach subscribers once
/// Redis is back: each once, in order, numbered without a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_redis_did_not_take_go_out_once_it_is_back() {
    use bourse::cluster::{Cluster, bus::Bus};
    use bourse::events::EventHub;

    let mut redis = PrivateRedis::start().await;
    let cluster = Cluster::join(
        &redis.url(),
        "events-fault",
        None,
        bourse::config::Role::All,
        Duration::from_secs(3),
    )
    .await
    .expect("join");
    let hub = Arc::new(EventHub::default());
    hub.attach(Bus::start(cluster.clone(), 100));
    cluster.listen(hub.clone());
    let mut subscription = hub.subscribe("trades:T");
    let publish = |n: u32| {
        let hub = hub.clone();
        tokio::spawn(async move {
            let data = serde_json::value::to_raw_value(&json!({ "n": n })).expect("JSON");
            hub.publish_batch("market", vec![("trades:T".to_string(), Arc::from(data))])
                .await
        })
    };
    // The listener is subscribed once a first event comes back.
    let mut first = 0;
    for _ in 0..100 {
        publish(0).await.expect("publish");
        let got = received(&mut subscription, usize::MAX, Duration::from_millis(200)).await;
        if let Some((seq, _)) = got.last() {
            first = *seq;
            break;
        }
    }
    assert!(first > 0, "events went through Redis before the faults");

    // Down: published meanwhile (queued in order, not waited for), and one more as it comes
    // back.
    redis.down();
    for n in 1..=3 {
        hub.publish_value("market", "trades:T", &json!({ "n": n }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    redis.up().await;
    publish(4).await.expect("publish");
    let mut got = received(&mut subscription, 4, Duration::from_secs(15)).await;

    // Stalled longer than the publisher waits for an answer (5 s) while a call is on its
    // way: the call it gave up on still runs once Redis wakes, and so does its retry.
    let sleeping = stall(redis.url(), 7);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stalled = publish(5);
    sleeping.await.expect("task").expect("DEBUG SLEEP");
    stalled.await.expect("publish");
    got.extend(received(&mut subscription, 1, Duration::from_secs(15)).await);
    // Anything published twice would follow.
    got.extend(received(&mut subscription, usize::MAX, Duration::from_secs(2)).await);
    let payloads: Vec<&str> = got.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(
        payloads,
        [
            "{\"n\":1}",
            "{\"n\":2}",
            "{\"n\":3}",
            "{\"n\":4}",
            "{\"n\":5}"
        ],
        "every event arrives once, in order"
    );
    let seqs: Vec<u64> = got.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(
        seqs,
        (first + 1..first + 6).collect::<Vec<_>>(),
        "numbered without a gap"
    );
}
