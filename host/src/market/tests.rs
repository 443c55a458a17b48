//! The market on its own: matching, ownership, client order ids, and a journal that rebuilds
//! the same books after a restart.

use std::collections::HashMap;

use tokio::sync::oneshot;

use super::journal::{Batch, Journal, Kind, Tif};
use super::publish::Publisher;
use super::shard::{Job, Outcome, Shard, now_ms};
use super::*;
use crate::events::EventHub;

async fn market(shards: usize) -> Market {
    capped_market(shards, 0).await
}

/// An in-memory market whose accounts may each have `max_open_orders` resting (0: any).
async fn capped_market(shards: usize, max_open_orders: u64) -> Market {
    Market::start(
        &default_symbols(),
        MarketConfig {
            client_ids: Default::default(),
            shards,
            snapshot_every: 0,
            journal: None,
            events: None,
            cluster: None,
            max_open_orders,
        },
    )
    .await
    .expect("default symbols are valid")
}

fn order(symbol: &str, side: Side, price: i64, quantity: u64, account: &str) -> OrderRequest {
    OrderRequest {
        symbol: symbol.into(),
        side,
        kind: OrderKind::Limit,
        price,
        quantity,
        time_in_force: TimeInForce::Gtc,
        post_only: false,
        client_order_id: None,
        account: account.into(),
    }
}

#[tokio::test]
async fn crossing_orders_trade_at_the_makers_price() {
    let market = market(2).await;
    let maker = market
        .submit(&order("AAPL", Side::Sell, 10_000, 5, "a"))
        .await
        .expect("rests");
    assert_eq!(maker.status, OrderStatus::Accepted);
    let taker = market
        .submit(&order("AAPL", Side::Buy, 10_100, 3, "b"))
        .await
        .expect("trades");
    assert_eq!(taker.status, OrderStatus::Filled);
    assert_eq!(taker.trades.len(), 1);
    assert_eq!(
        (taker.trades[0].price, taker.trades[0].quantity),
        (10_000, 3)
    );
    let depth = market.depth("AAPL", 5).await.expect("known symbol");
    assert_eq!(depth.asks.len(), 1);
    assert_eq!((depth.asks[0].price, depth.asks[0].quantity), (10_000, 2));
}

#[tokio::test]
async fn only_the_owner_can_cancel_or_amend() {
    let market = market(2).await;
    let resting = market
        .submit(&order("MSFT", Side::Buy, 9_000, 4, "a"))
        .await
        .expect("rests");
    let stranger = market
        .cancel("b", "MSFT", resting.order_id)
        .await
        .unwrap_err();
    assert_eq!(stranger.code, RejectCode::UnknownOrder);
    let wrong_symbol = market
        .cancel("a", "AAPL", resting.order_id)
        .await
        .unwrap_err();
    assert_eq!(wrong_symbol.code, RejectCode::UnknownOrder);
    let amended = market
        .amend("a", "MSFT", resting.order_id, None, Some(2))
        .await
        .expect("owner amends");
    assert_eq!(amended.remaining_quantity, 2);
    let owner = market
        .cancel("a", "MSFT", resting.order_id)
        .await
        .expect("owner cancels");
    assert_eq!(owner.status, OrderStatus::Cancelled);
}

#[tokio::test]
async fn a_batch_across_shards_answers_in_order_with_unique_ids() {
    let market = market(3).await;
    let mut with_id = order("SPY", Side::Buy, 100, 1, "a");
    with_id.client_order_id = Some("dup".into());
    let mut same_id_other_symbol = order("AAPL", Side::Buy, 100, 1, "a");
    same_id_other_symbol.client_order_id = Some("dup".into());
    let batch = vec![
        order("AAPL", Side::Buy, 100, 1, "a"),
        order("NOPE", Side::Buy, 100, 1, "a"),
        with_id,
        same_id_other_symbol,
        order("MSFT", Side::Sell, 100, 1, "a"),
        order("AAPL", Side::Buy, 101, 1, "a"),
    ];
    let results = market.submit_batch(&batch).await;
    let codes: Vec<Option<RejectCode>> = results
        .iter()
        .map(|r| r.as_ref().err().map(|e| e.code))
        .collect();
    assert_eq!(
        codes,
        [
            None,
            Some(RejectCode::UnknownSymbol),
            None,
            None,
            None,
            None
        ]
    );
    let (first, repeat) = (
        results[2].as_ref().expect("first use"),
        results[3].as_ref().expect("repeat answered"),
    );
    assert_eq!((repeat.order_id, repeat.duplicate), (first.order_id, true));
    let mut ids: Vec<u64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().filter(|o| !o.duplicate).map(|o| o.order_id))
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "order ids are unique across shards");
}

