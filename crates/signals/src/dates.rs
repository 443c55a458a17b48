//! Calendar dates as days since 1970-01-01 (proleptic Gregorian), the only date arithmetic
//! the signals need: parsing `YYYY-MM-DD`, printing it, and the week a day belongs to.
//!
//! Parsed dates lie in [`FIRST_YEAR`]..=[`LAST_YEAR`]: no market data is older, a bar dated
//! later is a typing error, and within that span the day arithmetic cannot overflow.

/// The earliest year a parsed date may have.
pub const FIRST_YEAR: i32 = 1800;
/// The latest year a parsed date may have.
pub const LAST_YEAR: i32 = 2200;
/// What [`parse`] accepts, for error messages.
pub const EXPECTED: &str = "a date (YYYY-MM-DD, years 1800 to 2200)";

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of `days` since 1970-01-01.
pub fn civil_from_days(days: i32) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i32::from(month <= 2);
    (year, month, day)
}

/// Parses `YYYY-MM-DD` (see [`EXPECTED`]); the year bounds also keep the day arithmetic far
/// inside `i32`.
pub fn parse(text: &str) -> Option<i32> {
    let mut parts = text.trim().splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if !(FIRST_YEAR..=LAST_YEAR).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // Rejects 2023-02-30 and the like: the round trip must give the same date back.
    (civil_from_days(days) == (year, month, day)).then_some(days)
}

/// `YYYY-MM-DD`.
pub fn format(days: i32) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The Monday-based week a day falls in (1970-01-01 was a Thursday).
pub fn week(days: i32) -> i32 {
    (days + 3).div_euclid(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_weeks_start_on_monday() {
        assert_eq!(parse("1970-01-01"), Some(0));
        assert_eq!(parse("2000-03-01"), Some(11_017));
        assert_eq!(format(11_017), "2000-03-01");
        assert_eq!(parse("2023-02-30"), None);
        assert_eq!(parse("1799-12-31"), None, "before FIRST_YEAR");
        assert_eq!(parse("2201-01-01"), None, "after LAST_YEAR");
        assert_eq!(parse("99999999-01-01"), None, "no overflow");
        assert_eq!(parse("2024-02-29").map(format), Some("2024-02-29".into()));
        for d in -1000..30_000 {
            assert_eq!(parse(&format(d)), Some(d));
        }
        // 2024-01-05 is a Friday, 2024-01-08 the next Monday.
        let friday = parse("2024-01-05").unwrap_or_default();
        assert_eq!(week(friday), week(friday - 4), "Monday to Friday");
        assert_eq!(week(friday + 3), week(friday) + 1);
    }
}
