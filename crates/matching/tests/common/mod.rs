//! Shared fixtures for the integration tests.
#![allow(dead_code)]

use bourse_matching::*;
use proptest::prelude::*;

pub const SYM_A: SymbolId = SymbolId(1);
/// Tick 5, lot 2: exercises the off-tick and off-lot rejections.
pub const SYM_B: SymbolId = SymbolId(2);
pub const SYM_UNKNOWN: SymbolId = SymbolId(99);

/// Proptest settings with `default_cases` cases unless `PROPTEST_CASES` is set: CI runs the
/// fixed budget, a longer run sets the variable (an explicit `cases` would ignore it).
pub fn cases(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

pub fn engine() -> Engine {
    let mut e = Engine::new(EngineConfig {
        max_open_orders: 64,
        orders_per_symbol: 16,
        levels_per_symbol: 8,
        closed_history: 10_000,
    });
    e.add_symbol(SymbolConfig {
        id: SYM_A,
        name: "AAA".into(),
        tick_size: 1,
        lot_size: 1,
    })
    .expect("fresh symbol");
    e.add_symbol(SymbolConfig {
        id: SYM_B,
        name: "BBB".into(),
        tick_size: 5,
        lot_size: 2,
    })
    .expect("fresh symbol");
    e
}

pub fn submit(id: u64, account: u64, side: Side, order_type: OrderType, quantity: u64) -> Command {
    submit_on(
        SYM_A,
        id,
        account,
        side,
        order_type,
        quantity,
        StpMode::CancelNewest,
    )
}

pub fn submit_on(
    symbol: SymbolId,
    id: u64,
    account: u64,
    side: Side,
    order_type: OrderType,
    quantity: u64,
    stp: StpMode,
) -> Command {
    Command::Submit {
        symbol,
        order_id: OrderId(id),
        account: AccountId(account),
        side,
        order_type,
        quantity,
        stp,
    }
}

pub fn limit(price: i64) -> OrderType {
    OrderType::Limit { price }
}

pub fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

pub fn stp() -> impl Strategy<Value = StpMode> {
    prop_oneof![
        Just(StpMode::CancelNewest),
        Just(StpMode::CancelOldest),
        Just(StpMode::DecrementBoth)
    ]
}

/// Prices cluster in a narrow band so orders cross often; a few are off-tick or non-positive.
fn price() -> impl Strategy<Value = i64> + Clone {
    prop_oneof![
        20 => (18i64..=26).prop_map(|p| p * 5),
        1 => -1i64..=3,
        1 => 90i64..=130,
    ]
}

fn order_type() -> impl Strategy<Value = OrderType> {
    order_type_priced(price())
}

/// Every order type, the priced ones with prices from `price`.
pub fn order_type_priced(
    price: impl Strategy<Value = i64> + Clone,
) -> impl Strategy<Value = OrderType> {
    prop_oneof![
        8 => price.clone().prop_map(|price| OrderType::Limit { price }),
        2 => Just(OrderType::Market),
        2 => price.clone().prop_map(|price| OrderType::Ioc { price }),
        2 => price.clone().prop_map(|price| OrderType::Fok { price }),
        2 => price.prop_map(|price| OrderType::PostOnly { price }),
    ]
}

fn symbol() -> impl Strategy<Value = SymbolId> {
    prop_oneof![10 => Just(SYM_A), 5 => Just(SYM_B), 1 => Just(SYM_UNKNOWN)]
}

fn quantity() -> impl Strategy<Value = u64> + Clone {
    prop_oneof![20 => 1u64..=12, 1 => Just(0u64)]
}

/// Random commands over a small id/account space so duplicates, self-trades, cancels and
/// amends of live orders are all common.
pub fn command() -> impl Strategy<Value = Command> {
    command_with((0u64..48).prop_map(OrderId), symbol(), price(), quantity())
}

/// Submits, cancels and amends (6 : 2 : 2) drawing ids, symbols, prices and quantities from
/// the given strategies, over three accounts.
pub fn command_with(
    order_id: impl Strategy<Value = OrderId> + Clone,
    symbol: impl Strategy<Value = SymbolId>,
    price: impl Strategy<Value = i64> + Clone,
    quantity: impl Strategy<Value = u64> + Clone,
) -> impl Strategy<Value = Command> {
    prop_oneof![
        6 => (symbol, order_id.clone(), 0u64..3, side(), order_type_priced(price.clone()), quantity.clone(), stp()).prop_map(
            |(symbol, order_id, account, side, order_type, quantity, stp)| Command::Submit {
                symbol,
                order_id,
                account: AccountId(account),
                side,
                order_type,
                quantity,
                stp,
            }
        ),
        2 => order_id.clone().prop_map(|order_id| Command::Cancel { order_id }),
        2 => (order_id, proptest::option::of(price), quantity).prop_map(
            |(order_id, price, quantity)| Command::Amend { order_id, price, quantity }
        ),
    ]
}

pub fn run(engine: &mut Engine, commands: &[Command]) -> Vec<Event> {
    let mut all = Vec::new();
    let mut buf = Vec::new();
    for c in commands {
        buf.clear();
        let _ = engine.execute(c, &mut buf);
        all.extend_from_slice(&buf);
    }
    all
}
