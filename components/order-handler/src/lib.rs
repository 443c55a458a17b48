//! The order-handler component: validates orders at the JSON edge (decimals, ticks, lots,
//! risk limits) and places them on the market. Serves the order API: `POST /api/orders`,
//! `GET /api/orders[?status=]`, `GET|PATCH|DELETE /api/orders/{id}`,
//! `GET /api/book/{symbol}[?depth=]`, `GET /api/trades/{symbol}[?limit=]` and
//! `GET /api/symbols`.

mod risk;
mod validate;
mod wire;

use std::cell::OnceCell;
use std::rc::Rc;

use bourse_guest::bourse::platform::{market, types};
use bourse_guest::http::{PRINCIPAL_HEADER, Request, Response};

// wit-bindgen for the `bourse:platform` part of the world only; HTTP and variables come
// from spin-sdk, as in any Spin component.
bourse_guest::domain_bindings!(
    "package bourse:order-handler-guest; world guest { import bourse:platform/market@0.1.0; export bourse:platform/order-handling@0.1.0; }",
    "bourse:platform/types@0.1.0": bourse_guest::bourse::platform::types,
    "bourse:platform/market@0.1.0": bourse_guest::bourse::platform::market,
);

use exports::bourse::platform::order_handling::{self, NewOrder, OrderError};

struct Component;

thread_local! {
    /// The market's symbol table and the risk limits from the variables: both fixed for the
    /// host's life, so an instance that serves many requests (`instance_reuse`) reads them
    /// across the component boundary once instead of on every order.
    static SYMBOLS: OnceCell<Rc<Vec<types::SymbolInfo>>> = const { OnceCell::new() };
    static LIMITS: OnceCell<Rc<risk::Limits>> = const { OnceCell::new() };
}

/// The market's symbols, read once per instance (an empty answer is not kept).
fn symbols() -> Rc<Vec<types::SymbolInfo>> {
    SYMBOLS.with(|cell| {
        if let Some(symbols) = cell.get() {
            return symbols.clone();
        }
        let symbols = Rc::new(market::symbols());
        if !symbols.is_empty() {
            let _ = cell.set(symbols.clone());
        }
        symbols
    })
}

/// The risk limits, read once per instance.
fn limits() -> Rc<risk::Limits> {
    LIMITS.with(|cell| {
        cell.get_or_init(|| Rc::new(risk::Limits::from_variables()))
            .clone()
    })
}

impl order_handling::Guest for Component {
    fn handle(
        principal: types::Principal,
        order: NewOrder,
    ) -> Result<types::OrderResult, OrderError> {
        place(&principal, &order).map(|(result, _)| result)
    }
}

export!(Component);

// The description of the routes below, in /api/openapi.json (kept in ../openapi.json).
bourse_guest::openapi!("../openapi.json");

#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    bourse_guest::spin::handle(request, route)
}

fn route(request: &Request) -> Response {
    match (request.method.as_str(), request.segments().as_slice()) {
        ("POST", ["api", "orders"]) => post_order(request),
        ("GET", ["api", "orders"]) => with_principal(request, list_orders),
        ("GET", ["api", "orders", id]) => with_principal(request, |r, p| get_order(r, p, id)),
        ("DELETE", ["api", "orders", id]) => with_principal(request, |r, p| cancel_order(r, p, id)),
        ("PATCH", ["api", "orders", id]) => with_principal(request, |r, p| amend_order(r, p, id)),
        ("GET", ["api", "book", symbol]) => get_book(request, symbol),
        ("GET", ["api", "trades", symbol]) => get_trades(request, symbol),
        ("GET", ["api", "symbols"]) => Response::json(
            200,
            &symbols()
                .iter()
                .map(wire::SymbolJson::from)
                .collect::<Vec<_>>(),
        ),
        _ => Response::not_found(request),
    }
}

/// Validates and submits; returns the result and the symbol's spec for rendering.
fn place(
    principal: &types::Principal,
    order: &NewOrder,
) -> Result<(types::OrderResult, types::SymbolInfo), OrderError> {
    let symbols = symbols();
    let limits = limits();
    let (request, spec) = validate::order_request(principal, order, &symbols, &limits)
        .map_err(OrderError::Invalid)?;
    // The market publishes fills and order updates on `orders:<account>` itself.
    let result = market::submit(&request).map_err(OrderError::Rejected)?;
    Ok((result, spec))
}

