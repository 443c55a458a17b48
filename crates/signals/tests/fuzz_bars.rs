//! Property tests of the bar import (CSV and JSON) and the date parser under it:
//! - any text, CSV or JSON, is answered without a panic;
//! - accepted rows round-trip: the rows a file was written from come back, sorted by date,
//!   each close exactly the number written;
//! - every malformed row is refused, named by its line (CSV, header = line 1) or `bars[i]`
//!   (JSON), and nothing is accepted from a file with a bad row.
//!
//! CI runs a fixed case budget; a longer run:
//! `PROPTEST_CASES=100000 cargo test -p bourse-signals --test fuzz_bars`.

use std::collections::BTreeMap;

use bourse_signals::dates;
use bourse_signals::import::{self, BarsJson, MAX_ROWS};
use proptest::prelude::*;

/// `default_cases` unless `PROPTEST_CASES` says otherwise.
fn cases(default_cases: u32) -> ProptestConfig {
    let env = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok());
    ProptestConfig::with_cases(env.unwrap_or(default_cases))
}

/// A row of a bar file: good, or broken in one of the ways files are.
#[derive(Clone, Debug)]
enum Row {
    Good { day: i32, close: f64 },
    Bad(String, String),
}

fn good() -> impl Strategy<Value = Row> {
    // 1900-01-01 ..= 2100-12-31; closes from sub-cent to huge, all positive and finite.
    let day = -25_567i32..=47_482;
    let close = prop_oneof![
        0.0001f64..1e6,
        1e-300f64..1e300,
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE)
    ];
    (day, close).prop_map(|(day, close)| Row::Good { day, close })
}

fn bad() -> impl Strategy<Value = Row> {
    const KNOWN_BAD_DATES: [&str; 7] = [
        "2023-02-30",
        "2024-13-01",
        "2024-00-10",
        "2147483647-01-01",
        "2024-01-4294967295",
        "-2147483648-12-31",
        "",
    ];
    let bad_date = prop_oneof![
        proptest::sample::select(&KNOWN_BAD_DATES[..]).prop_map(String::from),
        "[0-9-]{0,12}".prop_filter("not a date", |s| dates::parse(s).is_none()),
        ".{0,16}".prop_filter("not a date", |s| dates::parse(s).is_none()
            && !s.contains(',')),
    ];
    const KNOWN_BAD_CLOSES: [&str; 6] = ["0", "-1.5", "NaN", "inf", "1e999", ""];
    let bad_close = prop_oneof![
        proptest::sample::select(&KNOWN_BAD_CLOSES[..]).prop_map(String::from),
        "[a-z.]{1,8}".prop_filter("not a number", |s| s.parse::<f64>().is_err()),
    ];
    prop_oneof![
        bad_date.prop_map(|d| Row::Bad(d, "10".into())),
        bad_close.prop_map(|c| Row::Bad("2024-01-02".into(), c)),
    ]
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::vec(prop_oneof![8 => good(), 1 => bad()], 0..40)
}

/// What an import of `rows` must give: the good rows sorted, or the names of the bad ones.
fn expected(rows: &[Row], name: impl Fn(usize) -> String) -> Result<Vec<(i32, f64)>, Vec<String>> {
    let mut bad = Vec::new();
    let mut seen = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        match row {
            Row::Good { day, close } => {
                if seen.insert(*day, *close).is_some() {
                    bad.push(name(i));
                }
            }
            Row::Bad(..) => bad.push(name(i)),
        }
    }
    if rows.is_empty() {
        bad.push("no rows".into());
    }
    if bad.is_empty() {
        Ok(seen.into_iter().collect())
    } else {
        Err(bad)
    }
}

