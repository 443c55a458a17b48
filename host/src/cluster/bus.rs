//! Events through Redis: one script numbers each event in its room, keeps it in the room's
//! capped stream (the history reconnecting clients catch up from) and publishes it on the
//! cluster's events channel, so the number, the history and the delivery order agree on every
//! replica. Publishes queue to one writer task, which sends whatever has queued as one script
//! call and one channel message: a matching batch touching a hundred rooms costs Redis one
//! call, not a hundred.
//!
//! [`Bus`] is the event hub's [`Transport`]: the hub calls it, and the cluster's listener
//! ([`Cluster::listen`]) hands what every replica published back to the hub.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

use super::Cluster;
use crate::events::{Event, EventHub, History, Transport};
use crate::instance;

/// KEYS: per event, its room's counter then its room's stream; last, the publisher's mark.
/// ARGV: channel, events kept, how long an idle room's keys live (ms), the batch's number,
/// then per event: room, source, payload. Publishes one message holding every event as
/// `room \t seq \t source \t length \t payload`; returns the events' numbers. A room's keys get
/// their full life back once half of it has passed (a read per event rather than two writes),
/// so a room in use never expires.
///
/// The mark (`batch:numbers`) makes a retry safe: a batch whose answer was lost (Redis
/// restarted or timed out after running it) is found in the mark and answered from it, so
/// no event is published twice. One publisher sends one batch at a time, so one mark each.
const PUBLISH: &str = r#"
local mark = KEYS[#KEYS]
local done = redis.call('GET', mark)
if done then
  local sep = string.find(done, ':', 1, true)
  if sep and string.sub(done, 1, sep - 1) == ARGV[4] then
    local seqs = {}
    for n in string.gmatch(string.sub(done, sep + 1), '%d+') do seqs[#seqs + 1] = tonumber(n) end
    return seqs
  end
end
local kept = tonumber(ARGV[2])
local half = tonumber(ARGV[3]) / 2
local seqs = {}
local parts = {}
for i = 1, (#KEYS - 1) / 2 do
  local counter, stream = KEYS[2 * i - 1], KEYS[2 * i]
  local room, source, payload = ARGV[3 * i + 2], ARGV[3 * i + 3], ARGV[3 * i + 4]
  local seq = redis.call('INCR', counter)
  local refresh = seq == 1 or redis.call('PTTL', counter) < half
  if refresh then redis.call('PEXPIRE', counter, ARGV[3]) end
  if kept > 0 then
    redis.pcall('XADD', stream, 'MAXLEN', '~', kept, seq .. '-1', 's', source, 'd', payload)
    if refresh then redis.call('PEXPIRE', stream, ARGV[3]) end
  end
  seqs[i] = seq
  parts[i] = room .. '\t' .. seq .. '\t' .. source .. '\t' .. string.len(payload) .. '\t' .. payload
end
redis.call('PUBLISH', ARGV[1], table.concat(parts))
redis.call('SET', mark, ARGV[4] .. ':' .. table.concat(seqs, ','), 'PX', ARGV[3])
return seqs
"#;

/// How long a room's number and history outlive its last event.
const ROOM_TTL: Duration = Duration::from_secs(24 * 3600);
/// Most events one script call carries.
const MAX_PER_CALL: usize = 512;
/// Most payload bytes one script call (and so one channel message) carries: far below what
/// Redis lets a subscriber fall behind by before it drops the connection (8 MB by default).
const MAX_BYTES_PER_CALL: usize = 1 << 20;
/// Most payload bytes waiting for Redis while it is unreachable: beyond it new events are
/// dropped (and counted in `events_unpublished_total`) rather than growing without bound.
const MAX_QUEUED_BYTES: usize = 64 << 20;
/// Longest a publisher waits for its events' numbers. While Redis is unreachable the shard
/// answers its orders after this (they are durable already); the events themselves still go
/// out, in order, once Redis is back.
const NUMBER_PATIENCE: Duration = Duration::from_secs(2);
/// Pauses between attempts at a batch Redis did not take: the first, and the longest.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(1);

struct Outgoing {
    source: String,
    room: String,
    data: Arc<RawValue>,
    reply: Option<oneshot::Sender<u64>>,
}

/// The Redis side of the event hub.
pub struct Bus {
    cluster: Arc<Cluster>,
    writer: mpsc::UnboundedSender<Outgoing>,
    /// Payload bytes queued for the writer and not yet published.
    queued: Arc<AtomicUsize>,
    /// Whether events are being dropped because too many wait.
    overflowing: AtomicBool,
}

impl Bus {
    /// Starts the writer; rooms keep their latest `retain` events.
    pub fn start(cluster: Arc<Cluster>, retain: usize) -> Arc<Bus> {
        let (writer, queue) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        tokio::spawn(write(cluster.clone(), queue, queued.clone(), retain));
        Arc::new(Bus {
            cluster,
            writer,
            queued,
            overflowing: AtomicBool::new(false),
        })
    }

    /// The cluster it publishes in.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    fn counter_key(&self, room: &str) -> String {
        self.cluster.key(&format!("room:{room}:seq"))
    }

    fn stream_key(&self, room: &str) -> String {
        self.cluster.key(&format!("room:{room}"))
    }

    /// Queues an event; its number, when it has one, goes to `reply` (dropped unanswered,
    /// which reads as 0, when too much is waiting for Redis already).
    fn queue(
        &self,
        source: &str,
        room: &str,
        data: Arc<RawValue>,
        reply: Option<oneshot::Sender<u64>>,
    ) {
        let bytes = data.get().len();
        if self.queued.fetch_add(bytes, Ordering::Relaxed) + bytes > MAX_QUEUED_BYTES {
            self.queued.fetch_sub(bytes, Ordering::Relaxed);
            metrics::counter!("events_unpublished_total").increment(1);
            // Once per overflow, not once per event: Redis away for long under load would
            // otherwise flood the log (the counter has the number).
            if !self.overflowing.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    room,
                    "events dropped: too many events are waiting for Redis"
                );
            }
            return;
        }
        self.overflowing.store(false, Ordering::Relaxed);
        let _ = self.writer.send(Outgoing {
            source: source.to_string(),
            room: room.to_string(),
            data,
            reply,
        });
    }

    /// Publishes events in order and waits up to [`NUMBER_PATIENCE`] for their numbers (0:
    /// not published, or not yet).
    async fn publish_all(&self, source: &str, events: Vec<(String, Arc<RawValue>)>) -> Vec<u64> {
        let mut waiting = Vec::with_capacity(events.len());
        for (room, data) in events {
            let (tx, rx) = oneshot::channel();
            self.queue(source, &room, data, Some(tx));
            waiting.push(rx);
        }
        let mut seqs = vec![0; waiting.len()];
        let _ = tokio::time::timeout(NUMBER_PATIENCE, async {
            for (seq, rx) in seqs.iter_mut().zip(waiting) {
                *seq = rx.await.unwrap_or(0);
            }
        })
        .await;
        seqs
    }

    /// The last number given in `room` (0: none).
    async fn last_seq(&self, room: &str) -> u64 {
        let mut conn = self.cluster.redis.clone();
        redis::cmd("GET")
            .arg(self.counter_key(room))
            .query_async::<Option<u64>>(&mut conn)
            .await
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// `room`'s kept events after `after`.
    async fn history(&self, room: &str, after: u64) -> History {
        let mut conn = self.cluster.redis.clone();
        let entries: redis::Value = match redis::cmd("XRANGE")
            .arg(self.stream_key(room))
            .arg(format!("{}-0", after + 1))
            // No COUNT: the stream is capped already, and it may hold a little more than
            // `retain` (MAXLEN ~), all of which a catch-up needs.
            .arg("+")
            .query_async(&mut conn)
            .await
        {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(room, error = %e, "cannot read the room's history");
                return History::default();
            }
        };
        let events = parse_entries(room, entries);
        let first = match events.first() {
            Some(e) => e.seq,
            None => {
                let current: Option<u64> = redis::cmd("GET")
                    .arg(self.counter_key(room))
                    .query_async(&mut conn)
                    .await
                    .unwrap_or(None);
                current.unwrap_or(0) + 1
            }
        };
        History {
            missed: first.saturating_sub(after + 1),
            events,
        }
    }
}

