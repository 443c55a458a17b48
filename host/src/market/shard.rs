//! One matching shard: the single-writer task that owns a [`Venue`] outright and takes jobs
//! from a bounded channel, so request handlers never hold a lock on a book.
//!
//! The task drains whatever has queued, writes the batch's commands to the journal in one
//! commit (group commit: the busier the shard, the bigger the batch), executes them,
//! publishes what changed and only then answers, so an acknowledged command is always
//! durable. A write refused for an older fencing token means another replica took the shard
//! over: the batch is refused and the task ends. A write that failed without saying whether
//! it committed is looked up before the next batch ([`Shard::resolve_uncertain`]).
//!
//! The shard also keeps the counters `/api/engine/stats` reads ([`ShardCounters`],
//! [`BookCounters`]), so the stats never queue behind its commands.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use bourse_matching::venue::{self, Venue};
use tokio::sync::{mpsc, oneshot};

use super::call::{Answer, Call};
use super::convert::{fenced, info, quote, reject, result, stopped, trade, unavailable};
use super::journal::{Batch, Command, Journal, JournalError, Kind, Tif};
use super::open_orders::OpenOrders;
use super::publish::Publisher;
use super::types::{BookDepth, Level, OrderResult, Reject, RejectCode};

/// Jobs that may wait for one shard before senders are made to wait.
const SHARD_QUEUE: usize = 4096;
/// Most jobs one batch (one journal commit) takes.
const MAX_BATCH_JOBS: usize = 1024;

/// A shard's answer to a command.
pub(super) enum Outcome {
    Done(Result<venue::OrderResult, venue::Reject>),
    /// Refused before it was journaled (a risk rule of the shard).
    Refused(Reject),
    /// The journal did not confirm the batch.
    Unavailable,
    /// The shard was taken over: the batch was not written, and this replica stops it.
    Fenced,
}

/// Work for a shard.
pub(super) enum Job {
    Commands(Vec<Command>, oneshot::Sender<Vec<Outcome>>),
    /// A read of the shard's state, answered between batches.
    Read(Box<dyn FnOnce(&Shard) + Send>),
}

/// Counters one shard keeps for `/api/engine/stats`.
#[derive(Default)]
pub(super) struct ShardCounters {
    /// Commands executed.
    pub(super) commands: AtomicU64,
    /// Sequence number of the last durable command.
    pub(super) durable_seq: AtomicU64,
    /// Journal commits.
    pub(super) batches: AtomicU64,
    /// Journal writes that failed.
    pub(super) journal_errors: AtomicU64,
    /// Orders resting on the shard's books.
    pub(super) open_orders: AtomicU64,
    /// The fencing token of the shard's current run here.
    pub(super) fencing_token: AtomicU64,
}

/// What `/api/engine/stats` shows of one symbol's book, kept by its shard as orders flow.
pub(super) struct BookCounters {
    pub(super) bid_levels: AtomicU64,
    pub(super) ask_levels: AtomicU64,
    /// The last trade price in ticks; [`NO_PRICE`] before any.
    pub(super) last_price: AtomicI64,
}

pub(super) const NO_PRICE: i64 = i64::MIN;

impl Default for BookCounters {
    fn default() -> Self {
        BookCounters {
            bid_levels: AtomicU64::new(0),
            ask_levels: AtomicU64::new(0),
            last_price: AtomicI64::new(NO_PRICE),
        }
    }
}

pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Hands `call` to a shard's task and waits for its answer.
pub(super) async fn execute(tx: &mpsc::Sender<Job>, call: Call) -> Answer {
    match call {
        Call::Commands(commands) => {
            let (reply, answer) = oneshot::channel();
            if tx.send(Job::Commands(commands, reply)).await.is_err() {
                return Answer::Failed(stopped());
            }
            match answer.await {
                Ok(outcomes) => {
                    Answer::Results(outcomes.into_iter().map(|o| outcome(Some(o))).collect())
                }
                Err(_) => Answer::Failed(stopped()),
            }
        }
        read => {
            let (reply, answer) = oneshot::channel();
            let job = Job::Read(Box::new(move |s| {
                let _ = reply.send(s.answer(read));
            }));
            if tx.send(job).await.is_err() {
                return Answer::Failed(stopped());
            }
            answer.await.unwrap_or(Answer::Failed(stopped()))
        }
    }
}

fn outcome(answer: Option<Outcome>) -> Result<OrderResult, Reject> {
    match answer {
        Some(Outcome::Done(r)) => r.map(result).map_err(reject),
        Some(Outcome::Refused(r)) => Err(r),
        Some(Outcome::Unavailable) => Err(unavailable()),
        Some(Outcome::Fenced) => Err(fenced()),
        None => Err(stopped()),
    }
}

