//! The five signals and their consensus.
//!
//! 1. Utilities / broad market (XLU, SPY), `L = 21`: `g_XLU / g_SPY > 1` → Risk-Off, else Risk-On.
//! 2. Lumber / gold (WOOD, GLD), `L = 65`: `g_WOOD / g_GLD > 1` → Risk-On, else Risk-Off.
//! 3. Treasury duration (TLT, IEF), `L = 21`, band `b = 0`: `> 1 + b` → Risk-Off, `< 1 − b` →
//!    Risk-On, otherwise Neutral; with `b = 0`, exactly 1 → Risk-On.
//! 4. VIX: `threshold` (close `< 12.5` → Risk-Off, else Risk-On) or `percentile` (share `p` of
//!    the last 252 closes, today included, strictly below today: `p ≤ 25%` → Risk-Off,
//!    `p ≥ 75%` → Risk-On, else Neutral).
//! 5. S&P 500 trend (SPY): `200` (close `> SMA(200)` → Risk-On, else Risk-Off) or `50_200`
//!    (above both SMAs → Risk-On, below both → Risk-Off, else Neutral).
//!
//! Consensus: among the signals with a value that day (Neutral ones and those still warming up
//! left out), more Risk-On → Risk-On, more Risk-Off → Risk-Off, a tie → Mixed.

use serde::{Deserialize, Serialize};

use crate::Series;

/// What a signal says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    RiskOn,
    RiskOff,
    Neutral,
}

/// What the signals say together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consensus {
    RiskOn,
    RiskOff,
    Mixed,
}

/// One day of one signal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Days since 1970-01-01.
    pub date: i32,
    /// The ratio of growths, the VIX close or its percentile, or close / SMA.
    pub value: f64,
    pub regime: Regime,
}

/// A signal's values, on the days it has one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalSeries {
    pub name: &'static str,
    pub points: Vec<Point>,
}

/// VIX rule. Read from `{"mode": "threshold", "level": …}`, `{"mode": "percentile", "window":
/// …, "low": …, "high": …}`, or the query string's short forms `"threshold"` and
/// `"percentile"` (each with its defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum VixMode {
    Threshold { level: f64 },
    Percentile { window: usize, low: f64, high: f64 },
}

impl VixMode {
    /// `threshold` with its default level.
    pub const THRESHOLD: VixMode = VixMode::Threshold { level: 12.5 };
    /// `percentile` with its default window and shares.
    pub const PERCENTILE: VixMode = VixMode::Percentile {
        window: 252,
        low: 0.25,
        high: 0.75,
    };

    /// The mode a short form names (`threshold`, `percentile`).
    pub fn from_short(name: &str) -> Option<VixMode> {
        match name {
            "threshold" => Some(VixMode::THRESHOLD),
            "percentile" => Some(VixMode::PERCENTILE),
            _ => None,
        }
    }
}

/// The long form's fields, as written.
#[derive(Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
enum VixModeFields {
    Threshold { level: f64 },
    Percentile { window: usize, low: f64, high: f64 },
}

impl<'de> Deserialize<'de> for VixMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = VixMode;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#""threshold", "percentile" or {"mode": …}"#)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<VixMode, E> {
                VixMode::from_short(v)
                    .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<VixMode, A::Error> {
                let fields =
                    VixModeFields::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(match fields {
                    VixModeFields::Threshold { level } => VixMode::Threshold { level },
                    VixModeFields::Percentile { window, low, high } => {
                        VixMode::Percentile { window, low, high }
                    }
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// S&P 500 trend rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrendMode {
    #[serde(rename = "200")]
    Sma200,
    #[serde(rename = "50_200")]
    Sma50And200,
}

/// Every parameter, defaulting to the definitions above.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub utilities_lookback: usize,
    pub lumber_lookback: usize,
    pub treasury_lookback: usize,
    pub treasury_band: f64,
    pub vix: VixMode,
    pub trend: TrendMode,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            utilities_lookback: 21,
            lumber_lookback: 65,
            treasury_lookback: 21,
            treasury_band: 0.0,
            vix: VixMode::THRESHOLD,
            trend: TrendMode::Sma200,
        }
    }
}

/// Longest look-back of a ratio signal, in trading days (four years).
pub const MAX_LOOKBACK: usize = 1000;
/// Longest VIX percentile window, in trading days (ten years).
pub const MAX_VIX_WINDOW: usize = 2520;
/// Highest VIX threshold: the index has never closed above 90.
pub const MAX_VIX_LEVEL: f64 = 1000.0;

