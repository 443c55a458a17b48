//! Daily bars in the component's SQL database, and their import from CSV and JSON.
//!
//! CSV: the common `Date,Open,High,Low,Close,Adj Close,Volume` export (the adjusted close is
//! used, so growths include dividends) or a plain `date,close`. JSON: `{"bars":[{"date":
//! "2024-01-02","close":472.65}, …]}`. Every row is checked before anything is written —
//! unparsable rows, duplicate dates and non-positive prices are reported with their line
//! numbers — and the rows go in with one statement, so an import lands whole or not at all.

use std::collections::HashMap;

use bourse_signals::{Series, dates, packed};
use spin_sdk::sqlite::{Connection, Value};

/// Largest import: one statement carries it (20 years of daily bars is about 5 000).
pub const MAX_ROWS: usize = 7_000;

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

/// Parses a CSV export; problems come back with their line numbers.
pub fn parse_csv(text: &str) -> Result<Vec<(i32, f64)>, Vec<String>> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(vec!["the file is empty".into()]);
    };
    let columns: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let date_col = columns.iter().position(|c| c == "date");
    let close_col = columns
        .iter()
        .position(|c| c == "adj close")
        .or_else(|| columns.iter().position(|c| c == "close"));
    let (Some(date_col), Some(close_col)) = (date_col, close_col) else {
        return Err(vec![format!(
            "line 1: header {header:?} needs a date column and a close (or adj close) column"
        )]);
    };
    let rows = lines.map(|(i, line)| {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        (
            i + 1,
            fields.get(date_col).copied(),
            fields.get(close_col).copied(),
        )
    });
    check(rows.map(|(line, date, close)| {
        (
            format!("line {line}"),
            date.unwrap_or_default().to_string(),
            close.unwrap_or_default().to_string(),
        )
    }))
}

/// Checks rows of (where, date text, close text); sorted by date on success.
pub fn check(
    rows: impl Iterator<Item = (String, String, String)>,
) -> Result<Vec<(i32, f64)>, Vec<String>> {
    let mut problems = Vec::new();
    let mut seen: HashMap<i32, String> = HashMap::new();
    let mut out = Vec::new();
    for (at, date, close) in rows {
        let Some(day) = dates::parse(&date) else {
            problems.push(format!("{at}: {date:?} is not {}", dates::EXPECTED));
            continue;
        };
        let value = match close.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => v,
            Ok(v) => {
                problems.push(format!("{at}: close {v} is not positive"));
                continue;
            }
            Err(_) => {
                problems.push(format!("{at}: close {close:?} is not a number"));
                continue;
            }
        };
        if let Some(first) = seen.insert(day, at.clone()) {
            problems.push(format!("{at}: {date} appears again (first at {first})"));
            continue;
        }
        out.push((day, value));
    }
    if out.len() > MAX_ROWS {
        problems.push(format!(
            "{} rows; an import takes at most {MAX_ROWS}",
            out.len()
        ));
    }
    if out.is_empty() && problems.is_empty() {
        problems.push("no rows".into());
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    out.sort_unstable_by_key(|(d, _)| *d);
    Ok(out)
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
