//! Calls on shards that run on another replica, through Redis: the caller pushes the call onto
//! the shard's inbox list and waits for the answer on its own reply channel; the replica that
//! holds the shard's lease pops calls from the inbox and runs them on the shard. Calls wait in
//! the inbox while the shard has no owner, so a takeover answers them rather than losing them;
//! a call whose caller has given up is dropped unrun.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::call::{Answer, Call};
use super::convert::stopped;
use super::types::{Reject, RejectCode};
use crate::cluster::Cluster;

/// What serving a shard's inbox needs of the market here.
pub(super) trait LocalShards: Send + Sync + 'static {
    /// Whether shard `k` was started here (it may have stopped since).
    fn holds(&self, k: usize) -> bool;

    /// Whether shard `k` runs here.
    fn runs(&self, k: usize) -> bool;

    /// Runs `call` on shard `k` only if it runs here.
    fn call_here(&self, k: usize, call: Call) -> impl Future<Output = Answer> + Send;
}

/// Most calls taken from an inbox at once.
const MAX_TAKE: usize = 1024;

#[derive(serde::Serialize)]
struct Outgoing<'a> {
    id: u64,
    reply: String,
    deadline_ms: u64,
    call: &'a Call,
}

#[derive(serde::Deserialize)]
struct Incoming {
    id: u64,
    reply: String,
    deadline_ms: u64,
    call: Call,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn inbox(cluster: &Cluster, shard: usize) -> String {
    cluster.key(&format!("shard:{shard}:inbox"))
}

fn unreachable(message: String) -> Answer {
    Answer::Failed(Reject {
        code: RejectCode::Unavailable,
        message,
    })
}

/// A forwarded call being waited for.
struct Waiting<'a> {
    cluster: &'a Cluster,
    id: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.cluster.forget_reply(self.id);
    }
}

/// Runs `call` on shard `shard` wherever it runs, waiting at most `timeout`.
pub(super) async fn forward(
    cluster: &Cluster,
    shard: usize,
    call: &Call,
    timeout: Duration,
) -> Answer {
    let (id, answer) = cluster.expect_reply();
    // However this ends — answered, timed out, or the caller gone — the wait is forgotten.
    let _waiting = Waiting { cluster, id };
    let request = Outgoing {
        id,
        reply: cluster.reply_channel(),
        deadline_ms: now_ms() + timeout.as_millis() as u64,
        call,
    };
    let Ok(text) = serde_json::to_string(&request) else {
        return Answer::Failed(stopped());
    };
    let mut conn = cluster.redis.clone();
    let pushed: redis::RedisResult<()> = redis::cmd("RPUSH")
        .arg(inbox(cluster, shard))
        .arg(text)
        .query_async(&mut conn)
        .await;
    if let Err(e) = pushed {
        return unreachable(format!(
            "shard {shard} runs on another replica, which cannot be reached through Redis ({e}); the command was not sent, retry"
        ));
    }
    metrics::counter!("market_calls_forwarded_total").increment(1);
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(body)) => serde_json::from_str(&body).unwrap_or_else(|e| {
            unreachable(format!(
                "the answer of shard {shard}'s owner is unreadable: {e}"
            ))
        }),
        _ => unreachable(format!(
            "no replica running shard {shard} answered within {} ms, so the outcome is unknown; retry with the same client_order_id",
            timeout.as_millis()
        )),
    }
}

/// Serves shard `shard`'s inbox while this replica runs the shard.
pub(super) fn serve<M: LocalShards>(market: Weak<M>, cluster: Arc<Cluster>, shard: usize) {
    tokio::spawn(async move {
        // BLPOP holds its connection: it gets one of its own, made again when it breaks (a
        // restarted Redis leaves it broken for good).
        let mut dedicated = None;
        let key = inbox(&cluster, shard);
        loop {
            if !market.upgrade().is_some_and(|m| m.runs(shard)) {
                return;
            }
            let conn = match &mut dedicated {
                Some(conn) => conn,
                None => match cluster.dedicated().await {
                    Ok(c) => dedicated.insert(c),
                    Err(e) => {
                        tracing::warn!(shard, error = %e, "cannot connect to serve the shard's inbox");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                },
            };
            let first: redis::RedisResult<Option<(String, String)>> = redis::cmd("BLPOP")
                .arg(&key)
                .arg(1.0)
                .query_async(conn)
                .await;
            let first = match first {
                Ok(Some((_, text))) => text,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(shard, error = %e, "reading the shard's inbox failed; reconnecting");
                    dedicated = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let more: Option<Vec<String>> = redis::cmd("LPOP")
                .arg(&key)
                .arg(MAX_TAKE - 1)
                .query_async(conn)
                .await
                .unwrap_or(None);
            let Some(inner) = market.upgrade() else {
                return;
            };
            let now = now_ms();
            for text in std::iter::once(first).chain(more.into_iter().flatten()) {
                let Ok(request) = serde_json::from_str::<Incoming>(&text) else {
                    tracing::warn!(shard, "dropped an unreadable call from the shard's inbox");
                    continue;
                };
                if request.deadline_ms < now {
                    metrics::counter!("market_calls_expired_total").increment(1);
                    continue;
                }
                let (inner, cluster) = (inner.clone(), cluster.clone());
                // Each call on its own task: they queue on the shard together and share its
                // next journal commit.
                tokio::spawn(async move {
                    let answer = inner.call_here(shard, request.call).await;
                    let Ok(body) = serde_json::to_string(&answer) else {
                        return;
                    };
                    let mut conn = cluster.redis.clone();
                    let sent: redis::RedisResult<()> = redis::cmd("PUBLISH")
                        .arg(&request.reply)
                        .arg(format!("{}\t{body}", request.id))
                        .query_async(&mut conn)
                        .await;
                    if let Err(e) = sent {
                        tracing::warn!(shard, error = %e, "could not send a forwarded call's answer");
                    }
                });
            }
        }
    });
}
