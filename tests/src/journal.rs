//! The journal as it is on disk, replayed with the matching core alone: what the books must
//! be, independently of the host that wrote it.

use std::collections::HashMap;

use bourse::market::journal;
use bourse_matching::venue::{self, Venue};
use serde_json::Value;
use sqlx::Row;

/// What replaying a journal gives.
pub struct Replay {
    /// Each shard's state hash, as `/api/engine/stats?state_hash=true` prints it.
    pub hashes: Vec<String>,
    /// The order ids made for each (account, client order id): a repeat that returned the
    /// earlier order adds none, so more than one id means a duplicated order.
    pub made: HashMap<(String, String), Vec<u64>>,
    /// Trades made, per symbol.
    pub trades: HashMap<String, usize>,
}

/// Replays the journal in `database_url`, written by a host with `shards` matching shards and
/// the default symbols.
pub async fn replay(database_url: &str, shards: u64) -> Replay {
    let pool = sqlx::PgPool::connect(database_url)
        .await
        .expect("journal database");
    let rows = sqlx::query(
        "SELECT shard, first_seq, at_ms, commands FROM journal ORDER BY shard, first_seq",
    )
    .fetch_all(&pool)
    .await
    .expect("journal rows");
    pool.close().await;
    let symbols = venue::default_symbols();
    let mut venues: Vec<Venue> = (0..shards)
        .map(|k| {
            Venue::new(&symbols)
                .expect("symbols")
                .with_order_ids(k + 1, shards)
        })
        .collect();
    let mut made: HashMap<(String, String), Vec<u64>> = HashMap::new();
    let mut trades: HashMap<String, usize> = HashMap::new();
    for row in &rows {
        let shard: i32 = row.get(0);
        let at_ms: i64 = row.get(2);
        let text: String = row.get(3);
        let commands: Vec<journal::Command> = serde_json::from_str(&text).expect("journal JSON");
        let venue = &mut venues[shard as usize];
        venue.set_time(at_ms as u64);
        for command in commands {
            let result = command.apply(venue);
            if let Ok(r) = &result
                && !r.trades.is_empty()
            {
                *trades.entry(command.symbol().to_string()).or_default() += r.trades.len();
            }
            if let (
                journal::Command::Submit {
                    client_order_id: Some(c),
                    account,
                    ..
                },
                Ok(r),
            ) = (&command, &result)
                && !r.duplicate
            {
                made.entry((account.clone(), c.clone()))
                    .or_default()
                    .push(r.order_id);
            }
        }
    }
    Replay {
        hashes: venues
            .iter()
            .map(|v| format!("{:016x}", v.engine().state_hash()))
            .collect(),
        made,
        trades,
    }
}

/// The state hash of every shard the host at `url` runs, walked on request.
pub async fn host_hashes(url: &str) -> Vec<String> {
    let stats = crate::replicas::get_json(
        &format!("{url}/api/engine/stats?state_hash=true"),
        Some(crate::ADMIN_TOKEN),
    )
    .await;
    stats["shards"]
        .as_array()
        .unwrap_or_else(|| panic!("engine stats: {stats}"))
        .iter()
        .map(|s| {
            s["state"]["state_hash"]
                .as_str()
                .unwrap_or_else(|| panic!("a state hash: {s}"))
                .to_string()
        })
        .collect()
}

/// The principal id an API key made by [`crate::replicas::api_key`] for `username` acts as.
pub fn account_of(username: &str) -> String {
    format!("user:{username}")
}

/// The `n`th crossing limit order of client `c` in the load tests: symbols, sides and prices
/// rotate so that most orders trade, the rest rest a little while.
pub fn crossing_order(n: u64, c: u64, client_order_id: &str) -> Value {
    let symbol = ["AAPL", "MSFT", "SPY"][(n % 3) as usize];
    let side = if (n + c).is_multiple_of(2) {
        "buy"
    } else {
        "sell"
    };
    serde_json::json!({
        "symbol": symbol,
        "side": side,
        "type": "limit",
        "price": format!("{}", 100 + (n * 7 + c) % 5),
        "quantity": format!("{}", 1 + n % 4),
        "client_order_id": client_order_id,
    })
}

/// A JSON value as the order id it holds (`"order_id": "17"`).
pub fn order_id(answer: &Value) -> u64 {
    answer["order_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an order id: {answer}"))
}
