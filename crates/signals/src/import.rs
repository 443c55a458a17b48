//! Daily bars from CSV and JSON imports, checked before anything is stored.
//!
//! CSV: the common `Date,Open,High,Low,Close,Adj Close,Volume` export (the adjusted close is
//! used, so growths include dividends) or a plain `date,close`. JSON: `{"bars":[{"date":
//! "2024-01-02","close":472.65}, …]}`. Every row is checked — unparsable rows, duplicate dates
//! and non-positive or non-finite closes are reported with their line number (CSV, counting
//! from 1 with the header) or index (`bars[i]`, JSON) — so an import lands whole or not at all.
//! Accepted rows come back sorted by date, each close exactly the number written.

use std::collections::HashMap;

use serde::Deserialize;

use crate::dates;

/// Largest import: one statement carries it (20 years of daily bars is about 5 000).
pub const MAX_ROWS: usize = 7_000;

/// A JSON import body. Read it with serde_json's `float_roundtrip` feature (the signals
/// component enables it), or a close may come back one ulp off what was written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarsJson {
    /// The symbol, unless the query names it.
    #[serde(default)]
    pub symbol: Option<String>,
    /// The rows.
    pub bars: Vec<BarJson>,
}

/// One JSON row.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarJson {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// The close.
    pub close: f64,
}

impl BarsJson {
    /// The rows, checked; problems name `bars[i]`.
    pub fn rows(&self) -> Result<Vec<(i32, f64)>, Vec<String>> {
        check(
            self.bars
                .iter()
                .enumerate()
                .map(|(i, b)| (format!("bars[{i}]"), b.date.clone(), b.close.to_string())),
        )
    }
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
