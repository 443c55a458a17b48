//! Which replica runs each shard: a lease in Redis (`SET NX PX`, renewed by its holder every
//! third of its life). A replica that takes a lease starts the shard, which takes the journal's
//! next fencing token; one whose lease lapsed (it stalled, or lost Redis for longer than the
//! lease) stops the shard, and even a write it still had under way is refused by the token.
//! When the holder dies, its lease expires and the next replica to ask takes the shard,
//! rebuilding it from the journal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::MarketError;
use super::remote::LocalShards;
use crate::cluster::Cluster;

/// What keeping leases needs of the market here: its shards, and starting and stopping one.
pub(super) trait Shards: LocalShards {
    /// Shards in all.
    fn shards(&self) -> usize;

    /// Forgets shard `k`: its task ends once its queue is empty, and new calls go elsewhere.
    fn drop_shard(&self, k: usize);

    /// Starts shard `k` here (see [`recovery`](super::recovery)).
    fn open_shard(&self, k: usize) -> impl Future<Output = Result<(), MarketError>> + Send;
}

/// Extends the lease if this replica still holds it. KEYS: the lease; ARGV: replica, ms.
const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

/// Gives the lease up if this replica holds it. KEYS: the lease; ARGV: replica.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

fn lease_key(cluster: &Cluster, shard: usize) -> String {
    cluster.key(&format!("shard:{shard}:lease"))
}

/// The replica holding `shard`'s lease, if any.
pub(super) async fn owner(cluster: &Cluster, shard: usize) -> Option<String> {
    let mut conn = cluster.redis.clone();
    redis::cmd("GET")
        .arg(lease_key(cluster, shard))
        .query_async(&mut conn)
        .await
        .ok()
        .flatten()
}

/// Takes the shards nobody holds, once now (so a lone replica starts with all of them), then
/// keeps doing so and renewing its own for as long as the market lives.
pub(super) async fn start<M: Shards>(market: &Arc<M>, cluster: Arc<Cluster>) {
    let mut renewed = vec![None; market.shards()];
    tick(market, &cluster, &mut renewed).await;
    let weak = Arc::downgrade(market);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(cluster.lease / 3);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            let Some(market) = weak.upgrade() else { break };
            tick(&market, &cluster, &mut renewed).await;
        }
    });
}

/// One round: renew what this replica holds, stop what it lost, take what is free.
async fn tick<M: Shards>(market: &Arc<M>, cluster: &Arc<Cluster>, renewed: &mut [Option<Instant>]) {
    renew_held(market, cluster, renewed).await;
    let mut conn = cluster.redis.clone();
    let lease_ms = cluster.lease.as_millis() as u64;
    for shard in 0..renewed.len() {
        if market.holds(shard) {
            continue;
        }
        let taken: redis::RedisResult<Option<String>> = redis::cmd("SET")
            .arg(lease_key(cluster, shard))
            .arg(&cluster.replica)
            .arg("NX")
            .arg("PX")
            .arg(lease_ms)
            .query_async(&mut conn)
            .await;
        if !matches!(taken, Ok(Some(_))) {
            continue;
        }
        let taken_at = Instant::now();
        match market.open_shard(shard).await {
            Ok(()) => {
                renewed[shard] = Some(taken_at);
                tracing::info!(shard, replica = %cluster.replica, "took the shard's lease; the shard runs here");
                super::remote::serve(Arc::downgrade(market), cluster.clone(), shard);
            }
            Err(e) => {
                tracing::error!(shard, error = %e, "took the shard's lease but cannot start it; giving it back");
                let _ = release(cluster, shard).await;
            }
        }
        // Rebuilding a shard takes time: keep the others' leases (and this one's) alive
        // before rebuilding the next.
        renew_held(market, cluster, renewed).await;
    }
}

/// Renews the leases of the shards started here; stops those whose lease is gone.
async fn renew_held<M: Shards>(
    market: &Arc<M>,
    cluster: &Arc<Cluster>,
    renewed: &mut [Option<Instant>],
) {
    let mut conn = cluster.redis.clone();
    let lease_ms = cluster.lease.as_millis() as u64;
    for (shard, renewed) in renewed.iter_mut().enumerate() {
        if !market.holds(shard) {
            continue;
        }
        if !market.runs(shard) {
            // Its task ended: taken over (fenced) or stopped.
            market.drop_shard(shard);
            let _ = release(cluster, shard).await;
            *renewed = None;
            continue;
        }
        // The lease is counted from before the request: its answer may come late.
        let asked_at = Instant::now();
        let result: redis::RedisResult<i64> = redis::Script::new(RENEW)
            .key(lease_key(cluster, shard))
            .arg(&cluster.replica)
            .arg(lease_ms)
            .invoke_async(&mut conn)
            .await;
        match result {
            Ok(1) => *renewed = Some(asked_at),
            Ok(_) => {
                tracing::warn!(
                    shard,
                    "the shard's lease passed to another replica; stopping it here"
                );
                market.drop_shard(shard);
                *renewed = None;
            }
            Err(e) => {
                // Without Redis this replica cannot prove it still holds the lease: once it
                // may have expired, another replica may have the shard.
                if renewed.is_none_or(|at| at.elapsed() >= cluster.lease) {
                    tracing::warn!(shard, error = %e, "cannot renew the shard's lease; stopping it here");
                    market.drop_shard(shard);
                    *renewed = None;
                }
            }
        }
    }
}

async fn release(cluster: &Cluster, shard: usize) -> redis::RedisResult<i64> {
    let mut conn = cluster.redis.clone();
    redis::Script::new(RELEASE)
        .key(lease_key(cluster, shard))
        .arg(&cluster.replica)
        .invoke_async(&mut conn)
        .await
}

/// Stops every shard running here and gives up their leases.
pub(super) async fn release_all<M: Shards>(market: &M, cluster: &Cluster) {
    for shard in 0..market.shards() {
        if market.holds(shard) {
            market.drop_shard(shard);
            // Let calls already queued on the shard finish before another replica starts it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Err(e) = release(cluster, shard).await {
                tracing::warn!(shard, error = %e, "could not give up the shard's lease; it expires on its own");
            }
        }
    }
}
