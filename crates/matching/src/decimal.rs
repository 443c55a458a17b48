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
    let mut value: i64 = 0;
    for b in whole.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or_else(overflow)?;
    }
    let mut frac_digits = significant.bytes();
    for _ in 0..scale {
        let digit = frac_digits.next().map_or(0, |b| i64::from(b - b'0'));
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(digit))
            .ok_or_else(overflow)?;
    }
    Ok(if negative { -value } else { value })
}

/// Writes `value` with `scale` decimal places, dropping trailing zeros (`10125`, 2 → `"101.25"`;
/// `1000`, 2 → `"10"`).
pub fn format(value: i64, scale: u8) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let magnitude = value.unsigned_abs();
    let unit = 10u64.pow(u32::from(scale));
    let whole = magnitude / unit;
    let frac = magnitude % unit;
    if frac == 0 {
        return format!("{sign}{whole}");
    }
    let frac = format!("{frac:0width$}", width = usize::from(scale));
    format!("{sign}{whole}.{}", frac.trim_end_matches('0'))
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
