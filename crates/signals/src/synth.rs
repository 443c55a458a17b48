//! A seeded generator of realistic, correlated daily closes for the seven tickers the signals
//! read, so the platform demos and tests without a data provider.
//!
//! One market factor drives SPY; the others load on it (utilities and gold weakly, lumber
//! strongly), a rates factor drives the two Treasury funds (the long one harder) against the
//! market, and the VIX mean-reverts around 19 and jumps when the market falls. Weekdays only.

use crate::{Series, dates};

/// The tickers, in the order [`generate`] returns them.
pub const TICKERS: [&str; 7] = ["SPY", "XLU", "WOOD", "GLD", "TLT", "IEF", "VIX"];

struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// `days` weekdays of closes from `start` (days since 1970-01-01) for each of [`TICKERS`].
pub fn generate(seed: u64, start: i32, days: usize) -> Vec<(&'static str, Series)> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    // (market beta, rates beta, own daily volatility, drift) per price ticker.
    let loadings = [
        (1.0, 0.0, 0.002, 0.0003),   // SPY
        (0.45, 0.3, 0.006, 0.0002),  // XLU
        (1.3, 0.0, 0.012, 0.0003),   // WOOD
        (-0.1, 0.2, 0.009, 0.0002),  // GLD
        (-0.25, 1.6, 0.003, 0.0001), // TLT
        (-0.1, 0.7, 0.0015, 0.0001), // IEF
    ];
    let mut prices = [420.0, 65.0, 80.0, 180.0, 95.0, 96.0];
    let mut vix: f64 = 17.0;
    let mut out: Vec<Vec<(i32, f64)>> = (0..7).map(|_| Vec::with_capacity(days)).collect();
    let mut day = start;
    let mut n = 0;
    while n < days {
        // Monday is 0 (1970-01-01 was a Thursday): skip Saturday and Sunday.
        if (day + 3).rem_euclid(7) >= 5 {
            day += 1;
            continue;
        }
        let market = 0.011 * rng.normal();
        let rates = 0.004 * rng.normal();
        for (i, (beta, rate_beta, vol, drift)) in loadings.iter().enumerate() {
            let r = drift + beta * market + rate_beta * rates + vol * rng.normal();
            prices[i] *= 1.0 + r;
            out[i].push((day, (prices[i] * 100.0).round() / 100.0));
        }
        vix += 0.05 * (19.0 - vix) - 180.0 * market.min(0.0) * 0.3 - 40.0 * market.max(0.0) * 0.3
            + 0.6 * rng.normal();
        vix = vix.clamp(9.0, 80.0);
        out[6].push((day, (vix * 100.0).round() / 100.0));
        day += 1;
        n += 1;
    }
    TICKERS
        .iter()
        .zip(out)
        .map(|(t, points)| (*t, Series::new(points).unwrap_or_default()))
        .collect()
}

/// `date,close` CSV of `series`.
pub fn csv(series: &Series) -> String {
    let mut out = String::from("date,close\n");
    for (d, c) in series.dates.iter().zip(&series.closes) {
        out.push_str(&dates::format(*d));
        out.push(',');
        out.push_str(&format!("{c:.2}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_weekday_series() {
        let start = dates::parse("2005-01-03").unwrap_or_default();
        let a = generate(7, start, 300);
        assert_eq!(a, generate(7, start, 300));
        assert_ne!(a, generate(8, start, 300));
        for (ticker, s) in &a {
            assert_eq!(s.dates.len(), 300, "{ticker}");
            assert!(s.closes.iter().all(|c| *c > 0.0), "{ticker}");
            // 2005-01-03 was a Monday: no Saturday or Sunday follows in any series.
            assert!(
                s.dates.iter().all(|d| (d - start).rem_euclid(7) < 5),
                "{ticker}"
            );
        }
    }
}
