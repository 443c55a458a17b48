//! Edge validation: every field of a client's order checked and converted to integers, with
//! a message naming the field.

use bourse_guest::bourse::platform::types::{
    OrderKind, OrderRequest, Principal, Side, SymbolInfo, TimeInForce,
};
use bourse_guest::decimal;

use crate::risk::{Exposure, Limits};

use crate::exports::bourse::platform::order_handling::{FieldError, NewOrder};

fn field(name: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: name.to_string(),
        message: message.into(),
    }
}

/// Checks `order` against the symbol table and limits and converts it for the market.
pub fn order_request(
    principal: &Principal,
    order: &NewOrder,
    symbols: &[SymbolInfo],
    limits: &Limits,
) -> Result<(OrderRequest, SymbolInfo), FieldError> {
    let spec = symbols
        .iter()
        .find(|s| s.symbol == order.symbol)
        .cloned()
        .ok_or_else(|| {
            let known: Vec<&str> = symbols.iter().map(|s| s.symbol.as_str()).collect();
            field(
                "symbol",
                format!(
                    "{:?} is not traded here (known: {})",
                    order.symbol,
                    known.join(", ")
                ),
            )
        })?;
    let side = match order.side.as_str() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        other => return Err(field("side", format!("{other:?} is not buy or sell"))),
    };
    let kind = match order.kind.as_str() {
        "limit" => OrderKind::Limit,
        "market" => OrderKind::Market,
        other => return Err(field("type", format!("{other:?} is not limit or market"))),
    };
    let time_in_force = match order.time_in_force.as_deref().unwrap_or("gtc") {
        "gtc" => TimeInForce::Gtc,
        "ioc" => TimeInForce::Ioc,
        "fok" => TimeInForce::Fok,
        other => {
            return Err(field(
                "time_in_force",
                format!("{other:?} is not gtc, ioc or fok"),
            ));
        }
    };
    let price = match (kind, order.price.as_deref()) {
        (OrderKind::Limit, None) => return Err(field("price", "a limit order needs a price")),
        (OrderKind::Limit, Some(text)) => price_ticks(text, &spec)?,
        (OrderKind::Market, Some(_)) => {
            return Err(field("price", "a market order takes no price"));
        }
        (OrderKind::Market, None) => 0,
    };
    if kind == OrderKind::Market && order.post_only {
        return Err(field("post_only", "a market order cannot be post-only"));
    }
    let quantity = quantity_lots(&order.quantity, &spec)?;
    limits.check(&Exposure {
        spec: &spec,
        side,
        price: (kind == OrderKind::Limit).then_some(price),
        lots: quantity,
    })?;
    if let Some(id) = &order.client_order_id
        && (id.is_empty() || id.len() > 64)
    {
        return Err(field("client_order_id", "must be 1 to 64 characters"));
    }
    let request = OrderRequest {
        symbol: spec.symbol.clone(),
        side,
        kind,
        price,
        quantity,
        time_in_force,
        post_only: order.post_only,
        client_order_id: order.client_order_id.clone(),
        account: principal.id.clone(),
    };
    Ok((request, spec))
}

pub fn price_ticks(text: &str, spec: &SymbolInfo) -> Result<i64, FieldError> {
    decimal::price_ticks(text, spec.price_scale, spec.tick)
        .map_err(|e| field("price", e.to_string()))
}

pub fn quantity_lots(text: &str, spec: &SymbolInfo) -> Result<u64, FieldError> {
    decimal::quantity_lots(text, spec.quantity_scale, spec.lot)
        .map_err(|e| field("quantity", e.to_string()))
}
