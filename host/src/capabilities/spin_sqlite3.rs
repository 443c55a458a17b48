//! `spin:sqlite/sqlite@3.0.0`, spin-sdk's `sqlite3` module: the same databases and grants as
//! `fermyon:spin/sqlite@2.0.0`, plus what the last statement changed. On Postgres,
//! `last-insert-rowid` stays 0 (Postgres has no row ids; use `RETURNING`).

use wasmtime::component::{Linker, Resource};

use super::base::HasView;
use super::sql::{SqlConnection, SqlFailure, SqlState, SqlView};
use crate::store::sql::SqlValue;
use crate::wasi_bindings::spin::sqlite::sqlite::{
    self, Error, Host, HostConnection, QueryResult, Value,
};

/// Links `spin:sqlite/sqlite@3.0.0` over the SQL capability's state.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> SqlView<'_>,
) -> wasmtime::Result<()> {
    sqlite::add_to_linker::<T, HasView<SqlState>>(linker, get)
}

fn error(f: SqlFailure) -> Error {
    match f {
        SqlFailure::Denied => Error::AccessDenied,
        SqlFailure::Io(m) => Error::Io(m),
    }
}

super::sql::sqlite_types!(crate::wasi_bindings::spin::sqlite::sqlite);

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

    async fn last_insert_rowid(&mut self, conn: Resource<SqlConnection>) -> wasmtime::Result<i64> {
        Ok(self.table.get(&conn)?.last_insert_rowid)
    }

    async fn changes(&mut self, conn: Resource<SqlConnection>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&conn)?.changes)
    }

    async fn drop(&mut self, conn: Resource<SqlConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

impl Host for SqlView<'_> {}
