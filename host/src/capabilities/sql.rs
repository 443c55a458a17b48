//! `fermyon:spin/sqlite`: SQL on the component's own database (a SQLite file, or a Postgres
//! schema when `DATABASE_URL` is set), granted by name in the manifest.

use sqlx::AnyPool;
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::sqlite::{
    Error, Host, HostConnection, QueryResult, RowResult, Value,
};
use crate::runtime::HostState;
use crate::store::sql::SqlValue;

/// Longest statement.
pub const MAX_STATEMENT_BYTES: usize = 64 * 1024;

/// An open connection: the pool of the component's database.
pub struct SqlConnection {
    pool: AnyPool,
}

impl HostConnection for HostState {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqlConnection>, Error>> {
        if !self.component.sqlite_databases.contains(&database) {
            return Ok(Err(Error::AccessDenied));
        }
        let pool = match self
            .platform
            .sql
            .component_pool(&self.component.name, &database)
            .await
        {
            Ok(pool) => pool,
            Err(e) => return Ok(Err(Error::Io(e.to_string()))),
        };
        Ok(match self.table.push(SqlConnection { pool }) {
            Ok(conn) => Ok(conn),
            Err(e) => Err(Error::Io(e.to_string())),
        })
    }

    async fn execute(
        &mut self,
        conn: Resource<SqlConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        if statement.len() > MAX_STATEMENT_BYTES {
            return Ok(Err(Error::Io(format!(
                "statement is {} bytes; the limit is {MAX_STATEMENT_BYTES}",
                statement.len()
            ))));
        }
        let pool = self.table.get(&conn)?.pool.clone();
        let params = parameters
            .into_iter()
            .map(|v| match v {
                Value::Integer(i) => SqlValue::Integer(i),
                Value::Real(f) => SqlValue::Real(f),
                Value::Text(t) => SqlValue::Text(t),
                Value::Blob(b) => SqlValue::Blob(b),
                Value::Null => SqlValue::Null,
            })
            .collect();
        Ok(
            match self.platform.sql.execute(&pool, &statement, params).await {
                Ok(rows) => Ok(QueryResult {
                    columns: rows.columns,
                    rows: rows
                        .rows
                        .into_iter()
                        .map(|row| RowResult {
                            values: row
                                .into_iter()
                                .map(|v| match v {
                                    SqlValue::Integer(i) => Value::Integer(i),
                                    SqlValue::Real(f) => Value::Real(f),
                                    SqlValue::Text(t) => Value::Text(t),
                                    SqlValue::Blob(b) => Value::Blob(b),
                                    SqlValue::Null => Value::Null,
                                })
                                .collect(),
                        })
                        .collect(),
                }),
                Err(e) => Err(Error::Io(e.to_string())),
            },
        )
    }

    async fn drop(&mut self, conn: Resource<SqlConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

impl Host for HostState {}
