//! What a shard tells the world after each batch, in decimals: book changes on
//! `book:<symbol>`, trades on `trades:<symbol>`, and each account's order updates and fills on
//! `orders:<account>`. Changes are collected per command and published once per batch, so a
//! busy shard sends one message per room per commit rather than one per order.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bourse_matching::decimal;
use bourse_matching::venue::{self, Venue};
use bourse_matching::{EventKind, Liquidity, Side};
use serde_json::{Value, json};

use super::journal::Command;
use crate::events::EventHub;

pub(super) struct Publisher {
    events: Option<Arc<EventHub>>,
    symbols: Vec<venue::SymbolInfo>,
    /// Sequence number of the last change published on each symbol's book room.
    book_seq: Vec<u64>,
    /// Per symbol: level → open quantity after this batch.
    book: Vec<BTreeMap<(u8, i64), u64>>,
    trades: Vec<Vec<Value>>,
    orders: HashMap<String, Vec<Value>>,
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn status_name(status: venue::Status) -> &'static str {
    match status {
        venue::Status::Accepted => "accepted",
        venue::Status::PartiallyFilled => "partially_filled",
        venue::Status::Filled => "filled",
        venue::Status::Cancelled => "cancelled",
    }
}

/// Decimal text of `ticks` in `spec`'s units.
pub fn price_text(spec: &venue::SymbolInfo, ticks: i64) -> String {
    decimal::price_text(ticks, spec.tick, spec.price_scale)
}

/// Decimal text of `lots` in `spec`'s units.
pub fn quantity_text(spec: &venue::SymbolInfo, lots: u64) -> String {
    decimal::quantity_text(lots, spec.lot, spec.quantity_scale)
}

impl Publisher {
    pub(super) fn new(events: Option<Arc<EventHub>>, symbols: Vec<venue::SymbolInfo>) -> Self {
        let n = symbols.len();
        Publisher {
            events,
            symbols,
            book_seq: vec![0; n],
            book: vec![BTreeMap::new(); n],
            trades: vec![Vec::new(); n],
            orders: HashMap::new(),
        }
    }

    /// Publishes the whole book of each symbol `mine` picks as a `snapshot` event on its book
    /// room. A shard started on a replica (a takeover, or a restart) does this first: what its
    /// previous owner executed but never published is then in the books clients rebuild, and
    /// later snapshots carry the room's current number rather than 0.
    pub(super) async fn announce(&mut self, venue: &Venue, mine: impl Fn(usize) -> bool) {
        let Some(events) = self.events.clone() else {
            return;
        };
        let mut out = Vec::new();
        let mut indices = Vec::new();
        for (i, spec) in self.symbols.iter().enumerate() {
            if !mine(i) {
                continue;
            }
            let Ok(depth) = venue.depth(&spec.symbol, u32::MAX) else {
                continue;
            };
            let side = |levels: &[(i64, u64)]| -> Vec<[String; 2]> {
                levels
                    .iter()
                    .map(|&(p, q)| [price_text(spec, p), quantity_text(spec, q)])
                    .collect()
            };
            let data = json!({
                "type": "snapshot",
                "symbol": spec.symbol,
                "bids": side(&depth.bids),
                "asks": side(&depth.asks),
            });
            if let Ok(raw) = serde_json::value::to_raw_value(&data) {
                out.push((format!("book:{}", spec.symbol), Arc::from(raw)));
                indices.push(i);
            }
        }
        let seqs = events.publish_batch("market", out).await;
        for (i, seq) in indices.into_iter().zip(seqs) {
            if seq > 0 {
                self.book_seq[i] = seq;
            }
        }
    }

    /// The last sequence number published on `symbol`'s book room (0 before any).
    pub(super) fn book_seq(&self, symbol: &str) -> u64 {
        self.symbols
            .iter()
            .position(|s| s.symbol == symbol)
            .map_or(0, |i| self.book_seq[i])
    }

