//! `fermyon:spin/postgres@2.0.0` (spin-sdk's `pg`) and the `rdbms-types` it uses: `@4`'s
//! booleans, integers, floats, strings and bytes. As in Spin, an unsigned parameter is refused
//! (Postgres has no unsigned integers) and any other column type reads as `unsupported`.

use wasmtime::component::{Linker, Resource};

use super::v3::query_error_text;
use super::{PgConnection, PostgresState, PostgresView, values};
use crate::bindings::fermyon::spin::postgres::{self, Host, HostConnection};
use crate::bindings::fermyon::spin::rdbms_types::{
    self, Column, DbDataType, DbValue, Error, ParameterValue, RowSet,
};
use crate::capabilities::base::HasView;
use crate::wasi_bindings::spin::postgres4_1_0::postgres as v4;

pub(super) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> PostgresView<'_>,
) -> wasmtime::Result<()> {
    rdbms_types::add_to_linker::<T, HasView<PostgresState>>(linker, get)?;
    postgres::add_to_linker::<T, HasView<PostgresState>>(linker, get)
}

fn error(e: v4::Error) -> Error {
    match e {
        v4::Error::ConnectionFailed(m) => Error::ConnectionFailed(m),
        v4::Error::BadParameter(m) => Error::BadParameter(m),
        v4::Error::QueryFailed(q) => Error::QueryFailed(query_error_text(q)),
        v4::Error::ValueConversionFailed(m) => Error::ValueConversionFailed(m),
        v4::Error::Other(m) => Error::Other(m),
    }
}

fn params(params: Vec<ParameterValue>) -> Result<Vec<v4::ParameterValue>, Error> {
    params
        .into_iter()
        .map(|p| {
            Ok(match p {
                ParameterValue::Boolean(v) => v4::ParameterValue::Boolean(v),
                ParameterValue::Int8(v) => v4::ParameterValue::Int8(v),
                ParameterValue::Int16(v) => v4::ParameterValue::Int16(v),
                ParameterValue::Int32(v) => v4::ParameterValue::Int32(v),
                ParameterValue::Int64(v) => v4::ParameterValue::Int64(v),
                ParameterValue::Uint8(_)
                | ParameterValue::Uint16(_)
                | ParameterValue::Uint32(_)
                | ParameterValue::Uint64(_) => {
                    return Err(Error::ValueConversionFailed(
                        "Postgres does not support unsigned integers".into(),
                    ));
                }
                ParameterValue::Floating32(v) => v4::ParameterValue::Floating32(v),
                ParameterValue::Floating64(v) => v4::ParameterValue::Floating64(v),
                ParameterValue::Str(v) => v4::ParameterValue::Str(v),
                ParameterValue::Binary(v) => v4::ParameterValue::Binary(v),
                ParameterValue::DbNull => v4::ParameterValue::DbNull,
            })
        })
        .collect()
}

fn data_type(t: v4::DbDataType) -> DbDataType {
    match t {
        v4::DbDataType::Boolean => DbDataType::Boolean,
        v4::DbDataType::Int8 => DbDataType::Int8,
        v4::DbDataType::Int16 => DbDataType::Int16,
        v4::DbDataType::Int32 => DbDataType::Int32,
        v4::DbDataType::Int64 => DbDataType::Int64,
        v4::DbDataType::Floating32 => DbDataType::Floating32,
        v4::DbDataType::Floating64 => DbDataType::Floating64,
        v4::DbDataType::Str => DbDataType::Str,
        v4::DbDataType::Binary => DbDataType::Binary,
        _ => DbDataType::Other,
    }
}

fn value(v: v4::DbValue) -> DbValue {
    match v {
        v4::DbValue::Boolean(v) => DbValue::Boolean(v),
        v4::DbValue::Int8(v) => DbValue::Int8(v),
        v4::DbValue::Int16(v) => DbValue::Int16(v),
        v4::DbValue::Int32(v) => DbValue::Int32(v),
        v4::DbValue::Int64(v) => DbValue::Int64(v),
        v4::DbValue::Floating32(v) => DbValue::Floating32(v),
        v4::DbValue::Floating64(v) => DbValue::Floating64(v),
        v4::DbValue::Str(v) => DbValue::Str(v),
        v4::DbValue::Binary(v) => DbValue::Binary(v),
        v4::DbValue::DbNull => DbValue::DbNull,
        _ => DbValue::Unsupported,
    }
}

fn row_set(r: v4::RowSet) -> RowSet {
    let (columns, rows) = values::convert_rows(
        r,
        |name, t| Column {
            name,
            data_type: data_type(t),
        },
        value,
    );
    RowSet { columns, rows }
}

impl Host for PostgresView<'_> {}

impl rdbms_types::Host for PostgresView<'_> {}

impl HostConnection for PostgresView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        Ok(self.connect(&address, None).await.map_err(error))
    }

    async fn query(
        &mut self,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let params = match self::params(params) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
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
    ) -> wasmtime::Result<Result<u64, Error>> {
        let params = match self::params(params) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        Ok(values::execute(self.connection(&conn)?, &statement, params)
            .await
            .map_err(error))
    }

    async fn drop(&mut self, conn: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.close(conn)
    }
}
