//! The five Gayed intermarket signals, their daily consensus, and a rotation backtest, over
//! daily closes. Pure computation: no I/O, no clock, the same numbers natively and in the
//! `signals` component.
//!
//! Each signal at day `t` uses closes up to and including `t` only. Ratio signals compare
//! growths `g_X(t) = close_X(t) / close_X(t − L)` over the trading days both series share.

pub mod backtest;
pub mod dates;
pub mod import;
pub mod packed;
pub mod providers;
pub mod rules;
pub mod synth;

pub use backtest::{Backtest, BacktestConfig, Decision, Rebalance, Stats};
pub use rules::{Consensus, Params, Point, Regime, SignalSeries, TrendMode, VixMode};

/// Daily closes of one ticker: dates (days since 1970-01-01) strictly increasing, one close
/// per date.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub dates: Vec<i32>,
    pub closes: Vec<f64>,
}

impl Series {
    /// A series from (date, close) pairs; an error names the first bad one.
    pub fn new(points: Vec<(i32, f64)>) -> Result<Series, String> {
        let mut s = Series::default();
        for (i, (date, close)) in points.into_iter().enumerate() {
            if !(close.is_finite() && close > 0.0) {
                return Err(format!("point {i}: close {close} is not a positive number"));
            }
            if s.dates.last().is_some_and(|&last| date <= last) {
                return Err(format!("point {i}: dates must increase strictly"));
            }
            s.dates.push(date);
            s.closes.push(close);
        }
        Ok(s)
    }

    /// The close on `date`, if the ticker traded that day.
    pub fn close_on(&self, date: i32) -> Option<f64> {
        self.dates.binary_search(&date).ok().map(|i| self.closes[i])
    }
}