/// A parameter outside the range in which the rules above mean something.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    /// The parameter's path, e.g. `vix.low`.
    pub name: &'static str,
    /// The value given and the range expected.
    pub message: String,
}

impl Params {
    /// Checks every parameter against its range. The rules would run with any value (a
    /// look-back of 0 is read as 1, a percentile `low` of 25 makes the VIX always Risk-Off),
    /// so a value they cannot mean is refused here rather than silently reinterpreted.
    pub fn check(&self) -> Result<(), ParamError> {
        let fail = |name: &'static str, message: String| Err(ParamError { name, message });
        for (name, lookback) in [
            ("utilities_lookback", self.utilities_lookback),
            ("lumber_lookback", self.lumber_lookback),
            ("treasury_lookback", self.treasury_lookback),
        ] {
            if !(1..=MAX_LOOKBACK).contains(&lookback) {
                return fail(
                    name,
                    format!("{lookback} is not from 1 to {MAX_LOOKBACK} trading days"),
                );
            }
        }
        let band = self.treasury_band;
        if !(0.0..1.0).contains(&band) {
            return fail(
                "treasury_band",
                format!("{band} is not a fraction from 0 up to 1 (e.g. 0.01 for 1 %)"),
            );
        }
        match self.vix {
            VixMode::Threshold { level } => {
                if !(level > 0.0 && level <= MAX_VIX_LEVEL) {
                    return fail(
                        "vix.level",
                        format!("{level} is not a VIX level above 0 and up to {MAX_VIX_LEVEL}"),
                    );
                }
            }
            VixMode::Percentile { window, low, high } => {
                // One day's window has no other day to rank today against.
                if !(2..=MAX_VIX_WINDOW).contains(&window) {
                    return fail(
                        "vix.window",
                        format!("{window} is not from 2 to {MAX_VIX_WINDOW} trading days"),
                    );
                }
                for (name, share) in [("vix.low", low), ("vix.high", high)] {
                    if !(0.0..=1.0).contains(&share) {
                        return fail(
                            name,
                            format!("{share} is not a share from 0 to 1 (e.g. 0.25 for 25 %)"),
                        );
                    }
                }
                if low >= high {
                    return fail("vix.low", format!("{low} is not below vix.high ({high})"));
                }
            }
        }
        Ok(())
    }
}

