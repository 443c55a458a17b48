//! `spin:postgres@4`'s values on the wire, as Spin maps them (its `factor-outbound-pg`):
//! which Rust type each parameter is sent as, which value each column type is read as, and how
//! a server error is reported. The older versions convert to and from these.
//!
//! Read by column type: BOOL, INT2/4/8, FLOAT4/8, TEXT/VARCHAR/BPCHAR, BYTEA, DATE, TIME,
//! TIMESTAMP and TIMESTAMPTZ (both as `datetime`, in UTC), UUID, JSONB, NUMERIC, INT4RANGE,
//! INT8RANGE, NUMRANGE, INT4[], INT8[], NUMERIC[], TEXT[]/VARCHAR[]/BPCHAR[] and INTERVAL;
//! anything else is `unsupported` with the value's binary encoding, and its column type is
//! `other(<type name>)`. A row set's columns are those of its first row (none when empty).

use std::ops::Bound;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use rust_decimal::Decimal;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::{Oid, PgInterval, PgRange};
use sqlx::postgres::{
    PgArgumentBuffer, PgArguments, PgConnection, PgDatabaseError, PgRow, PgSeverity, PgTypeInfo,
};
use sqlx::query::Query;
use sqlx::{Column, Decode, Postgres, Row, TypeInfo, ValueRef};

use crate::wasi_bindings::spin::postgres4_1_0::postgres::{
    Column as WitColumn, DbDataType, DbError, DbValue, Error, Interval, ParameterValue, QueryError,
    RangeBoundKind, RowSet,
};

/// A NULL of no stated type: the server infers it from the statement, as it does for Spin's
/// `db-null` (which binds to a column of any type).
struct UntypedNull;

impl sqlx::Type<Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        // OID 0: "unspecified" in the extended query protocol.
        PgTypeInfo::with_oid(Oid(0))
    }
}

impl sqlx::Encode<'_, Postgres> for UntypedNull {
    fn encode_by_ref(&self, _: &mut PgArgumentBuffer) -> Result<sqlx::encode::IsNull, BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// A range's lower and upper bounds as the WIT carries them (`none`: unbounded).
type WitRange<T> = (Option<(T, RangeBoundKind)>, Option<(T, RangeBoundKind)>);

fn range<T, U>(
    (lower, upper): WitRange<T>,
    convert: impl Fn(T) -> Result<U, String>,
) -> Result<PgRange<U>, String> {
    let bound = |b: Option<(T, RangeBoundKind)>| -> Result<Bound<U>, String> {
        Ok(match b {
            None => Bound::Unbounded,
            Some((v, RangeBoundKind::Inclusive)) => Bound::Included(convert(v)?),
            Some((v, RangeBoundKind::Exclusive)) => Bound::Excluded(convert(v)?),
        })
    };
    Ok(PgRange {
        start: bound(lower)?,
        end: bound(upper)?,
    })
}

fn decimal(v: &str) -> Result<Decimal, String> {
    Decimal::from_str_exact(v).map_err(|e| format!("invalid decimal {v}: {e}"))
}

fn date((y, m, d): (i32, u8, u8)) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into())
        .ok_or_else(|| format!("invalid date y={y}, m={m}, d={d}"))
}

fn time((h, min, s, ns): (u8, u8, u8, u32)) -> Result<NaiveTime, String> {
    NaiveTime::from_hms_nano_opt(h.into(), min.into(), s.into(), ns)
        .ok_or_else(|| format!("invalid time {h}:{min}:{s}:{ns}"))
}