fn check_answer(
    got: Result<Vec<(i32, f64)>, Vec<String>>,
    want: Result<Vec<(i32, f64)>, Vec<String>>,
) -> Result<(), TestCaseError> {
    match (got, want) {
        (Ok(got), Ok(want)) => prop_assert_eq!(got, want),
        (Err(problems), Err(names)) => {
            prop_assert_eq!(problems.len(), names.len(), "{:?}", problems);
            for (p, n) in problems.iter().zip(&names) {
                prop_assert!(
                    p == n || p.starts_with(&format!("{n}:")),
                    "problem {:?} should name {:?}",
                    p,
                    n
                );
            }
        }
        (got, want) => prop_assert!(false, "got {:?}, want {:?}", got, want),
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn any_text_is_answered_without_a_panic(text in any::<String>()) {
        let _ = import::parse_csv(&text);
        if let Ok(body) = serde_json::from_str::<BarsJson>(&text) {
            let _ = body.rows();
        }
    }

    #[test]
    fn any_date_text_is_answered_and_accepted_dates_round_trip(text in "[-+0-9 ]{0,24}") {
        if let Some(day) = dates::parse(&text) {
            prop_assert_eq!(dates::parse(&dates::format(day)), Some(day));
        }
    }

    #[test]
    fn csv_rows_round_trip_or_are_refused_by_line(
        rows in rows(),
        yahoo in any::<bool>(),
        blank_every in 0usize..5,
    ) {
        let mut text = if yahoo {
            "Date,Open,High,Low,Close,Adj Close,Volume\n".to_string()
        } else {
            "date,close\n".to_string()
        };
        // Blank lines are skipped but still counted, as an editor counts them.
        let mut line = 1;
        let mut lines = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            if blank_every > 0 && i % blank_every == 0 {
                text.push('\n');
                line += 1;
            }
            line += 1;
            lines.push(line);
            let (date, close) = match row {
                Row::Good { day, close } => (dates::format(*day), close.to_string()),
                Row::Bad(d, c) => (d.clone(), c.clone()),
            };
            if yahoo {
                text.push_str(&format!("{date},1,2,0.5,999,{close},100\n"));
            } else {
                text.push_str(&format!("{date},{close}\n"));
            }
        }
        check_answer(import::parse_csv(&text), expected(&rows, |i| format!("line {}", lines[i])))?;
    }

    #[test]
    fn json_rows_round_trip_or_are_refused_by_index(rows in rows()) {
        let bars: Vec<serde_json::Value> = rows
            .iter()
            .filter_map(|row| match row {
                Row::Good { day, close } => {
                    Some(serde_json::json!({"date": dates::format(*day), "close": close}))
                }
                // JSON carries numbers, so only a bad date or a non-positive close is sayable.
                Row::Bad(d, c) => {
                    let close: f64 = c.parse().ok().filter(|v: &f64| v.is_finite())?;
                    Some(serde_json::json!({"date": d, "close": close}))
                }
            })
            .collect();
        let sayable: Vec<Row> = rows
            .into_iter()
            .filter(|row| match row {
                Row::Good { .. } => true,
                Row::Bad(_, c) => c.parse::<f64>().is_ok_and(f64::is_finite),
            })
            .collect();
        let text = serde_json::json!({"bars": bars}).to_string();
        let body: BarsJson = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_answer(body.rows(), expected(&sayable, |i| format!("bars[{i}]")))?;
    }
}

#[test]
fn dates_far_outside_the_calendar_are_refused_not_overflowed() {
    for text in [
        "2147483647-01-01",
        "-2147483648-12-31",
        "2024-01-4294967295",
        "2024-01-2147483647",
        "10000-01-01",
    ] {
        assert_eq!(dates::parse(text), None, "{text}");
    }
}

#[test]
fn an_import_past_the_row_limit_is_refused() {
    let mut text = "date,close\n".to_string();
    for day in 0..=MAX_ROWS as i32 {
        text.push_str(&format!("{},1\n", dates::format(day)));
    }
    let problems = import::parse_csv(&text).expect_err("too many rows");
    assert!(problems[0].contains("at most"), "{problems:?}");
}

#[test]
fn a_json_close_is_the_number_written() {
    let close = 392_365.516_235_834_05_f64;
    let text = serde_json::json!({"bars": [{"date": "1970-01-01", "close": close}]}).to_string();
    let body: BarsJson = serde_json::from_str(&text).expect("valid body");
    assert_eq!(body.rows(), Ok(vec![(0, close)]));
}
