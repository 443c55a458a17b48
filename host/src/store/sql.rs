//! SQL: Postgres when `DATABASE_URL` is set, else embedded SQLite files under the data
//! directory. Both go through sqlx's `Any` driver, so one code path serves both.
//!
//! Isolation: each component database is its own SQLite file, or its own Postgres schema.
//! On Postgres the component's pool connects as a role of its own that owns only that schema
//! (see [`super::sql_roles`]; `search_path` merely saves it from qualifying names), so
//! another component's tables and the host's (`public`: the journal, the swap audit) are
//! refused by Postgres itself. On SQLite every connection refuses to attach other files or
//! write copies elsewhere (see [`super::sqlite_confine`]). The host's own tables live in the
//! main database, created by migrations.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Column, Executor, Row, TypeInfo, ValueRef};
use tokio::sync::Mutex;

use super::sql_roles::{self, ComponentRole};
use super::sqlite_confine;
use super::{Probe, StoreError};

pub use super::sql_roles::ROLE_PREFIX;

/// Which engine runs the SQL.
#[derive(Debug, Clone)]
enum Backend {
    Sqlite {
        dir: PathBuf,
    },
    /// `database` is the name of the database `url` connects to.
    Postgres {
        url: String,
        database: String,
    },
}

/// A SQL value crossing the component boundary.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

/// Rows returned by a statement.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Column names.
    pub columns: Vec<String>,
    /// Values, row by row.
    pub rows: Vec<Vec<SqlValue>>,
    /// Rows the statement inserted, updated or deleted.
    pub changes: u64,
    /// The row id of the last insert (SQLite; Postgres reports none).
    pub last_insert_rowid: Option<i64>,
}

/// The SQL backend and its pools.
pub struct Sql {
    backend: Backend,
    main: AnyPool,
    components: Mutex<HashMap<String, AnyPool>>,
}

/// Longest a health probe waits.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

async fn sqlite_pool(path: &Path) -> Result<AnyPool, StoreError> {
    let options = AnyConnectOptions::from_str(&sqlite_url(path))?;
    Ok(AnyPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?)
}

