//! One test per matching rule, on hand-built scenarios.

mod common;

use bourse_matching::*;
use common::*;

fn exec(e: &mut Engine, c: Command) -> (Result<Report, RejectReason>, Vec<EventKind>) {
    let mut events = Vec::new();
    let r = e.execute(&c, &mut events);
    (r, events.into_iter().map(|ev| ev.kind).collect())
}

fn ok(e: &mut Engine, c: Command) -> Report {
    exec(e, c).0.expect("command should be accepted")
}

fn rejected(e: &mut Engine, c: Command, reason: RejectReason) {
    let books = e.snapshot().books;
    let (r, events) = exec(e, c);
    assert_eq!(r, Err(reason));
    assert_eq!(
        events,
        vec![EventKind::Rejected {
            order_id: c.order_id(),
            reason
        }]
    );
    assert_eq!(
        e.snapshot().books,
        books,
        "a rejection leaves the books untouched"
    );
}

fn trades(events: &[EventKind]) -> Vec<(u64, u64, i64, u64)> {
    events
        .iter()
        .filter_map(|e| match *e {
            EventKind::Trade {
                maker_order_id,
                taker_order_id,
                price,
                quantity,
                ..
            } => Some((maker_order_id.0, taker_order_id.0, price, quantity)),
            _ => None,
        })
        .collect()
}

fn status(e: &Engine, id: u64) -> OrderStatus {
    e.order_status(OrderId(id)).expect("order is known")
}

#[test]
fn unknown_symbol_is_rejected() {
    let mut e = engine();
    rejected(
        &mut e,
        submit_on(
            SYM_UNKNOWN,
            1,
            1,
            Side::Buy,
            limit(100),
            1,
            StpMode::CancelNewest,
        ),
        RejectReason::UnknownSymbol,
    );
    assert_eq!(e.top_of_book(SYM_UNKNOWN), Err(RejectReason::UnknownSymbol));
}

#[test]
fn zero_quantity_is_rejected() {
    let mut e = engine();
    rejected(
        &mut e,
        submit(1, 1, Side::Buy, limit(100), 0),
        RejectReason::ZeroQuantity,
    );
    ok(&mut e, submit(2, 1, Side::Buy, limit(100), 5));
    rejected(
        &mut e,
        Command::Amend {
            order_id: OrderId(2),
            price: None,
            quantity: 0,
        },
        RejectReason::ZeroQuantity,
    );
}

#[test]
fn quantity_off_lot_is_rejected() {
    let mut e = engine();
    rejected(
        &mut e,
        submit_on(SYM_B, 1, 1, Side::Buy, limit(100), 3, StpMode::CancelNewest),
        RejectReason::QuantityOffLot,
    );
}

#[test]
fn non_positive_price_is_rejected() {
    let mut e = engine();
    rejected(
        &mut e,
        submit(1, 1, Side::Buy, limit(0), 1),
        RejectReason::NonPositivePrice,
    );
    rejected(
        &mut e,
        submit(1, 1, Side::Sell, OrderType::Ioc { price: -5 }, 1),
        RejectReason::NonPositivePrice,
    );
}

#[test]
fn price_off_tick_is_rejected() {
    let mut e = engine();
    rejected(
        &mut e,
        submit_on(SYM_B, 1, 1, Side::Buy, limit(101), 2, StpMode::CancelNewest),
        RejectReason::PriceOffTick,
    );
    ok(
        &mut e,
        submit_on(SYM_B, 2, 1, Side::Buy, limit(100), 2, StpMode::CancelNewest),
    );
    rejected(
        &mut e,
        Command::Amend {
            order_id: OrderId(2),
            price: Some(102),
            quantity: 2,
        },
        RejectReason::PriceOffTick,
    );
}

#[test]
fn duplicate_open_order_id_is_rejected_but_finished_ids_may_be_reused() {
    let mut e = engine();
    ok(&mut e, submit(1, 1, Side::Buy, limit(100), 1));
    rejected(
        &mut e,
        submit(1, 2, Side::Sell, limit(200), 1),
        RejectReason::DuplicateOrderId,
    );
    ok(
        &mut e,
        Command::Cancel {
            order_id: OrderId(1),
        },
    );
    ok(&mut e, submit(1, 2, Side::Sell, limit(200), 1));
}

