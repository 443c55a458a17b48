//! The market's command journal in the main SQL database (Postgres with `DATABASE_URL`, the
//! embedded SQLite otherwise).
//!
//! A matching shard writes each batch of commands as one row and one commit (group commit)
//! before it executes them and answers anyone, so an acknowledged command is always on disk.
//! Commands, not results, are journaled: the venue is deterministic, so replaying a shard's
//! commands in order rebuilds its books, order ids and client order ids exactly. Snapshots of
//! a shard's venue cover a prefix of its journal, which is then pruned.

use bourse_matching::venue::{self, VenueSnapshot};
use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, Row};

use crate::store::sql::numbered_placeholders;

/// A journaled market command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// A new order.
    Submit {
        symbol: String,
        side: Side,
        kind: Kind,
        price: i64,
        quantity: u64,
        tif: Tif,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        post_only: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_order_id: Option<String>,
        account: String,
    },
    /// Cancel an open order.
    Cancel {
        account: String,
        symbol: String,
        order_id: u64,
    },
    /// Change an open order's price and/or quantity.
    Amend {
        account: String,
        symbol: String,
        order_id: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        price: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quantity: Option<u64>,
    },
}

/// Side, as journaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

/// Order kind, as journaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Limit,
    Market,
}

/// Time in force, as journaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tif {
    Gtc,
    Ioc,
    Fok,
}

impl Command {
    /// Executes the command on `venue`.
    pub fn apply(&self, venue: &mut venue::Venue) -> Result<venue::OrderResult, venue::Reject> {
        match self {
            Command::Submit {
                symbol,
                side,
                kind,
                price,
                quantity,
                tif,
                post_only,
                client_order_id,
                account,
            } => venue.submit(&venue::OrderRequest {
                symbol,
                side: match side {
                    Side::Buy => bourse_matching::Side::Buy,
                    Side::Sell => bourse_matching::Side::Sell,
                },
                kind: match kind {
                    Kind::Limit => venue::OrderKind::Limit,
                    Kind::Market => venue::OrderKind::Market,
                },
                price: *price,
                quantity: *quantity,
                time_in_force: match tif {
                    Tif::Gtc => venue::TimeInForce::Gtc,
                    Tif::Ioc => venue::TimeInForce::Ioc,
                    Tif::Fok => venue::TimeInForce::Fok,
                },
                post_only: *post_only,
                client_order_id: client_order_id.as_deref(),
                account,
            }),
            Command::Cancel {
                account,
                symbol,
                order_id,
            } => venue.cancel(account, symbol, *order_id),
            Command::Amend {
                account,
                symbol,
                order_id,
                price,
                quantity,
            } => venue.amend(account, symbol, *order_id, *price, *quantity),
        }
    }

    /// The account that issued it, to be changed.
    fn account_mut(&mut self) -> &mut String {
        match self {
            Command::Submit { account, .. }
            | Command::Cancel { account, .. }
            | Command::Amend { account, .. } => account,
        }
    }

    /// The account that issued it.
    pub fn account(&self) -> &str {
        match self {
            Command::Submit { account, .. }
            | Command::Cancel { account, .. }
            | Command::Amend { account, .. } => account,
        }
    }

    /// The symbol it addresses.
    pub fn symbol(&self) -> &str {
        match self {
            Command::Submit { symbol, .. }
            | Command::Cancel { symbol, .. }
            | Command::Amend { symbol, .. } => symbol,
        }
    }
}

/// The `journal_meta` row recording that accounts carry kinded principal ids.
const ACCOUNT_IDS: &str = "account ids";

/// What an account written before principal ids named their kind is now: `ops` was whoever
/// held `ADMIN_TOKEN` (now `operator`), `sim-<n>` a simulation account (now `sim:<n>`), and
/// any other bare name a user (now `user:<name>`, `operator` included: the operator was never
/// called that before). Ids with a kind are kept. Distinct old names stay distinct.
pub fn kinded_account(account: &str) -> String {
    if account.contains(':') {
        return account.to_string();
    }
    if account == "ops" {
        return "operator".to_string();
    }
    if let Some(n) = account.strip_prefix("sim-")
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        return format!("sim:{n}");
    }
    format!("user:{account}")
}