/// The caller, as the host's auth step established it.
fn principal(request: &Request) -> Option<types::Principal> {
    let p = request
        .header(PRINCIPAL_HEADER)
        .and_then(|p| serde_json::from_str::<wire::PrincipalJson>(p).ok())?;
    Some(types::Principal {
        id: p.id,
        roles: p.roles,
    })
}

fn with_principal(
    request: &Request,
    f: impl FnOnce(&Request, &types::Principal) -> Response,
) -> Response {
    match principal(request) {
        Some(p) => f(request, &p),
        None => Response::error(
            request,
            401,
            "unauthenticated",
            "this route needs an Authorization: Bearer token",
        ),
    }
}

fn rejected(request: &Request, reject: &types::Reject) -> Response {
    let response = Response::error(
        request,
        wire::reject_status(reject.code),
        wire::reject_code(reject.code),
        &reject.message,
    );
    // The journal (or the shard's owner) is briefly out of reach: the same request, with
    // the same client_order_id, is safe to send again.
    if matches!(reject.code, types::RejectCode::Unavailable) {
        response.with_header("retry-after", "1")
    } else {
        response
    }
}

fn spec_of(symbol: &str) -> Option<types::SymbolInfo> {
    symbols().iter().find(|s| s.symbol == symbol).cloned()
}

fn post_order(request: &Request) -> Response {
    with_principal(request, |request, principal| {
        let body: wire::NewOrderJson = match request.json() {
            Ok(body) => body,
            Err(response) => return response,
        };
        match place(principal, &body.into()) {
            Ok((result, spec)) => Response::json(
                if result.duplicate { 200 } else { 201 },
                &wire::OrderResultJson::new(&result, &spec),
            ),
            Err(OrderError::Invalid(e)) => {
                Response::error(request, 400, &format!("invalid_{}", e.field), &e.message)
            }
            Err(OrderError::Rejected(reject)) => rejected(request, &reject),
        }
    })
}

/// Query parameter `name` as a count from 1 to 1000, `default` when absent.
fn count_param(request: &Request, name: &str, default: u32) -> Result<u32, Response> {
    match request.query_param(name).map(str::parse::<u32>) {
        None => Ok(default),
        Some(Ok(n)) if (1..=1000).contains(&n) => Ok(n),
        Some(_) => Err(Response::error(
            request,
            400,
            &format!("invalid_{name}"),
            &format!("{name} must be a whole number from 1 to 1000"),
        )),
    }
}

fn order_id(request: &Request, text: &str) -> Result<u64, Response> {
    text.parse::<u64>().map_err(|_| {
        Response::error(
            request,
            400,
            "invalid_order_id",
            &format!("order id {text:?} is not a whole number"),
        )
    })
}

fn list_orders(request: &Request, principal: &types::Principal) -> Response {
    let status = request.query_param("status").unwrap_or("all");
    if !matches!(
        status,
        "all" | "open" | "accepted" | "partially_filled" | "filled" | "cancelled"
    ) {
        return Response::error(
            request,
            400,
            "invalid_status",
            &format!(
                "status {status:?} is not all, open, accepted, partially_filled, filled or cancelled"
            ),
        );
    }
    let limit = match count_param(request, "limit", 100) {
        Ok(n) => n,
        Err(response) => return response,
    };
    let symbols = symbols();
    let orders: Vec<wire::OrderInfoJson> = market::orders(&principal.id, status == "open", limit)
        .iter()
        .filter(|o| status == "all" || status == "open" || wire::status(o.status) == status)
        .filter_map(|o| {
            let spec = symbols.iter().find(|s| s.symbol == o.symbol)?;
            Some(wire::OrderInfoJson::new(o, spec))
        })
        .collect();
    Response::json(200, &serde_json::json!({ "orders": orders }))
}

