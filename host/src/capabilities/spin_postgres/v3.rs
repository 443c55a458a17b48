//! `spin:postgres/postgres@3.0.0` (spin-sdk's `pg3`): `@4` without UUID, JSONB, decimal,
//! range, array and interval values. As in Spin, a column of one of those types reads as
//! `unsupported` (its type as `other`), and a failed statement's error is its text.

use wasmtime::component::{Linker, Resource};

use super::{PgConnection, PostgresState, PostgresView, values};
use crate::capabilities::base::HasView;
use crate::wasi_bindings::spin::postgres3_0_0::postgres::{
    self as v3, Host, HostConnection, ParameterValue, RowSet,
};
use crate::wasi_bindings::spin::postgres4_1_0::postgres as v4;

pub(super) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> PostgresView<'_>,
) -> wasmtime::Result<()> {
    v3::add_to_linker::<T, HasView<PostgresState>>(linker, get)
}

/// The text of a failed statement, as the versions before `@4` report it.
pub(super) fn query_error_text(e: v4::QueryError) -> String {
    match e {
        v4::QueryError::Text(text) => text,
        v4::QueryError::DbError(e) => e.as_text,
    }
}

fn error(e: v4::Error) -> v3::Error {
    match e {
        v4::Error::ConnectionFailed(m) => v3::Error::ConnectionFailed(m),
        v4::Error::BadParameter(m) => v3::Error::BadParameter(m),
        v4::Error::QueryFailed(q) => v3::Error::QueryFailed(query_error_text(q)),
        v4::Error::ValueConversionFailed(m) => v3::Error::ValueConversionFailed(m),
        v4::Error::Other(m) => v3::Error::Other(m),
    }
}

fn param(p: ParameterValue) -> v4::ParameterValue {
    match p {
        ParameterValue::Boolean(v) => v4::ParameterValue::Boolean(v),
        ParameterValue::Int8(v) => v4::ParameterValue::Int8(v),
        ParameterValue::Int16(v) => v4::ParameterValue::Int16(v),
        ParameterValue::Int32(v) => v4::ParameterValue::Int32(v),
        ParameterValue::Int64(v) => v4::ParameterValue::Int64(v),
        ParameterValue::Floating32(v) => v4::ParameterValue::Floating32(v),
        ParameterValue::Floating64(v) => v4::ParameterValue::Floating64(v),
        ParameterValue::Str(v) => v4::ParameterValue::Str(v),
        ParameterValue::Binary(v) => v4::ParameterValue::Binary(v),
        ParameterValue::Date(v) => v4::ParameterValue::Date(v),
        ParameterValue::Time(v) => v4::ParameterValue::Time(v),
        ParameterValue::Datetime(v) => v4::ParameterValue::Datetime(v),
        ParameterValue::Timestamp(v) => v4::ParameterValue::Timestamp(v),
        ParameterValue::DbNull => v4::ParameterValue::DbNull,
    }
}

fn data_type(t: v4::DbDataType) -> v3::DbDataType {
    match t {
        v4::DbDataType::Boolean => v3::DbDataType::Boolean,
        v4::DbDataType::Int8 => v3::DbDataType::Int8,
        v4::DbDataType::Int16 => v3::DbDataType::Int16,
        v4::DbDataType::Int32 => v3::DbDataType::Int32,
        v4::DbDataType::Int64 => v3::DbDataType::Int64,
        v4::DbDataType::Floating32 => v3::DbDataType::Floating32,
        v4::DbDataType::Floating64 => v3::DbDataType::Floating64,
        v4::DbDataType::Str => v3::DbDataType::Str,
        v4::DbDataType::Binary => v3::DbDataType::Binary,
        v4::DbDataType::Date => v3::DbDataType::Date,
        v4::DbDataType::Time => v3::DbDataType::Time,
        v4::DbDataType::Datetime => v3::DbDataType::Datetime,
        v4::DbDataType::Timestamp => v3::DbDataType::Timestamp,
        _ => v3::DbDataType::Other,
    }
}

fn value(v: v4::DbValue) -> v3::DbValue {
    match v {
        v4::DbValue::Boolean(v) => v3::DbValue::Boolean(v),
        v4::DbValue::Int8(v) => v3::DbValue::Int8(v),
        v4::DbValue::Int16(v) => v3::DbValue::Int16(v),
        v4::DbValue::Int32(v) => v3::DbValue::Int32(v),
        v4::DbValue::Int64(v) => v3::DbValue::Int64(v),
        v4::DbValue::Floating32(v) => v3::DbValue::Floating32(v),
        v4::DbValue::Floating64(v) => v3::DbValue::Floating64(v),
        v4::DbValue::Str(v) => v3::DbValue::Str(v),
        v4::DbValue::Binary(v) => v3::DbValue::Binary(v),
        v4::DbValue::Date(v) => v3::DbValue::Date(v),
        v4::DbValue::Time(v) => v3::DbValue::Time(v),
        v4::DbValue::Datetime(v) => v3::DbValue::Datetime(v),
        v4::DbValue::Timestamp(v) => v3::DbValue::Timestamp(v),
        v4::DbValue::DbNull => v3::DbValue::DbNull,
        _ => v3::DbValue::Unsupported,
    }
}

fn row_set(r: v4::RowSet) -> RowSet {
    let (columns, rows) = values::convert_rows(
        r,
        |name, t| v3::Column {
            name,
            data_type: data_type(t),
        },
        value,
    );
    RowSet { columns, rows }
}

impl Host for PostgresView<'_> {}

impl HostConnection for PostgresView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, v3::Error>> {
        Ok(self.connect(&address, None).await.map_err(error))
    }

    async fn query(
        &mut self,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, v3::Error>> {
        let params = params.into_iter().map(param).collect();
        Ok(values::query(self.connection(&conn)?, &statement, params)
            .await
            .map(row_set)
            .map_err(error))
    }

    async fn execute(
        &mut self,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, v3::Error>> {
        let params = params.into_iter().map(param).collect();
        Ok(values::execute(self.connection(&conn)?, &statement, params)
            .await
            .map_err(error))
    }

    async fn drop(&mut self, conn: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.close(conn)
    }
}