#[tokio::test]
async fn a_refused_order_frees_its_client_order_id() {
    let market = market(1).await;
    let mut fok = order("SPY", Side::Buy, 100, 5, "a");
    fok.time_in_force = TimeInForce::Fok;
    fok.client_order_id = Some("c-1".into());
    assert_eq!(
        market.submit(&fok).await.unwrap_err().code,
        RejectCode::FokCannotFill
    );
    let mut plain = order("SPY", Side::Buy, 100, 5, "a");
    plain.client_order_id = Some("c-1".into());
    assert!(market.submit(&plain).await.is_ok());
}

async fn journaled(dir: &std::path::Path, snapshot_every: u64) -> Market {
    let sql = crate::store::sql::Sql::connect(None, dir)
        .await
        .expect("sqlite");
    let journal = Journal::open(sql.main().clone(), false, 2, "AAPL,MSFT,SPY")
        .await
        .expect("journal opens");
    Market::start(
        &default_symbols(),
        MarketConfig {
            client_ids: Default::default(),
            shards: 2,
            snapshot_every,
            journal: Some(Arc::new(journal)),
            events: None,
            cluster: None,
            max_open_orders: 0,
        },
    )
    .await
    .expect("market starts")
}

async fn hashes(market: &Market) -> Vec<String> {
    let stats = market.stats(true).await;
    stats["shards"]
        .as_array()
        .expect("shards")
        .iter()
        .map(|s| s["state"]["state_hash"].as_str().expect("hash").to_string())
        .collect()
}