fn get_order(request: &Request, principal: &types::Principal, id: &str) -> Response {
    let id = match order_id(request, id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    match market::order(&principal.id, id) {
        Ok(info) => match spec_of(&info.symbol) {
            Some(spec) => Response::json(200, &wire::OrderInfoJson::new(&info, &spec)),
            None => Response::not_found(request),
        },
        Err(reject) => rejected(request, &reject),
    }
}

fn cancel_order(request: &Request, principal: &types::Principal, id: &str) -> Response {
    let id = match order_id(request, id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let info = match market::order(&principal.id, id) {
        Ok(info) => info,
        Err(reject) => return rejected(request, &reject),
    };
    let Some(spec) = spec_of(&info.symbol) else {
        return Response::not_found(request);
    };
    match market::cancel(&principal.id, &info.symbol, id) {
        Ok(result) => Response::json(200, &wire::OrderResultJson::new(&result, &spec)),
        Err(reject) => rejected(request, &reject),
    }
}

fn amend_order(request: &Request, principal: &types::Principal, id: &str) -> Response {
    let id = match order_id(request, id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let body: wire::AmendJson = match request.json() {
        Ok(body) => body,
        Err(response) => return response,
    };
    if body.price.is_none() && body.quantity.is_none() {
        return Response::error(
            request,
            400,
            "invalid_body",
            "an amendment needs a new price, a new quantity, or both",
        );
    }
    let info = match market::order(&principal.id, id) {
        Ok(info) => info,
        Err(reject) => return rejected(request, &reject),
    };
    let Some(spec) = spec_of(&info.symbol) else {
        return Response::not_found(request);
    };
    let invalid = |e: order_handling::FieldError| {
        Response::error(request, 400, &format!("invalid_{}", e.field), &e.message)
    };
    let price = match body
        .price
        .as_deref()
        .map(|p| validate::price_ticks(p, &spec))
    {
        Some(Err(e)) => return invalid(e),
        Some(Ok(p)) => Some(p),
        None => None,
    };
    let quantity = match body
        .quantity
        .as_deref()
        .map(|q| validate::quantity_lots(q, &spec))
    {
        Some(Err(e)) => return invalid(e),
        Some(Ok(q)) => Some(q),
        None => None,
    };
    if info.price.is_none() && price.is_some() {
        return invalid(order_handling::FieldError {
            field: "price".into(),
            message: "a market order has no price to change".into(),
        });
    }
    let exposure = risk::Exposure {
        spec: &spec,
        side: info.side,
        price: price.or(info.price),
        lots: quantity.unwrap_or(info.remaining_quantity),
    };
    if let Err(e) = limits().check(&exposure) {
        return invalid(e);
    }
    match market::amend(&principal.id, &info.symbol, id, price, quantity) {
        Ok(result) => Response::json(200, &wire::OrderResultJson::new(&result, &spec)),
        Err(reject) => rejected(request, &reject),
    }
}

fn get_trades(request: &Request, symbol: &str) -> Response {
    let limit = match count_param(request, "limit", 100) {
        Ok(n) => n,
        Err(response) => return response,
    };
    let Some(spec) = spec_of(symbol) else {
        return Response::error(
            request,
            404,
            "unknown_symbol",
            &format!("symbol {symbol} is not traded here"),
        );
    };
    match market::trades(symbol, limit) {
        Ok(trades) => {
            let trades: Vec<wire::TradeJson> = trades
                .iter()
                .map(|t| wire::TradeJson::new(t, &spec))
                .collect();
            Response::json(
                200,
                &serde_json::json!({"symbol": symbol, "trades": trades}),
            )
        }
        Err(reject) => rejected(request, &reject),
    }
}

fn get_book(request: &Request, symbol: &str) -> Response {
    let depth = match count_param(request, "depth", 10) {
        Ok(n) => n,
        Err(response) => return response,
    };
    let symbols = symbols();
    let Some(spec) = symbols.iter().find(|s| s.symbol == symbol) else {
        return Response::error(
            request,
            404,
            "unknown_symbol",
            &format!("symbol {symbol} is not traded here"),
        );
    };
    match market::depth(symbol, depth) {
        Ok(book) => Response::json(200, &wire::BookJson::new(&book, spec)),
        Err(reject) => rejected(request, &reject),
    }
}
