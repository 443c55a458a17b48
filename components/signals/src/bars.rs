//! Daily bars in the component's SQL database. Imports are parsed and checked by
//! [`bourse_signals::import`] before anything is written, and the rows go in with one
//! statement, so an import lands whole or not at all.

use std::collections::HashMap;

pub use bourse_signals::import::{check, parse_csv};
use bourse_signals::{Series, packed};
use spin_sdk::sqlite::{Connection, Value};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS bars (
    symbol TEXT NOT NULL,
    day INTEGER NOT NULL,
    close DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (symbol, day)
)";

/// The component's database, with the table `schema` creates.
pub fn open(schema: &str) -> Result<Connection, String> {
    let conn = Connection::open("default").map_err(|e| format!("sql: {e:?}"))?;
    conn.execute(schema, &[])
        .map_err(|e| format!("sql: {e:?}"))?;
    Ok(conn)
}

fn connect() -> Result<Connection, String> {
    open(SCHEMA)
}

/// A symbol name as stored: upper case, `^VIX` as `VIX`.
pub fn normalise(symbol: &str) -> Option<String> {
    let s = symbol.trim().trim_start_matches('^').to_ascii_uppercase();
    (!s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'))
        .then_some(s)
}

/// Writes `rows` for `symbol` in one statement (replacing closes already stored for a date).
pub fn store(symbol: &str, rows: &[(i32, f64)]) -> Result<(), String> {
    let conn = connect()?;
    let mut statement = String::from("INSERT INTO bars (symbol, day, close) VALUES ");
    let mut params = Vec::with_capacity(rows.len() * 3);
    for (i, (day, close)) in rows.iter().enumerate() {
        statement.push_str(if i == 0 { "(?,?,?)" } else { ",(?,?,?)" });
        params.push(Value::Text(symbol.to_string()));
        params.push(Value::Integer(i64::from(*day)));
        params.push(Value::Real(*close));
    }
    statement.push_str(" ON CONFLICT (symbol, day) DO UPDATE SET close = excluded.close");
    conn.execute(&statement, &params)
        .map(|_| ())
        .map_err(|e| format!("sql: {e:?}"))
}

/// The stored closes of `symbols`.
pub fn load(symbols: &[&str]) -> Result<HashMap<String, Series>, String> {
    let conn = connect()?;
    let mut out = HashMap::new();
    for symbol in symbols {
        let rows = conn
            .execute(
                "SELECT day, close FROM bars WHERE symbol = ? ORDER BY day",
                &[Value::Text((*symbol).to_string())],
            )
            .map_err(|e| format!("sql: {e:?}"))?;
        let points = rows
            .rows
            .iter()
            .filter_map(|r| match (r.values.first(), r.values.get(1)) {
                (Some(Value::Integer(d)), Some(Value::Real(c))) => Some((*d as i32, *c)),
                (Some(Value::Integer(d)), Some(Value::Integer(c))) => Some((*d as i32, *c as f64)),
                _ => None,
            })
            .collect();
        out.insert((*symbol).to_string(), Series::new(points)?);
    }
    Ok(out)
}

fn cache_key(symbol: &str) -> String {
    format!("bars:{symbol}")
}

/// Copies `series` into the key-value store, where reads skip SQL (refreshed on import).
pub fn cache(symbol: &str, series: &Series) -> Result<(), String> {
    let store =
        spin_sdk::key_value::Store::open("default").map_err(|e| format!("key-value: {e:?}"))?;
    let bytes = packed::encode_closes(
        series
            .dates
            .iter()
            .copied()
            .zip(series.closes.iter().copied()),
    );
    store
        .set(&cache_key(symbol), &bytes)
        .map_err(|e| format!("key-value: {e:?}"))
}

/// The closes of `symbols`, from the key-value copy where there is one, else from SQL.
pub fn load_cached(symbols: &[&str]) -> Result<HashMap<String, Series>, String> {
    let store = spin_sdk::key_value::Store::open("default").ok();
    let mut out = HashMap::new();
    let mut missing = Vec::new();
    for symbol in symbols {
        let cached = store
            .as_ref()
            .and_then(|s| s.get(&cache_key(symbol)).ok().flatten())
            .and_then(|b| packed::decode_closes(&b))
            .and_then(|points| Series::new(points).ok());
        match cached {
            Some(series) => {
                out.insert((*symbol).to_string(), series);
            }
            None => missing.push(*symbol),
        }
    }
    if !missing.is_empty() {
        out.extend(load(&missing)?);
    }
    Ok(out)
}