/// One journal row: a batch of consecutive commands of one shard.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Sequence number of the first command (a shard's commands count from 1).
    pub first_seq: u64,
    /// When the shard executed it, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The commands, in order.
    pub commands: Vec<Command>,
}

/// A journal operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The database refused or could not be reached.
    #[error("journal database: {0}")]
    Sql(#[from] sqlx::Error),
    /// A row could not be read back.
    #[error("journal row (shard {shard}, seq {seq}) is unreadable: {problem}")]
    Corrupt {
        shard: usize,
        seq: u64,
        problem: String,
    },
    /// The journal was written under another configuration.
    #[error(
        "the journal was written with {name} = {found}, but this host is configured with {configured}; \
         start with the same setting, or with an empty database"
    )]
    Mismatch {
        name: &'static str,
        found: String,
        configured: String,
    },
    /// A value does not fit the column.
    #[error("journal value out of range: {0}")]
    Range(String),
    /// Another replica has taken the shard since this one started it.
    #[error("shard {shard} was taken over (fencing token {token} is no longer current)")]
    Fenced { shard: usize, token: u64 },
}

fn to_i64(v: u64) -> Result<i64, JournalError> {
    i64::try_from(v).map_err(|_| JournalError::Range(v.to_string()))
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The journal of every shard.
pub struct Journal {
    pool: AnyPool,
    postgres: bool,
}

impl Journal {
    /// The journal in `pool`, checked against this host's shard count and symbol table: a
    /// journal written under other settings would replay into the wrong shards.
    pub async fn open(
        pool: AnyPool,
        postgres: bool,
        shards: usize,
        symbols: &str,
    ) -> Result<Journal, JournalError> {
        let journal = Journal { pool, postgres };
        for (name, configured) in [
            ("matching shards", shards.to_string()),
            ("symbols", symbols.to_string()),
        ] {
            let found: Option<String> =
                sqlx::query(&journal.sql("SELECT value FROM journal_meta WHERE name = ?"))
                    .bind(name)
                    .fetch_optional(&journal.pool)
                    .await?
                    .map(|row| row.try_get::<String, _>(0))
                    .transpose()?;
            match found {
                Some(found) if found != configured => {
                    let empty: i64 = sqlx::query("SELECT COUNT(*) FROM journal")
                        .fetch_one(&journal.pool)
                        .await?
                        .try_get(0)?;
                    let snapshots: i64 = sqlx::query("SELECT COUNT(*) FROM journal_snapshots")
                        .fetch_one(&journal.pool)
                        .await?
                        .try_get(0)?;
                    if empty + snapshots > 0 {
                        return Err(JournalError::Mismatch {
                            name,
                            found,
                            configured,
                        });
                    }
                    sqlx::query(&journal.sql("UPDATE journal_meta SET value = ? WHERE name = ?"))
                        .bind(configured)
                        .bind(name)
                        .execute(&journal.pool)
                        .await?;
                }
                Some(_) => {}
                None => {
                    sqlx::query(
                        &journal.sql("INSERT INTO journal_meta (name, value) VALUES (?, ?)"),
                    )
                    .bind(name)
                    .bind(configured)
                    .execute(&journal.pool)
                    .await?;
                }
            }
        }
        journal.migrate_accounts().await?;
        Ok(journal)
    }

    /// Renames accounts written before principal ids named their kind (see
    /// [`kinded_account`]), in every journal row and snapshot, once. The marker row is
    /// inserted first in the same transaction, so of replicas starting together exactly one
    /// migrates (the others wait on the marker's key, then find it).
    async fn migrate_accounts(&self) -> Result<(), JournalError> {
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(&self.sql(
            "INSERT INTO journal_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        ))
        .bind(ACCOUNT_IDS)
        .bind("kinded")
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(());
        }
        let rows = sqlx::query("SELECT shard, first_seq, commands FROM journal")
            .fetch_all(&mut *tx)
            .await?;
        let mut renamed = 0usize;
        for row in rows {
            let (shard, first_seq): (i32, i64) = (row.try_get(0)?, row.try_get(1)?);
            let text: String = row.try_get(2)?;
            let corrupt = |e: serde_json::Error| JournalError::Corrupt {
                shard: shard as usize,
                seq: to_u64(first_seq),
                problem: e.to_string(),
            };
            let mut commands: Vec<Command> = serde_json::from_str(&text).map_err(corrupt)?;
            for command in &mut commands {
                let account = command.account_mut();
                *account = kinded_account(account);
            }
            let text = serde_json::to_string(&commands).map_err(corrupt)?;
            sqlx::query(
                &self.sql("UPDATE journal SET commands = ? WHERE shard = ? AND first_seq = ?"),
            )
            .bind(text)
            .bind(shard)
            .bind(first_seq)
            .execute(&mut *tx)
            .await?;
            renamed += 1;
        }
        let rows = sqlx::query("SELECT shard, seq, state FROM journal_snapshots")
            .fetch_all(&mut *tx)
            .await?;
        for row in rows {
            let (shard, seq): (i32, i64) = (row.try_get(0)?, row.try_get(1)?);
            let text: String = row.try_get(2)?;
            let corrupt = |e: serde_json::Error| JournalError::Corrupt {
                shard: shard as usize,
                seq: to_u64(seq),
                problem: e.to_string(),
            };
            let mut snapshot: VenueSnapshot = serde_json::from_str(&text).map_err(corrupt)?;
            for account in &mut snapshot.accounts {
                *account = kinded_account(account);
            }
            let text = serde_json::to_string(&snapshot).map_err(corrupt)?;
            sqlx::query(
                &self.sql("UPDATE journal_snapshots SET state = ? WHERE shard = ? AND seq = ?"),
            )
            .bind(text)
            .bind(shard)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
            renamed += 1;
        }
        tx.commit().await?;
        if renamed > 0 {
            tracing::info!(
                rows = renamed,
                "journal accounts renamed to kinded principal ids"
            );
        }
        Ok(())
    }

    fn sql(&self, statement: &str) -> String {
        if self.postgres {
            numbered_placeholders(statement)
        } else {
            statement.to_string()
        }
    }

    /// Takes the next fencing token of `shard`: from now on only writes carrying it are
    /// accepted, so whoever held the shard before can no longer write.
    pub async fn fence(&self, shard: usize) -> Result<u64, JournalError> {
        let token: i64 = sqlx::query(&self.sql(
            "INSERT INTO journal_fence (shard, token) VALUES (?, 1) \
             ON CONFLICT (shard) DO UPDATE SET token = journal_fence.token + 1 RETURNING token",
        ))
        .bind(shard as i32)
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?;
        Ok(to_u64(token))
    }

    /// The `WHERE` clause that holds a write to `shard`'s current token; on Postgres it also
    /// locks the fence row until the write commits, so a takeover waits for a write already
    /// under way and then sees it.
    fn fenced(&self) -> &'static str {
        if self.postgres {
            "FROM journal_fence WHERE shard = ? AND token = ? FOR SHARE"
        } else {
            "FROM journal_fence WHERE shard = ? AND token = ?"
        }
    }

    /// Writes one batch of `shard` in one commit, if `token` is still the shard's.
    pub async fn append(
        &self,
        shard: usize,
        token: u64,
        first_seq: u64,
        at_ms: u64,
        batch: &[&Command],
    ) -> Result<(), JournalError> {
        let commands =
            serde_json::to_string(batch).map_err(|e| JournalError::Range(e.to_string()))?;
        let last = first_seq + batch.len() as u64 - 1;
        let statement = format!(
            "INSERT INTO journal (shard, first_seq, last_seq, at_ms, commands) SELECT ?, ?, ?, ?, ? {}",
            self.fenced()
        );
        let written = sqlx::query(&self.sql(&statement))
            .bind(shard as i32)
            .bind(to_i64(first_seq)?)
            .bind(to_i64(last)?)
            .bind(to_i64(at_ms)?)
            .bind(commands)
            .bind(shard as i32)
            .bind(to_i64(token)?)
            .execute(&self.pool)
            .await?;
        if written.rows_affected() == 0 {
            return Err(JournalError::Fenced { shard, token });
        }
        Ok(())
    }

    /// Whether the batch starting at `first_seq` is on disk (after a write whose outcome was
    /// not confirmed).
    pub async fn contains(&self, shard: usize, first_seq: u64) -> Result<bool, JournalError> {
        Ok(
            sqlx::query(&self.sql("SELECT 1 FROM journal WHERE shard = ? AND first_seq = ?"))
                .bind(shard as i32)
                .bind(to_i64(first_seq)?)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// The newest snapshot of `shard`: the sequence number it covers and the venue state.
    pub async fn snapshot(
        &self,
        shard: usize,
    ) -> Result<Option<(u64, VenueSnapshot)>, JournalError> {
        let row = sqlx::query(&self.sql(
            "SELECT seq, state FROM journal_snapshots WHERE shard = ? ORDER BY seq DESC LIMIT 1",
        ))
        .bind(shard as i32)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let seq = to_u64(row.try_get::<i64, _>(0)?);
        let state: String = row.try_get(1)?;
        let snapshot = serde_json::from_str(&state).map_err(|e| JournalError::Corrupt {
            shard,
            seq,
            problem: e.to_string(),
        })?;
        Ok(Some((seq, snapshot)))
    }

    /// `shard`'s batches holding commands after `after_seq`, in order.
    pub async fn tail(&self, shard: usize, after_seq: u64) -> Result<Vec<Batch>, JournalError> {
        let rows = sqlx::query(&self.sql(
            "SELECT first_seq, at_ms, commands FROM journal WHERE shard = ? AND last_seq > ? ORDER BY first_seq",
        ))
        .bind(shard as i32)
        .bind(to_i64(after_seq)?)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let first_seq = to_u64(row.try_get::<i64, _>(0)?);
                let at_ms = to_u64(row.try_get::<i64, _>(1)?);
                let text: String = row.try_get(2)?;
                let commands = serde_json::from_str(&text).map_err(|e| JournalError::Corrupt {
                    shard,
                    seq: first_seq,
                    problem: e.to_string(),
                })?;
                Ok(Batch {
                    first_seq,
                    at_ms,
                    commands,
                })
            })
            .collect()
    }

    /// Stores a snapshot of `shard` covering commands up to `seq`, then drops the journal
    /// rows and older snapshots it makes unnecessary.
    pub async fn save_snapshot(
        &self,
        shard: usize,
        token: u64,
        seq: u64,
        at_ms: u64,
        snapshot: &VenueSnapshot,
    ) -> Result<(), JournalError> {
        let state =
            serde_json::to_string(snapshot).map_err(|e| JournalError::Range(e.to_string()))?;
        let seq = to_i64(seq)?;
        // The connection's buffers grow to the snapshot's size and would keep that capacity
        // for as long as it stays in the pool: one more snapshot-sized buffer each time a new
        // connection of the pool happens to write one. Closed after use, it gives it back.
        let mut conn = self.pool.acquire().await?;
        conn.close_on_drop();
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let statement = format!(
            "INSERT INTO journal_snapshots (shard, seq, at_ms, state) SELECT ?, ?, ?, ? {}",
            self.fenced()
        );
        let written = sqlx::query(&self.sql(&statement))
            .bind(shard as i32)
            .bind(seq)
            .bind(to_i64(at_ms)?)
            .bind(state)
            .bind(shard as i32)
            .bind(to_i64(token)?)
            .execute(&mut *tx)
            .await?;
        if written.rows_affected() == 0 {
            return Err(JournalError::Fenced { shard, token });
        }
        sqlx::query(&self.sql("DELETE FROM journal WHERE shard = ? AND last_seq <= ?"))
            .bind(shard as i32)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&self.sql("DELETE FROM journal_snapshots WHERE shard = ? AND seq < ?"))
            .bind(shard as i32)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
