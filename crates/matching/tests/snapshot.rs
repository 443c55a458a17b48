//! Determinism, and snapshot + journal replay equivalence.

mod common;

use bourse_matching::*;
use common::*;
use proptest::prelude::*;

fn restore_via_json(engine: &Engine) -> Engine {
    let json = serde_json::to_string(&engine.snapshot()).expect("snapshot serialises");
    let snap: EngineSnapshot = serde_json::from_str(&json).expect("snapshot deserialises");
    Engine::restore(&snap).expect("snapshot restores")
}

proptest! {
    #![proptest_config(cases(96))]

    #[test]
    fn same_commands_same_events_and_hash(commands in proptest::collection::vec(command(), 1..200)) {
        let (mut a, mut b) = (engine(), engine());
        prop_assert_eq!(run(&mut a, &commands), run(&mut b, &commands));
        prop_assert_eq!(a.state_hash(), b.state_hash());
    }

    #[test]
    fn snapshot_then_replay_is_identical(
        commands in proptest::collection::vec(command(), 1..200),
        split in 0usize..200,
    ) {
        let split = split.min(commands.len());
        let (prefix, suffix) = commands.split_at(split);
        let mut original = engine();
        run(&mut original, prefix);
        let mut restored = restore_via_json(&original);
        prop_assert_eq!(restored.state_hash(), original.state_hash());
        prop_assert_eq!(restored.snapshot(), original.snapshot());
        prop_assert_eq!(run(&mut restored, suffix), run(&mut original, suffix));
        prop_assert_eq!(restored.state_hash(), original.state_hash());
        for id in 0..48 {
            prop_assert_eq!(restored.order_status(OrderId(id)), original.order_status(OrderId(id)));
        }
        for sym in [SYM_A, SYM_B] {
            prop_assert_eq!(restored.depth(sym, 100), original.depth(sym, 100));
        }
    }
}

#[test]
fn commands_round_trip_through_serde() {
    let cmds = [
        submit(1, 2, Side::Buy, OrderType::Fok { price: 100 }, 3),
        Command::Cancel {
            order_id: OrderId(1),
        },
        Command::Amend {
            order_id: OrderId(1),
            price: None,
            quantity: 4,
        },
    ];
    let json = serde_json::to_string(&cmds).expect("serialises");
    let back: Vec<Command> = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(back, cmds);
}

#[test]
fn hash_differs_when_state_differs() {
    let (mut a, mut b) = (engine(), engine());
    run(&mut a, &[submit(1, 1, Side::Buy, limit(100), 1)]);
    run(&mut b, &[submit(1, 1, Side::Buy, limit(101), 1)]);
    assert_ne!(a.state_hash(), b.state_hash());
}

#[test]
fn restore_rejects_bad_snapshots() {
    let mut e = engine();
    run(
        &mut e,
        &[
            submit(1, 1, Side::Buy, limit(100), 1),
            submit(2, 1, Side::Buy, limit(99), 1),
        ],
    );
    let mut snap = e.snapshot();
    snap.books[0].bids[1].order_id = OrderId(1);
    assert!(matches!(
        Engine::restore(&snap),
        Err(SnapshotError::DuplicateOrder(1))
    ));
    let mut snap = e.snapshot();
    snap.version = 0;
    assert!(matches!(
        Engine::restore(&snap),
        Err(SnapshotError::Version(0))
    ));
}
