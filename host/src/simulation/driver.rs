//! The driver of one local run: asks the `simulation` component for batches of orders,
//! matches them in the run's sandbox venue (or on the live market for a live run), keeps
//! bars and trades, and publishes progress on the run's room until the run ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bourse_matching::venue::{self, Venue};

use super::request::MAX_DURATION_MS;
use super::run::{Bar, KEEP_TRADES, MAX_BARS, Progress, Run, Slot, Status, Summary, SymbolSummary};
use crate::bindings::bourse::platform::types::{OrderKind, OrderRequest, Side, TimeInForce};
use crate::capabilities::Shared;
use crate::events::EventHub;
use crate::market::Market;
use crate::runtime::Runtime;

/// A paced run asks for at most this share of a second's orders per batch, so it stays close
/// to its rate and notices a stop between batches.
const PACED_BATCHES_PER_SECOND: f64 = 10.0;

pub(super) struct Driver {
    pub(super) runtime: Arc<Runtime>,
    pub(super) market: Shared<Market>,
    pub(super) events: Arc<EventHub>,
    pub(super) run: Arc<Run>,
    pub(super) sandbox: Venue,
    pub(super) max_open: usize,
    /// Given back as the run ends, before its final status is visible: a client that sees
    /// the run finished may start the next one at once.
    pub(super) slot: Option<Slot>,
}

/// A sandbox's symbol table: the scenario's symbols with tick 0.01 and lot 1 (scenario prices
/// are in ticks).
pub fn sandbox_symbols(symbols: &[String]) -> Vec<venue::SymbolSpec> {
    symbols
        .iter()
        .map(|s| venue::SymbolSpec {
            symbol: s.clone(),
            tick_size: "0.01".into(),
            lot_size: "1".into(),
        })
        .collect()
}

/// The generator's order, borrowed for the venue.
pub fn venue_order(o: &OrderRequest) -> venue::OrderRequest<'_> {
    venue::OrderRequest {
        symbol: &o.symbol,
        side: match o.side {
            Side::Buy => bourse_matching::Side::Buy,
            Side::Sell => bourse_matching::Side::Sell,
        },
        kind: match o.kind {
            OrderKind::Limit => venue::OrderKind::Limit,
            OrderKind::Market => venue::OrderKind::Market,
        },
        price: o.price,
        quantity: o.quantity,
        time_in_force: match o.time_in_force {
            TimeInForce::Gtc => venue::TimeInForce::Gtc,
            TimeInForce::Ioc => venue::TimeInForce::Ioc,
            TimeInForce::Fok => venue::TimeInForce::Fok,
        },
        post_only: o.post_only,
        client_order_id: None,
        account: &o.account,
    }
}