impl Transport for Bus {
    fn send(&self, source: &str, room: &str, data: Arc<RawValue>) {
        self.queue(source, room, data, None);
    }

    fn publish_all<'a>(
        &'a self,
        source: &'a str,
        events: Vec<(String, Arc<RawValue>)>,
    ) -> BoxFuture<'a, Vec<u64>> {
        Bus::publish_all(self, source, events).boxed()
    }

    fn last_seq<'a>(&'a self, room: &'a str) -> BoxFuture<'a, u64> {
        Bus::last_seq(self, room).boxed()
    }

    fn history<'a>(&'a self, room: &'a str, after: u64) -> BoxFuture<'a, History> {
        Bus::history(self, room, after).boxed()
    }
}

/// The Redis bus of a hub that shares its events through one.
pub trait HubBus {
    /// The Redis bus, if events are shared between replicas through one.
    fn bus(&self) -> Option<&Bus>;
}

impl HubBus for EventHub {
    fn bus(&self) -> Option<&Bus> {
        self.transport_as::<Bus>()
    }
}

impl Cluster {
    /// Listens, for as long as the process lives, to the events channel (delivering to `hub`'s
    /// subscribers) and to this replica's answers. After a reconnect, and whenever a room's
    /// numbers jump, the missed events are read back from the room's history first, so local
    /// subscribers still see every number in order.
    pub fn listen(self: &Arc<Self>, hub: Arc<EventHub>) {
        let cluster = self.clone();
        tokio::spawn(async move {
            let events = cluster.events_channel();
            let replies = cluster.reply_channel();
            loop {
                match cluster.client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if let Err(e) = pubsub.subscribe(&[&events, &replies]).await {
                            tracing::warn!(error = %e, "cannot subscribe to the cluster channels");
                        } else {
                            cluster.link.store(true, Ordering::Relaxed);
                            for (room, last) in hub.listened_rooms() {
                                if last > 0 {
                                    catch_up(&hub, &room, last).await;
                                }
                            }
                            let mut messages = pubsub.into_on_message();
                            while let Some(message) = messages.next().await {
                                let payload = message.get_payload_bytes();
                                if message.get_channel_name() == events {
                                    for event in parse_events(payload) {
                                        let last = hub.delivered(&event.room);
                                        if last > 0 && event.seq > last + 1 {
                                            catch_up(&hub, &event.room, last).await;
                                        }
                                        hub.deliver(event);
                                    }
                                } else {
                                    cluster.answer(payload);
                                }
                            }
                            tracing::warn!("lost the cluster channel connection; reconnecting");
                        }
                        cluster.link.store(false, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot reach Redis for the cluster channels")
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }
}

/// Delivers `room`'s kept events after `last` to this replica's subscribers.
async fn catch_up(hub: &EventHub, room: &str, last: u64) {
    let history = hub.history(room, last).await;
    if history.missed > 0 {
        tracing::warn!(
            room,
            missed = history.missed,
            "events fell out of the room's history"
        );
    }
    for event in history.events {
        hub.deliver(event);
    }
}

/// Sends queued events, a script call at a time, and hands out their numbers. A batch Redis
/// did not take is tried again (same number, so the mark answers a retry of one that ran)
/// until it is, the events behind it waiting their turn: Redis away for a while delays the
/// rooms' events, it does not lose them.
async fn write(
    cluster: Arc<Cluster>,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    queued: Arc<AtomicUsize>,
    retain: usize,
) {
    let script = redis::Script::new(PUBLISH);
    let channel = cluster.events_channel();
    let mark = cluster.key(&format!("publisher:{}:{}", cluster.replica, instance::id()));
    let ttl = ROOM_TTL.as_millis() as u64;
    let mut batch = Vec::with_capacity(MAX_PER_CALL);
    let mut number: u64 = 0;
    while let Some(first) = queue.recv().await {
        let mut bytes = first.data.get().len();
        batch.push(first);
        while batch.len() < MAX_PER_CALL && bytes < MAX_BYTES_PER_CALL {
            match queue.try_recv() {
                Ok(o) => {
                    bytes += o.data.get().len();
                    batch.push(o);
                }
                Err(_) => break,
            }
        }
        number += 1;
        let mut call = redis::cmd("EVALSHA");
        call.arg(script.get_hash()).arg(batch.len() * 2 + 1);
        for o in &batch {
            call.arg(cluster.key(&format!("room:{}:seq", o.room)))
                .arg(cluster.key(&format!("room:{}", o.room)));
        }
        call.arg(&mark)
            .arg(&channel)
            .arg(retain)
            .arg(ttl)
            .arg(number);
        for o in &batch {
            call.arg(&o.room).arg(&o.source).arg(o.data.get());
        }
        let seqs = send_batch(&cluster, &call, batch.len()).await;
        queued.fetch_sub(bytes, Ordering::Relaxed);
        for (i, o) in batch.drain(..).enumerate() {
            if let Some(reply) = o.reply {
                let _ = reply.send(seqs.get(i).copied().unwrap_or(0));
            }
        }
    }
}

/// Runs one batch's script call until Redis takes it; gives up (empty numbers) only on an
/// answer saying the call itself is wrong, which no retry mends.
async fn send_batch(cluster: &Cluster, call: &redis::Cmd, events: usize) -> Vec<u64> {
    let mut pause = RETRY_FIRST;
    let mut failing_since: Option<std::time::Instant> = None;
    loop {
        let mut conn = cluster.redis.clone();
        let mut result: redis::RedisResult<Vec<u64>> = call.query_async(&mut conn).await;
        if matches!(&result, Err(e) if e.kind() == redis::ErrorKind::NoScriptError) {
            // First use on this Redis (or after a restart of it): load the script once.
            let loaded: redis::RedisResult<String> = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(PUBLISH)
                .query_async(&mut conn)
                .await;
            result = match loaded {
                Ok(_) => call.query_async(&mut conn).await,
                Err(e) => Err(e),
            };
        }
        let e = match result {
            Ok(seqs) => {
                if let Some(since) = failing_since {
                    tracing::info!(
                        events,
                        waited_ms = since.elapsed().as_millis() as u64,
                        "events published through Redis again"
                    );
                }
                return seqs;
            }
            Err(e) => e,
        };
        if matches!(
            e.kind(),
            redis::ErrorKind::TypeError | redis::ErrorKind::ResponseError
        ) {
            metrics::counter!("events_unpublished_total").increment(events as u64);
            tracing::error!(events, error = %e, "Redis refused the events' script call");
            return Vec::new();
        }
        if failing_since.is_none() {
            failing_since = Some(std::time::Instant::now());
            tracing::warn!(events, error = %e, "events wait for Redis to take them");
        }
        metrics::counter!("events_publish_retries_total").increment(1);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RETRY_MAX);
    }
}

/// The events of one channel message: `room \t seq \t source \t length \t payload`, repeated.
pub(crate) fn parse_events(message: &[u8]) -> Vec<Event> {
    fn field<'a>(rest: &mut &'a [u8]) -> Option<&'a str> {
        let end = rest.iter().position(|&b| b == b'\t')?;
        let (head, tail) = rest.split_at(end);
        *rest = &tail[1..];
        std::str::from_utf8(head).ok()
    }
    let mut events = Vec::new();
    let mut rest = message;
    while !rest.is_empty() {
        let parsed = (|| {
            let room = field(&mut rest)?;
            let seq: u64 = field(&mut rest)?.parse().ok()?;
            let source = field(&mut rest)?;
            let len: usize = field(&mut rest)?.parse().ok()?;
            let payload = rest.get(..len)?;
            rest = &rest[len..];
            event(room, seq, source, std::str::from_utf8(payload).ok()?)
        })();
        match parsed {
            Some(event) => events.push(event),
            // A malformed message: what is left of it cannot be framed.
            None => break,
        }
    }
    events
}

fn text(v: &redis::Value) -> Option<String> {
    match v {
        redis::Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        redis::Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// `XRANGE` entries (`[id, [field, value, …]]`) as events.
fn parse_entries(room: &str, entries: redis::Value) -> Vec<Event> {
    let redis::Value::Array(entries) = entries else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let redis::Value::Array(parts) = entry else {
                return None;
            };
            let id = text(parts.first()?)?;
            let seq: u64 = id.split('-').next()?.parse().ok()?;
            let redis::Value::Array(fields) = parts.get(1)? else {
                return None;
            };
            let (mut source, mut data) = (String::new(), None);
            for pair in fields.chunks(2) {
                match (pair.first().and_then(text).as_deref(), pair.get(1)) {
                    (Some("s"), Some(v)) => source = text(v)?,
                    (Some("d"), Some(v)) => data = text(v),
                    _ => {}
                }
            }
            event(room, seq, &source, &data?)
        })
        .collect()
}

/// An event as the listener hands it on.
fn event(room: &str, seq: u64, source: &str, data: &str) -> Option<Event> {
    let data = serde_json::value::RawValue::from_string(data.to_string()).ok()?;
    Some(Event {
        room: room.to_string(),
        seq,
        source: source.to_string(),
        data: Arc::from(data),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_events;

    #[test]
    fn one_message_carries_many_events_whatever_their_payloads_hold() {
        let a = "{\"a\":\"tab\\there\"}";
        let b = "{\n  \"pretty\": [1, 2]\n}";
        let message = format!(
            "trades:AAPL\t7\tmarket\t{}\t{a}orders:x\t3\tmarket\t{}\t{b}",
            a.len(),
            b.len()
        );
        let events = parse_events(message.as_bytes());
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].room.as_str(), events[0].seq), ("trades:AAPL", 7));
        assert_eq!(events[0].data.get(), a);
        assert_eq!((events[1].room.as_str(), events[1].seq), ("orders:x", 3));
        assert_eq!(events[1].data.get(), b);
        assert!(parse_events(b"room\tnot-a-number\tx\t2\t{}").is_empty());
    }
}
