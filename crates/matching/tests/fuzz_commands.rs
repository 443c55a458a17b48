//! Property test of the command stream at the edges of the integer ranges: prices from
//! `i64::MIN` to `i64::MAX`, quantities up to `u64::MAX`, every order type, time in force,
//! post-only and self-trade mode, cancels and amends of live and unknown orders. The reference
//! model (`model.rs`) checks exact behaviour on ordinary values; this one checks what must hold
//! on any input:
//! - no command panics;
//! - the book is never crossed after a command, and every resting order has quantity left;
//! - quantities are conserved, counted in `u128` so the check itself cannot wrap: each order's
//!   open quantity (accepted or amended quantity minus fills minus cancels) equals what the
//!   engine reports, and both sides of every trade fill the traded quantity;
//! - a refused command leaves every book as it was;
//! - snapshot → restore gives the same state hash, and replaying the same commands on a fresh
//!   engine gives the same events and hash.
//!
//! The same calls through a [`venue::Venue`] (symbol names, accounts, client order ids,
//! owner-only cancel and amend) are answered without a panic, never cross the book, a repeated
//! client order id makes no order, and a venue restored from a snapshot mid-stream, or one
//! replaying the stream from the start, gives the same answers and state.
//!
//! CI runs a fixed case budget; a longer run:
//! `PROPTEST_CASES=100000 cargo test -p bourse-matching --test fuzz_commands`.

mod common;

use std::collections::HashMap;

use bourse_matching::*;
use common::*;
use proptest::prelude::*;

fn extreme_price() -> impl Strategy<Value = i64> + Clone {
    prop_oneof![
        6 => (18i64..=26).prop_map(|p| p * 5),
        1 => Just(i64::MAX),
        1 => Just(i64::MAX - i64::MAX % 5),
        1 => Just(i64::MIN),
        1 => -2i64..=2,
        1 => any::<i64>(),
    ]
}

fn extreme_quantity() -> impl Strategy<Value = u64> + Clone {
    prop_oneof![
        6 => 1u64..=12,
        1 => Just(u64::MAX),
        1 => Just(u64::MAX - 1),
        1 => Just(1u64 << 63),
        1 => Just(0u64),
        1 => any::<u64>(),
    ]
}

fn extreme_command() -> impl Strategy<Value = Command> {
    let order_id =
        prop_oneof![10 => (0u64..32).prop_map(OrderId), 1 => any::<u64>().prop_map(OrderId)];
    let symbol = prop_oneof![8 => Just(SYM_A), 4 => Just(SYM_B), 1 => Just(SYM_UNKNOWN)];
    command_with(order_id, symbol, extreme_price(), extreme_quantity())
}

fn resting_orders(engine: &Engine) -> Vec<RestingOrder> {
    engine
        .snapshot()
        .books
        .into_iter()
        .flat_map(|b| b.bids.into_iter().chain(b.asks))
        .collect()
}

fn check_stream(commands: &[Command]) -> Result<(), TestCaseError> {
    let mut engine = engine();
    let mut events = Vec::new();
    let mut all_events = Vec::new();
    // Open quantity per order, derived from events alone.
    let mut ledger: HashMap<OrderId, u128> = HashMap::new();
    for (step, c) in commands.iter().enumerate() {
        events.clear();
        let before = engine.snapshot().books;
        let result = engine.execute(c, &mut events);
        all_events.extend_from_slice(&events);
        if result.is_err() {
            prop_assert_eq!(
                engine.snapshot().books,
                before,
                "refused step {} {:?}",
                step,
                c
            );
            continue;
        }
        let (mut traded, mut bought, mut sold) = (0u128, 0u128, 0u128);
        for e in &events {
            match e.kind {
                EventKind::Accepted {
                    order_id, quantity, ..
                }
                | EventKind::Amended {
                    order_id, quantity, ..
                } => {
                    ledger.insert(order_id, u128::from(quantity));
                }
                EventKind::Trade { quantity, .. } => traded += u128::from(quantity),
                EventKind::Fill {
                    order_id,
                    quantity,
                    side,
                    ..
                } => {
                    let open = ledger.entry(order_id).or_default();
                    prop_assert!(*open >= u128::from(quantity), "overfill of {:?}", order_id);
                    *open -= u128::from(quantity);
                    match side {
                        Side::Buy => bought += u128::from(quantity),
                        Side::Sell => sold += u128::from(quantity),
                    }
                }
                EventKind::Cancelled {
                    order_id,
                    cancelled,
                    ..
                } => {
                    let open = ledger.entry(order_id).or_default();
                    prop_assert!(
                        *open >= u128::from(cancelled),
                        "over-cancel of {:?}",
                        order_id
                    );
                    *open -= u128::from(cancelled);
                }
                _ => {}
            }
        }
        prop_assert_eq!(bought, traded, "buy fills of step {} {:?}", step, c);
        prop_assert_eq!(sold, traded, "sell fills of step {} {:?}", step, c);
        prop_assert!(engine.is_uncrossed(), "crossed after step {} {:?}", step, c);
        for o in resting_orders(&engine) {
            prop_assert!(o.remaining > 0, "empty resting order {:?}", o.order_id);
        }
        for (&id, &open) in &ledger {
            let live = engine.order_status(id).map_or(0, |s| match s.state {
                OrderState::Open | OrderState::PartiallyFilled => u128::from(s.remaining),
                OrderState::Filled | OrderState::Cancelled => 0,
            });
            prop_assert_eq!(open, live, "open quantity of {:?} after step {}", id, step);
        }
    }
    let restored =
        Engine::restore(&engine.snapshot()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(restored.state_hash(), engine.state_hash());
    let mut replayed = common::engine();
    prop_assert_eq!(run(&mut replayed, commands), all_events);
    prop_assert_eq!(replayed.state_hash(), engine.state_hash());
    Ok(())
}

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn any_command_stream_keeps_the_book_sound(
        commands in proptest::collection::vec(extreme_command(), 1..120),
    ) {
        check_stream(&commands)?;
    }
}

