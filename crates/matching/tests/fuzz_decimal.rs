//! Property tests of the decimal edge: the text of every price and quantity a client sends,
//! and of every one Bourse shows.
//! - parsing and formatting never panic, whatever the text or scale;
//! - a decimal that parses formats back to its canonical form (no leading zeros, no trailing
//!   fractional zeros, no `-0`), and every `i64` survives format → parse;
//! - too many decimal places, values beyond `i64` and prices or quantities off their tick or
//!   lot are refused with an error, never rounded, wrapped or cut;
//! - ticks and lots shown for any integers are exact.
//!
//! CI runs a fixed case budget; a longer run:
//! `PROPTEST_CASES=100000 cargo test -p bourse-matching --test fuzz_decimal`.

mod common;

use bourse_matching::decimal::{self, AmountError, DecimalError};
use common::cases;
use proptest::prelude::*;

/// The canonical text of a well-formed decimal, worked out on the text alone.
fn canonical(text: &str) -> String {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let frac = frac.trim_end_matches('0');
    let zero = whole == "0" && frac.is_empty();
    let sign = if negative && !zero { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{frac}")
    }
}

/// The exact value of a well-formed decimal at `scale`, if it fits 128 bits.
fn exact(text: &str, scale: u8) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let frac = frac.trim_end_matches('0');
    let mut value: i128 = 0;
    let padded = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(scale.into());
    for b in whole.bytes().chain(padded) {
        value = value.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    Some(if negative { -value } else { value })
}

/// Well-formed decimals: optional sign, digits (often with leading zeros), optional fraction.
fn decimal_text() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        "[0-9]{1,22}",
        proptest::option::of("[0-9]{1,12}"),
    )
        .prop_map(|(negative, whole, frac)| {
            let sign = if negative { "-" } else { "" };
            match frac {
                Some(f) => format!("{sign}{whole}.{f}"),
                None => format!("{sign}{whole}"),
            }
        })
}