#[test]
fn unknown_order_cancel_and_amend_are_rejected() {
    let mut e = engine();
    rejected(
        &mut e,
        Command::Cancel {
            order_id: OrderId(7),
        },
        RejectReason::UnknownOrder,
    );
    rejected(
        &mut e,
        Command::Amend {
            order_id: OrderId(7),
            price: None,
            quantity: 1,
        },
        RejectReason::UnknownOrder,
    );
    ok(&mut e, submit(7, 1, Side::Buy, limit(100), 1));
    ok(
        &mut e,
        Command::Cancel {
            order_id: OrderId(7),
        },
    );
    rejected(
        &mut e,
        Command::Cancel {
            order_id: OrderId(7),
        },
        RejectReason::UnknownOrder,
    );
}

#[test]
fn limit_rests_and_is_visible_in_top_and_depth() {
    let mut e = engine();
    ok(&mut e, submit(1, 1, Side::Buy, limit(99), 3));
    ok(&mut e, submit(2, 2, Side::Buy, limit(99), 4));
    ok(&mut e, submit(3, 1, Side::Buy, limit(98), 5));
    let (r, ev) = exec(&mut e, submit(4, 3, Side::Sell, limit(101), 2));
    assert_eq!(r.map(|r| r.state), Ok(OrderState::Open));
    assert_eq!(
        ev,
        vec![
            EventKind::Accepted {
                order_id: OrderId(4),
                symbol: SYM_A,
                account: AccountId(3),
                side: Side::Sell,
                order_type: limit(101),
                quantity: 2
            },
            EventKind::BookChanged {
                symbol: SYM_A,
                side: Side::Sell,
                price: 101,
                quantity: 2,
                orders: 1
            },
        ]
    );
    let top = e.top_of_book(SYM_A).expect("known symbol");
    assert_eq!(
        top.bid,
        Some(LevelView {
            price: 99,
            quantity: 7,
            orders: 2
        })
    );
    assert_eq!(
        top.ask,
        Some(LevelView {
            price: 101,
            quantity: 2,
            orders: 1
        })
    );
    let depth = e.depth(SYM_A, 1).expect("known symbol");
    assert_eq!(
        depth.bids,
        vec![LevelView {
            price: 99,
            quantity: 7,
            orders: 2
        }]
    );
    let depth = e.depth(SYM_A, 10).expect("known symbol");
    assert_eq!(depth.bids.len(), 2);
    assert_eq!(
        depth.bids[1],
        LevelView {
            price: 98,
            quantity: 5,
            orders: 1
        }
    );
}

#[test]
fn price_then_time_priority() {
    let mut e = engine();
    ok(&mut e, submit(1, 1, Side::Sell, limit(101), 2));
    ok(&mut e, submit(2, 2, Side::Sell, limit(100), 2));
    ok(&mut e, submit(3, 3, Side::Sell, limit(100), 2));
    let (r, ev) = exec(&mut e, submit(4, 4, Side::Buy, limit(101), 5));
    assert_eq!(
        trades(&ev),
        vec![(2, 4, 100, 2), (3, 4, 100, 2), (1, 4, 101, 1)]
    );
    let r = r.expect("accepted");
    assert_eq!((r.state, r.filled, r.remaining), (OrderState::Filled, 5, 0));
    assert_eq!(status(&e, 1).state, OrderState::PartiallyFilled);
    assert_eq!(status(&e, 1).remaining, 1);
    assert_eq!(status(&e, 2).state, OrderState::Filled);
}

#[test]
fn trade_emits_maker_and_taker_fills() {
    let mut e = engine();
    ok(&mut e, submit(1, 1, Side::Sell, limit(100), 5));
    let (_, ev) = exec(&mut e, submit(2, 2, Side::Buy, limit(100), 3));
    assert_eq!(
        &ev[1..],
        &[
            EventKind::Trade {
                symbol: SYM_A,
                price: 100,
                quantity: 3,
                aggressor: Side::Buy,
                maker_order_id: OrderId(1),
                taker_order_id: OrderId(2),
                maker_account: AccountId(1),
                taker_account: AccountId(2)
            },
            EventKind::Fill {
                order_id: OrderId(1),
                account: AccountId(1),
                side: Side::Sell,
                price: 100,
                quantity: 3,
                remaining: 2,
                liquidity: Liquidity::Maker
            },
            EventKind::Fill {
                order_id: OrderId(2),
                account: AccountId(2),
                side: Side::Buy,
                price: 100,
                quantity: 3,
                remaining: 0,
                liquidity: Liquidity::Taker
            },
            EventKind::BookChanged {
                symbol: SYM_A,
                side: Side::Sell,
                price: 100,
                quantity: 2,
                orders: 1
            },
        ]
    );
}

