//! Everything one can ask of a matching shard, as data: run on the shard's task when it runs
//! here, or sent through Redis to the replica that runs it.
//!
//! Invariant: the JSON of [`Call`] and [`Answer`] is the wire format between replicas, and
//! replicas of different builds meet during a rolling upgrade: it is built from the market's
//! own types ([`super::types`], [`super::journal::Command`]), never from WIT bindings, and
//! the tests below pin it literally.

use serde::{Deserialize, Serialize};

use super::convert::stopped;
use super::journal::Command;
use super::types::{BookDepth, OrderInfo, OrderResult, Quote, Reject, Trade};

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

#[cfg(test)]
mod tests {
    //! Replicas of different builds exchange these messages through Redis during a rolling
    //! upgrade: their JSON is pinned here, literally, so a change of any type they carry shows
    //! up as a failing test rather than as replicas that no longer understand each other.

    use super::*;
    use crate::market::journal::{Kind, Side, Tif};
    use crate::market::types::{Level, OrderStatus, RejectCode, Side as WSide};

    fn trade() -> Trade {
        Trade {
            price: 10125,
            quantity: 3,
            maker_order_id: 1,
            taker_order_id: 4,
            sequence: 9,
            aggressor: WSide::Sell,
            timestamp_ms: 1_700_000_000_123,
        }
    }

    fn json<T: Serialize>(value: &T) -> String {
        serde_json::to_string(value).expect("serialisable")
    }

    fn round_trip<T: Serialize + serde::de::DeserializeOwned>(text: &str) {
        let value: T = serde_json::from_str(text).expect("readable");
        assert_eq!(json(&value), text);
    }