/// Binds `params` in order, or says which one cannot be sent (Spin reports it as
/// `bad-parameter` from `query` and `value-conversion-failed` from `execute`).
pub(super) fn bind(
    mut query: PgQuery<'_>,
    params: Vec<ParameterValue>,
) -> Result<PgQuery<'_>, String> {
    for p in params {
        query = match p {
            ParameterValue::Boolean(v) => query.bind(v),
            // Sent as Postgres's one-byte `"char"`, as Spin sends it.
            ParameterValue::Int8(v) => query.bind(v),
            ParameterValue::Int16(v) => query.bind(v),
            ParameterValue::Int32(v) => query.bind(v),
            ParameterValue::Int64(v) => query.bind(v),
            ParameterValue::Floating32(v) => query.bind(v),
            ParameterValue::Floating64(v) => query.bind(v),
            ParameterValue::Str(v) => query.bind(v),
            ParameterValue::Binary(v) => query.bind(v),
            ParameterValue::Date(v) => query.bind(date(v)?),
            ParameterValue::Time(v) => query.bind(time(v)?),
            ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => {
                query.bind(NaiveDateTime::new(date((y, mo, d))?, time((h, mi, s, ns))?))
            }
            // Seconds since the epoch, as a TIMESTAMPTZ.
            ParameterValue::Timestamp(v) => query.bind(
                DateTime::<Utc>::from_timestamp(v, 0)
                    .ok_or_else(|| format!("invalid epoch timestamp {v}"))?,
            ),
            ParameterValue::Uuid(v) => {
                query.bind(uuid::Uuid::parse_str(&v).map_err(|e| format!("invalid UUID {v}: {e}"))?)
            }
            ParameterValue::Jsonb(v) => query.bind(
                serde_json::from_slice::<serde_json::Value>(&v)
                    .map_err(|e| format!("invalid JSON {}: {e}", String::from_utf8_lossy(&v)))?,
            ),
            ParameterValue::Decimal(v) => query.bind(decimal(&v)?),
            ParameterValue::RangeInt32(v) => query.bind(range(v, Ok)?),
            ParameterValue::RangeInt64(v) => query.bind(range(v, Ok)?),
            ParameterValue::RangeDecimal(v) => query.bind(range(v, |d: String| decimal(&d))?),
            ParameterValue::ArrayInt32(v) => query.bind(v),
            ParameterValue::ArrayInt64(v) => query.bind(v),
            ParameterValue::ArrayDecimal(v) => query.bind(
                v.iter()
                    .map(|d| d.as_deref().map(decimal).transpose())
                    .collect::<Result<Vec<Option<Decimal>>, String>>()?,
            ),
            ParameterValue::ArrayStr(v) => query.bind(v),
            ParameterValue::Interval(v) => query.bind(PgInterval {
                months: v.months,
                days: v.days,
                microseconds: v.micros,
            }),
            ParameterValue::DbNull => query.bind(UntypedNull),
        };
    }
    Ok(query)
}

// Type OIDs, fixed for Postgres's built-in types (pg_type.dat).
const BOOL: u32 = 16;
const BYTEA: u32 = 17;
const INT8: u32 = 20;
const INT2: u32 = 21;
const INT4: u32 = 23;
const TEXT: u32 = 25;
const FLOAT4: u32 = 700;
const FLOAT8: u32 = 701;
const INT4_ARRAY: u32 = 1007;
const TEXT_ARRAY: u32 = 1009;
const BPCHAR_ARRAY: u32 = 1014;
const VARCHAR_ARRAY: u32 = 1015;
const INT8_ARRAY: u32 = 1016;
const BPCHAR: u32 = 1042;
const VARCHAR: u32 = 1043;
const DATE: u32 = 1082;
const TIME: u32 = 1083;
const TIMESTAMP: u32 = 1114;
const TIMESTAMPTZ: u32 = 1184;
const INTERVAL: u32 = 1186;
const NUMERIC_ARRAY: u32 = 1231;
const NUMERIC: u32 = 1700;
const UUID: u32 = 2950;
const JSONB: u32 = 3802;
const INT4_RANGE: u32 = 3904;
const NUM_RANGE: u32 = 3906;
const INT8_RANGE: u32 = 3926;

/// Postgres's name of a type (`inet`, `_int2` for an array), as Spin reports it in `other`.
fn type_name(info: &PgTypeInfo) -> String {
    let name = info.name().trim_matches('"').to_ascii_lowercase();
    match name.strip_suffix("[]") {
        Some(element) => format!("_{element}"),
        None => name,
    }
}

