//! An order handler with its own pre-trade rule, made with `bourse new rust-order-handler`.
//! `POST /__NAME__/orders` takes an order as the platform's order API does (`symbol`, `side`,
//! `type`, `price`, `quantity`, `client_order_id`), checks it against [`desk_rule`] and places
//! it on the market; the typed `order-handling.handle` export does the same for the host.
//! Write your rule in `desk_rule`.

use bourse_guest::bourse::platform::{market, types};
use bourse_guest::decimal;
use bourse_guest::http::{PRINCIPAL_HEADER, Request, Response};
use serde::Deserialize;

// wit-bindgen for the `bourse:platform` part of the world; HTTP comes from spin-sdk.
bourse_guest::domain_bindings!(
    "package bourse:__NAME__-guest; world guest { import bourse:platform/market@0.1.0; export bourse:platform/order-handling@0.1.0; }",
    "bourse:platform/types@0.1.0": bourse_guest::bourse::platform::types,
    "bourse:platform/market@0.1.0": bourse_guest::bourse::platform::market,
);

use exports::bourse::platform::order_handling::{self, FieldError, NewOrder, OrderError};

/// The largest order this desk sends, in lots.
const MAX_LOTS: u64 = 1_000;

/// The desk's own pre-trade rule, after the order is parsed: limit orders only, at most
/// [`MAX_LOTS`] lots.
fn desk_rule(request: &types::OrderRequest) -> Result<(), FieldError> {
    if request.kind == types::OrderKind::Market {
        return Err(field("type", "this desk sends limit orders only"));
    }
    if request.quantity > MAX_LOTS {
        return Err(field(
            "quantity",
            format!("{} lots is over this desk's {MAX_LOTS}", request.quantity),
        ));
    }
    Ok(())
}

fn field(name: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: name.to_string(),
        message: message.into(),
    }
}

/// `order` as the market takes it, for `account`.
fn parse(account: &str, order: &NewOrder) -> Result<types::OrderRequest, FieldError> {
    let symbols = market::symbols();
    let spec = symbols
        .iter()
        .find(|s| s.symbol == order.symbol)
        .ok_or_else(|| field("symbol", format!("{:?} is not traded here", order.symbol)))?;
    let side = match order.side.as_str() {
        "buy" => types::Side::Buy,
        "sell" => types::Side::Sell,
        other => return Err(field("side", format!("{other:?} is not buy or sell"))),
    };
    let (kind, price) = match (order.kind.as_str(), order.price.as_deref()) {
        ("limit", Some(text)) => (
            types::OrderKind::Limit,
            decimal::price_ticks(text, spec.price_scale, spec.tick)
                .map_err(|e| field("price", e.to_string()))?,
        ),
        ("limit", None) => return Err(field("price", "a limit order needs a price")),
        ("market", None) => (types::OrderKind::Market, 0),
        ("market", Some(_)) => return Err(field("price", "a market order takes no price")),
        (other, _) => return Err(field("type", format!("{other:?} is not limit or market"))),
    };
    let quantity = decimal::quantity_lots(&order.quantity, spec.quantity_scale, spec.lot)
        .map_err(|e| field("quantity", e.to_string()))?;
    Ok(types::OrderRequest {
        symbol: spec.symbol.clone(),
        side,
        kind,
        price,
        quantity,
        time_in_force: types::TimeInForce::Gtc,
        post_only: order.post_only,
        client_order_id: order.client_order_id.clone(),
        account: account.to_string(),
    })
}

fn place(principal: &types::Principal, order: &NewOrder) -> Result<types::OrderResult, OrderError> {
    let request = parse(&principal.id, order).map_err(OrderError::Invalid)?;
    desk_rule(&request).map_err(OrderError::Invalid)?;
    market::submit(&request).map_err(OrderError::Rejected)
}

struct Component;

impl order_handling::Guest for Component {
    fn handle(
        principal: types::Principal,
        order: NewOrder,
    ) -> Result<types::OrderResult, OrderError> {
        place(&principal, &order)
    }
}

export!(Component);

#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    bourse_guest::spin::handle(request, route)
}

fn route(request: &Request) -> Response {
    match (request.method.as_str(), request.segments().as_slice()) {
        ("POST", ["__NAME__", "orders"]) => post_order(request),
        _ => Response::not_found(request),
    }
}

/// An order as clients send it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderJson {
    symbol: String,
    side: String,
    #[serde(rename = "type")]
    kind: String,
    price: Option<String>,
    quantity: String,
    #[serde(default)]
    client_order_id: Option<String>,
}

#[derive(Deserialize)]
struct PrincipalJson {
    id: String,
    roles: Vec<String>,
}

fn post_order(request: &Request) -> Response {
    // The host authenticated the caller and says who it is in this header.
    let Some(principal) = request
        .header(PRINCIPAL_HEADER)
        .and_then(|p| serde_json::from_str::<PrincipalJson>(p).ok())
    else {
        return Response::error(request, 401, "unauthenticated", "this route needs credentials");
    };
    let body: OrderJson = match request.json() {
        Ok(body) => body,
        Err(response) => return response,
    };
    let order = NewOrder {
        symbol: body.symbol,
        side: body.side,
        kind: body.kind,
        price: body.price,
        quantity: body.quantity,
        time_in_force: None,
        post_only: false,
        client_order_id: body.client_order_id,
    };
    let principal = types::Principal {
        id: principal.id,
        roles: principal.roles,
    };
    match place(&principal, &order) {
        Ok(result) => Response::json(
            201,
            &serde_json::json!({
                "order_id": result.order_id.to_string(),
                "status": status_name(result.status),
                "filled_lots": result.filled_quantity,
                "remaining_lots": result.remaining_quantity,
                "trades": result.trades.len(),
            }),
        ),
        Err(OrderError::Invalid(e)) => {
            Response::error(request, 400, &format!("invalid_{}", e.field), &e.message)
        }
        Err(OrderError::Rejected(reject)) => {
            Response::error(request, 422, "rejected", &reject.message)
        }
    }
}

fn status_name(status: types::OrderStatus) -> &'static str {
    match status {
        types::OrderStatus::Accepted => "accepted",
        types::OrderStatus::PartiallyFilled => "partially_filled",
        types::OrderStatus::Filled => "filled",
        types::OrderStatus::Cancelled => "cancelled",
        types::OrderStatus::Rejected => "rejected",
    }
}