/// One matching shard: the only code that touches its venue.
pub(super) struct Shard {
    pub(super) index: usize,
    pub(super) venue: Venue,
    /// Sequence number of the last command executed (= journaled).
    pub(super) seq: u64,
    /// This run's fencing token: journal writes carrying an older one are refused.
    pub(super) token: u64,
    pub(super) journal: Option<Arc<Journal>>,
    pub(super) publisher: Publisher,
    pub(super) counters: Arc<Vec<ShardCounters>>,
    pub(super) open_orders: Arc<OpenOrders>,
    pub(super) books: Arc<Vec<BookCounters>>,
    /// The shard's symbols → their index in `books`.
    pub(super) symbol_index: HashMap<String, usize>,
    pub(super) snapshot_every: u64,
    pub(super) since_snapshot: u64,
    /// A batch whose journal write failed without saying whether it committed.
    pub(super) uncertain: Option<Batch>,
}

/// Whether a command of a batch runs.
#[derive(Clone, Copy)]
enum Admission {
    /// Journaled and executed; `reserved`: a place among its account's open orders is held
    /// for it.
    Run { reserved: bool },
    /// Refused: its account has no place left for another resting order.
    Refused,
}

fn too_many_open_orders(cap: u64) -> Reject {
    Reject {
        code: RejectCode::TooManyOpenOrders,
        message: format!(
            "this account already has {cap} open orders, the most one account may have \
             (BOURSE_MAX_OPEN_ORDERS); cancel one before placing another order that rests"
        ),
    }
}

/// What a batch's journal write came to.
enum Durability {
    Written,
    /// Not known to be on disk: the batch is refused.
    Unknown,
    /// Another replica holds the shard now: the batch is refused and this run ends.
    Fenced,
}

impl Shard {
    /// Spawns the shard's task; its queue is returned.
    pub(super) fn spawn(self) -> mpsc::Sender<Job> {
        for symbol in self.symbol_index.keys() {
            self.count_book(symbol);
        }
        let (tx, rx) = mpsc::channel(SHARD_QUEUE);
        // A task, not an OS thread: handing a job over and the answer back are wake-ups
        // inside the runtime, where waking a parked thread costs tens of microseconds.
        tokio::spawn(self.run(rx));
        tx
    }

