//! The order-handler component: validates orders at the JSON edge (decimals, ticks, lots,
//! risk limits) and places them on the market. Serves `POST /api/orders`,
//! `GET /api/book/{symbol}` and `GET /api/symbols`.

mod validate;
mod wire;

use bourse_guest::bourse::platform::{events, market, types};
use bourse_guest::http::{PRINCIPAL_HEADER, Request, Response, serve};
use bourse_guest::wasi::http::types::{IncomingRequest, ResponseOutparam};

bourse_guest::bindings!(
    "bourse:platform/order-handler",
    "bourse:platform/types@0.1.0": bourse_guest::bourse::platform::types,
    "bourse:platform/market@0.1.0": bourse_guest::bourse::platform::market,
    "bourse:platform/events@0.1.0": bourse_guest::bourse::platform::events,
    "fermyon:spin/variables@2.0.0": bourse_guest::fermyon::spin::variables,
);

use exports::bourse::platform::order_handling::{self, NewOrder, OrderError};

struct Component;

impl order_handling::Guest for Component {
    fn handle(
        principal: types::Principal,
        order: NewOrder,
    ) -> Result<types::OrderResult, OrderError> {
        place(&principal, &order).map(|(result, _)| result)
    }
}

impl exports::wasi::http::incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        serve(request, out, route);
    }
}

export!(Component);

fn route(request: &Request) -> Response {
    match (request.method.as_str(), request.segments().as_slice()) {
        ("POST", ["api", "orders"]) => post_order(request),
        ("GET", ["api", "book", symbol]) => get_book(request, symbol),
        ("GET", ["api", "symbols"]) => Response::json(
            200,
            &market::symbols()
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
    let symbols = market::symbols();
    let limits = validate::Limits::from_variables();
    let (request, spec) = validate::order_request(principal, order, &symbols, &limits)
        .map_err(OrderError::Invalid)?;
    let result = market::submit(&request).map_err(OrderError::Rejected)?;
    if !result.trades.is_empty() {
        let trades: Vec<wire::TradeJson> = result
            .trades
            .iter()
            .map(|t| wire::TradeJson::new(t, &spec))
            .collect();
        let payload = serde_json::json!({
            "symbol": spec.symbol,
            "order_id": result.order_id.to_string(),
            "trades": trades,
        });
        // The market publishes every trade on `trades:<symbol>`; this is the account's own
        // view, in decimals, on `orders:<account>`. Best-effort: the order is placed whether
        // or not a listener hears it.
        let _ = events::publish(&format!("orders:{}", principal.id), &payload.to_string());
    }
    Ok((result, spec))
}

fn post_order(request: &Request) -> Response {
    let Some(principal) = request
        .header(PRINCIPAL_HEADER)
        .and_then(|p| serde_json::from_str::<wire::PrincipalJson>(p).ok())
    else {
        return Response::error(
            request,
            401,
            "unauthenticated",
            "placing an order needs an Authorization: Bearer token",
        );
    };
    let body: wire::NewOrderJson = match request.json() {
        Ok(body) => body,
        Err(response) => return response,
    };
    let principal = types::Principal {
        id: principal.id,
        roles: principal.roles,
    };
    match place(&principal, &body.into()) {
        Ok((result, spec)) => Response::json(201, &wire::OrderResultJson::new(&result, &spec)),
        Err(OrderError::Invalid(e)) => {
            Response::error(request, 400, &format!("invalid_{}", e.field), &e.message)
        }
        Err(OrderError::Rejected(reject)) => Response::error(
            request,
            422,
            wire::reject_code(reject.code),
            &reject.message,
        ),
    }
}

fn get_book(request: &Request, symbol: &str) -> Response {
    let depth = match request.query_param("depth").map(str::parse::<u32>) {
        None => 10,
        Some(Ok(d)) if (1..=1000).contains(&d) => d,
        Some(_) => {
            return Response::error(
                request,
                400,
                "invalid_depth",
                "depth must be a whole number from 1 to 1000",
            );
        }
    };
    let symbols = market::symbols();
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
        Err(reject) => Response::error(
            request,
            422,
            wire::reject_code(reject.code),
            &reject.message,
        ),
    }
}