    #[test]
    fn calls_keep_their_wire_format() {
        let commands = Call::Commands(vec![
            Command::Submit {
                symbol: "AAPL".into(),
                side: Side::Buy,
                kind: Kind::Limit,
                price: 10125,
                quantity: 10,
                tif: Tif::Gtc,
                post_only: true,
                client_order_id: Some("c-1".into()),
                account: "user:alice".into(),
            },
            Command::Cancel {
                account: "user:alice".into(),
                symbol: "AAPL".into(),
                order_id: 7,
            },
            Command::Amend {
                account: "user:alice".into(),
                symbol: "AAPL".into(),
                order_id: 7,
                price: None,
                quantity: Some(4),
            },
        ]);
        let cases = [
            (
                commands,
                r#"{"call":"commands","args":[{"op":"submit","symbol":"AAPL","side":"buy","kind":"limit","price":10125,"quantity":10,"tif":"gtc","post_only":true,"client_order_id":"c-1","account":"user:alice"},{"op":"cancel","account":"user:alice","symbol":"AAPL","order_id":7},{"op":"amend","account":"user:alice","symbol":"AAPL","order_id":7,"quantity":4}]}"#,
            ),
            (
                Call::ClientOrder {
                    account: "user:alice".into(),
                    client_order_id: "c-1".into(),
                },
                r#"{"call":"client_order","args":{"account":"user:alice","client_order_id":"c-1"}}"#,
            ),
            (
                Call::Book {
                    symbol: "MSFT".into(),
                    levels: 5,
                },
                r#"{"call":"book","args":{"symbol":"MSFT","levels":5}}"#,
            ),
            (
                Call::Orders {
                    account: "user:alice".into(),
                    open_only: true,
                    limit: 50,
                },
                r#"{"call":"orders","args":{"account":"user:alice","open_only":true,"limit":50}}"#,
            ),
            (
                Call::State {
                    symbols: vec!["AAPL".into(), "SPY".into()],
                },
                r#"{"call":"state","args":{"symbols":["AAPL","SPY"]}}"#,
            ),
            (Call::StateHash, r#"{"call":"state_hash"}"#),
        ];
        for (call, text) in cases {
            assert_eq!(json(&call), text);
            round_trip::<Call>(text);
        }
    }

    #[test]
    fn answers_keep_their_wire_format() {
        let cases = [
            (
                Answer::Results(vec![
                    Ok(OrderResult {
                        order_id: 4,
                        status: OrderStatus::PartiallyFilled,
                        filled_quantity: 3,
                        remaining_quantity: 7,
                        trades: vec![trade()],
                        reject_reason: None,
                        duplicate: false,
                    }),
                    Err(Reject {
                        code: RejectCode::PostOnlyWouldCross,
                        message: "would cross".into(),
                    }),
                ]),
                r#"{"answer":"results","value":[{"Ok":{"order_id":4,"status":"PartiallyFilled","filled_quantity":3,"remaining_quantity":7,"trades":[{"price":10125,"quantity":3,"maker_order_id":1,"taker_order_id":4,"sequence":9,"aggressor":"Sell","timestamp_ms":1700000000123}],"reject_reason":null,"duplicate":false}},{"Err":{"code":"PostOnlyWouldCross","message":"would cross"}}]}"#,
            ),
            (
                Answer::Earlier(Some(OrderResult {
                    order_id: 4,
                    status: OrderStatus::Rejected,
                    filled_quantity: 0,
                    remaining_quantity: 0,
                    trades: Vec::new(),
                    reject_reason: Some(RejectCode::TooManyOpenOrders),
                    duplicate: true,
                })),
                r#"{"answer":"earlier","value":{"order_id":4,"status":"Rejected","filled_quantity":0,"remaining_quantity":0,"trades":[],"reject_reason":"TooManyOpenOrders","duplicate":true}}"#,
            ),
            (
                Answer::Book(Ok((
                    12,
                    BookDepth {
                        symbol: "AAPL".into(),
                        sequence: 40,
                        bids: vec![Level {
                            price: 10125,
                            quantity: 10,
                        }],
                        asks: Vec::new(),
                    },
                ))),
                r#"{"answer":"book","value":{"Ok":[12,{"symbol":"AAPL","sequence":40,"bids":[{"price":10125,"quantity":10}],"asks":[]}]}}"#,
            ),
            (
                Answer::Quote(Ok(Quote {
                    symbol: "AAPL".into(),
                    bid: Some(Level {
                        price: 10125,
                        quantity: 10,
                    }),
                    ask: None,
                    last_price: Some(10130),
                })),
                r#"{"answer":"quote","value":{"Ok":{"symbol":"AAPL","bid":{"price":10125,"quantity":10},"ask":null,"last_price":10130}}}"#,
            ),
            (
                Answer::Order(Ok(OrderInfo {
                    order_id: 7,
                    symbol: "AAPL".into(),
                    side: WSide::Buy,
                    price: None,
                    status: OrderStatus::Cancelled,
                    filled_quantity: 1,
                    remaining_quantity: 0,
                })),
                r#"{"answer":"order","value":{"Ok":{"order_id":7,"symbol":"AAPL","side":"Buy","price":null,"status":"Cancelled","filled_quantity":1,"remaining_quantity":0}}}"#,
            ),
            (
                Answer::Orders(Vec::new()),
                r#"{"answer":"orders","value":[]}"#,
            ),
            (
                Answer::Trades(Ok(vec![trade()])),
                r#"{"answer":"trades","value":{"Ok":[{"price":10125,"quantity":3,"maker_order_id":1,"taker_order_id":4,"sequence":9,"aggressor":"Sell","timestamp_ms":1700000000123}]}}"#,
            ),
            (
                Answer::Trades(Err(Reject {
                    code: RejectCode::UnknownSymbol,
                    message: "no such symbol".into(),
                })),
                r#"{"answer":"trades","value":{"Err":{"code":"UnknownSymbol","message":"no such symbol"}}}"#,
            ),
            (
                Answer::State(serde_json::json!({"open_orders": 2})),
                r#"{"answer":"state","value":{"open_orders":2}}"#,
            ),
            (
                Answer::Failed(stopped()),
                r#"{"answer":"failed","value":{"code":"Unavailable","message":"the matching engine is shutting down"}}"#,
            ),
        ];
        for (answer, text) in cases {
            assert_eq!(json(&answer), text);
            round_trip::<Answer>(text);
        }
    }
}