#[tokio::test]
async fn a_restarted_market_rebuilds_the_same_books_from_its_journal() {
    for snapshot_every in [0, 7] {
        let dir = std::env::temp_dir().join(format!(
            "bourse-journal-{}-{snapshot_every}",
            std::process::id()
        ));
        let (before, first_id) = {
            let market = journaled(&dir, snapshot_every).await;
            let mut first_id = 0;
            for i in 0..60u64 {
                let symbol = ["AAPL", "MSFT", "SPY"][(i % 3) as usize];
                let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
                let mut o = order(symbol, side, 100 + (i % 5) as i64, 1 + i % 3, "a");
                o.client_order_id = Some(format!("c{i}"));
                let r = market.submit(&o).await.expect("accepted");
                if i == 0 {
                    first_id = r.order_id;
                }
            }
            (hashes(&market).await, first_id)
        };
        let market = journaled(&dir, snapshot_every).await;
        assert_eq!(
            hashes(&market).await,
            before,
            "snapshot_every {snapshot_every}"
        );
        let mut repeat = order("AAPL", Side::Buy, 100, 1, "a");
        repeat.client_order_id = Some("c0".into());
        let again = market.submit(&repeat).await.expect("answered");
        assert_eq!((again.order_id, again.duplicate), (first_id, true));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[tokio::test]
async fn a_market_whose_shards_were_started_elsewhere_can_no_longer_write_them() {
    let dir = std::env::temp_dir().join(format!("bourse-fence-{}", std::process::id()));
    let first = journaled(&dir, 0).await;
    first
        .submit(&order("AAPL", Side::Buy, 100, 1, "a"))
        .await
        .expect("accepted while it is the only one");
    // Another host starts the same shards: each takes the next fencing token.
    let second = journaled(&dir, 0).await;
    let refused = first
        .submit(&order("AAPL", Side::Buy, 101, 1, "a"))
        .await
        .expect_err("the first host was fenced out");
    assert_eq!(refused.code, RejectCode::Unavailable, "{}", refused.message);
    assert!(
        refused.message.contains("not executed"),
        "{}",
        refused.message
    );
    assert!(
        first.running_shards().len() < 2,
        "the fenced shard stopped on the first host"
    );
    second
        .submit(&order("AAPL", Side::Buy, 102, 1, "a"))
        .await
        .expect("the new owner writes");
    let stats = second.stats(false).await;
    assert_eq!(stats["shards"][0]["state"]["open_orders"], 2, "{stats}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn accounts_journaled_before_kinded_ids_are_renamed_once_and_keep_their_orders() {
    for snapshot_every in [0, 4] {
        let dir = std::env::temp_dir().join(format!(
            "bourse-kinded-{}-{snapshot_every}",
            std::process::id()
        ));
        {
            // Orders as a host before kinded ids journaled them.
            let market = journaled(&dir, snapshot_every).await;
            for (i, account) in ["ops", "alice", "sim-3", "operator", "ops"]
                .iter()
                .enumerate()
            {
                let o = order("AAPL", Side::Buy, 100 + i as i64, 1, account);
                market.submit(&o).await.expect("accepted");
            }
            let sql = crate::store::sql::Sql::connect(None, &dir)
                .await
                .expect("sqlite");
            sqlx::query("DELETE FROM journal_meta WHERE name = 'account ids'")
                .execute(sql.main())
                .await
                .expect("marker removed");
        }
        for _ in 0..2 {
            // Twice: the second start must not rename `operator` to `user:operator`.
            let market = journaled(&dir, snapshot_every).await;
            let count = |account: &'static str| {
                let market = &market;
                async move { market.orders(account, true, 100).await.len() }
            };
            assert_eq!(count("operator").await, 2, "ADMIN_TOKEN's orders");
            assert_eq!(count("user:alice").await, 1);
            assert_eq!(count("sim:3").await, 1);
            assert_eq!(
                count("user:operator").await,
                1,
                "a user once named operator"
            );
            assert_eq!(count("ops").await + count("alice").await, 0);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Each account's count of open orders (what the cap is checked against) equals the orders it
/// really has resting, through fills, partial fills, IOC remainders, cancels and amends, on
/// several shards, and again after a restart rebuilds the shards from the journal.
#[tokio::test]
async fn open_order_counts_follow_the_books_and_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("bourse-open-{}", std::process::id()));
    let accounts = ["a", "b", "c"];
    let check = |market: &Market| {
        let market = market.inner.clone();
        async move {
            for account in accounts {
                let listed = Market {
                    inner: market.clone(),
                }
                .orders(account, true, 1000)
                .await
                .len() as u64;
                assert_eq!(market.open_orders.of(account), listed, "account {account}");
            }
        }
    };
    {
        let market = journaled(&dir, 5).await;
        // A small linear congruential generator: the same flow on every run.
        let mut state = 7u64;
        let mut next = |n: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            (state >> 33) % n
        };
        let mut placed = Vec::new();
        for _ in 0..300 {
            let symbol = ["AAPL", "MSFT", "SPY"][next(3) as usize];
            let account = accounts[next(3) as usize];
            let earlier: Option<(&str, &str, u64)> =
                (!placed.is_empty()).then(|| placed[next(placed.len() as u64) as usize]);
            match (next(10), earlier) {
                (0, Some((who, sym, id))) => {
                    let _ = market.cancel(who, sym, id).await;
                }
                (1, Some((who, sym, id))) => {
                    let _ = market
                        .amend(who, sym, id, Some(95 + next(10) as i64), None)
                        .await;
                }
                _ => {
                    let side = if next(2) == 0 { Side::Buy } else { Side::Sell };
                    let mut o = order(symbol, side, 95 + next(10) as i64, 1 + next(4), account);
                    if next(4) == 0 {
                        o.time_in_force = TimeInForce::Ioc;
                    }
                    if let Ok(r) = market.submit(&o).await {
                        placed.push((account, symbol, r.order_id));
                    }
                }
            }
        }
        check(&market).await;
    }
    let market = journaled(&dir, 5).await;
    check(&market).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The cap refuses an order that would rest beyond it, whatever the shard, and a cancel
/// frees a place.
#[tokio::test]
async fn the_open_order_cap_holds_across_shards() {
    let market = capped_market(3, 2).await;
    let mut ids = Vec::new();
    for symbol in ["AAPL", "MSFT", "SPY"] {
        ids.push(market.submit(&order(symbol, Side::Buy, 100, 1, "a")).await);
    }
    let refused = ids
        .pop()
        .expect("three answers")
        .expect_err("a third resting order");
    assert_eq!(refused.code, RejectCode::TooManyOpenOrders);
    let first = ids[0].as_ref().expect("rests").order_id;
    market.cancel("a", "AAPL", first).await.expect("cancelled");
    market
        .submit(&order("SPY", Side::Buy, 100, 1, "a"))
        .await
        .expect("a cancel freed a place");
}

/// A journal write whose outcome was not confirmed, found on disk later, is history: the
/// shard executes its commands and publishes what they did (book, trades, fills) with the
/// next batch, exactly as if the write had been confirmed, and counts them as journaled.
#[tokio::test]
async fn an_uncertain_batch_found_written_publishes_its_events() {
    use super::journal::Side as JournalSide;
    let dir = std::env::temp_dir().join(format!("bourse-uncertain-{}", std::process::id()));
    let sql = crate::store::sql::Sql::connect(None, &dir)
        .await
        .expect("sqlite");
    let journal = Arc::new(
        Journal::open(sql.main().clone(), false, 1, "AAPL,MSFT,SPY")
            .await
            .expect("journal opens"),
    );
    let events = Arc::new(EventHub::new(64, 64, Duration::from_secs(60)));
    let mut trades = events.subscribe("trades:AAPL");
    let mut fills = events.subscribe("orders:b");
    let specs: Vec<venue::SymbolSpec> = venue::default_symbols();
    let venue = Venue::new(&specs).expect("symbols");
    let token = journal.fence(0).await.expect("fence");
    let counters = Arc::new(vec![ShardCounters::default()]);
    let mut shard = Shard {
        index: 0,
        publisher: Publisher::new(Some(events.clone()), venue.symbols().to_vec()),
        venue,
        seq: 0,
        token,
        journal: Some(journal.clone()),
        counters: counters.clone(),
        open_orders: Arc::new(OpenOrders::new(0)),
        books: Arc::new((0..3).map(|_| BookCounters::default()).collect()),
        symbol_index: HashMap::new(),
        snapshot_every: 0,
        since_snapshot: 0,
        uncertain: None,
    };
    // The write that "failed": a resting sell and a buy that trades with it, on disk.
    let submit = |side, account: &str| Command::Submit {
        symbol: "AAPL".into(),
        side,
        kind: Kind::Limit,
        price: 100,
        quantity: 1,
        tif: Tif::Gtc,
        post_only: false,
        client_order_id: None,
        account: account.into(),
    };
    let lost = vec![
        submit(JournalSide::Sell, "a"),
        submit(JournalSide::Buy, "b"),
    ];
    let at_ms = now_ms();
    journal
        .append(0, token, 1, at_ms, &lost.iter().collect::<Vec<_>>())
        .await
        .expect("written");
    shard.uncertain = Some(Batch {
        first_seq: 1,
        at_ms,
        commands: lost,
    });

    // The next batch makes the shard look the write up.
    let (reply, answer) = oneshot::channel();
    let next = vec![submit(JournalSide::Buy, "c")];
    assert!(shard.process(&mut vec![Job::Commands(next, reply)]).await);
    assert!(matches!(
        answer.await.expect("answered").as_slice(),
        [Outcome::Done(Ok(_))]
    ));
    let trade = trades
        .try_recv()
        .expect("the lost batch's trade is published");
    assert!(trade.data.get().contains("\"price\""), "{}", trade.data);
    let fill = fills.try_recv().expect("the taker's fill is published");
    assert!(fill.data.get().contains("\"fill\""), "{}", fill.data);
    assert_eq!(counters[0].durable_seq.load(Ordering::Relaxed), 3);
    assert_eq!(counters[0].commands.load(Ordering::Relaxed), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `/api/engine/stats` is served from counters the shards keep as orders flow: it answers at
/// once while a shard's task is busy (it never queues behind the commands, nor makes the
/// shard walk its books), and its book sizes are the books' own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_stats_come_from_counters_not_from_the_busy_shard() {
    let market = market(2).await;
    for (side, price) in [(Side::Buy, 99), (Side::Buy, 98), (Side::Sell, 101)] {
        market
            .submit(&order("AAPL", side, price, 1, "a"))
            .await
            .expect("rests");
    }
    market
        .submit(&order("AAPL", Side::Buy, 101, 1, "b"))
        .await
        .expect("trades");
    // Hold shard 0's task (AAPL's) on a read until the stats have answered.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let busy = market.inner.local(0).expect("shard 0 runs");
    busy.send(Job::Read(Box::new(move |_| {
        let _ = held.recv();
    })))
    .await
    .expect("queued");
    let stats = tokio::time::timeout(Duration::from_secs(5), market.stats(false))
        .await
        .expect("the stats do not wait for a busy shard");
    let _ = release.send(());
    let state = &stats["shards"][0]["state"];
    assert_eq!(state["open_orders"], 2, "{stats}");
    assert_eq!(
        state["books"]["AAPL"],
        serde_json::json!({"bid_levels": 2, "ask_levels": 0, "last_price_ticks": 101}),
        "{stats}"
    );
    assert!(state.get("state_hash").is_none(), "{stats}");
    let with_hash = market.stats(true).await;
    assert!(
        with_hash["shards"][0]["state"]["state_hash"].is_string(),
        "{with_hash}"
    );
}