#[test]
fn limit_remainder_rests_after_matching() {
    let mut e = engine();
    ok(&mut e, submit(1, 1, Side::Sell, limit(100), 2));
    let r = ok(&mut e, submit(2, 2, Side::Buy, limit(102), 5));
    assert_eq!(
        (r.state, r.filled, r.remaining),
        (OrderState::PartiallyFilled, 2, 3)
    );
    let top = e.top_of_book(SYM_A).expect("known symbol");
    assert_eq!(
        top.bid,
        Some(LevelView {
            price: 102,
            quantity: 3,
            orders: 1
        })
    );
    assert_eq!(top.ask, None);
}

#[test]
fn market_order_sweeps_and_cancels_remainder() {
    let mut e = engine();
    ok(&mut e, submit(1, 1, Side::Buy, limit(100), 2));
    ok(&mut e, submit(2, 1, Side::Buy, limit(90), 2));
    let (r, ev) = exec(&mut e, submit(3, 2, Side::Sell, OrderType::Market, 6));
    assert_eq!(trades(&ev), vec![(1, 3, 100, 2), (2, 3, 90, 2)]);
    assert!(ev.contains(&EventKind::Cancelled {
        order_id: OrderId(3),
        cancelled: 2,
        remaining: 0,
        reason: CancelReason::Unfilled
    }));
    let r = r.expect("accepted");
    assert_eq!((r.state, r.filled), (OrderState::Cancelled, 4));
    assert_eq!(e.top_of_book(SYM_A).expect("known").bid, None);
    assert_eq!(status(&e, 3).price, None);
}

#[test]
fn ioc_never_rests() {
    let mut e = engine();
    ok(&mut e, submit(1, 1, Side::Sell, limit(100), 2));
    ok(&mut e, submit(2, 1, Side::Sell, limit(105), 2));
    let r = ok(
        &mut e,
        submit(3, 2, Side::Buy, OrderType::Ioc { price: 101 }, 5),
    );
    assert_eq!(
        (r.state, r.filled, r.remaining),
        (OrderState::Cancelled, 2, 0)
    );
    assert_eq!(e.top_of_book(SYM_A).expect("known").bid, None);
    assert_eq!(e.open_orders(), 1);
}

#[test]
fn fok_is_all_or_nothing() {
    let mut e = engine();
    ok(&mut e, submit(1, 1, Side::Sell, limit(100), 2));
    ok(&mut e, submit(2, 1, Side::Sell, limit(101), 2));
    ok(&mut e, submit(3, 1, Side::Sell, limit(110), 9));
    let hash = e.state_hash();
    rejected(
        &mut e,
        submit(4, 2, Side::Buy, OrderType::Fok { price: 101 }, 5),
        RejectReason::FokCannotFill,
    );
    assert_ne!(hash, e.state_hash(), "counters advance");
    assert_eq!(
        e.top_of_book(SYM_A).expect("known").ask.map(|l| l.quantity),
        Some(2)
    );
    let r = ok(
        &mut e,
        submit(5, 2, Side::Buy, OrderType::Fok { price: 101 }, 4),
    );
    assert_eq!((r.state, r.filled), (OrderState::Filled, 4));
}

#[test]
fn fok_does_not_count_own_orders_it_would_not_trade() {
    let mut e = engine();
    ok(&mut e, submit(1, 2, Side::Sell, limit(100), 2));
    ok(&mut e, submit(2, 1, Side::Sell, limit(100), 2));
    rejected(
        &mut e,
        submit(3, 2, Side::Buy, OrderType::Fok { price: 100 }, 2),
        RejectReason::FokCannotFill,
    );
    let r = ok(
        &mut e,
        submit_on(
            SYM_A,
            4,
            2,
            Side::Buy,
            OrderType::Fok { price: 100 },
            2,
            StpMode::CancelOldest,
        ),
    );
    assert_eq!((r.state, r.filled), (OrderState::Filled, 2));
}

