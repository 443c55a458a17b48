//! WebSocket client messages on `/ws`:
//! - any text or binary frame gets exactly one JSON reply and the connection stays usable;
//!   binary frames are refused as `invalid_message`;
//! - what is not `{"op": <string>, "room"?: <string>, "depth"?: <u32>, "after"?: <u64>}` is
//!   refused as `invalid_message`; an op other than subscribe, unsubscribe, snapshot and ping
//!   is refused as `invalid_op` naming it; every refusal carries a code and a message.

use bourse_tests::ws::{self, Ws};
use bourse_tests::{Backend, TestHost, app_manifest};
use futures_util::SinkExt;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::cases;

const OPS: [&str; 4] = ["subscribe", "unsubscribe", "snapshot", "ping"];

fn wild() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e20f64..1e20).prop_map(Value::from),
        ".{0,10}".prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
    ]
}

/// Rooms nobody publishes to during the test, so the only frames are replies.
fn room() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => proptest::sample::select(vec!["book:AAPL", "book:NOPE", "trades:MSFT", "orders", "signals", "x y", "", "sim:1"])
            .prop_map(Value::from),
        1 => "[ -~]{0,12}".prop_map(Value::from),
        1 => wild(),
    ]
}

fn message() -> impl Strategy<Value = String> {
    let op = prop_oneof![
        4 => proptest::sample::select(OPS.to_vec()).prop_map(Value::from),
        1 => "[a-zA-Z_]{0,10}".prop_map(Value::from),
        1 => wild(),
    ];
    let object = (
        proptest::option::of(op),
        proptest::option::of(room()),
        proptest::option::of(prop_oneof![(0u32..100).prop_map(Value::from), wild()]),
        proptest::option::of(prop_oneof![(0u64..10).prop_map(Value::from), wild()]),
        proptest::option::of(("[a-z]{1,6}", wild())),
    )
        .prop_map(|(op, room, depth, after, extra)| {
            let mut m = serde_json::Map::new();
            let fields = [
                ("op", op),
                ("room", room),
                ("depth", depth),
                ("after", after),
            ];
            for (k, v) in fields {
                if let Some(v) = v {
                    m.insert(k.to_string(), v);
                }
            }
            if let Some((k, v)) = extra {
                m.entry(k).or_insert(v);
            }
            Value::Object(m).to_string()
        });
    prop_oneof![6 => object, 1 => any::<String>(), 1 => wild().prop_map(|v| v.to_string())]
}

/// Whether `text` has the client message's shape (unknown fields are ignored).
fn well_formed(text: &str) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    let m = v.as_object()?;
    let op = m.get("op")?.as_str()?.to_string();
    let optional = |k: &str, ok: fn(&Value) -> bool| m.get(k).is_none_or(|v| v.is_null() || ok(v));
    let fits = optional("room", Value::is_string)
        && optional("depth", |v| {
            v.as_u64().is_some_and(|d| u32::try_from(d).is_ok())
        })
        && optional("after", |v| v.as_u64().is_some());
    fits.then_some(op)
}

async fn reply_to(socket: &mut Ws, text: &str) -> Value {
    reply_to_frame(socket, Message::Text(text.to_string().into())).await
}

async fn reply_to_frame(socket: &mut Ws, frame: Message) -> Value {
    socket.send(frame).await.expect("send");
    ws::next(socket).await
}

fn check_reply(text: &str, reply: &Value) -> Result<(), TestCaseError> {
    let kind = reply["type"].as_str().unwrap_or("");
    let code = reply["error"]["code"].as_str().unwrap_or("");
    if kind == "error" {
        prop_assert!(!code.is_empty(), "{}", reply);
        prop_assert!(
            reply["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    match well_formed(text) {
        None => prop_assert_eq!(code, "invalid_message", "{} → {}", text, reply),
        Some(op) if !OPS.contains(&op.as_str()) => {
            prop_assert_eq!(code, "invalid_op", "{} → {}", text, reply);
            let message = reply["error"]["message"].as_str().unwrap_or("");
            prop_assert!(message.contains(&format!("{op:?}")), "{}", message);
        }
        Some(_) => prop_assert!(
            ["pong", "subscribed", "unsubscribed", "snapshot", "error"].contains(&kind),
            "{} → {}",
            text,
            reply
        ),
    }
    Ok(())
}

#[test]
fn any_client_message_gets_one_clear_reply() {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    for backend in Backend::ALL {
        let host = rt.block_on(TestHost::start(app_manifest(), backend, 10_000));
        // The runner takes a `Fn`: the one connection is borrowed mutably per case.
        let socket = std::cell::RefCell::new(rt.block_on(ws::connect(&host.url, "")));
        let mut runner = TestRunner::new(cases(192));
        runner
            .run(
                &(message(), proptest::collection::vec(any::<u8>(), 0..64)),
                |(text, bytes)| {
                    let mut socket = socket.borrow_mut();
                    let socket = &mut *socket;
                    rt.block_on(async {
                        let reply = reply_to(socket, &text).await;
                        check_reply(&text, &reply)?;
                        let reply = reply_to_frame(socket, Message::Binary(bytes.into())).await;
                        prop_assert_eq!(&reply["error"]["code"], "invalid_message", "{}", reply);
                        let pong = reply_to(socket, r#"{"op":"ping"}"#).await;
                        prop_assert_eq!(&pong["type"], "pong", "still usable after {}", text);
                        Ok(())
                    })
                },
            )
            .expect("property holds");
        rt.block_on(host.stop());
    }
}