impl Driver {
    pub(super) async fn drive(mut self, mut session: super::Session) {
        let request = self.run.request.clone();
        let started = Instant::now();
        let deadline = Duration::from_millis(request.duration_ms.unwrap_or(MAX_DURATION_MS));
        let limit = request.orders.unwrap_or(u64::MAX);
        // The generator's sequence does not depend on how it is cut into batches, so smaller
        // paced batches change nothing but the smoothness of the pace.
        let batch = request.rate.map_or(request.batch, |rate| {
            let per_wake = (rate / PACED_BATCHES_PER_SECOND).ceil() as u32;
            request.batch.min(per_wake.max(1))
        });
        // Bars sized so a bounded run has about 200 of them; timed runs use 10 000 orders.
        let bar_width = request.orders.map_or(10_000, |n| (n / 200).max(1));
        self.run.state().bar_width = bar_width;
        let room = format!("simulations:{}", self.run.id);
        let mut last_report = Instant::now();
        let mut progress = Progress::default();
        let mut summaries: HashMap<String, SymbolSummary> = HashMap::new();
        let mut notional: HashMap<String, f64> = HashMap::new();
        let outcome: (Status, Option<String>) = loop {
            if self.run.stop.load(Ordering::Relaxed) {
                break (Status::Stopped, Some("stopped on request".into()));
            }
            if progress.generated >= limit {
                break (Status::Completed, None);
            }
            if started.elapsed() >= deadline {
                break match request.duration_ms {
                    Some(_) => (Status::Completed, None),
                    None => (
                        Status::Stopped,
                        Some(format!(
                            "stopped at the longest run time ({MAX_DURATION_MS} ms)"
                        )),
                    ),
                };
            }
            if self.sandbox.engine().open_orders() >= self.max_open {
                break (
                    Status::StoppedMemoryBound,
                    Some(format!(
                        "the sandbox reached its budget of {} open orders (max_open_orders)",
                        self.max_open
                    )),
                );
            }
            if let Err(e) = self.runtime.check_memory() {
                break (Status::StoppedMemoryBound, Some(e.to_string()));
            }
            let n = (limit - progress.generated).min(u64::from(batch)) as u32;
            let batch = match session.next_batch(n).await {
                Ok(b) if b.is_empty() => {
                    break (Status::Completed, Some("the generator ran dry".into()));
                }
                Ok(b) => b,
                Err(e) => break (Status::Failed, Some(e.to_string())),
            };
            let outcomes = self.execute(&batch, request.live).await;
            let mut state_trades = Vec::new();
            for (order, outcome) in batch.iter().zip(outcomes) {
                let index = progress.generated;
                progress.generated += 1;
                match outcome {
                    Some(trades) => {
                        progress.accepted += 1;
                        for t in trades {
                            progress.trades += 1;
                            progress.volume += t.quantity;
                            let s = summaries.entry(order.symbol.clone()).or_default();
                            s.trades += 1;
                            s.volume += t.quantity;
                            s.last = Some(t.price);
                            s.high = Some(s.high.map_or(t.price, |h| h.max(t.price)));
                            s.low = Some(s.low.map_or(t.price, |l| l.min(t.price)));
                            *notional.entry(order.symbol.clone()).or_default() +=
                                t.price as f64 * t.quantity as f64;
                            state_trades.push((order.symbol.clone(), index, t));
                        }
                    }
                    None => progress.rejected += 1,
                }
            }
            self.record(&state_trades, bar_width);
            if let Some(rate) = request.rate {
                let due = Duration::try_from_secs_f64(progress.generated as f64 / rate)
                    .unwrap_or(Duration::MAX)
                    .min(deadline);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    // Sleeps until the next batch is due, the deadline, or a stop request,
                    // whichever comes first.
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = self.run.wake.notified() => {}
                    }
                }
            } else {
                // A tight loop still lets the worker's other tasks run between batches.
                tokio::task::yield_now().await;
            }
            if last_report.elapsed() >= Duration::from_millis(250) {
                last_report = Instant::now();
                self.report(&mut progress, started, &room, Status::Running);
            }
        };
        for (symbol, s) in summaries.iter_mut() {
            if s.volume > 0 {
                s.vwap = notional.get(symbol).copied().unwrap_or(0.0) / s.volume as f64;
            }
        }
        let summary = Summary {
            // A live run's books are the market's: there is no sandbox to fingerprint.
            book_hash: if request.live {
                "live".into()
            } else {
                format!("{:016x}", self.sandbox.engine().state_hash())
            },
            symbols: summaries,
        };
        {
            let mut state = self.run.state();
            state.summary = Some(summary);
            state.reason = outcome.1.clone();
        }
        self.slot.take();
        self.report(&mut progress, started, &room, outcome.0);
        tracing::info!(id = %self.run.id, status = ?outcome.0, reason = ?outcome.1, generated = progress.generated, trades = progress.trades, "simulation finished");
    }

    /// Matches `batch` in the sandbox, or on the live market for a live run; per order, its
    /// trades, or `None` if it was refused.
    async fn execute(
        &mut self,
        batch: &[OrderRequest],
        live: bool,
    ) -> Vec<Option<Vec<venue::Trade>>> {
        if !live {
            return batch
                .iter()
                .map(|o| self.sandbox.submit(&venue_order(o)).ok().map(|r| r.trades))
                .collect();
        }
        let orders: Vec<crate::market::OrderRequest> = batch.iter().map(Into::into).collect();
        let results = self.market.submit_batch(&orders).await;
        results
            .into_iter()
            .map(|r| {
                r.ok().map(|r| {
                    r.trades
                        .iter()
                        .map(|t| venue::Trade {
                            price: t.price,
                            quantity: t.quantity,
                            maker_order_id: t.maker_order_id,
                            taker_order_id: t.taker_order_id,
                            sequence: t.sequence,
                            aggressor: match t.aggressor {
                                crate::market::Side::Buy => bourse_matching::Side::Buy,
                                crate::market::Side::Sell => bourse_matching::Side::Sell,
                            },
                            timestamp_ms: t.timestamp_ms,
                        })
                        .collect()
                })
            })
            .collect()
    }

    /// Adds trades to the bars and the kept trades.
    fn record(&self, trades: &[(String, u64, venue::Trade)], bar_width: u64) {
        if trades.is_empty() {
            return;
        }
        let mut state = self.run.state();
        for (symbol, index, t) in trades {
            let start = index / bar_width * bar_width;
            let bars = state.bars.entry(symbol.clone()).or_default();
            match bars.last_mut() {
                Some(bar) if bar.start == start => {
                    bar.high = bar.high.max(t.price);
                    bar.low = bar.low.min(t.price);
                    bar.close = t.price;
                    bar.volume += t.quantity;
                    bar.trades += 1;
                }
                _ => bars.push(Bar {
                    start,
                    open: t.price,
                    high: t.price,
                    low: t.price,
                    close: t.price,
                    volume: t.quantity,
                    trades: 1,
                }),
            }
            if bars.len() > MAX_BARS {
                // Too many for a timed run: keep them by merging neighbours.
                let merged = bars
                    .chunks(2)
                    .map(|pair| {
                        let (a, b) = (&pair[0], pair.last().unwrap_or(&pair[0]));
                        Bar {
                            start: a.start,
                            open: a.open,
                            high: pair.iter().map(|x| x.high).max().unwrap_or(a.high),
                            low: pair.iter().map(|x| x.low).min().unwrap_or(a.low),
                            close: b.close,
                            volume: pair.iter().map(|x| x.volume).sum(),
                            trades: pair.iter().map(|x| x.trades).sum(),
                        }
                    })
                    .collect();
                *bars = merged;
            }
            if state.trades.len() == KEEP_TRADES {
                state.trades.pop_front();
            }
            state.trades.push_back(serde_json::json!({
                "symbol": symbol, "order_index": index, "price_ticks": t.price,
                "quantity": t.quantity, "maker_order_id": t.maker_order_id.to_string(),
                "taker_order_id": t.taker_order_id.to_string(),
                "aggressor": if t.aggressor == bourse_matching::Side::Buy { "buy" } else { "sell" },
            }));
        }
    }

    fn report(&self, progress: &mut Progress, started: Instant, room: &str, status: Status) {
        let elapsed = started.elapsed();
        progress.elapsed_ms = elapsed.as_millis() as u64;
        progress.orders_per_second = progress.generated as f64 / elapsed.as_secs_f64().max(1e-9);
        progress.open_orders = self.sandbox.engine().open_orders();
        progress.resident_mb = crate::telemetry::resident_bytes() >> 20;
        let request = &self.run.request;
        progress.done = match (request.orders, request.duration_ms) {
            _ if status != Status::Running => 1.0,
            (Some(n), _) => progress.generated as f64 / n as f64,
            (None, Some(ms)) => (elapsed.as_millis() as f64 / ms as f64).min(1.0),
            (None, None) => 0.0,
        };
        {
            let mut state = self.run.state();
            state.progress = progress.clone();
            if status != Status::Running {
                state.status = Some(status);
            }
        }
        self.events.publish_value(
            "simulation",
            room,
            &serde_json::json!({"status": status, "progress": progress}),
        );
    }
}
