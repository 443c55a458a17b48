//! Handing big simulation runs to instances with the `simulation` role, through Redis.
//!
//! The receiving instance adds the job to a Redis Stream read by the consumer group
//! `simulators`. Whoever takes a run first claims it with `SET … NX`: a simulation instance
//! that read the job, or the receiving instance itself when nobody did within the hand-off
//! timeout (it then runs the job locally and says it fell back). One claim, one runner. The
//! runner mirrors the run — view, bars, trades — into a Redis key every 250 ms, and reads a
//! stop key, so any instance can show or stop it.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde_json::Value;

/// How long mirrored runs stay readable.
const KEEP_SECONDS: u64 = 24 * 3600;

fn claim_key(id: &str) -> String {
    format!("bourse:sim:{id}:claimed")
}
fn mirror_key(id: &str) -> String {
    format!("bourse:sim:{id}:mirror")
}
fn stop_key(id: &str) -> String {
    format!("bourse:sim:{id}:stop")
}

/// The Redis side of delegation.
#[derive(Clone)]
pub struct Queue {
    conn: ConnectionManager,
    stream: String,
}

/// A job read from the stream.
pub struct Job {
    pub id: String,
    pub owner: String,
    pub request: String,
}

impl Queue {
    pub fn new(conn: ConnectionManager, stream: String) -> Queue {
        Queue { conn, stream }
    }

    /// Offers a run to the simulation instances.
    pub async fn offer(&self, id: &str, owner: &str, request: &str) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("XADD")
            .arg(&self.stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(10_000)
            .arg("*")
            .arg("id")
            .arg(id)
            .arg("owner")
            .arg(owner)
            .arg("request")
            .arg(request)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Claims run `id` for `who`; false if someone has it.
    pub async fn claim(&self, id: &str, who: &str) -> redis::RedisResult<bool> {
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(claim_key(id))
            .arg(who)
            .arg("NX")
            .arg("EX")
            .arg(KEEP_SECONDS)
            .query_async(&mut conn)
            .await?;
        Ok(set.is_some())
    }

    /// Who claimed run `id`, if anyone.
    pub async fn claimant(&self, id: &str) -> redis::RedisResult<Option<String>> {
        self.conn.clone().get(claim_key(id)).await
    }

    /// Stores a run's mirror (view, bars, trades).
    pub async fn mirror(&self, id: &str, document: &Value) -> redis::RedisResult<()> {
        self.conn
            .clone()
            .set_ex(mirror_key(id), document.to_string(), KEEP_SECONDS)
            .await
    }

    /// The latest mirror of run `id`.
    pub async fn mirrored(&self, id: &str) -> redis::RedisResult<Option<Value>> {
        let text: Option<String> = self.conn.clone().get(mirror_key(id)).await?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Asks the runner of `id` to stop.
    pub async fn request_stop(&self, id: &str) -> redis::RedisResult<()> {
        self.conn
            .clone()
            .set_ex(stop_key(id), "1", KEEP_SECONDS)
            .await
    }

    /// Whether someone asked run `id` to stop.
    pub async fn stop_requested(&self, id: &str) -> bool {
        self.conn
            .clone()
            .exists(stop_key(id))
            .await
            .unwrap_or(false)
    }

    /// Joins the consumer group (creating stream and group if needed).
    pub async fn join(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        let created: redis::RedisResult<String> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg("simulators")
            .arg("$")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The next job for consumer `me`, waiting up to `block`.
    pub async fn next(&self, me: &str, block: Duration) -> redis::RedisResult<Option<Job>> {
        let mut conn = self.conn.clone();
        let reply: Value = redis_value_to_json(
            redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg("simulators")
                .arg(me)
                .arg("COUNT")
                .arg(1)
                .arg("BLOCK")
                .arg(block.as_millis() as u64)
                .arg("STREAMS")
                .arg(&self.stream)
                .arg(">")
                .query_async::<redis::Value>(&mut conn)
                .await?,
        );
        // [[stream, [[entry-id, [k, v, k, v, …]]]]]
        let Some(entry) = reply.pointer("/0/1/0") else {
            return Ok(None);
        };
        let entry_id = entry[0].as_str().unwrap_or_default().to_string();
        let fields = entry[1].as_array().cloned().unwrap_or_default();
        let field = |name: &str| {
            fields
                .chunks(2)
                .find(|kv| kv[0] == name)
                .and_then(|kv| kv.get(1))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let _: i64 = redis::cmd("XACK")
            .arg(&self.stream)
            .arg("simulators")
            .arg(&entry_id)
            .query_async(&mut conn)
            .await?;
        Ok(match (field("id"), field("owner"), field("request")) {
            (Some(id), Some(owner), Some(request)) => Some(Job { id, owner, request }),
            _ => None,
        })
    }
}

/// Redis's reply tree as JSON (strings, numbers, arrays), for walking stream replies.
fn redis_value_to_json(v: redis::Value) -> Value {
    match v {
        redis::Value::BulkString(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
        redis::Value::SimpleString(s) => Value::String(s),
        redis::Value::Int(i) => Value::from(i),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            Value::Array(items.into_iter().map(redis_value_to_json).collect())
        }
        redis::Value::Map(pairs) => Value::Array(
            pairs
                .into_iter()
                .map(|(k, v)| Value::Array(vec![redis_value_to_json(k), redis_value_to_json(v)]))
                .collect(),
        ),
        _ => Value::Null,
    }
}
