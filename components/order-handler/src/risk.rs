//! Pre-trade risk rules, each configured by a component variable (empty or undefined: off):
//!
//! - `max_order_quantity`: largest quantity per order, a decimal in the symbol's units;
//! - `max_order_notional`: largest price × quantity per order;
//! - `price_band_percent`: how far an order may trade from the last trade, in percent;
//! - `enabled_symbols`: comma-separated symbols open for trading.
//!
//! A limit order is checked at its limit price. A market order has no price of its own, so it
//! is checked at what it would do now: the opposite side is walked level by level to its
//! quantity, its value is the sum over the levels it would take, and the worst of those levels
//! must lie inside the band. Lots the book cannot fill are cancelled by the market, so they
//! add nothing. The walk reads the book a moment before the order reaches the matching shard:
//! orders in between can move it, so the rules bound a market order to what the book showed,
//! not to the letter.

use bourse_guest::bourse::platform::market;
use bourse_guest::bourse::platform::types::{Side, SymbolInfo};
use bourse_guest::decimal;
use spin_sdk::variables;

use crate::exports::bourse::platform::order_handling::FieldError;

/// The configured limits.
pub struct Limits {
    max_quantity: Option<String>,
    max_notional: Option<String>,
    price_band_percent: Option<String>,
    enabled_symbols: Option<Vec<String>>,
}

fn variable(name: &str) -> Option<String> {
    variables::get(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn field(name: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: name.to_string(),
        message: message.into(),
    }
}

/// What an order would be, for checking.
pub struct Exposure<'a> {
    pub spec: &'a SymbolInfo,
    pub side: Side,
    /// Limit price in ticks; `None` for market orders.
    pub price: Option<i64>,
    pub lots: u64,
}

impl Limits {
    /// Reads the limits from the component's variables.
    pub fn from_variables() -> Limits {
        Limits {
            max_quantity: variable("max_order_quantity"),
            max_notional: variable("max_order_notional"),
            price_band_percent: variable("price_band_percent"),
            enabled_symbols: variable("enabled_symbols").map(|list| {
                list.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }),
        }
    }

    /// Checks `order` against every configured rule; the error names the field and the rule.
    pub fn check(&self, order: &Exposure<'_>) -> Result<(), FieldError> {
        let spec = order.spec;
        if let Some(enabled) = &self.enabled_symbols
            && !enabled.contains(&spec.symbol)
        {
            return Err(field(
                "symbol",
                format!(
                    "{} is not enabled for trading (rule enabled_symbols: {})",
                    spec.symbol,
                    enabled.join(",")
                ),
            ));
        }
        let qty_units = i128::from(order.lots) * i128::from(spec.lot);
        if let Some(max) = &self.max_quantity {
            let max_units = decimal::parse(max, spec.quantity_scale)
                .map_err(|e| field("quantity", format!("rule max_order_quantity: {e}")))?;
            if qty_units > i128::from(max_units) {
                return Err(field(
                    "quantity",
                    format!(
                        "{} is above the per-order maximum of {max} (rule max_order_quantity)",
                        decimal::format_wide(qty_units, spec.quantity_scale)
                    ),
                ));
            }
        }
        if self.price_band_percent.is_none() && self.max_notional.is_none() {
            return Ok(());
        }
        // A quote (and, for a market order, the book) is a trip to the matching shard: fetched
        // only when a rule needs it.
        let sweep = match order.price {
            Some(_) => None,
            None => Some(Sweep::walk(spec, order.side, order.lots)?),
        };
        // The band is measured from the last trade, which only a quote carries.
        let last = if self.price_band_percent.is_some() {
            market::get_quote(&spec.symbol)
                .ok()
                .and_then(|q| q.last_price)
        } else {
            None
        };
        let worst = order.price.or(sweep.as_ref().and_then(|s| s.worst));
        if let (Some(band), Some(price), Some(last)) = (&self.price_band_percent, worst, last) {
            // Hundredths of a percent, so "2.5" is 250.
            let band_units = decimal::parse(band, 2)
                .map_err(|e| field("price", format!("rule price_band_percent: {e}")))?;
            let distance = i128::from(price - last).abs() * 10_000;
            if distance > i128::from(band_units) * i128::from(last) {
                let what = match order.price {
                    Some(_) => String::new(),
                    None => "this market order would trade at ".to_string(),
                };
                return Err(field(
                    "price",
                    format!(
                        "{what}{} is more than {band}% from the last trade at {} (rule price_band_percent)",
                        crate::wire::price(price, spec),
                        crate::wire::price(last, spec)
                    ),
                ));
            }
        }
        if let Some(max) = &self.max_notional {
            // Ticks × lots: a limit order's whole quantity at its price, or the market order's
            // walk.
            let value = match (order.price, &sweep) {
                (Some(price), _) => i128::from(price) * i128::from(order.lots),
                (None, Some(sweep)) => sweep.value,
                (None, None) => 0,
            };
            let scale = spec.price_scale.saturating_add(spec.quantity_scale);
            let max_units = decimal::parse(max, scale)
                .map_err(|e| field("quantity", format!("rule max_order_notional: {e}")))?;
            let notional = value * i128::from(spec.tick) * i128::from(spec.lot);
            if notional > i128::from(max_units) {
                return Err(field(
                    "quantity",
                    format!(
                        "the order's value {} is above the per-order maximum of {max} (rule max_order_notional)",
                        decimal::format_wide(notional, scale)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Most levels a market order's walk reads: the market's own cap on a depth query. An order
/// that would reach past them is refused rather than valued on a guess.
const MAX_WALK_LEVELS: u32 = 1000;

/// Levels read first: most market orders are filled by the best few.
const FIRST_WALK_LEVELS: u32 = 16;

/// What a market order would take from the book as it stands.
struct Sweep {
    /// Σ price × lots over the levels it would take, in ticks × lots.
    value: i128,
    /// The furthest price it would trade at; `None` if the opposite side is empty.
    worst: Option<i64>,
}

impl Sweep {
    /// Walks the side opposite `side` until `lots` are filled or the book ends.
    fn walk(spec: &SymbolInfo, side: Side, lots: u64) -> Result<Sweep, FieldError> {
        let mut depth = FIRST_WALK_LEVELS;
        loop {
            let book = market::depth(&spec.symbol, depth).map_err(|r| {
                field(
                    "symbol",
                    format!("the book could not be read: {}", r.message),
                )
            })?;
            let levels = match side {
                Side::Buy => book.asks,
                Side::Sell => book.bids,
            };
            let mut sweep = Sweep {
                value: 0,
                worst: None,
            };
            let mut remaining = lots;
            for level in &levels {
                if remaining == 0 {
                    break;
                }
                let taken = remaining.min(level.quantity);
                sweep.value += i128::from(level.price) * i128::from(taken);
                sweep.worst = Some(level.price);
                remaining -= taken;
            }
            // Fewer levels than asked for: the walk saw the whole side.
            let whole_side = levels.len() < depth as usize;
            if remaining == 0 || whole_side {
                return Ok(sweep);
            }
            if depth >= MAX_WALK_LEVELS {
                return Err(field(
                    "quantity",
                    format!(
                        "a market order this large would reach past the best {MAX_WALK_LEVELS} levels of the book; use a limit order"
                    ),
                ));
            }
            depth = MAX_WALK_LEVELS;
        }
    }
}
