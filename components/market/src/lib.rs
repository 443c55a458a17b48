//! The matching core as a component exporting `bourse:platform/market`: one
//! [`Venue`](bourse_matching::venue::Venue) per instance, with exactly the semantics of the
//! host's native market (both wrap the same venue; this file only converts types).
//!
//! Build: `cargo build --target wasm32-wasip2 --release -p market`.
//!
//! The symbol table defaults to the host's (AAPL, MSFT, SPY; tick 0.01, lot 1). A runtime
//! without Bourse's manifest can set the environment variable `BOURSE_MARKET_SYMBOLS` to a
//! comma-separated list of `SYMBOL[:TICK[:LOT]]`, e.g. `AAPL:0.01:1,BTC:0.5:0.001`.

use std::cell::RefCell;

use bourse_matching::venue::{self, Venue, VenueSnapshot};

wit_bindgen::generate!({
    path: "../../wit",
    world: "bourse:platform/market-core",
    generate_all,
});

use bourse::platform::types::Reject;
use bourse::platform::types::{
    BookDepth, Level, OrderInfo, OrderKind, OrderRequest, OrderResult, OrderStatus, Quote,
    RejectCode, Side, SymbolInfo, TimeInForce, Trade,
};
use exports::bourse::platform::market::Guest;
use fermyon::spin::key_value::Store;

thread_local! {
    /// Component instances are single-threaded; the venue lives as long as the instance.
    static VENUE: RefCell<Venue> = RefCell::new(new_venue());
    /// The key-value store `default`, when the runtime grants it. Spin gives each request a
    /// fresh instance, so there the books live in the store between calls; without a grant
    /// (Bourse's benchmarks, a plain Wasmtime host) they live in the instance alone.
    static STORE: Option<Store> = Store::open("default").ok();
}

/// The key under which the venue's snapshot is kept.
const VENUE_KEY: &str = "bourse-market:venue";

/// Environment variable overriding the symbol table.
const SYMBOLS_VAR: &str = "BOURSE_MARKET_SYMBOLS";

/// `SYMBOL[:TICK[:LOT]]`, comma-separated; tick defaults to 0.01 and lot to 1 as in the host.
fn parse_symbols(text: &str) -> Vec<venue::SymbolSpec> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let mut parts = entry.split(':').map(str::trim);
            venue::SymbolSpec {
                symbol: parts.next().unwrap_or_default().to_string(),
                tick_size: parts.next().unwrap_or("0.01").to_string(),
                lot_size: parts.next().unwrap_or("1").to_string(),
            }
        })
        .collect()
}

fn symbol_table() -> Vec<venue::SymbolSpec> {
    match std::env::var(SYMBOLS_VAR) {
        Ok(text) => parse_symbols(&text),
        Err(_) => venue::default_symbols(),
    }
}

fn new_venue() -> Venue {
    match Venue::new(&symbol_table()) {
        Ok(v) => v,
        // A market with a symbol table other than the one configured would trade the wrong
        // instruments; trapping (on the first call) is the only honest answer.
        Err(e) => panic!("{SYMBOLS_VAR}: {e}"),
    }
}

fn unavailable(message: String) -> Reject {
    Reject {
        code: RejectCode::Unavailable,
        message,
    }
}

/// Replaces `venue` with the stored copy, if there is one.
fn load(store: &Store, venue: &mut Venue) -> Result<(), Reject> {
    let bytes = store
        .get(VENUE_KEY)
        .map_err(|e| unavailable(format!("the market's key-value copy cannot be read: {e:?}")))?;
    if let Some(bytes) = bytes {
        let snapshot: VenueSnapshot = serde_json::from_slice(&bytes)
            .map_err(|e| unavailable(format!("the market's key-value copy is corrupt: {e}")))?;
        *venue = Venue::restore(&symbol_table(), &snapshot)
            .map_err(|e| unavailable(format!("the market's key-value copy does not fit: {e}")))?;
    }
    Ok(())
}

fn save(store: &Store, venue: &Venue) -> Result<(), Reject> {
    let bytes = serde_json::to_vec(&venue.snapshot())
        .map_err(|e| unavailable(format!("the market cannot be serialised: {e}")))?;
    store.set(VENUE_KEY, &bytes).map_err(|e| {
        unavailable(format!(
            "the market's key-value copy cannot be written: {e:?}"
        ))
    })
}

/// Runs `f` on the venue, first refreshed from the store when there is one. With `mutates`,
/// the venue is written back before the answer: a change that cannot be kept is refused
/// (`unavailable`) rather than answered and lost with the instance.
fn with_venue_checked<T>(mutates: bool, f: impl FnOnce(&mut Venue) -> T) -> Result<T, Reject> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    VENUE.with(|v| {
        STORE.with(|store| {
            let mut v = v.borrow_mut();
            if let Some(store) = store {
                load(store, &mut v)?;
            }
            v.set_time(now_ms);
            let out = f(&mut v);
            if mutates && let Some(store) = store {
                save(store, &v)?;
            }
            Ok(out)
        })
    })
}

/// A read of the venue; a store that cannot be read is reported by the `Result` methods and
/// leaves the list-returning ones with the instance's own state.
fn with_venue<T>(f: impl FnOnce(&mut Venue) -> T) -> Result<T, Reject> {
    with_venue_checked(false, f)
}

fn side(s: bourse_matching::Side) -> Side {
    match s {
        bourse_matching::Side::Buy => Side::Buy,
        bourse_matching::Side::Sell => Side::Sell,
    }
}