    /// Records what `command` did (`result`) from the venue's events.
    pub(super) fn collect(
        &mut self,
        venue: &Venue,
        command: &Command,
        result: &Result<venue::OrderResult, venue::Reject>,
    ) {
        // Nobody listening: skip the formatting (a new subscriber starts from a snapshot).
        if !self.events.as_ref().is_some_and(|e| e.has_subscribers()) {
            return;
        }
        // A refusal or a repeated client order id changed nothing (and left the events of an
        // earlier command in the venue's buffer).
        let Ok(result) = result else { return };
        if result.duplicate {
            return;
        }
        let Some(index) = self
            .symbols
            .iter()
            .position(|s| s.symbol == command.symbol())
        else {
            return;
        };
        let spec = &self.symbols[index];
        let account = command.account();
        for event in venue.last_events() {
            match event.kind {
                EventKind::BookChanged {
                    symbol,
                    side,
                    price,
                    quantity,
                    ..
                } => {
                    if let Some(levels) = self.book.get_mut(symbol.0 as usize) {
                        levels.insert((side as u8, price), quantity);
                    }
                }
                EventKind::Trade {
                    price,
                    quantity,
                    aggressor,
                    maker_order_id,
                    taker_order_id,
                    ..
                } => self.trades[index].push(json!({
                    "price": price_text(spec, price),
                    "quantity": quantity_text(spec, quantity),
                    "aggressor": side_name(aggressor),
                    "maker_order_id": maker_order_id.0.to_string(),
                    "taker_order_id": taker_order_id.0.to_string(),
                    "sequence": event.seq,
                    "timestamp_ms": venue.time(),
                })),
                EventKind::Fill {
                    order_id,
                    account,
                    side,
                    price,
                    quantity,
                    remaining,
                    liquidity,
                } => {
                    let Some(owner) = venue.account_name(account) else {
                        continue;
                    };
                    self.orders.entry(owner.to_string()).or_default().push(json!({
                        "type": "fill",
                        "order_id": order_id.0.to_string(),
                        "symbol": spec.symbol,
                        "side": side_name(side),
                        "price": price_text(spec, price),
                        "quantity": quantity_text(spec, quantity),
                        "remaining_quantity": quantity_text(spec, remaining),
                        "liquidity": if liquidity == Liquidity::Maker { "maker" } else { "taker" },
                        "timestamp_ms": venue.time(),
                    }));
                }
                _ => {}
            }
        }
        self.orders
            .entry(account.to_string())
            .or_default()
            .push(json!({
                "type": "order",
                "order_id": result.order_id.to_string(),
                "symbol": spec.symbol,
                "status": status_name(result.status),
                "filled_quantity": quantity_text(spec, result.filled_quantity),
                "remaining_quantity": quantity_text(spec, result.remaining_quantity),
            }));
    }

    /// Publishes what the batch changed, and waits for the book rooms' numbers (a snapshot
    /// taken after this carries them).
    pub(super) async fn flush(&mut self) {
        let Some(events) = self.events.clone() else {
            return;
        };
        let mut out: Vec<(String, Value)> = Vec::new();
        let mut book_rooms: Vec<(usize, usize)> = Vec::new();
        for (i, spec) in self.symbols.iter().enumerate() {
            let levels = std::mem::take(&mut self.book[i]);
            if !levels.is_empty() {
                let side = |s: Side| -> Vec<[String; 2]> {
                    let mut out: Vec<(i64, u64)> = levels
                        .iter()
                        .filter(|((side, _), _)| *side == s as u8)
                        .map(|((_, price), q)| (*price, *q))
                        .collect();
                    if s == Side::Buy {
                        out.reverse();
                    }
                    out.into_iter()
                        .map(|(p, q)| [price_text(spec, p), quantity_text(spec, q)])
                        .collect()
                };
                book_rooms.push((out.len(), i));
                out.push((
                    format!("book:{}", spec.symbol),
                    json!({
                        "type": "delta",
                        "symbol": spec.symbol,
                        "bids": side(Side::Buy),
                        "asks": side(Side::Sell),
                    }),
                ));
            }
            let trades = std::mem::take(&mut self.trades[i]);
            if !trades.is_empty() {
                out.push((
                    format!("trades:{}", spec.symbol),
                    json!({"symbol": spec.symbol, "trades": trades}),
                ));
            }
        }
        for (account, updates) in self.orders.drain() {
            out.push((format!("orders:{account}"), json!({ "updates": updates })));
        }
        if out.is_empty() {
            return;
        }
        let raw = out
            .into_iter()
            .filter_map(|(room, data)| {
                Some((
                    room,
                    Arc::from(serde_json::value::to_raw_value(&data).ok()?),
                ))
            })
            .collect();
        let seqs = events.publish_batch("market", raw).await;
        for (at, i) in book_rooms {
            if let Some(&seq) = seqs.get(at)
                && seq > 0
            {
                self.book_seq[i] = seq;
            }
        }
    }
}