fn data_type(info: &PgTypeInfo) -> DbDataType {
    match info.oid().map_or(0, |o| o.0) {
        BOOL => DbDataType::Boolean,
        BYTEA => DbDataType::Binary,
        FLOAT4 => DbDataType::Floating32,
        FLOAT8 => DbDataType::Floating64,
        INT2 => DbDataType::Int16,
        INT4 => DbDataType::Int32,
        INT8 => DbDataType::Int64,
        TEXT | VARCHAR | BPCHAR => DbDataType::Str,
        TIMESTAMP | TIMESTAMPTZ => DbDataType::Datetime,
        DATE => DbDataType::Date,
        TIME => DbDataType::Time,
        UUID => DbDataType::Uuid,
        JSONB => DbDataType::Jsonb,
        NUMERIC => DbDataType::Decimal,
        INT4_RANGE => DbDataType::RangeInt32,
        INT8_RANGE => DbDataType::RangeInt64,
        NUM_RANGE => DbDataType::RangeDecimal,
        INT4_ARRAY => DbDataType::ArrayInt32,
        INT8_ARRAY => DbDataType::ArrayInt64,
        NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        TEXT_ARRAY | VARCHAR_ARRAY | BPCHAR_ARRAY => DbDataType::ArrayStr,
        INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(type_name(info)),
    }
}

fn wit_range<T, U>(r: PgRange<T>, convert: impl Fn(T) -> U) -> WitRange<U> {
    let bound = |b: Bound<T>| match b {
        Bound::Included(v) => Some((convert(v), RangeBoundKind::Inclusive)),
        Bound::Excluded(v) => Some((convert(v), RangeBoundKind::Exclusive)),
        Bound::Unbounded => None,
    };
    (bound(r.start), bound(r.end))
}

fn wit_date(d: NaiveDate) -> (i32, u8, u8) {
    // Month and day always fit a byte.
    (d.year(), d.month() as u8, d.day() as u8)
}

fn wit_time(t: NaiveTime) -> (u8, u8, u8, u32) {
    (
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond(),
    )
}

fn wit_datetime(v: NaiveDateTime) -> (i32, u8, u8, u8, u8, u8, u32) {
    let (y, mo, d) = wit_date(v.date());
    let (h, mi, s, ns) = wit_time(v.time());
    (y, mo, d, h, mi, s, ns)
}