fn status(s: venue::Status) -> OrderStatus {
    match s {
        venue::Status::Accepted => OrderStatus::Accepted,
        venue::Status::PartiallyFilled => OrderStatus::PartiallyFilled,
        venue::Status::Filled => OrderStatus::Filled,
        venue::Status::Cancelled => OrderStatus::Cancelled,
    }
}

fn trade(t: venue::Trade) -> Trade {
    Trade {
        price: t.price,
        quantity: t.quantity,
        maker_order_id: t.maker_order_id,
        taker_order_id: t.taker_order_id,
        sequence: t.sequence,
        aggressor: side(t.aggressor),
        timestamp_ms: t.timestamp_ms,
    }
}

struct Component;

export!(Component);

fn reject(r: venue::Reject) -> Reject {
    Reject {
        code: match r.code {
            venue::RejectCode::UnknownSymbol => RejectCode::UnknownSymbol,
            venue::RejectCode::UnknownOrder => RejectCode::UnknownOrder,
            venue::RejectCode::InvalidQuantity => RejectCode::InvalidQuantity,
            venue::RejectCode::PriceOffTick => RejectCode::PriceOffTick,
            venue::RejectCode::PostOnlyWouldCross => RejectCode::PostOnlyWouldCross,
            venue::RejectCode::FokCannotFill => RejectCode::FokCannotFill,
            venue::RejectCode::DuplicateClientOrderId => RejectCode::DuplicateClientOrderId,
            venue::RejectCode::NoLiquidity => RejectCode::NoLiquidity,
        },
        message: r.message,
    }
}

fn result(r: venue::OrderResult) -> OrderResult {
    OrderResult {
        order_id: r.order_id,
        status: status(r.status),
        filled_quantity: r.filled_quantity,
        remaining_quantity: r.remaining_quantity,
        trades: r.trades.into_iter().map(trade).collect(),
        reject_reason: None,
        duplicate: r.duplicate,
    }
}

fn submit_one(v: &mut Venue, o: &OrderRequest) -> Result<OrderResult, Reject> {
    let request = venue::OrderRequest {
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
        client_order_id: o.client_order_id.as_deref(),
        account: &o.account,
    };
    v.submit(&request).map(result).map_err(reject)
}

impl Guest for Component {
    fn symbols() -> Vec<SymbolInfo> {
        // The symbol table is configuration, not state: the instance's own is right.
        VENUE.with(|v| {
            let v = v.borrow();
            v.symbols()
                .iter()
                .map(|s| SymbolInfo {
                    symbol: s.symbol.clone(),
                    price_scale: s.price_scale,
                    tick: s.tick,
                    quantity_scale: s.quantity_scale,
                    lot: s.lot,
                })
                .collect()
        })
    }

    fn submit(order: OrderRequest) -> Result<OrderResult, Reject> {
        with_venue_checked(true, |v| submit_one(v, &order))?
    }

    fn submit_batch(orders: Vec<OrderRequest>) -> Vec<Result<OrderResult, Reject>> {
        // One borrow for the whole batch: the point of batching is to pay per-call costs once.
        let n = orders.len();
        with_venue_checked(true, |v| orders.iter().map(|o| submit_one(v, o)).collect())
            .unwrap_or_else(|e| vec![Err(e); n])
    }

    fn cancel(account: String, symbol: String, order_id: u64) -> Result<OrderResult, Reject> {
        with_venue_checked(true, |v| v.cancel(&account, &symbol, order_id))?
            .map(result)
            .map_err(reject)
    }

    fn amend(
        account: String,
        symbol: String,
        order_id: u64,
        price: Option<i64>,
        quantity: Option<u64>,
    ) -> Result<OrderResult, Reject> {
        with_venue_checked(true, |v| {
            v.amend(&account, &symbol, order_id, price, quantity)
        })?
        .map(result)
        .map_err(reject)
    }

    fn depth(symbol: String, levels: u32) -> Result<BookDepth, Reject> {
        let d = with_venue(|v| v.depth(&symbol, levels))?.map_err(reject)?;
        let convert = |side: Vec<(i64, u64)>| {
            side.into_iter()
                .map(|(price, quantity)| Level { price, quantity })
                .collect()
        };
        Ok(BookDepth {
            symbol: d.symbol,
            sequence: d.sequence,
            bids: convert(d.bids),
            asks: convert(d.asks),
        })
    }

    fn get_quote(symbol: String) -> Result<Quote, Reject> {
        let q = with_venue(|v| v.quote(&symbol))?.map_err(reject)?;
        let level = |l: Option<(i64, u64)>| l.map(|(price, quantity)| Level { price, quantity });
        Ok(Quote {
            symbol: q.symbol,
            bid: level(q.bid),
            ask: level(q.ask),
            last_price: q.last_price,
        })
    }

    fn order(account: String, order_id: u64) -> Result<OrderInfo, Reject> {
        with_venue(|v| v.order(&account, order_id))?
            .map(info)
            .map_err(reject)
    }

    fn orders(account: String, open_only: bool, limit: u32) -> Vec<OrderInfo> {
        with_venue(|v| v.orders_of(&account, open_only, limit as usize))
            .unwrap_or_default()
            .into_iter()
            .map(info)
            .collect()
    }

    fn trades(symbol: String, limit: u32) -> Result<Vec<Trade>, Reject> {
        with_venue(|v| v.trades_of(&symbol, limit as usize))?
            .map(|t| t.into_iter().map(trade).collect())
            .map_err(reject)
    }
}

fn info(o: venue::OrderInfo) -> OrderInfo {
    OrderInfo {
        order_id: o.order_id,
        symbol: o.symbol,
        side: side(o.side),
        price: o.price,
        status: status(o.status),
        filled_quantity: o.filled_quantity,
        remaining_quantity: o.remaining_quantity,
    }
}
