//! Everything one can ask of a matching shard, as data: run on the shard's task when it runs
//! here, or sent through Redis to the replica that runs it.

use serde::{Deserialize, Serialize};

use super::convert::stopped;
use super::journal::Command;
use crate::bindings::bourse::platform::types::{
    BookDepth, OrderInfo, OrderResult, Quote, Reject, Trade,
};

/// A call on one shard.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "call", content = "args", rename_all = "snake_case")]
pub enum Call {
    /// Commands to journal and execute, in order.
    Commands(Vec<Command>),
    /// The order an account placed with a client order id, if any.
    ClientOrder {
        account: String,
        client_order_id: String,
    },
    /// A symbol's depth and its book room's last number.
    Book { symbol: String, levels: u32 },
    /// A symbol's best prices and last trade.
    Quote { symbol: String },
    /// One of an account's orders.
    Order { account: String, order_id: u64 },
    /// An account's latest orders on the shard.
    Orders {
        account: String,
        open_only: bool,
        limit: u32,
    },
    /// A symbol's latest trades.
    Trades { symbol: String, limit: u32 },
    /// Book sizes, open orders and journal position, for `/api/engine/stats`: answered from
    /// counters by the replica running the shard, never by its matching task.
    State { symbols: Vec<String> },
    /// The hash of the shard's books (a walk of every book, on the matching task): for ops.
    StateHash,
}

/// A shard's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "answer", content = "value", rename_all = "snake_case")]
pub enum Answer {
    Results(Vec<Result<OrderResult, Reject>>),
    Earlier(Option<OrderResult>),
    Book(Result<(u64, BookDepth), Reject>),
    Quote(Result<Quote, Reject>),
    Order(Result<OrderInfo, Reject>),
    Orders(Vec<OrderInfo>),
    Trades(Result<Vec<Trade>, Reject>),
    State(serde_json::Value),
    /// The shard could not be reached.
    Failed(Reject),
}

impl Answer {
    /// Why this is not the answer that was expected.
    pub fn failure(self) -> Reject {
        match self {
            Answer::Failed(r) => r,
            _ => stopped(),
        }
    }

    /// The results of `n` commands.
    pub fn results(self, n: usize) -> Vec<Result<OrderResult, Reject>> {
        match self {
            Answer::Results(mut r) if r.len() == n => {
                r.truncate(n);
                r
            }
            other => {
                let reject = other.failure();
                (0..n).map(|_| Err(reject.clone())).collect()
            }
        }
    }
}