/// The days both series traded, with both closes.
fn aligned(a: &Series, b: &Series) -> Vec<(i32, f64, f64)> {
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.dates.len().min(b.dates.len())));
    while i < a.dates.len() && j < b.dates.len() {
        match a.dates[i].cmp(&b.dates[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push((a.dates[i], a.closes[i], b.closes[j]));
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// `g_a / g_b` over `lookback` shared trading days, classified by `rule`.
fn ratio_signal(
    name: &'static str,
    a: &Series,
    b: &Series,
    lookback: usize,
    rule: impl Fn(f64) -> Regime,
) -> SignalSeries {
    let days = aligned(a, b);
    let points = (lookback.max(1)..days.len())
        .map(|t| {
            let (date, ca, cb) = days[t];
            let (_, pa, pb) = days[t - lookback.max(1)];
            let value = (ca / pa) / (cb / pb);
            Point {
                date,
                value,
                regime: rule(value),
            }
        })
        .collect();
    SignalSeries { name, points }
}

/// Signal 1.
pub fn utilities(xlu: &Series, spy: &Series, p: &Params) -> SignalSeries {
    ratio_signal("utilities", xlu, spy, p.utilities_lookback, |r| {
        if r > 1.0 {
            Regime::RiskOff
        } else {
            Regime::RiskOn
        }
    })
}

/// Signal 2.
pub fn lumber_gold(wood: &Series, gld: &Series, p: &Params) -> SignalSeries {
    ratio_signal("lumber_gold", wood, gld, p.lumber_lookback, |r| {
        if r > 1.0 {
            Regime::RiskOn
        } else {
            Regime::RiskOff
        }
    })
}

/// Signal 3.
pub fn treasury(tlt: &Series, ief: &Series, p: &Params) -> SignalSeries {
    let band = p.treasury_band;
    ratio_signal("treasury", tlt, ief, p.treasury_lookback, move |r| {
        if r > 1.0 + band {
            Regime::RiskOff
        } else if r < 1.0 - band || band == 0.0 {
            Regime::RiskOn
        } else {
            Regime::Neutral
        }
    })
}

/// Signal 4.
pub fn vix(vix: &Series, p: &Params) -> SignalSeries {
    let points = match p.vix {
        VixMode::Threshold { level } => vix
            .dates
            .iter()
            .zip(&vix.closes)
            .map(|(&date, &close)| Point {
                date,
                value: close,
                regime: if close < level {
                    Regime::RiskOff
                } else {
                    Regime::RiskOn
                },
            })
            .collect(),
        VixMode::Percentile { window, low, high } => {
            let window = window.max(1);
            (window - 1..vix.closes.len())
                .map(|t| {
                    let today = vix.closes[t];
                    let below = vix.closes[t + 1 - window..=t]
                        .iter()
                        .filter(|&&c| c < today)
                        .count();
                    let share = below as f64 / window as f64;
                    Point {
                        date: vix.dates[t],
                        value: share,
                        regime: if share <= low {
                            Regime::RiskOff
                        } else if share >= high {
                            Regime::RiskOn
                        } else {
                            Regime::Neutral
                        },
                    }
                })
                .collect()
        }
    };
    SignalSeries {
        name: "vix",
        points,
    }
}

/// Simple moving averages of `closes` over `n` days ending at each index (`None` before).
/// Each window is summed afresh: exact to the last bit for every day, and 200 additions a
/// day cost nothing next to reading the bars.
fn sma(closes: &[f64], n: usize) -> Vec<Option<f64>> {
    (0..closes.len())
        .map(|i| (i + 1 >= n).then(|| closes[i + 1 - n..=i].iter().sum::<f64>() / n as f64))
        .collect()
}

/// Signal 5.
pub fn trend(spy: &Series, p: &Params) -> SignalSeries {
    let long = sma(&spy.closes, 200);
    let short = sma(&spy.closes, 50);
    let points = (0..spy.closes.len())
        .filter_map(|t| {
            let close = spy.closes[t];
            let l = long[t]?;
            let regime = match p.trend {
                TrendMode::Sma200 => {
                    if close > l {
                        Regime::RiskOn
                    } else {
                        Regime::RiskOff
                    }
                }
                TrendMode::Sma50And200 => {
                    let s = short[t]?;
                    if close > s && close > l {
                        Regime::RiskOn
                    } else if close < s && close < l {
                        Regime::RiskOff
                    } else {
                        Regime::Neutral
                    }
                }
            };
            Some(Point {
                date: spy.dates[t],
                value: close / l,
                regime,
            })
        })
        .collect();
    SignalSeries {
        name: "trend",
        points,
    }
}

/// The closes the five signals read.
pub struct Inputs<'a> {
    pub spy: &'a Series,
    pub xlu: &'a Series,
    pub wood: &'a Series,
    pub gld: &'a Series,
    pub tlt: &'a Series,
    pub ief: &'a Series,
    pub vix: &'a Series,
}

/// All five signals.
pub fn all(inputs: &Inputs<'_>, p: &Params) -> Vec<SignalSeries> {
    vec![
        utilities(inputs.xlu, inputs.spy, p),
        lumber_gold(inputs.wood, inputs.gld, p),
        treasury(inputs.tlt, inputs.ief, p),
        vix(inputs.vix, p),
        trend(inputs.spy, p),
    ]
}

/// One day's consensus: date, state, and the Risk-On and Risk-Off votes.
pub type ConsensusDay = (i32, Consensus, u32, u32);

/// The consensus on every day at least one signal has a value, in date order.
pub fn consensus(signals: &[SignalSeries]) -> Vec<ConsensusDay> {
    let mut votes: std::collections::BTreeMap<i32, (u32, u32)> = std::collections::BTreeMap::new();
    for s in signals {
        for p in &s.points {
            let v = votes.entry(p.date).or_default();
            match p.regime {
                Regime::RiskOn => v.0 += 1,
                Regime::RiskOff => v.1 += 1,
                Regime::Neutral => {}
            }
        }
    }
    votes
        .into_iter()
        .map(|(date, (on, off))| {
            let c = match on.cmp(&off) {
                std::cmp::Ordering::Greater => Consensus::RiskOn,
                std::cmp::Ordering::Less => Consensus::RiskOff,
                std::cmp::Ordering::Equal => Consensus::Mixed,
            };
            (date, c, on, off)
        })
        .collect()
}
