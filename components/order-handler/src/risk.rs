//! Pre-trade risk rules, each configured by a component variable (empty or undefined: off):
//!
//! - `max_order_quantity`: largest quantity per order, a decimal in the symbol's units;
//! - `max_order_notional`: largest price × quantity per order (market orders are valued at the
//!   best opposite price, or the last trade);
//! - `price_band_percent`: how far a limit price may be from the last trade, in percent;
//! - `enabled_symbols`: comma-separated symbols open for trading.

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
        // A quote is a trip to the matching shard: fetched only when a rule needs it (the band
        // for a limit order, the notional of a market order).
        let needs_quote = (self.price_band_percent.is_some() && order.price.is_some())
            || (self.max_notional.is_some() && order.price.is_none());
        let quote = if needs_quote {
            market::get_quote(&spec.symbol).ok()
        } else {
            None
        };
        let last = quote.as_ref().and_then(|q| q.last_price);
        if let (Some(band), Some(price), Some(last)) = (&self.price_band_percent, order.price, last)
        {
            // Hundredths of a percent, so "2.5" is 250.
            let band_units = decimal::parse(band, 2)
                .map_err(|e| field("price", format!("rule price_band_percent: {e}")))?;
            let distance = i128::from(price - last).abs() * 10_000;
            if distance > i128::from(band_units) * i128::from(last) {
                return Err(field(
                    "price",
                    format!(
                        "{} is more than {band}% from the last trade at {} (rule price_band_percent)",
                        crate::wire::price(price, spec),
                        crate::wire::price(last, spec)
                    ),
                ));
            }
        }
        if let Some(max) = &self.max_notional {
            let reference = order.price.or_else(|| {
                let q = quote.as_ref()?;
                let opposite = match order.side {
                    Side::Buy => q.ask.as_ref(),
                    Side::Sell => q.bid.as_ref(),
                };
                opposite.map(|l| l.price).or(last)
            });
            if let Some(price) = reference {
                let scale = spec.price_scale.saturating_add(spec.quantity_scale);
                let max_units = decimal::parse(max, scale)
                    .map_err(|e| field("quantity", format!("rule max_order_notional: {e}")))?;
                let notional = i128::from(price) * i128::from(spec.tick) * qty_units;
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
        }
        Ok(())
    }
}
