//! Decimal strings at the JSON edge, integers inside.
//!
//! Floats never touch a price: `"101.25"` at scale 2 is exactly `10125`.

use std::fmt;

/// Why a decimal string could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecimalError {
    /// Empty, or not of the form `[-]digits[.digits]`.
    Malformed(String),
    /// More decimal places than the field allows.
    TooPrecise { value: String, scale: u8 },
    /// Does not fit in 64 bits.
    Overflow(String),
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecimalError::Malformed(v) => write!(f, "{v:?} is not a decimal number"),
            DecimalError::TooPrecise { value, scale } => {
                write!(f, "{value} has more than {scale} decimal places")
            }
            DecimalError::Overflow(v) => write!(f, "{v} is too large"),
        }
    }
}

impl std::error::Error for DecimalError {}

/// Reads `text` as a fixed-point number with `scale` decimal places.
pub fn parse(text: &str, scale: u8) -> Result<i64, DecimalError> {
    let malformed = || DecimalError::Malformed(text.to_string());
    let overflow = || DecimalError::Overflow(text.to_string());
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !all_digits(whole)
        || !all_digits(frac)
        || (digits.contains('.') && frac.is_empty())
    {
        return Err(malformed());
    }
    let significant = frac.trim_end_matches('0');
    if significant.len() > usize::from(scale) {
        return Err(DecimalError::TooPrecise {
            value: text.to_string(),
            scale,
        });
    }
    // The magnitude, so that i64::MIN (one more than i64::MAX) reads too.
    let mut magnitude: u64 = 0;
    let padded = significant.bytes().chain(std::iter::repeat(b'0'));
    for b in whole.bytes().chain(padded.take(usize::from(scale))) {
        magnitude = magnitude
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(overflow)?;
    }
    if negative {
        0i64.checked_sub_unsigned(magnitude).ok_or_else(overflow)
    } else {
        i64::try_from(magnitude).map_err(|_| overflow())
    }
}

/// Writes `value` with `scale` decimal places, dropping trailing zeros (`10125`, 2 → `"101.25"`;
/// `1000`, 2 → `"10"`).
pub fn format(value: i64, scale: u8) -> String {
    format_wide(i128::from(value), scale)
}

/// [`format`] for values that may not fit an `i64` (a price times a tick, a level's total),
/// so that nothing shown is ever wrapped or cut to a maximum. Works digit by digit: any
/// `scale` is fine.
pub fn format_wide(value: i128, scale: u8) -> String {
    format_magnitude(value < 0, value.unsigned_abs(), scale)
}

fn format_magnitude(negative: bool, magnitude: u128, scale: u8) -> String {
    let sign = if negative { "-" } else { "" };
    let digits = magnitude.to_string();
    let scale = usize::from(scale);
    // Left-pad so there is at least one whole digit: 5 at scale 2 is "005" → "0.05".
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (whole, frac) = digits.split_at(digits.len() - scale);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{frac}")
    }
}

/// Why a price or quantity from a client cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountError {
    /// Not a decimal, too precise or too large.
    Decimal(DecimalError),
    /// Zero or negative.
    NotPositive(String),
    /// Not a whole number of ticks (`what` "price") or lots ("quantity").
    OffStep {
        what: &'static str,
        value: String,
        step_name: &'static str,
        step: String,
    },
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmountError::Decimal(e) => e.fmt(f),
            AmountError::NotPositive(v) => write!(f, "{v} is not positive"),
            AmountError::OffStep {
                what,
                value,
                step_name,
                step,
            } => write!(f, "{what} {value} is not a multiple of {step_name} {step}"),
        }
    }
}

impl std::error::Error for AmountError {}

/// A positive decimal `text` at `scale` as a whole number of `step` units; `step` 0 counts as 1.
fn steps(
    text: &str,
    scale: u8,
    step: u64,
    what: &'static str,
    step_name: &'static str,
) -> Result<u64, AmountError> {
    let units = parse(text, scale).map_err(AmountError::Decimal)?;
    if units <= 0 {
        return Err(AmountError::NotPositive(text.to_string()));
    }
    let units = units.unsigned_abs();
    let step = step.max(1);
    if units % step != 0 {
        return Err(AmountError::OffStep {
            what,
            value: text.to_string(),
            step_name,
            step: format_wide(i128::from(step), scale),
        });
    }
    Ok(units / step)
}

/// A client's price text in ticks of `tick` units at `scale` (`"101.25"`, 2, 1 → 10125).
pub fn price_ticks(text: &str, scale: u8, tick: u64) -> Result<i64, AmountError> {
    let ticks = steps(text, scale, tick, "price", "tick")?;
    // At most the parsed value, which fit an i64.
    i64::try_from(ticks).map_err(|_| AmountError::Decimal(DecimalError::Overflow(text.into())))
}

/// A client's quantity text in lots of `lot` units at `scale`.
pub fn quantity_lots(text: &str, scale: u8, lot: u64) -> Result<u64, AmountError> {
    steps(text, scale, lot, "quantity", "lot")
}

/// The decimal text of `ticks` ticks of `tick` units at `scale`, exact for every input.
pub fn price_text(ticks: i64, tick: u64, scale: u8) -> String {
    format_wide(i128::from(ticks) * i128::from(tick), scale)
}

/// The decimal text of `lots` lots of `lot` units at `scale`, exact for every input.
pub fn quantity_text(lots: u64, lot: u64, scale: u8) -> String {
    format_magnitude(false, u128::from(lots) * u128::from(lot), scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_exactly() {
        assert_eq!(parse("101.25", 2), Ok(10125));
        assert_eq!(parse("101.250", 2), Ok(10125));
        assert_eq!(parse("7", 2), Ok(700));
        assert_eq!(parse("-0.5", 1), Ok(-5));
        assert_eq!(format(10125, 2), "101.25");
        assert_eq!(format(700, 2), "7");
        assert_eq!(format(-5, 1), "-0.5");
        assert_eq!(format(105, 2), "1.05");
    }

    #[test]
    fn rejects_what_is_not_a_decimal() {
        for bad in ["", "abc", "1.", ".5", "1e3", "1.2.3", "+1", "--1"] {
            assert!(
                matches!(parse(bad, 2), Err(DecimalError::Malformed(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse("101.253", 2),
            Err(DecimalError::TooPrecise { .. })
        ));
        assert!(matches!(
            parse("99999999999999999999", 0),
            Err(DecimalError::Overflow(_))
        ));
    }
}