#[test]
fn post_only_rests_or_is_rejected_when_crossing() {
    let mut e = engine();
    ok(&mut e, submit(1, 1, Side::Sell, limit(100), 2));
    rejected(
        &mut e,
        submit(2, 2, Side::Buy, OrderType::PostOnly { price: 100 }, 1),
        RejectReason::PostOnlyWouldCross,
    );
    let r = ok(
        &mut e,
        submit(3, 2, Side::Buy, OrderType::PostOnly { price: 99 }, 1),
    );
    assert_eq!(r.state, OrderState::Open);
    rejected(
        &mut e,
        Command::Amend {
            order_id: OrderId(3),
            price: Some(100),
            quantity: 1,
        },
        RejectReason::PostOnlyWouldCross,
    );
}

#[test]
fn cancel_removes_the_order() {
    let mut e = engine();
    ok(&mut e, submit(1, 1, Side::Buy, limit(100), 2));
    let (r, ev) = exec(
        &mut e,
        Command::Cancel {
            order_id: OrderId(1),
        },
    );
    assert_eq!(r.map(|r| r.state), Ok(OrderState::Cancelled));
    assert_eq!(
        ev,
        vec![
            EventKind::Cancelled {
                order_id: OrderId(1),
                cancelled: 2,
                remaining: 0,
                reason: CancelReason::Requested
            },
            EventKind::BookChanged {
                symbol: SYM_A,
                side: Side::Buy,
                price: 100,
                quantity: 0,
                orders: 0
            },
        ]
    );
    assert_eq!(e.top_of_book(SYM_A).expect("known"), TopOfBook::default());
    assert_eq!(status(&e, 1).state, OrderState::Cancelled);
}

#[test]
fn amend_reduce_keeps_priority() {
    let mut e = engine();
    ok(&mut e, submit(1, 1, Side::Sell, limit(100), 5));
    ok(&mut e, submit(2, 2, Side::Sell, limit(100), 5));
    let (_, ev) = exec(
        &mut e,
        Command::Amend {
            order_id: OrderId(1),
            price: Some(100),
            quantity: 3,
        },
    );
    assert_eq!(
        ev[0],
        EventKind::Amended {
            order_id: OrderId(1),
            price: 100,
            quantity: 3,
            priority_kept: true
        }
    );
    let (_, ev) = exec(&mut e, submit(3, 3, Side::Buy, OrderType::Market, 1));
    assert_eq!(trades(&ev), vec![(1, 3, 100, 1)]);
}

#[test]
fn amend_increase_loses_priority() {
    let mut e = engine();
    ok(&mut e, submit(1, 1, Side::Sell, limit(100), 5));
    ok(&mut e, submit(2, 2, Side::Sell, limit(100), 5));
    let (_, ev) = exec(
        &mut e,
        Command::Amend {
            order_id: OrderId(1),
            price: None,
            quantity: 6,
        },
    );
    assert_eq!(
        ev[0],
        EventKind::Amended {
            order_id: OrderId(1),
            price: 100,
            quantity: 6,
            priority_kept: false
        }
    );
    let (_, ev) = exec(&mut e, submit(3, 3, Side::Buy, OrderType::Market, 1));
    assert_eq!(trades(&ev), vec![(2, 3, 100, 1)]);
    assert_eq!(
        e.top_of_book(SYM_A).expect("known").ask.map(|l| l.quantity),
        Some(10)
    );
}

#[test]
fn amend_price_change_loses_priority_and_may_trade() {
    let mut e = engine();
    ok(&mut e, submit(1, 1, Side::Sell, limit(101), 5));
    ok(&mut e, submit(2, 2, Side::Sell, limit(100), 5));
    ok(
        &mut e,
        Command::Amend {
            order_id: OrderId(1),
            price: Some(100),
            quantity: 5,
        },
    );
    let (_, ev) = exec(&mut e, submit(3, 3, Side::Buy, OrderType::Market, 1));
    assert_eq!(trades(&ev), vec![(2, 3, 100, 1)]);
    ok(&mut e, submit(4, 3, Side::Buy, limit(90), 3));
    let (r, ev) = exec(
        &mut e,
        Command::Amend {
            order_id: OrderId(4),
            price: Some(100),
            quantity: 6,
        },
    );
    assert_eq!(trades(&ev), vec![(2, 4, 100, 4), (1, 4, 100, 2)]);
    let r = r.expect("accepted");
    assert_eq!((r.state, r.filled, r.remaining), (OrderState::Filled, 6, 0));
}

