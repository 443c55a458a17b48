//! `fermyon:spin/sqlite@2.0.0` (and the shared plumbing of `spin:sqlite@3.0.0`, in
//! [`super::spin_sqlite3`]): SQL on the component's own database (a SQLite file, or a Postgres
//! schema when `DATABASE_URL` is set), granted by name in the manifest.
//!
//! Grant: the names in `sqlite_databases`. State: the grant and the SQL backend. Resources:
//! open connections ([`SqlConnection`]), shared with `spin:sqlite@3`.

use std::sync::Arc;

use sqlx::AnyPool;
use wasmtime::component::{Linker, Resource};

use super::base::{Declared, HasView, Names, Shared, View};
use crate::bindings::fermyon::spin::sqlite::{
    self, Error, Host, HostConnection, QueryResult, Value,
};
use crate::store::sql::{Rows, Sql, SqlValue};

/// Longest statement.
pub const MAX_STATEMENT_BYTES: usize = 64 * 1024;

/// An open connection: the pool of the component's database, and what the last statement on
/// it changed (for `spin:sqlite@3`'s `changes` and `last-insert-rowid`).
pub struct SqlConnection {
    pool: AnyPool,
    pub(crate) changes: u64,
    pub(crate) last_insert_rowid: i64,
}

/// Why a SQL call failed, before each interface puts it in its own error type.
pub(crate) enum SqlFailure {
    Denied,
    Io(String),
}

/// The SQL capability of one instance (both Spin SQLite interfaces): the databases the
/// manifest grants, over the backend.
#[derive(Clone)]
pub struct SqlState {
    grant: Arc<Names>,
    backend: Shared<Sql>,
}

impl SqlState {
    /// The grant of `declared` over `backend`.
    pub fn new(declared: &Declared<'_>, backend: Shared<Sql>) -> SqlState {
        let grant = Names::new(declared.name, &declared.decl.sqlite_databases);
        SqlState { grant, backend }
    }
}

/// What the SQLite traits (`@2.0.0` and `@3.0.0`) are implemented on.
pub type SqlView<'a> = View<'a, SqlState>;

/// Links `fermyon:spin/sqlite@2.0.0`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> SqlView<'_>,
) -> wasmtime::Result<()> {
    sqlite::add_to_linker::<T, HasView<SqlState>>(linker, get)
}

impl SqlView<'_> {
    /// Opens the database `database` if the manifest grants it to this component.
    pub(crate) async fn sql_open(
        &mut self,
        database: &str,
    ) -> Result<Resource<SqlConnection>, SqlFailure> {
        let grant = &self.state.grant;
        if !grant.allows(database) {
            return Err(SqlFailure::Denied);
        }
        let pool = self
            .state
            .backend
            .component_pool(grant.component(), database)
            .await
            .map_err(|e| SqlFailure::Io(e.to_string()))?;
        self.table
            .push(SqlConnection {
                pool,
                changes: 0,
                last_insert_rowid: 0,
            })
            .map_err(|e| SqlFailure::Io(e.to_string()))
    }

    /// Runs `statement` on `conn` and remembers what it changed.
    pub(crate) async fn sql_execute(
        &mut self,
        conn: &Resource<SqlConnection>,
        statement: &str,
        params: Vec<SqlValue>,
    ) -> wasmtime::Result<Result<Rows, SqlFailure>> {
        if statement.len() > MAX_STATEMENT_BYTES {
            return Ok(Err(SqlFailure::Io(format!(
                "statement is {} bytes; the limit is {MAX_STATEMENT_BYTES}",
                statement.len()
            ))));
        }
        let pool = self.table.get(conn)?.pool.clone();
        let rows = match self.state.backend.execute(&pool, statement, params).await {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(SqlFailure::Io(e.to_string()))),
        };
        let c = self.table.get_mut(conn)?;
        c.changes = rows.changes;
        if let Some(id) = rows.last_insert_rowid {
            c.last_insert_rowid = id;
        }
        Ok(Ok(rows))
    }
}

fn error(f: SqlFailure) -> Error {
    match f {
        SqlFailure::Denied => Error::AccessDenied,
        SqlFailure::Io(m) => Error::Io(m),
    }
}

impl HostConnection for SqlView<'_> {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqlConnection>, Error>> {
        Ok(self.sql_open(&database).await.map_err(error))
    }

    async fn execute(
        &mut self,
        conn: Resource<SqlConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let params = parameters.into_iter().map(SqlValue::from).collect();
        Ok(self
            .sql_execute(&conn, &statement, params)
            .await?
            .map(query_result)
            .map_err(error))
    }

    async fn drop(&mut self, conn: Resource<SqlConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

impl Host for SqlView<'_> {}

/// Conversions between a Spin SQLite interface's `value` and `query-result` and the store's
/// rows. `fermyon:spin/sqlite@2.0.0` and `spin:sqlite/sqlite@3.0.0` declare the same types, but
/// each binding has its own: one definition serves both.
macro_rules! sqlite_types {
    ($module:path) => {
        mod sqlite_conversions {
            use crate::store::sql::{Rows, SqlValue};
            use $module::{QueryResult, RowResult, Value};

            impl From<Value> for SqlValue {
                fn from(v: Value) -> SqlValue {
                    match v {
                        Value::Integer(i) => SqlValue::Integer(i),
                        Value::Real(f) => SqlValue::Real(f),
                        Value::Text(t) => SqlValue::Text(t),
                        Value::Blob(b) => SqlValue::Blob(b),
                        Value::Null => SqlValue::Null,
                    }
                }
            }

            impl From<SqlValue> for Value {
                fn from(v: SqlValue) -> Value {
                    match v {
                        SqlValue::Integer(i) => Value::Integer(i),
                        SqlValue::Real(f) => Value::Real(f),
                        SqlValue::Text(t) => Value::Text(t),
                        SqlValue::Blob(b) => Value::Blob(b),
                        SqlValue::Null => Value::Null,
                    }
                }
            }

            pub(super) fn query_result(rows: Rows) -> QueryResult {
                QueryResult {
                    columns: rows.columns,
                    rows: rows
                        .rows
                        .into_iter()
                        .map(|row| RowResult {
                            values: row.into_iter().map(Value::from).collect(),
                        })
                        .collect(),
                }
            }
        }
        use sqlite_conversions::query_result;
    };
}
pub(crate) use sqlite_types;

sqlite_types!(crate::bindings::fermyon::spin::sqlite);
