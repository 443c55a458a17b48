//! Several replicas as one platform: host processes (the release binary, `BOURSE_RELEASE_DIST`
//! from ./scripts/test) on 127.0.0.1 sharing the real Postgres and Redis. A client on one
//! replica sees trades made through another with the same room numbers, a client that comes
//! back through another replica resumes without missing a number, and killing the replica that
//! runs the books under load loses no acknowledged order while another replica takes over.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bourse_tests::replicas::{self, Replicas, get_json, post_json};
use bourse_tests::ws::{Ws, connect, next, send};
use serde_json::{Value, json};

async fn place(url: &str, key: &str, body: Value) -> (u16, Value) {
    post_json(&format!("{url}/api/orders"), Some(key), &body).await
}

fn limit(symbol: &str, side: &str, price: &str, quantity: &str) -> Value {
    json!({"symbol": symbol, "side": side, "type": "limit", "price": price, "quantity": quantity})
}

/// Trade events of `room` until `count` trades were seen; returns the events' numbers.
async fn trade_events(ws: &mut Ws, room: &str, count: usize) -> Vec<(u64, Value)> {
    let mut seen = Vec::new();
    let mut trades = 0;
    while trades < count {
        let m = next(ws).await;
        if m["room"] == room {
            trades += m["data"]["trades"].as_array().map_or(0, Vec::len);
            seen.push((m["seq"].as_u64().expect("seq"), m["data"].clone()));
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_books_room_numbers_and_sessions() {
    let env = [("BOURSE_MATCHING_SHARDS", "2"), ("BOURSE_LEASE_MS", "1000")];
    let cluster = Replicas::start(2, &env).await;
    let (a, b) = (cluster.url(0), cluster.url(1));
    let owners = replicas::settled(&[a.clone(), b.clone()], 2).await;
    assert_eq!(owners[0], [0, 1], "the first replica took both shards");
    assert!(owners[1].is_empty(), "{owners:?}");
    let ready_b = replicas::ready(&b).await;
    assert_eq!(ready_b["replica"]["id"], "replica-1", "{ready_b}");
    assert_eq!(ready_b["replica"]["role"], "all", "{ready_b}");
    assert_eq!(ready_b["replica"]["redis"], "ok", "{ready_b}");

    let maker = replicas::api_key(&a, "scale-maker", &["trader"]).await;
    let taker = replicas::api_key(&b, "scale-taker", &["trader"]).await;

    // A client of replica B, and one of replica A.
    let mut on_b = connect(&b, &format!("token={maker}")).await;
    send(&mut on_b, json!({"op": "subscribe", "room": "trades:MSFT"})).await;
    let ack = next(&mut on_b).await;
    assert_eq!(ack["type"], "subscribed", "{ack}");
    let session = ack["session"].as_str().expect("session id").to_string();
    send(&mut on_b, json!({"op": "subscribe", "room": "book:MSFT"})).await;
    let snapshot = next(&mut on_b).await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    let mut on_a = connect(&a, "").await;
    send(&mut on_a, json!({"op": "subscribe", "room": "trades:MSFT"})).await;
    assert_eq!(next(&mut on_a).await["type"], "subscribed");

    // A resting order through A, the crossing one through B (which forwards to A's shard).
    let (status, resting) = place(&a, &maker, limit("MSFT", "sell", "310", "5")).await;
    assert_eq!(status, 201, "{resting}");
    let (status, fill) = place(&b, &taker, limit("MSFT", "buy", "310", "2")).await;
    assert_eq!(status, 201, "{fill}");
    assert_eq!(fill["status"], "filled", "{fill}");

    let seen_b = trade_events(&mut on_b, "trades:MSFT", 1).await;
    let seen_a = trade_events(&mut on_a, "trades:MSFT", 1).await;
    assert_eq!(
        seen_b, seen_a,
        "both replicas deliver the trade with one number"
    );
    assert_eq!(seen_b[0].1["trades"][0]["price"], "310");
    let mut last = seen_b[0].0;

    // The book seen from B is the one A runs.
    let book = get_json(&format!("{b}/api/book/MSFT"), Some(&taker)).await;
    assert_eq!(book["asks"], json!([["310", "3"]]), "{book}");

    // B's client goes away; three trades happen; it comes back through A.
    drop(on_b);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..3 {
        let (status, fill) = place(&a, &taker, limit("MSFT", "buy", "310", "1")).await;
        assert_eq!(status, 201, "{fill}");
    }
    let mut back = connect(&a, &format!("token={maker}&session={session}")).await;
    let hello = next(&mut back).await;
    assert_eq!(hello["type"], "session", "{hello}");
    assert_eq!(hello["resumed"], true, "{hello}");
    assert_eq!(hello["session"], session.as_str());
    let mut trades = Vec::new();
    let mut book_reply = None;
    while trades.len() < 3 {
        let m = next(&mut back).await;
        match (m["type"].as_str(), m["room"].as_str()) {
            (Some("subscribed"), Some("trades:MSFT")) => {
                assert_eq!(m["missed"], 0, "{m}");
            }
            (Some("subscribed" | "snapshot"), Some("book:MSFT")) => book_reply = Some(m),
            (None, Some("trades:MSFT")) => {
                let seq = m["seq"].as_u64().expect("seq");
                assert_eq!(seq, last + 1, "no number missed across the reconnect: {m}");
                last = seq;
                trades.push(m);
            }
            _ => {}
        }
    }
    assert!(
        book_reply.is_some() || {
            // The book room's reply may come after the trades it replays; read it.
            loop {
                let m = next(&mut back).await;
                if m["room"] == "book:MSFT" && m["type"].is_string() {
                    break true;
                }
            }
        }
    );

    // A session id is only good for the principal that opened it.
    let mut stranger = connect(&b, &format!("session={session}")).await;
    let refused = next(&mut stranger).await;
    assert_eq!(refused["resumed"], false, "{refused}");

    let stats = get_json(&format!("{b}/api/engine/stats"), None).await;
    assert_eq!(stats["replica"]["id"], "replica-1", "{stats}");
    assert_eq!(stats["shards"][0]["owner"], "replica-0", "{stats}");
    assert_eq!(stats["shards"][0]["runs_here"], false, "{stats}");
    cluster.stop().await;
}

#[derive(Clone)]
struct Acked {
    key: String,
    order_id: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_replica_that_runs_the_books_loses_no_acknowledged_order() {
    let env = [("BOURSE_MATCHING_SHARDS", "2"), ("BOURSE_LEASE_MS", "1000")];
    let mut cluster = Replicas::start(2, &env).await;
    let (a, b) = (cluster.url(0), cluster.url(1));
    let owners = replicas::settled(&[a.clone(), b.clone()], 2).await;
    assert_eq!(owners[0], [0, 1], "{owners:?}");
    let mut keys = Vec::new();
    for t in ["k1", "k2", "k3", "k4"] {
        keys.push(replicas::api_key(&a, &format!("failover-{t}"), &["trader"]).await);
    }

    // Eight clients, half on each replica, place crossing orders until told to stop.
    let acked = Arc::new(Mutex::new(Vec::<(bool, Acked)>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..8usize {
        let url = if c % 2 == 0 { a.clone() } else { b.clone() };
        let (key, acked, stop, killed) = (
            keys[c % keys.len()].clone(),
            acked.clone(),
            stop.clone(),
            killed.clone(),
        );
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0u64.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                let symbol = ["AAPL", "MSFT", "SPY"][(i % 3) as usize];
                let side = if (i + c as u64).is_multiple_of(2) {
                    "buy"
                } else {
                    "sell"
                };
                let body = json!({
                    "symbol": symbol, "side": side, "type": "limit",
                    "price": format!("{}", 100 + (i * 7 + c as u64) % 5),
                    "quantity": format!("{}", 1 + i % 4),
                    "client_order_id": format!("f{c}-{i}"),
                });
                let after_kill = killed.load(std::sync::atomic::Ordering::Relaxed);
                let Ok(response) = client
                    .post(format!("{url}/api/orders"))
                    .bearer_auth(&key)
                    .json(&body)
                    .timeout(Duration::from_secs(20))
                    .send()
                    .await
                else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                if response.status() != 201 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                let Ok(answer) = response.json::<Value>().await else {
                    continue;
                };
                let order_id = answer["order_id"].as_str().unwrap_or_default().to_string();
                acked.lock().expect("lock").push((
                    after_kill,
                    Acked {
                        key: key.clone(),
                        order_id,
                    },
                ));
            }
        }));
    }
    // A client of B follows a book: when B takes the shard over, the room carries the
    // whole book (what A executed but never published included).
    let mut follower = connect(&b, "").await;
    send(
        &mut follower,
        json!({"op": "subscribe", "room": "book:AAPL"}),
    )
    .await;
    let watcher = tokio::spawn(async move {
        loop {
            let m = next(&mut follower).await;
            if m["room"] == "book:AAPL" && m["data"]["type"] == "snapshot" {
                return m;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(2500)).await;
    killed.store(true, std::sync::atomic::Ordering::Relaxed);
    cluster.kill(0);
    // The lease (1 s) expires, B takes both shards, rebuilds them and carries on.
    let owners = replicas::settled(std::slice::from_ref(&b), 2).await;
    assert_eq!(owners[0], [0, 1]);
    // Calls the dead replica had taken but not answered time out (2 leases + 3 s) with
    // "outcome unknown"; the clients waiting on them go on after that.
    tokio::time::sleep(Duration::from_millis(7000)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    let announced = tokio::time::timeout(Duration::from_secs(5), watcher)
        .await
        .expect("the takeover announced the book")
        .expect("watcher");
    assert!(announced["data"]["bids"].is_array(), "{announced}");
    let acked = acked.lock().expect("lock").clone();
    let before = acked.iter().filter(|(after, _)| !after).count();
    let after = acked.len() - before;
    assert!(
        before > 50,
        "the load ran before the kill: {before} acknowledged"
    );
    assert!(
        after > 20,
        "the book carried on on the other replica: {after} acknowledged after the kill"
    );

    let client = reqwest::Client::new();
    for (_, a) in &acked {
        let r = client
            .get(format!("{b}/api/orders/{}", a.order_id))
            .bearer_auth(&a.key)
            .send()
            .await
            .expect("answered");
        assert_eq!(
            r.status(),
            200,
            "acknowledged order {} survived",
            a.order_id
        );
    }
    let stats = get_json(&format!("{b}/api/engine/stats"), None).await;
    for shard in stats["shards"].as_array().expect("shards") {
        assert_eq!(shard["runs_here"], true, "{stats}");
        assert!(
            shard["state"]["fencing_token"].as_u64().unwrap_or(0) >= 2,
            "the takeover took a newer fencing token: {stats}"
        );
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_refresh_tokens_and_rate_limits_are_shared_by_every_replica() {
    let env = [
        ("JWT_SECRET", "scale-out-jwt-secret-0123456789abcdef"),
        // 5 requests/s per principal, burst 10: across both replicas, not each.
        ("BOURSE_RATE_LIMIT_PRINCIPAL", "5"),
    ];
    let cluster = Replicas::start(2, &env).await;
    let (a, b) = (cluster.url(0), cluster.url(1));
    let client = reqwest::Client::new();
    let user = bourse_tests::unique("u");
    let credentials = json!({"username": user, "password": "correct horse battery"});
    let (status, _) = post_json(&format!("{a}/api/auth/register"), None, &credentials).await;
    assert_eq!(status, 201, "registered through A");
    let (_, login) = post_json(&format!("{b}/api/auth/login"), None, &credentials).await;
    let access = login["access_token"].as_str().expect("signed in through B");
    let refresh = login["refresh_token"].as_str().expect("refresh token");
    let me = get_json(&format!("{a}/api/auth/me"), Some(access)).await;
    assert_eq!(
        me["id"],
        format!("user:{user}"),
        "B's token works on A: {me}"
    );
    let spend = json!({"refresh_token": refresh});
    let (status, _) = post_json(&format!("{a}/api/auth/refresh"), None, &spend).await;
    assert_eq!(status, 200, "B's refresh token is honoured by A");
    let (_, reused) = post_json(&format!("{b}/api/auth/refresh"), None, &spend).await;
    assert_eq!(
        reused["error"]["code"], "refresh_token_reused",
        "A spent it, so B sees the reuse: {reused}"
    );

    // Thirty requests, alternating replicas, as fast as they go: one bucket serves them all.
    let (mut ok, mut limited) = (0, 0);
    for i in 0..30 {
        let url = if i % 2 == 0 { &a } else { &b };
        let r = client
            .get(format!("{url}/api/auth/me"))
            .bearer_auth(access)
            .send()
            .await
            .expect("answered");
        match r.status().as_u16() {
            200 => ok += 1,
            429 => limited += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(limited > 0, "the shared bucket ran out: {ok} ok");
    assert!(
        ok <= 13,
        "one bucket of 10 (plus a little refill) across both replicas, not 10 each: {ok} ok"
    );
    cluster.stop().await;
}
