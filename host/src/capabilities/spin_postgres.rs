//! `fermyon:spin/postgres@2.0.0`: Spin's Postgres interface. A component opens the address it
//! names (`postgres://user@host:port/db`), which must be in its `allowed_outbound_hosts`;
//! pools are shared per address, as Spin shares them. Values map as spin-sdk documents:
//! BOOL, INT2/4/8, FLOAT4/8, TEXT/VARCHAR/CHAR/NAME and BYTEA; anything else reads as
//! `unsupported`. A `db-null` parameter is sent as a NULL of type text.
//!
//! Grant: the component's outbound grant (see [`super::outbound_http`]). State: the grant and
//! the host's pools by address. Resources: open connections ([`PgConnection`]).

use std::time::Duration;

use sqlx::postgres::{PgArguments, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Column, PgPool, Postgres, Row, TypeInfo, ValueRef};
use wasmtime::component::{Linker, Resource};

use super::base::{HasView, View};
use super::by_address::{AddressState, ByAddress};
use crate::bindings::fermyon::spin::postgres::{self, Host, HostConnection};
use crate::bindings::fermyon::spin::rdbms_types::{
    self, Column as WitColumn, DbDataType, DbValue, Error, ParameterValue, RowSet,
};

/// An open connection: a handle on the shared pool of its address.
pub struct PgConnection {
    pool: PgPool,
}

/// The pools of every component, by address (at most 16 addresses per host).
pub type PostgresClients = ByAddress<PgPool, 16>;

/// Spin's Postgres capability of one instance.
pub type PostgresState = AddressState<PostgresClients>;

/// What the Postgres traits are implemented on.
pub type PostgresView<'a> = View<'a, PostgresState>;

/// Links `fermyon:spin/postgres@2.0.0` and the `rdbms-types` it uses.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> PostgresView<'_>,
) -> wasmtime::Result<()> {
    rdbms_types::add_to_linker::<T, HasView<PostgresState>>(linker, get)?;
    postgres::add_to_linker::<T, HasView<PostgresState>>(linker, get)
}

async fn pool(clients: &PostgresClients, address: &str) -> Result<PgPool, Error> {
    clients
        .get(
            address,
            |max| {
                Error::ConnectionFailed(format!(
                    "this host already keeps pools for {max} Postgres addresses"
                ))
            },
            || async {
                PgPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect(address)
                    .await
                    .map_err(|e| Error::ConnectionFailed(e.to_string()))
            },
        )
        .await
}

fn bind<'q>(
    mut query: Query<'q, Postgres, PgArguments>,
    params: Vec<ParameterValue>,
) -> Result<Query<'q, Postgres, PgArguments>, Error> {
    for (i, p) in params.into_iter().enumerate() {
        query = match p {
            ParameterValue::Boolean(v) => query.bind(v),
            // Postgres has no one-byte integer: the narrowest column type is INT2.
            ParameterValue::Int8(v) => query.bind(i16::from(v)),
            ParameterValue::Int16(v) => query.bind(v),
            ParameterValue::Int32(v) => query.bind(v),
            ParameterValue::Int64(v) => query.bind(v),
            ParameterValue::Uint8(v) => query.bind(i16::from(v)),
            ParameterValue::Uint16(v) => query.bind(i32::from(v)),
            ParameterValue::Uint32(v) => query.bind(i64::from(v)),
            ParameterValue::Uint64(v) => query.bind(i64::try_from(v).map_err(|_| {
                Error::BadParameter(format!(
                    "parameter ${}: {v} does not fit a Postgres BIGINT",
                    i + 1
                ))
            })?),
            ParameterValue::Floating32(v) => query.bind(v),
            ParameterValue::Floating64(v) => query.bind(v),
            ParameterValue::Str(v) => query.bind(v),
            ParameterValue::Binary(v) => query.bind(v),
            ParameterValue::DbNull => query.bind(None::<String>),
        };
    }
    Ok(query)
}