impl Sql {
    /// Opens the main database and runs the host's migrations.
    pub async fn connect(database_url: Option<&str>, data_dir: &Path) -> Result<Sql, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, main) = match database_url {
            Some(url) => {
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect(url)
                    .await?;
                sql_roles::check_host_role(&pool).await?;
                let database: String = sqlx::query_scalar("SELECT current_database()::text")
                    .fetch_one(&pool)
                    .await?;
                (
                    Backend::Postgres {
                        url: url.to_string(),
                        database,
                    },
                    pool,
                )
            }
            None => {
                sqlite_confine::install()?;
                let dir = data_dir.join("sql");
                std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
                    path: dir.display().to_string(),
                    source,
                })?;
                let pool = sqlite_pool(&dir.join("bourse.db")).await?;
                (Backend::Sqlite { dir }, pool)
            }
        };
        sqlx::migrate!("./migrations").run(&main).await?;
        Ok(Sql {
            backend,
            main,
            components: Mutex::new(HashMap::new()),
        })
    }

    /// `postgres` or `sqlite`.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    /// The host's own database.
    pub fn main(&self) -> &AnyPool {
        &self.main
    }

    /// The pool of `component`'s database `name`, created on first use. Both names are
    /// validated identifiers (`[a-z0-9-_]`).
    pub async fn component_pool(&self, component: &str, name: &str) -> Result<AnyPool, StoreError> {
        let key = format!("{component}/{name}");
        let mut pools = self.components.lock().await;
        if let Some(pool) = pools.get(&key) {
            return Ok(pool.clone());
        }
        let ident = |s: &str| -> Result<String, StoreError> {
            if !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            {
                Ok(s.replace('-', "_"))
            } else {
                Err(StoreError::Invalid(format!(
                    "{s:?} is not a valid database name"
                )))
            }
        };
        let (component_id, db_id) = (ident(component)?, ident(name)?);
        let pool = match &self.backend {
            Backend::Sqlite { dir } => {
                sqlite_pool(&dir.join(format!("{component_id}__{db_id}.db"))).await?
            }
            Backend::Postgres { url, database } => {
                let schema = format!("c_{component_id}__{db_id}");
                let role = ComponentRole::derive(url, database, &component_id, &db_id);
                // Once per pool, not in after_connect: provisioning takes locks and catalog
                // scans that every new connection need not repeat.
                sql_roles::provision(url, &schema, &role).await?;
                let mut options = AnyConnectOptions::from_str(url)?;
                options
                    .database_url
                    .set_username(&role.name)
                    .and_then(|()| options.database_url.set_password(Some(&role.password)))
                    .map_err(|()| {
                        StoreError::Invalid("DATABASE_URL cannot carry a user name".into())
                    })?;
                let set_path = format!("SET search_path TO {schema}");
                AnyPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(5))
                    .after_connect(move |conn, _| {
                        let set_path = set_path.clone();
                        Box::pin(async move {
                            conn.execute(set_path.as_str()).await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
        };
        pools.insert(key, pool.clone());
        Ok(pool)
    }

    /// Runs `statement` with positional `?` parameters on `pool`.
    pub async fn execute(
        &self,
        pool: &AnyPool,
        statement: &str,
        params: Vec<SqlValue>,
    ) -> Result<Rows, StoreError> {
        let statement = match self.backend {
            Backend::Sqlite { .. } => statement.to_string(),
            Backend::Postgres { .. } => numbered_placeholders(statement),
        };
        let mut query = sqlx::query(&statement);
        for p in params {
            query = match p {
                SqlValue::Integer(i) => query.bind(i),
                SqlValue::Real(f) => query.bind(f),
                SqlValue::Text(t) => query.bind(t),
                SqlValue::Blob(b) => query.bind(b),
                SqlValue::Null => query.bind(Option::<String>::None),
            };
        }
        // One connection for the statement and, after an insert on SQLite, the row-id query:
        // `last_insert_rowid()` is per connection, and sqlx's `Any` driver does not report it.
        let mut conn = pool.acquire().await?;
        let mut columns = Vec::new();
        let mut rows = Vec::new();
        let mut changes = 0;
        {
            // The stream carries the rows and then the statement's result (rows changed),
            // which `fetch_all` would drop.
            let mut stream = (&mut *conn).fetch_many(query);
            while let Some(item) = futures_util::StreamExt::next(&mut stream).await {
                let item = item.map_err(|e| {
                    if matches!(self.backend, Backend::Sqlite { .. })
                        && sqlite_confine::is_refusal(&e)
                    {
                        StoreError::Invalid(sqlite_confine::REFUSED.to_string())
                    } else {
                        StoreError::Sql(e)
                    }
                })?;
                match item {
                    sqlx::Either::Left(done) => changes += done.rows_affected(),
                    sqlx::Either::Right(row) => {
                        if columns.is_empty() {
                            columns = row.columns().iter().map(|c| c.name().to_string()).collect();
                        }
                        rows.push(decode_row(&row)?);
                    }
                }
            }
        }
        let inserts = {
            let head = statement.trim_start().get(..7).unwrap_or_default();
            head.eq_ignore_ascii_case("insert ") || head.eq_ignore_ascii_case("replace")
        };
        let last_insert_rowid = match self.backend {
            Backend::Sqlite { .. } if changes > 0 && inserts => Some(
                sqlx::query_scalar::<_, i64>("SELECT last_insert_rowid()")
                    .fetch_one(&mut *conn)
                    .await?,
            ),
            _ => None,
        };
        Ok(Rows {
            columns,
            rows,
            changes,
            last_insert_rowid,
        })
    }

    /// Round-trips the main database.
    pub async fn probe(&self) -> Probe {
        let start = Instant::now();
        let result = match tokio::time::timeout(PROBE_TIMEOUT, self.main.execute("SELECT 1")).await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Sql(e)),
            Err(_) => Err(StoreError::Invalid("no answer within 2s".into())),
        };
        Probe::from_result(self.backend(), start.elapsed(), result)
    }
}

fn decode_row(row: &AnyRow) -> Result<Vec<SqlValue>, StoreError> {
    (0..row.columns().len())
        .map(|i| {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                return Ok(SqlValue::Null);
            }
            let type_name = raw.type_info().name().to_ascii_uppercase();
            Ok(match type_name.as_str() {
                "BOOLEAN" | "BOOL" => SqlValue::Integer(i64::from(row.try_get::<bool, _>(i)?)),
                "SMALLINT" | "INTEGER" | "BIGINT" | "INT2" | "INT4" | "INT8" => {
                    SqlValue::Integer(row.try_get::<i64, _>(i)?)
                }
                "REAL" | "DOUBLE" | "FLOAT4" | "FLOAT8" => {
                    SqlValue::Real(row.try_get::<f64, _>(i)?)
                }
                "BLOB" | "BYTEA" => SqlValue::Blob(row.try_get::<Vec<u8>, _>(i)?),
                _ => SqlValue::Text(row.try_get::<String, _>(i)?),
            })
        })
        .collect()
}

/// Rewrites `?` placeholders as Postgres's `$1, $2, …`, leaving quoted text alone.
pub(crate) fn numbered_placeholders(statement: &str) -> String {
    let mut out = String::with_capacity(statement.len() + 8);
    let mut n = 0;
    let mut quote: Option<char> = None;
    for c in statement.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                out.push(c);
            }
            (None, '?') => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::numbered_placeholders;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered_placeholders("SELECT a FROM t WHERE b = ? AND c = '?' AND d = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d = $2"
        );
    }
}