/// Column `i` of `row`, read as its type says.
fn value(row: &PgRow, i: usize) -> Result<DbValue, BoxDynError> {
    fn get<'r, T: Decode<'r, Postgres>>(row: &'r PgRow, i: usize) -> Result<T, BoxDynError> {
        // The column's type was matched by OID before this is called.
        Ok(row.try_get_unchecked::<T, _>(i)?)
    }
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(DbValue::DbNull);
    }
    let oid = raw.type_info().oid().map_or(0, |o| o.0);
    Ok(match oid {
        BOOL => DbValue::Boolean(get(row, i)?),
        BYTEA => DbValue::Binary(get(row, i)?),
        FLOAT4 => DbValue::Floating32(get(row, i)?),
        FLOAT8 => DbValue::Floating64(get(row, i)?),
        INT2 => DbValue::Int16(get(row, i)?),
        INT4 => DbValue::Int32(get(row, i)?),
        INT8 => DbValue::Int64(get(row, i)?),
        TEXT | VARCHAR | BPCHAR => DbValue::Str(get(row, i)?),
        TIMESTAMP => DbValue::Datetime(wit_datetime(get(row, i)?)),
        TIMESTAMPTZ => DbValue::Datetime(wit_datetime(get::<DateTime<Utc>>(row, i)?.naive_utc())),
        DATE => DbValue::Date(wit_date(get(row, i)?)),
        TIME => DbValue::Time(wit_time(get(row, i)?)),
        UUID => DbValue::Uuid(get::<uuid::Uuid>(row, i)?.to_string()),
        JSONB => DbValue::Jsonb(serde_json::to_vec(&get::<serde_json::Value>(row, i)?)?),
        NUMERIC => DbValue::Decimal(get::<Decimal>(row, i)?.to_string()),
        INT4_RANGE => DbValue::RangeInt32(wit_range(get::<PgRange<i32>>(row, i)?, |v| v)),
        INT8_RANGE => DbValue::RangeInt64(wit_range(get::<PgRange<i64>>(row, i)?, |v| v)),
        NUM_RANGE => DbValue::RangeDecimal(wit_range(get::<PgRange<Decimal>>(row, i)?, |d| {
            d.to_string()
        })),
        INT4_ARRAY => DbValue::ArrayInt32(get(row, i)?),
        INT8_ARRAY => DbValue::ArrayInt64(get(row, i)?),
        NUMERIC_ARRAY => DbValue::ArrayDecimal(
            get::<Vec<Option<Decimal>>>(row, i)?
                .into_iter()
                .map(|d| d.map(|d| d.to_string()))
                .collect(),
        ),
        TEXT_ARRAY | VARCHAR_ARRAY | BPCHAR_ARRAY => DbValue::ArrayStr(get(row, i)?),
        INTERVAL => {
            let v: PgInterval = get(row, i)?;
            DbValue::Interval(Interval {
                micros: v.microseconds,
                days: v.days,
                months: v.months,
            })
        }
        _ => DbValue::Unsupported(raw.as_bytes()?.to_vec()),
    })
}

fn severity(s: PgSeverity) -> &'static str {
    match s {
        PgSeverity::Panic => "PANIC",
        PgSeverity::Fatal => "FATAL",
        PgSeverity::Error => "ERROR",
        PgSeverity::Warning => "WARNING",
        PgSeverity::Notice => "NOTICE",
        PgSeverity::Debug => "DEBUG",
        PgSeverity::Info => "INFO",
        PgSeverity::Log => "LOG",
    }
}