#[test]
fn amending_a_partly_filled_order_to_the_largest_quantity_then_filling_it() {
    let max = u64::MAX;
    let commands = [
        submit(1, 1, Side::Buy, limit(100), 10),
        submit(2, 2, Side::Sell, limit(100), 5),
        Command::Amend {
            order_id: OrderId(1),
            price: None,
            quantity: max,
        },
        submit(3, 2, Side::Sell, limit(100), max),
    ];
    check_stream(&commands).expect("invariants hold");
}

/// One call on the venue, as the host's market capability makes it.
#[derive(Clone, Debug)]
enum VenueCall {
    Submit(venue::OrderRequest<'static>),
    Cancel(&'static str, &'static str, u64),
    Amend(&'static str, &'static str, u64, Option<i64>, Option<u64>),
}

fn venue_call() -> impl Strategy<Value = VenueCall> {
    use venue::{OrderKind, TimeInForce};
    let account = proptest::sample::select(vec!["a", "b", "c"]);
    let symbol = proptest::sample::select(vec!["AAPL", "MSFT", "NOPE"]);
    let client = proptest::option::of(proptest::sample::select(vec!["c0", "c1", "c2", "c3"]));
    let id = prop_oneof![8 => 1u64..40, 1 => any::<u64>()];
    let kind = prop_oneof![4 => Just(OrderKind::Limit), 1 => Just(OrderKind::Market)];
    let tif = prop_oneof![
        Just(TimeInForce::Gtc),
        Just(TimeInForce::Ioc),
        Just(TimeInForce::Fok)
    ];
    let submit = (
        (
            symbol.clone(),
            side(),
            kind,
            extreme_price(),
            extreme_quantity(),
        ),
        (tif, any::<bool>(), client, account.clone()),
    )
        .prop_map(
            |(
                (symbol, side, kind, price, quantity),
                (time_in_force, post_only, client, account),
            )| {
                VenueCall::Submit(venue::OrderRequest {
                    symbol,
                    side,
                    kind,
                    price,
                    quantity,
                    time_in_force,
                    post_only,
                    client_order_id: client,
                    account,
                })
            },
        );
    prop_oneof![
        6 => submit,
        1 => (account.clone(), symbol.clone(), id.clone()).prop_map(|(a, s, i)| VenueCall::Cancel(a, s, i)),
        3 => (account, symbol, id, proptest::option::of(extreme_price()), proptest::option::of(extreme_quantity()))
            .prop_map(|(a, s, i, p, q)| VenueCall::Amend(a, s, i, p, q)),
    ]
}

type Answer = Result<venue::OrderResult, venue::Reject>;

fn call(v: &mut venue::Venue, c: &VenueCall) -> Answer {
    match c {
        VenueCall::Submit(order) => v.submit(order),
        VenueCall::Cancel(a, s, i) => v.cancel(a, s, *i),
        VenueCall::Amend(a, s, i, p, q) => v.amend(a, s, *i, *p, *q),
    }
}

fn check_venue_stream(calls: &[VenueCall], split: usize) -> Result<(), TestCaseError> {
    let symbols = venue::default_symbols();
    let new_venue = || venue::Venue::new(&symbols).map_err(|e| TestCaseError::fail(e.to_string()));
    let mut live = new_venue()?;
    let mut restored: Option<venue::Venue> = None;
    let mut answers: Vec<Answer> = Vec::new();
    for (step, c) in calls.iter().enumerate() {
        if step == split {
            let snap = live.snapshot();
            let copy = venue::Venue::restore(&symbols, &snap)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(copy.engine().state_hash(), live.engine().state_hash());
            restored = Some(copy);
        }
        let open_before = live.engine().open_orders();
        let answer = call(&mut live, c);
        if let Ok(r) = &answer {
            prop_assert!(r.filled_quantity <= u64::MAX - r.remaining_quantity);
            if r.duplicate {
                prop_assert_eq!(
                    live.engine().open_orders(),
                    open_before,
                    "a repeat made an order"
                );
            }
            for t in &r.trades {
                prop_assert!(t.quantity > 0 && t.price > 0, "{:?}", t);
            }
        }
        prop_assert!(
            live.engine().is_uncrossed(),
            "crossed after step {} {:?}",
            step,
            c
        );
        if let Some(copy) = restored.as_mut() {
            prop_assert_eq!(&call(copy, c), &answer, "restored venue at step {}", step);
        }
        answers.push(answer);
    }
    if let Some(copy) = &restored {
        prop_assert_eq!(copy.engine().state_hash(), live.engine().state_hash());
        prop_assert_eq!(copy.snapshot(), live.snapshot());
    }
    let mut replayed = new_venue()?;
    let again: Vec<Answer> = calls.iter().map(|c| call(&mut replayed, c)).collect();
    prop_assert_eq!(again, answers);
    prop_assert_eq!(replayed.engine().state_hash(), live.engine().state_hash());
    Ok(())
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn any_venue_call_stream_is_answered_and_replays(
        calls in proptest::collection::vec(venue_call(), 1..80),
        split in 0usize..80,
    ) {
        check_venue_stream(&calls, split)?;
    }
}