#[test]
fn stp_cancel_newest_keeps_resting_order() {
    let mut e = engine();
    ok(&mut e, submit(1, 7, Side::Sell, limit(100), 5));
    let (r, ev) = exec(&mut e, submit(2, 7, Side::Buy, limit(100), 3));
    assert!(trades(&ev).is_empty());
    assert!(ev.contains(&EventKind::Cancelled {
        order_id: OrderId(2),
        cancelled: 3,
        remaining: 0,
        reason: CancelReason::SelfTrade
    }));
    assert_eq!(r.map(|r| r.state), Ok(OrderState::Cancelled));
    assert_eq!(status(&e, 1).remaining, 5);
}

#[test]
fn stp_cancel_oldest_removes_resting_order_and_continues() {
    let mut e = engine();
    ok(&mut e, submit(1, 7, Side::Sell, limit(100), 5));
    ok(&mut e, submit(2, 8, Side::Sell, limit(100), 5));
    let (r, ev) = exec(
        &mut e,
        submit_on(SYM_A, 3, 7, Side::Buy, limit(100), 3, StpMode::CancelOldest),
    );
    assert_eq!(trades(&ev), vec![(2, 3, 100, 3)]);
    assert_eq!(status(&e, 1).state, OrderState::Cancelled);
    assert_eq!(r.map(|r| r.state), Ok(OrderState::Filled));
}

#[test]
fn stp_decrement_both_reduces_without_trading() {
    let mut e = engine();
    ok(&mut e, submit(1, 7, Side::Sell, limit(100), 5));
    ok(&mut e, submit(2, 8, Side::Sell, limit(100), 5));
    let (r, ev) = exec(
        &mut e,
        submit_on(
            SYM_A,
            3,
            7,
            Side::Buy,
            limit(100),
            7,
            StpMode::DecrementBoth,
        ),
    );
    assert_eq!(trades(&ev), vec![(2, 3, 100, 2)]);
    assert!(ev.contains(&EventKind::Cancelled {
        order_id: OrderId(1),
        cancelled: 5,
        remaining: 0,
        reason: CancelReason::SelfTrade
    }));
    assert!(ev.contains(&EventKind::Cancelled {
        order_id: OrderId(3),
        cancelled: 5,
        remaining: 2,
        reason: CancelReason::SelfTrade
    }));
    assert_eq!(r.map(|r| (r.state, r.filled)), Ok((OrderState::Filled, 2)));
    assert_eq!(status(&e, 2).remaining, 3);
}

#[test]
fn order_status_tracks_lifecycle() {
    let mut e = engine();
    ok(&mut e, submit(1, 1, Side::Sell, limit(100), 5));
    assert_eq!(status(&e, 1).state, OrderState::Open);
    ok(&mut e, submit(2, 2, Side::Buy, limit(100), 2));
    let s = status(&e, 1);
    assert_eq!(
        (s.state, s.filled, s.remaining),
        (OrderState::PartiallyFilled, 2, 3)
    );
    ok(&mut e, submit(3, 2, Side::Buy, limit(100), 3));
    let s = status(&e, 1);
    assert_eq!((s.state, s.filled, s.remaining), (OrderState::Filled, 5, 0));
    assert_eq!(e.order_status(OrderId(42)), None);
}

#[test]
fn event_sequence_is_gapless_and_sink_is_reused() {
    let mut e = engine();
    let mut events = Vec::with_capacity(64);
    let cap = events.capacity();
    let mut expected = 1;
    for i in 0..200u64 {
        events.clear();
        let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
        let _ = e.execute(
            &submit(i, i % 3, side, limit(95 + (i % 10) as i64), 1 + i % 4),
            &mut events,
        );
        for ev in &events {
            assert_eq!(ev.seq, expected);
            expected += 1;
        }
    }
    assert_eq!(events.capacity(), cap);
    assert_eq!(e.last_seq(), expected - 1);
    assert!(e.is_uncrossed());
}

#[test]
fn symbols_are_independent() {
    let mut e = engine();
    ok(
        &mut e,
        submit_on(
            SYM_B,
            1,
            1,
            Side::Sell,
            limit(100),
            2,
            StpMode::CancelNewest,
        ),
    );
    let r = ok(&mut e, submit(2, 2, Side::Buy, limit(100), 2));
    assert_eq!(r.state, OrderState::Open);
    assert!(
        e.add_symbol(SymbolConfig {
            id: SYM_A,
            name: "dup".into(),
            tick_size: 1,
            lot_size: 1
        })
        .is_err()
    );
}
