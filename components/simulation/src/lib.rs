//! The simulation component: seeded, reproducible order flow behind `next-batch`, and
//! `POST /api/simulations/preview` to look at the first orders of a scenario.

mod flow;

use std::cell::RefCell;

use bourse_guest::bourse::platform::types::{OrderKind, OrderRequest, Side, TimeInForce};
use bourse_guest::http::{Request, Response};
use serde::{Deserialize, Serialize};

// wit-bindgen for the `bourse:platform` part of the world only; HTTP (the world's
// `wasi:http/incoming-handler` export) comes from spin-sdk, as in any Spin component.
bourse_guest::domain_bindings!(
    "package bourse:simulation-guest; world guest { export bourse:platform/generator@0.1.0; }",
    "bourse:platform/types@0.1.0": bourse_guest::bourse::platform::types,
);

use exports::bourse::platform::generator::{self, AgentMix, Scenario};

/// Largest preview, so one request cannot ask for unbounded work.
const MAX_PREVIEW: u32 = 10_000;

thread_local! {
    // One generator per instance: the host keeps an instance for the life of a run.
    static FLOW: RefCell<Option<flow::Flow>> = const { RefCell::new(None) };
}

struct Component;

impl generator::Guest for Component {
    fn start(scenario: Scenario) -> Result<(), String> {
        let flow = flow::Flow::new(scenario)?;
        FLOW.with(|f| *f.borrow_mut() = Some(flow));
        Ok(())
    }

    fn next_batch(max: u32) -> Vec<OrderRequest> {
        FLOW.with(|f| match f.borrow_mut().as_mut() {
            Some(flow) => flow.batch(max),
            None => Vec::new(),
        })
    }
}

export!(Component);

// The description of the routes below, in /api/openapi.json (kept in ../openapi.json).
bourse_guest::openapi!("../openapi.json");

#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    bourse_guest::spin::handle(request, route)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewJson {
    symbols: Vec<String>,
    mid: i64,
    #[serde(default = "default_spread")]
    spread: u32,
    #[serde(default = "default_max_quantity")]
    max_quantity: u64,
    #[serde(default)]
    market_percent: u8,
    #[serde(default = "default_accounts")]
    accounts: u32,
    seed: u64,
    #[serde(default)]
    volatility_bp: u32,
    #[serde(default)]
    agents: Option<AgentsJson>,
    count: u32,
}

/// Shares of the flow by agent kind, in percent (default: all noise traders).
#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct AgentsJson {
    #[serde(default)]
    noise: u8,
    #[serde(default)]
    market_maker: u8,
    #[serde(default)]
    momentum: u8,
}

impl From<Option<AgentsJson>> for AgentMix {
    fn from(a: Option<AgentsJson>) -> AgentMix {
        match a {
            Some(a) => AgentMix {
                noise: a.noise,
                market_maker: a.market_maker,
                momentum: a.momentum,
            },
            None => AgentMix {
                noise: 100,
                market_maker: 0,
                momentum: 0,
            },
        }
    }
}

fn default_spread() -> u32 {
    50
}
fn default_max_quantity() -> u64 {
    100
}
fn default_accounts() -> u32 {
    10
}

#[derive(Serialize)]
struct OrderJson<'a> {
    symbol: &'a str,
    side: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    price_ticks: i64,
    quantity_lots: u64,
    time_in_force: &'static str,
    account: &'a str,
}

impl<'a> From<&'a OrderRequest> for OrderJson<'a> {
    fn from(o: &'a OrderRequest) -> Self {
        OrderJson {
            symbol: &o.symbol,
            side: match o.side {
                Side::Buy => "buy",
                Side::Sell => "sell",
            },
            kind: match o.kind {
                OrderKind::Limit => "limit",
                OrderKind::Market => "market",
            },
            price_ticks: o.price,
            quantity_lots: o.quantity,
            time_in_force: match o.time_in_force {
                TimeInForce::Gtc => "gtc",
                TimeInForce::Ioc => "ioc",
                TimeInForce::Fok => "fok",
            },
            account: &o.account,
        }
    }
}

fn route(request: &Request) -> Response {
    match (request.method.as_str(), request.segments().as_slice()) {
        ("POST", ["api", "simulations", "preview"]) => preview(request),
        _ => Response::not_found(request),
    }
}

fn preview(request: &Request) -> Response {
    let body: PreviewJson = match request.json() {
        Ok(body) => body,
        Err(response) => return response,
    };
    if body.count == 0 || body.count > MAX_PREVIEW {
        return Response::error(
            request,
            400,
            "invalid_count",
            &format!("count must be from 1 to {MAX_PREVIEW}"),
        );
    }
    let scenario = Scenario {
        symbols: body.symbols,
        mid: body.mid,
        spread: body.spread,
        max_quantity: body.max_quantity,
        market_percent: body.market_percent,
        accounts: body.accounts,
        seed: body.seed,
        volatility_bp: body.volatility_bp,
        agents: body.agents.into(),
    };
    let mut flow = match flow::Flow::new(scenario) {
        Ok(flow) => flow,
        Err(message) => return Response::error(request, 400, "invalid_scenario", &message),
    };
    let orders = flow.batch(body.count);
    let orders: Vec<OrderJson> = orders.iter().map(OrderJson::from).collect();
    Response::json(200, &serde_json::json!({ "orders": orders }))
}