fn data_type(name: &str) -> DbDataType {
    match name {
        "BOOL" => DbDataType::Boolean,
        "INT2" => DbDataType::Int16,
        "INT4" => DbDataType::Int32,
        "INT8" => DbDataType::Int64,
        "FLOAT4" => DbDataType::Floating32,
        "FLOAT8" => DbDataType::Floating64,
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => DbDataType::Str,
        "BYTEA" => DbDataType::Binary,
        _ => DbDataType::Other,
    }
}

fn value(row: &PgRow, i: usize, ty: DbDataType) -> Result<DbValue, Error> {
    let raw = row
        .try_get_raw(i)
        .map_err(|e| Error::ValueConversionFailed(e.to_string()))?;
    if raw.is_null() {
        return Ok(DbValue::DbNull);
    }
    let failed = |e: sqlx::Error| Error::ValueConversionFailed(format!("column {i}: {e}"));
    Ok(match ty {
        DbDataType::Boolean => DbValue::Boolean(row.try_get(i).map_err(failed)?),
        DbDataType::Int16 => DbValue::Int16(row.try_get(i).map_err(failed)?),
        DbDataType::Int32 => DbValue::Int32(row.try_get(i).map_err(failed)?),
        DbDataType::Int64 => DbValue::Int64(row.try_get(i).map_err(failed)?),
        DbDataType::Floating32 => DbValue::Floating32(row.try_get(i).map_err(failed)?),
        DbDataType::Floating64 => DbValue::Floating64(row.try_get(i).map_err(failed)?),
        DbDataType::Str => DbValue::Str(row.try_get(i).map_err(failed)?),
        DbDataType::Binary => DbValue::Binary(row.try_get(i).map_err(failed)?),
        _ => DbValue::Unsupported,
    })
}

/// `host[:port]` of a connection URL, without user, password, database or options.
fn destination(address: &str) -> &str {
    let rest = address.split_once("://").map_or(address, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

fn query_failed(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::Database(db) => Error::QueryFailed(db.message().to_string()),
        other => Error::QueryFailed(other.to_string()),
    }
}

impl Host for PostgresView<'_> {}

impl rdbms_types::Host for PostgresView<'_> {}

impl HostConnection for PostgresView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        if !self.state.allows("postgres", &address) {
            // Spin's words, naming the destination without the credentials.
            return Ok(Err(Error::ConnectionFailed(format!(
                "address postgres://{} is not permitted",
                destination(&address)
            ))));
        }
        let pool = match pool(self.state.clients(), &address).await {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self
            .table
            .push(PgConnection { pool })
            .map_err(|e| Error::Other(e.to_string())))
    }

    async fn query(
        &mut self,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let pool = self.table.get(&conn)?.pool.clone();
        let query = match bind(sqlx::query(&statement), params) {
            Ok(q) => q,
            Err(e) => return Ok(Err(e)),
        };
        let rows = match query.fetch_all(&pool).await {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(query_failed(e))),
        };
        let columns: Vec<WitColumn> = match rows.first() {
            Some(first) => first
                .columns()
                .iter()
                .map(|c| WitColumn {
                    name: c.name().to_string(),
                    data_type: data_type(c.type_info().name()),
                })
                .collect(),
            None => Vec::new(),
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut values = Vec::with_capacity(columns.len());
            for (i, c) in columns.iter().enumerate() {
                match value(row, i, c.data_type) {
                    Ok(v) => values.push(v),
                    Err(e) => return Ok(Err(e)),
                }
            }
            out.push(values);
        }
        Ok(Ok(RowSet { columns, rows: out }))
    }

    async fn execute(
        &mut self,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let pool = self.table.get(&conn)?.pool.clone();
        let query = match bind(sqlx::query(&statement), params) {
            Ok(q) => q,
            Err(e) => return Ok(Err(e)),
        };
        Ok(query
            .execute(&pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(query_failed))
    }

    async fn drop(&mut self, conn: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::destination;

    #[test]
    fn the_destination_leaves_out_credentials_database_and_options() {
        assert_eq!(
            destination("postgres://u:p@db.internal:5433/test?sslmode=disable"),
            "db.internal:5433"
        );
        assert_eq!(destination("postgres://db.internal/test"), "db.internal");
        assert_eq!(destination("postgresql://u@[::1]:5432"), "[::1]:5432");
    }
}
