//! Starting a shard on this replica: it takes the journal's next fencing token (so a replica
//! that ran the shard before can no longer write to it), rebuilds its venue from the latest
//! snapshot plus the journal after it, and recovers the client order ids and open-order
//! counts the venue holds before its task takes calls.
//!
//! Invariant: replay applies exactly the journaled commands after the snapshot, in sequence
//! order, each once; the venue being deterministic, the rebuilt books, order ids and client
//! order ids are those the shard had.

use std::sync::atomic::Ordering;
use std::time::Instant;

use bourse_matching::venue::Venue;

use super::config::MarketError;
use super::publish::Publisher;
use super::shard::Shard;
use super::slots::Inner;

impl Inner {
    /// Starts shard `k` here: takes its next fencing token, rebuilds its venue from the latest
    /// snapshot plus the journal after it, and spawns its matching task.
    pub(super) async fn open_shard(&self, k: usize) -> Result<(), MarketError> {
        let shards = self.shards();
        let started = Instant::now();
        // Every shard registers every symbol (an unused book costs a few KB) so that its
        // venue validates names the same way; it only ever sees its own symbols' orders.
        let mut venue = Venue::new(&self.specs)?
            .with_order_ids(k as u64 + 1, shards as u64)
            .with_client_id_retention(self.config.client_ids);
        let mut seq = 0;
        let mut token = 0;
        let mut replayed = 0u64;
        if let Some(journal) = &self.config.journal {
            token = journal.fence(k).await?;
            if let Some((at, snapshot)) = journal.snapshot(k).await? {
                venue = Venue::restore(&self.specs, &snapshot)
                    .map_err(|source| MarketError::Restore { shard: k, source })?
                    .with_client_id_retention(self.config.client_ids);
                seq = at;
            }
            for batch in journal.tail(k, seq).await? {
                venue.set_time(batch.at_ms);
                for (i, command) in batch.commands.iter().enumerate() {
                    let s = batch.first_seq + i as u64;
                    if s > seq {
                        // Refusals replay as refusals; nothing to do with either.
                        let _ = command.apply(&mut venue);
                        seq = s;
                        replayed += 1;
                    }
                }
            }
        }
        self.client_ids.recover(k, &venue);
        self.counters[k].durable_seq.store(seq, Ordering::Relaxed);
        self.counters[k]
            .fencing_token
            .store(token, Ordering::Relaxed);
        self.open_orders.count_resting(&venue, 1);
        let mut publisher = Publisher::new(self.config.events.clone(), venue.symbols().to_vec());
        if self.config.cluster.is_some() {
            publisher.announce(&venue, |i| i % shards == k).await;
        }
        let shard = Shard {
            index: k,
            publisher,
            venue,
            seq,
            token,
            journal: self.config.journal.clone(),
            counters: self.counters.clone(),
            open_orders: self.open_orders.clone(),
            books: self.books.clone(),
            symbol_index: self
                .symbols
                .iter()
                .enumerate()
                .filter(|(i, _)| i % shards == k)
                .map(|(i, s)| (s.symbol.clone(), i))
                .collect(),
            snapshot_every: self.config.snapshot_every,
            since_snapshot: 0,
            uncertain: None,
        };
        self.fill_slot(k, shard.spawn());
        if self.config.journal.is_some() {
            tracing::info!(
                shard = k,
                token,
                replayed,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "shard rebuilt from the journal"
            );
        }
        Ok(())
    }
}