    async fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH_JOBS);
        while let Some(first) = jobs.recv().await {
            batch.push(first);
            while batch.len() < MAX_BATCH_JOBS {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            if !self.process(&mut batch).await {
                tracing::warn!(
                    shard = self.index,
                    token = self.token,
                    "another replica took this shard over; it stops here"
                );
                jobs.close();
                while let Ok(job) = jobs.try_recv() {
                    if let Job::Commands(commands, reply) = job {
                        let _ = reply.send(commands.iter().map(|_| Outcome::Fenced).collect());
                    }
                }
                break;
            }
        }
        // Its orders now count on the replica that runs it next.
        self.open_orders.count_resting(&self.venue, -1);
    }

    /// Journals the batch's commands in one commit, then executes and answers every job in
    /// arrival order; false once the shard has been taken over.
    pub(super) async fn process(&mut self, jobs: &mut Vec<Job>) -> bool {
        let at_ms = now_ms();
        // Per job, per command: whether it runs, and with a place reserved for it.
        let admissions: Vec<Vec<Admission>> = jobs
            .iter()
            .map(|j| match j {
                Job::Commands(c, _) => c.iter().map(|c| self.admit(c)).collect(),
                Job::Read(_) => Vec::new(),
            })
            .collect();
        // References, not copies: the batch is only serialised; it is cloned only when a
        // write fails and must be kept.
        let commands: Vec<&Command> = jobs
            .iter()
            .zip(&admissions)
            .filter_map(|(j, admitted)| match j {
                Job::Commands(c, _) => Some(c.iter().zip(admitted)),
                Job::Read(_) => None,
            })
            .flatten()
            .filter(|(_, a)| !matches!(a, Admission::Refused))
            .map(|(c, _)| c)
            .collect();
        let durability = if commands.is_empty() {
            Durability::Written
        } else {
            self.make_durable(at_ms, &commands).await
        };
        drop(commands);
        self.venue.set_time(at_ms);
        let mut replies = Vec::with_capacity(jobs.len());
        for (job, admitted) in jobs.drain(..).zip(admissions) {
            let (commands, reply) = match job {
                Job::Read(f) => {
                    f(self);
                    continue;
                }
                Job::Commands(commands, reply) => (commands, reply),
            };
            let answers: Vec<Outcome> = commands
                .iter()
                .zip(admitted)
                .map(|(c, admission)| match (admission, &durability) {
                    (Admission::Refused, _) => {
                        Outcome::Refused(too_many_open_orders(self.open_orders.cap()))
                    }
                    (Admission::Run { reserved }, Durability::Written) => {
                        Outcome::Done(self.execute(c, reserved))
                    }
                    (Admission::Run { reserved }, refused) => {
                        if reserved {
                            self.open_orders.change(c.account(), -1);
                        }
                        match refused {
                            Durability::Fenced => Outcome::Fenced,
                            _ => Outcome::Unavailable,
                        }
                    }
                })
                .collect();
            replies.push((reply, answers));
        }
        // Published before anyone is answered: a client that gets its fill over HTTP finds
        // the same fill already on its WebSocket rooms.
        self.publisher.flush().await;
        for (reply, answers) in replies {
            let _ = reply.send(answers);
        }
        if matches!(durability, Durability::Fenced) {
            return false;
        }
        self.maybe_snapshot(at_ms).await
    }

    /// Whether `command` may run: a limit order that could rest needs a free place among its
    /// account's open orders, taken now so that racing shards cannot both take the last one.
    fn admit(&self, command: &Command) -> Admission {
        let Command::Submit {
            kind: Kind::Limit,
            tif: Tif::Gtc,
            account,
            client_order_id,
            ..
        } = command
        else {
            return Admission::Run { reserved: false };
        };
        // A repeated client order id makes no order: it answers with the earlier one.
        if let Some(id) = client_order_id
            && self.venue.client_order(account, id).is_some()
        {
            return Admission::Run { reserved: false };
        }
        if self.open_orders.reserve(account) {
            Admission::Run { reserved: true }
        } else {
            Admission::Refused
        }
    }

    /// Executes a journaled command: on the venue, in the events to publish, and in its
    /// account's count of open orders (`reserved`: a place was taken for it by [`Self::admit`]).
    fn execute(
        &mut self,
        command: &Command,
        reserved: bool,
    ) -> Result<venue::OrderResult, venue::Reject> {
        let r = command.apply(&mut self.venue);
        self.publisher.collect(&self.venue, command, &r);
        let account = command.account();
        let mut kept = false;
        if r.as_ref().is_ok_and(|r| !r.duplicate) {
            let open_orders = &self.open_orders;
            self.venue.open_order_changes(|who, delta| {
                if reserved && delta == 1 && who == account {
                    // The new order rests: its reserved place is its count.
                    kept = true;
                } else {
                    open_orders.change(who, delta);
                }
            });
        }
        if reserved && !kept {
            self.open_orders.change(account, -1);
        }
        if r.is_ok() {
            self.count_book(command.symbol());
        }
        r
    }

    /// Updates what `/api/engine/stats` shows of `symbol`'s book and the shard's open
    /// orders: constant time, so the stats never make the shard walk its books.
    fn count_book(&self, symbol: &str) {
        self.counters[self.index]
            .open_orders
            .store(self.venue.engine().open_orders() as u64, Ordering::Relaxed);
        let Some(book) = self.symbol_index.get(symbol).map(|&i| &self.books[i]) else {
            return;
        };
        if let Ok((bids, asks)) = self.venue.level_counts(symbol) {
            book.bid_levels.store(bids as u64, Ordering::Relaxed);
            book.ask_levels.store(asks as u64, Ordering::Relaxed);
        }
        let last = self.venue.last_price(symbol).unwrap_or(NO_PRICE);
        book.last_price.store(last, Ordering::Relaxed);
    }

    /// Answers a read (any call but commands).
    fn answer(&self, call: Call) -> Answer {
        match call {
            Call::Commands(_) => Answer::Failed(stopped()),
            Call::ClientOrder {
                account,
                client_order_id,
            } => Answer::Earlier(
                self.venue
                    .client_order(&account, &client_order_id)
                    .map(result),
            ),
            Call::Book { symbol, levels } => {
                let room_seq = self.publisher.book_seq(&symbol);
                Answer::Book(
                    self.venue
                        .depth(&symbol, levels)
                        .map(|d| {
                            let levels = |side: Vec<(i64, u64)>| {
                                side.into_iter()
                                    .map(|(price, quantity)| Level { price, quantity })
                                    .collect()
                            };
                            (
                                room_seq,
                                BookDepth {
                                    symbol: d.symbol,
                                    sequence: d.sequence,
                                    bids: levels(d.bids),
                                    asks: levels(d.asks),
                                },
                            )
                        })
                        .map_err(reject),
                )
            }
            Call::Quote { symbol } => {
                Answer::Quote(self.venue.quote(&symbol).map(quote).map_err(reject))
            }
            Call::Order { account, order_id } => Answer::Order(
                self.venue
                    .order(&account, order_id)
                    .map(info)
                    .map_err(reject),
            ),
            Call::Orders {
                account,
                open_only,
                limit,
            } => Answer::Orders(
                self.venue
                    .orders_of(&account, open_only, limit as usize)
                    .into_iter()
                    .map(info)
                    .collect(),
            ),
            Call::Trades { symbol, limit } => Answer::Trades(
                self.venue
                    .trades_of(&symbol, limit as usize)
                    .map(|t| t.into_iter().map(trade).collect())
                    .map_err(reject),
            ),
            // Answered from counters before it reaches a shard (see `Inner::state_of`).
            Call::State { .. } => Answer::Failed(stopped()),
            Call::StateHash => Answer::State(serde_json::Value::String(format!(
                "{:016x}",
                self.venue.engine().state_hash()
            ))),
        }
    }

    /// Writes the batch and says whether it is known to be on disk.
    async fn make_durable(&mut self, at_ms: u64, commands: &[&Command]) -> Durability {
        let counters = self.counters.clone();
        let counters = &counters[self.index];
        let n = commands.len() as u64;
        let Some(journal) = self.journal.clone() else {
            self.seq += n;
            counters.commands.fetch_add(n, Ordering::Relaxed);
            return Durability::Written;
        };
        if !self.resolve_uncertain(&journal).await {
            return Durability::Unknown;
        }
        let first_seq = self.seq + 1;
        let started = Instant::now();
        match journal
            .append(self.index, self.token, first_seq, at_ms, commands)
            .await
        {
            Ok(()) => {
                metrics::histogram!("journal_commit_seconds").record(started.elapsed());
                metrics::histogram!("journal_batch_commands").record(n as f64);
                self.seq += n;
                self.since_snapshot += n;
                counters.commands.fetch_add(n, Ordering::Relaxed);
                metrics::counter!("matching_commands_total").increment(n);
                counters.batches.fetch_add(1, Ordering::Relaxed);
                counters.durable_seq.store(self.seq, Ordering::Relaxed);
                Durability::Written
            }
            Err(JournalError::Fenced { .. }) => Durability::Fenced,
            Err(e) => {
                counters.journal_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(shard = self.index, error = %e, "journal write failed; the batch is refused");
                self.uncertain = Some(Batch {
                    first_seq,
                    at_ms,
                    commands: commands.iter().map(|c| (*c).clone()).collect(),
                });
                Durability::Unknown
            }
        }
    }

    /// After a failed write, finds out whether it committed anyway: if it did, its commands
    /// are part of history and are executed now (their callers were told the outcome is
    /// unknown). Until the database answers, the shard takes no new commands.
    async fn resolve_uncertain(&mut self, journal: &Journal) -> bool {
        let Some(batch) = self.uncertain.take() else {
            return true;
        };
        match journal.contains(self.index, batch.first_seq).await {
            Ok(true) => {
                // Exactly as a confirmed batch: executed, counted and published (with the
                // batch that follows), though its callers were told the outcome is unknown.
                self.venue.set_time(batch.at_ms);
                for c in &batch.commands {
                    let _ = self.execute(c, false);
                }
                let n = batch.commands.len() as u64;
                self.seq += n;
                self.since_snapshot += n;
                let counters = &self.counters[self.index];
                counters.commands.fetch_add(n, Ordering::Relaxed);
                counters.batches.fetch_add(1, Ordering::Relaxed);
                counters.durable_seq.store(self.seq, Ordering::Relaxed);
                tracing::warn!(
                    shard = self.index,
                    first_seq = batch.first_seq,
                    "an unconfirmed journal write had committed; its commands are executed"
                );
                true
            }
            Ok(false) => true,
            Err(_) => {
                self.uncertain = Some(batch);
                false
            }
        }
    }

    /// Snapshots the shard when due; false if it turned out to be taken over.
    async fn maybe_snapshot(&mut self, at_ms: u64) -> bool {
        let Some(journal) = &self.journal else {
            return true;
        };
        if self.snapshot_every == 0 || self.since_snapshot < self.snapshot_every {
            return true;
        }
        let started = Instant::now();
        let snapshot = self.venue.snapshot();
        match journal
            .save_snapshot(self.index, self.token, self.seq, at_ms, &snapshot)
            .await
        {
            Ok(()) => {
                self.since_snapshot = 0;
                // The snapshot's buffers were the largest allocation of the shard's life:
                // hand them back now rather than hold them until the next periodic trim.
                drop(snapshot);
                tokio::task::spawn_blocking(crate::telemetry::release_free_memory);
                tracing::info!(
                    shard = self.index,
                    seq = self.seq,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "journal snapshot"
                );
                true
            }
            Err(JournalError::Fenced { .. }) => false,
            Err(e) => {
                tracing::warn!(shard = self.index, error = %e, "journal snapshot failed");
                true
            }
        }
    }
}