/// A price or quantity `text` read as `steps` whole steps (shown back as `shown`) is exactly
/// its decimal value, positive and on a step; a refusal names the actual reason.
fn check_amount(
    text: &str,
    scale: u8,
    step: u64,
    what: &str,
    steps: Result<i128, AmountError>,
    shown: Option<String>,
) -> Result<(), TestCaseError> {
    let units = decimal::parse(text, scale);
    match steps {
        Ok(n) => {
            prop_assert!(n > 0);
            prop_assert_eq!(units.map(i128::from), Ok(n * i128::from(step)));
            prop_assert_eq!(shown, Some(canonical(text)));
        }
        Err(AmountError::NotPositive(_)) => prop_assert!(units.is_ok_and(|v| v <= 0)),
        Err(AmountError::OffStep { what: named, .. }) => {
            prop_assert_eq!(named, what);
            prop_assert!(units.is_ok_and(|v| v > 0 && v.unsigned_abs() % step != 0));
        }
        Err(AmountError::Decimal(_)) => prop_assert!(units.is_err()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(2048))]

    #[test]
    fn parsing_any_text_never_panics(text in any::<String>(), scale in any::<u8>()) {
        if let Ok(v) = decimal::parse(&text, scale) {
            // Anything accepted is a plain decimal.
            prop_assert!(text.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-'));
            let _ = decimal::format(v, scale);
        }
    }

    #[test]
    fn near_decimal_text_parses_exactly_or_is_refused_for_a_reason(
        text in "[-+0-9.eE ]{0,24}",
        scale in 0u8..=20,
    ) {
        match decimal::parse(&text, scale) {
            Ok(v) => {
                prop_assert_eq!(Some(i128::from(v)), exact(&text, scale));
                prop_assert_eq!(decimal::format(v, scale), canonical(&text));
            }
            Err(DecimalError::Malformed(t)) => prop_assert_eq!(t, text),
            Err(DecimalError::TooPrecise { .. }) => {
                let frac = text.split_once('.').map_or("", |(_, f)| f).trim_end_matches('0');
                prop_assert!(frac.len() > usize::from(scale));
            }
            Err(DecimalError::Overflow(_)) => {
                let fits = exact(&text, scale).is_some_and(|x| i64::try_from(x).is_ok());
                prop_assert!(!fits, "{} at scale {} fits but was refused", text, scale);
            }
        }
    }

    #[test]
    fn decimals_parse_to_their_exact_value_or_are_refused(
        text in decimal_text(),
        scale in 0u8..=20,
    ) {
        let frac_len = text.split_once('.').map_or(0, |(_, f)| f.trim_end_matches('0').len());
        let exact = exact(&text, scale).and_then(|x| i64::try_from(x).ok());
        match decimal::parse(&text, scale) {
            Ok(v) => {
                prop_assert!(frac_len <= usize::from(scale));
                prop_assert_eq!(Some(v), exact);
                prop_assert_eq!(decimal::format(v, scale), canonical(&text));
            }
            Err(DecimalError::TooPrecise { .. }) => prop_assert!(frac_len > usize::from(scale)),
            Err(DecimalError::Overflow(_)) => {
                prop_assert!(frac_len <= usize::from(scale));
                prop_assert_eq!(exact, None, "{} fits but was refused", text);
            }
            Err(e) => prop_assert!(false, "{} refused as {:?}", text, e),
        }
    }

    #[test]
    fn every_integer_formats_and_parses_back(
        value in prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), Just(0)],
        scale in 0u8..=18,
    ) {
        let text = decimal::format(value, scale);
        prop_assert_eq!(decimal::parse(&text, scale), Ok(value));
        prop_assert_eq!(canonical(&text), text);
    }

    #[test]
    fn formatting_never_panics_at_any_scale(value in any::<i128>(), scale in any::<u8>()) {
        let text = decimal::format_wide(value, scale);
        prop_assert_eq!(text.starts_with('-'), value < 0);
        prop_assert_eq!(exact(&text, scale), Some(value));
    }

    #[test]
    fn prices_and_quantities_are_whole_positive_steps_or_refused(
        text in decimal_text(),
        scale in 0u8..=9,
        step in prop_oneof![Just(1u64), Just(2), Just(5), Just(25), 1u64..1_000, any::<u64>()],
    ) {
        let price = decimal::price_ticks(&text, scale, step);
        let price_text = price.as_ref().ok().map(|&t| decimal::price_text(t, step, scale));
        check_amount(&text, scale, step, "price", price.map(i128::from), price_text)?;
        let quantity = decimal::quantity_lots(&text, scale, step);
        let quantity_text = quantity.as_ref().ok().map(|&l| decimal::quantity_text(l, step, scale));
        check_amount(&text, scale, step, "quantity", quantity.map(i128::from), quantity_text)?;
    }

    #[test]
    fn shown_ticks_and_lots_are_exact(
        ticks in any::<i64>(),
        lots in any::<u64>(),
        step in any::<u64>(),
        scale in 0u8..=9,
    ) {
        let price = decimal::price_text(ticks, step, scale);
        prop_assert_eq!(exact(&price, scale), Some(i128::from(ticks) * i128::from(step)));
        let quantity = decimal::quantity_text(lots, step, scale);
        prop_assert!(!quantity.starts_with('-'), "{} lots of {} shown as {}", lots, step, quantity);
    }
}

#[test]
fn the_smallest_integer_parses_back() {
    assert_eq!(decimal::parse("-9223372036854775808", 0), Ok(i64::MIN));
    assert_eq!(decimal::parse("-92233720368547758.08", 2), Ok(i64::MIN));
    assert!(matches!(
        decimal::parse("-9223372036854775809", 0),
        Err(DecimalError::Overflow(_))
    ));
}

#[test]
fn format_takes_any_scale() {
    assert_eq!(decimal::format(0, 25), "0");
    assert_eq!(decimal::format(5, 25), "0.0000000000000000000000005");
    assert_eq!(decimal::format(-5, 2), "-0.05");
}

#[test]
fn the_largest_level_total_is_shown_exactly() {
    // Two resting orders of i64::MAX lots add up past what an i64 holds.
    let total = 2 * (i64::MAX as u64);
    assert_eq!(decimal::quantity_text(total, 1, 0), total.to_string());
    assert_eq!(
        decimal::quantity_text(u64::MAX, u64::MAX, 0),
        (u128::from(u64::MAX) * u128::from(u64::MAX)).to_string()
    );
}