/// A failed statement: the server's error with its fields, or the driver's text.
fn query_failed(e: sqlx::Error) -> Error {
    let Some(db) = e
        .as_database_error()
        .and_then(|d| d.try_downcast_ref::<PgDatabaseError>())
    else {
        return Error::QueryFailed(QueryError::Text(e.to_string()));
    };
    let mut extras = Vec::new();
    // Spin's names and order for the fields beyond code, message and detail.
    for (name, value) in [
        ("column", db.column().map(str::to_string)),
        ("constraint", db.constraint().map(str::to_string)),
        ("routine", db.routine().map(str::to_string)),
        ("hint", db.hint().map(str::to_string)),
        ("table", db.table().map(str::to_string)),
        ("datatype", db.data_type().map(str::to_string)),
        ("schema", db.schema().map(str::to_string)),
        ("file", db.file().map(str::to_string)),
        ("line", db.line().map(|l| l.to_string())),
        ("where_", db.r#where().map(str::to_string)),
    ] {
        if let Some(value) = value {
            extras.push((name.to_string(), value));
        }
    }
    let severity = severity(db.severity()).to_string();
    Error::QueryFailed(QueryError::DbError(DbError {
        as_text: format!("db error: {severity}: {}", db.message()),
        severity,
        code: db.code().to_string(),
        message: db.message().to_string(),
        detail: db.detail().map(str::to_string),
        extras,
    }))
}

/// The most row data one query may bring into the host (the values' wire size, plus 8 bytes
/// a value): past it the query fails rather than the host buffering without end.
pub const MAX_RESULT_BYTES: usize = 64 << 20;

/// Runs `statement` on `conn` and reads every row (at most [`MAX_RESULT_BYTES`] of them).
pub(super) async fn query(
    conn: &mut PgConnection,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<RowSet, Error> {
    // Not kept prepared: a component's statements are its own, and a kept statement would
    // keep the parameter types of its first use.
    let query =
        bind(sqlx::query(statement).persistent(false), params).map_err(Error::BadParameter)?;
    let mut stream = query.fetch(conn);
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    let failed = |e: BoxDynError| Error::QueryFailed(QueryError::Text(e.to_string()));
    while let Some(row) = futures_util::TryStreamExt::try_next(&mut stream)
        .await
        .map_err(query_failed)?
    {
        bytes += (0..row.len())
            .map(|i| {
                8 + row
                    .try_get_raw(i)
                    .ok()
                    .and_then(|v| v.as_bytes().ok().map(<[u8]>::len))
                    .unwrap_or(0)
            })
            .sum::<usize>();
        if bytes > MAX_RESULT_BYTES {
            // The rest of the result is read and dropped before the connection's next use.
            return Err(Error::QueryFailed(QueryError::Text(format!(
                "the result is larger than {} MiB: select fewer rows or columns",
                MAX_RESULT_BYTES >> 20
            ))));
        }
        if rows.is_empty() {
            columns = row
                .columns()
                .iter()
                .map(|c| WitColumn {
                    name: c.name().to_string(),
                    data_type: data_type(c.type_info()),
                })
                .collect();
        }
        let values = (0..row.len())
            .map(|i| value(&row, i))
            .collect::<Result<Vec<DbValue>, BoxDynError>>()
            .map_err(failed)?;
        rows.push(values);
    }
    Ok(RowSet { columns, rows })
}

/// `rows`' columns and values in an older version's types: the columns' names with `data_type`
/// converted, and each value converted.
pub(super) fn convert_rows<C, V>(
    rows: RowSet,
    column: impl Fn(String, DbDataType) -> C,
    value: impl Fn(DbValue) -> V,
) -> (Vec<C>, Vec<Vec<V>>) {
    (
        rows.columns
            .into_iter()
            .map(|c| column(c.name, c.data_type))
            .collect(),
        rows.rows
            .into_iter()
            .map(|row| row.into_iter().map(&value).collect())
            .collect(),
    )
}

/// Runs `statement` on `conn`: the number of rows it changed.
pub(super) async fn execute(
    conn: &mut PgConnection,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<u64, Error> {
    let query = bind(sqlx::query(statement).persistent(false), params)
        .map_err(Error::ValueConversionFailed)?;
    query
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
        .map_err(query_failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_postgres_own() {
        assert_eq!(type_name(&PgTypeInfo::with_name("INET")), "inet");
        assert_eq!(type_name(&PgTypeInfo::with_name("INT2[]")), "_int2");
        assert_eq!(type_name(&PgTypeInfo::with_name("\"CHAR\"")), "char");
    }

    #[test]
    fn ranges_keep_their_bounds() {
        let r = range(
            (
                Some((1, RangeBoundKind::Inclusive)),
                Some((10, RangeBoundKind::Exclusive)),
            ),
            Ok::<i32, String>,
        )
        .expect("range");
        assert_eq!(r.start, Bound::Included(1));
        assert_eq!(r.end, Bound::Excluded(10));
        assert_eq!(
            wit_range(r, |v| v),
            (
                Some((1, RangeBoundKind::Inclusive)),
                Some((10, RangeBoundKind::Exclusive))
            )
        );
        let open = range((None, None), Ok::<i32, String>).expect("range");
        assert_eq!(wit_range(open, |v| v), (None, None));
    }

    #[test]
    fn bad_dates_times_and_decimals_are_named() {
        assert_eq!(
            date((2024, 2, 30)).unwrap_err(),
            "invalid date y=2024, m=2, d=30"
        );
        assert_eq!(time((25, 0, 0, 0)).unwrap_err(), "invalid time 25:0:0:0");
        assert!(
            decimal("1.2.3")
                .unwrap_err()
                .starts_with("invalid decimal 1.2.3")
        );
        assert_eq!(
            decimal("12.340").map(|d| d.to_string()),
            Ok("12.340".into())
        );
    }
}
