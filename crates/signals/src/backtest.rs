//! A rotation backtest: hold the risk-on asset or the risk-off asset (or cash) as a signal
//! says, deciding at a day's close and earning from the next day.
//!
//! On each rebalance day (the last trading day of each week, or every day) the decision of
//! that day's close sets the position for the returns from the next day on: Risk-On → 100 %
//! risk-on asset, Risk-Off → 100 % risk-off asset, Mixed/Neutral → keep. The run starts in the
//! risk-on asset. Each switch costs `cost_bps` of equity. The calendar is the risk-on asset's
//! trading days (and the risk-off asset's, when it is not cash).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{Series, dates};

/// What a decision says on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    RiskOn,
    RiskOff,
    /// Mixed or Neutral: keep the position.
    Keep,
}

/// When positions may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rebalance {
    Weekly,
    Daily,
}

/// How to run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BacktestConfig {
    pub rebalance: Rebalance,
    /// Cost of one switch, in basis points of equity.
    pub cost_bps: f64,
}

/// Performance of one equity curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stats {
    pub cagr: f64,
    pub volatility: f64,
    pub sharpe: f64,
    pub max_drawdown: f64,
    pub total_return: f64,
}

/// A finished backtest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backtest {
    /// (date, strategy equity, buy-and-hold equity, holding risk-on?), starting at 1.
    pub curve: Vec<(i32, f64, f64, bool)>,
    pub strategy: Stats,
    pub benchmark: Stats,
    pub switches: u32,
    /// Share of days holding the risk-on asset (the rest: risk-off asset or cash).
    pub time_risk_on: f64,
}

/// Runs the backtest. `risk_off` is `None` for cash (earning nothing).
pub fn run(
    decisions: &[(i32, Decision)],
    risk_on: &Series,
    risk_off: Option<&Series>,
    config: &BacktestConfig,
) -> Result<Backtest, String> {
    let calendar: Vec<i32> = risk_on
        .dates
        .iter()
        .copied()
        .filter(|d| risk_off.is_none_or(|s| s.close_on(*d).is_some()))
        .collect();
    if calendar.len() < 2 {
        return Err("fewer than two trading days in common: nothing to backtest".into());
    }
    let decided: HashMap<i32, Decision> = decisions.iter().copied().collect();
    let close = |series: &Series, d: i32| series.close_on(d).unwrap_or(f64::NAN);
    let mut holding_on = true;
    let (mut equity, mut hold) = (1.0f64, 1.0f64);
    let mut curve = Vec::with_capacity(calendar.len());
    let (mut switches, mut days_on) = (0u32, 0usize);
    for (i, &day) in calendar.iter().enumerate() {
        if i > 0 {
            let prev = calendar[i - 1];
            let asset_return = |series: &Series| close(series, day) / close(series, prev);
            hold *= asset_return(risk_on);
            equity *= match (holding_on, risk_off) {
                (true, _) => asset_return(risk_on),
                (false, Some(off)) => asset_return(off),
                (false, None) => 1.0,
            };
        }
        let rebalance_day = match config.rebalance {
            Rebalance::Daily => true,
            Rebalance::Weekly => calendar
                .get(i + 1)
                .is_none_or(|next| dates::week(*next) != dates::week(day)),
        };
        if rebalance_day && let Some(decision) = decided.get(&day) {
            let want_on = match decision {
                Decision::RiskOn => true,
                Decision::RiskOff => false,
                Decision::Keep => holding_on,
            };
            if want_on != holding_on {
                holding_on = want_on;
                switches += 1;
                equity *= 1.0 - config.cost_bps / 10_000.0;
            }
        }
        if holding_on {
            days_on += 1;
        }
        curve.push((day, equity, hold, holding_on));
    }
    let first = calendar[0];
    let last = calendar[calendar.len() - 1];
    let strategy = stats(curve.iter().map(|c| c.1), first, last);
    let benchmark = stats(curve.iter().map(|c| c.2), first, last);
    Ok(Backtest {
        curve,
        strategy,
        benchmark,
        switches,
        time_risk_on: days_on as f64 / calendar.len() as f64,
    })
}

/// CAGR over calendar time, annualised volatility and Sharpe (rf = 0) of daily returns over
/// 252 trading days a year, maximum drawdown, total return.
fn stats(equity: impl Iterator<Item = f64>, first: i32, last: i32) -> Stats {
    let values: Vec<f64> = equity.collect();
    let returns: Vec<f64> = values.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
    let n = returns.len().max(1) as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let variance = if returns.len() > 1 {
        returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    let daily_sd = variance.sqrt();
    let end = values.last().copied().unwrap_or(1.0);
    let years = f64::from(last - first) / 365.25;
    let mut peak = f64::MIN;
    let mut max_drawdown = 0.0f64;
    for v in &values {
        peak = peak.max(*v);
        max_drawdown = max_drawdown.max(1.0 - v / peak);
    }
    Stats {
        cagr: if years > 0.0 {
            end.powf(1.0 / years) - 1.0
        } else {
            0.0
        },
        volatility: daily_sd * 252f64.sqrt(),
        sharpe: if daily_sd > 0.0 {
            mean / daily_sd * 252f64.sqrt()
        } else {
            0.0
        },
        max_drawdown,
        total_return: end - 1.0,
    }
}
