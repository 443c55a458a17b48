//! Each rule on hand-made series with known answers; the whole set against an independent,
//! straightforward implementation on generated data (to 1e-12); warm-up, gaps and ties; the
//! backtest on a hand-checked case.

use bourse_signals::backtest::{self, BacktestConfig, Decision, Rebalance};
use bourse_signals::rules::{self, Consensus, Inputs, Params, Regime, TrendMode, VixMode};
use bourse_signals::{Series, dates};

fn series(closes: &[f64]) -> Series {
    Series::new(
        closes
            .iter()
            .enumerate()
            .map(|(i, c)| (i as i32, *c))
            .collect(),
    )
    .expect("valid")
}

fn params() -> Params {
    Params {
        utilities_lookback: 2,
        lumber_lookback: 2,
        treasury_lookback: 2,
        ..Params::default()
    }
}

#[test]
fn each_rule_on_hand_made_series() {
    let p = params();
    // XLU +10 % over two days, SPY +5 %: utilities lead → Risk-Off; the reverse → Risk-On.
    let (up10, up5) = (
        series(&[100.0, 105.0, 110.0]),
        series(&[100.0, 102.0, 105.0]),
    );
    let s = rules::utilities(&up10, &up5, &p);
    assert_eq!(s.points.len(), 1, "warm after lookback + 1 days");
    assert!((s.points[0].value - 1.1 / 1.05).abs() < 1e-12);
    assert_eq!(s.points[0].regime, Regime::RiskOff);
    assert_eq!(
        rules::utilities(&up5, &up10, &p).points[0].regime,
        Regime::RiskOn
    );
    // Lumber beating gold is Risk-On.
    assert_eq!(
        rules::lumber_gold(&up10, &up5, &p).points[0].regime,
        Regime::RiskOn
    );
    assert_eq!(
        rules::lumber_gold(&up5, &up10, &p).points[0].regime,
        Regime::RiskOff
    );
    // Long bonds beating intermediates is Risk-Off; a ratio of exactly 1 is Risk-On (b = 0).
    assert_eq!(
        rules::treasury(&up10, &up5, &p).points[0].regime,
        Regime::RiskOff
    );
    assert_eq!(
        rules::treasury(&up5, &up5, &p).points[0].regime,
        Regime::RiskOn
    );
    let banded = Params {
        treasury_band: 0.1,
        ..p
    };
    assert_eq!(
        rules::treasury(&up10, &up5, &banded).points[0].regime,
        Regime::Neutral
    );
    // VIX threshold: under 12.5 is complacency → Risk-Off.
    let vix = series(&[12.0, 12.5, 30.0]);
    let v: Vec<Regime> = rules::vix(&vix, &p)
        .points
        .iter()
        .map(|x| x.regime)
        .collect();
    assert_eq!(v, [Regime::RiskOff, Regime::RiskOn, Regime::RiskOn]);
    // VIX percentile over a window of 4: today's share of closes strictly below it.
    let pct = Params {
        vix: VixMode::Percentile {
            window: 4,
            low: 0.25,
            high: 0.75,
        },
        ..p
    };
    // Windows [10 20 30 40], [20 30 40 5], [30 40 5 25]; then [40 5 25 30]: half below 30.
    let v = rules::vix(&series(&[10.0, 20.0, 30.0, 40.0, 5.0, 25.0, 30.0]), &pct);
    let got: Vec<(f64, Regime)> = v.points.iter().map(|x| (x.value, x.regime)).collect();
    assert_eq!(
        got,
        [
            (0.75, Regime::RiskOn),
            (0.0, Regime::RiskOff),
            (0.25, Regime::RiskOff),
            (0.5, Regime::Neutral)
        ]
    );
    // Trend: 200 rising days then a drop below the average.
    let mut closes: Vec<f64> = (1..=200).map(f64::from).collect();
    closes.push(50.0);
    let t = rules::trend(&series(&closes), &p);
    assert_eq!(t.points.len(), 2, "warm on day 200");
    assert_eq!(t.points[0].regime, Regime::RiskOn, "200 > mean of 1..=200");
    assert_eq!(t.points[1].regime, Regime::RiskOff);
    let both = Params {
        trend: TrendMode::Sma50And200,
        ..p
    };
    let mut closes: Vec<f64> = (1..=200).map(|_| 100.0).collect();
    closes.extend([150.0, 99.0]);
    closes.extend([(101.0)]);
    let t = rules::trend(&series(&closes), &both);
    let got: Vec<Regime> = t.points.iter().map(|x| x.regime).collect();
    // Flat at 100 (neither above nor below), then above both, below both, then 101: above the
    // 200-day mean but below the 50-day one (which the 150 lifted).
    assert_eq!(
        got[..],
        [
            Regime::Neutral,
            Regime::RiskOn,
            Regime::RiskOff,
            Regime::Neutral
        ]
    );
}

#[test]
fn gaps_align_on_shared_days_and_ties_are_mixed() {
    let p = params();
    // B skips day 2: the look-back counts shared trading days (0, 1, 3, 4).
    let a = Series::new(vec![
        (0, 100.0),
        (1, 101.0),
        (2, 200.0),
        (3, 103.0),
        (4, 110.0),
    ])
    .expect("a");
    let b = Series::new(vec![(0, 50.0), (1, 50.0), (3, 50.0), (4, 55.0)]).expect("b");
    let s = rules::utilities(&a, &b, &p);
    let dates: Vec<i32> = s.points.iter().map(|x| x.date).collect();
    assert_eq!(dates, [3, 4]);
    assert!((s.points[1].value - (110.0 / 101.0) / (55.0 / 50.0)).abs() < 1e-12);

    let on = rules::SignalSeries {
        name: "x",
        points: vec![rules::Point {
            date: 7,
            value: 1.0,
            regime: Regime::RiskOn,
        }],
    };
    let off = rules::SignalSeries {
        name: "y",
        points: vec![rules::Point {
            date: 7,
            value: 1.0,
            regime: Regime::RiskOff,
        }],
    };
    let neutral = rules::SignalSeries {
        name: "z",
        points: vec![rules::Point {
            date: 7,
            value: 1.0,
            regime: Regime::Neutral,
        }],
    };
    assert_eq!(
        rules::consensus(&[on.clone(), off.clone(), neutral.clone()]),
        [(7, Consensus::Mixed, 1, 1)]
    );
    assert_eq!(
        rules::consensus(&[on.clone(), neutral.clone()]),
        [(7, Consensus::RiskOn, 1, 0)]
    );
    assert_eq!(
        rules::consensus(&[off, neutral]),
        [(7, Consensus::RiskOff, 0, 1)]
    );
}

/// Seeded random walks for the seven tickers, each missing about 3 % of the days.
fn generated(seed: u64, days: i32) -> Vec<Series> {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..7)
        .map(|_| {
            let mut price = 20.0 + 100.0 * next();
            let mut points = Vec::new();
            for d in 0..days {
                price *= 1.0 + (next() - 0.5) * 0.04;
                if next() > 0.03 {
                    points.push((d, price));
                }
            }
            Series::new(points).expect("generated series")
        })
        .collect()
}

/// The same definitions, written the plain way: shared days by membership tests, windows by
/// loops.
mod reference {
    use super::*;

    pub fn ratio(a: &Series, b: &Series, lookback: usize) -> Vec<(i32, f64)> {
        let shared: Vec<i32> = a
            .dates
            .iter()
            .copied()
            .filter(|d| b.dates.contains(d))
            .collect();
        let mut out = Vec::new();
        for t in lookback..shared.len() {
            let (now, then) = (shared[t], shared[t - lookback]);
            let ga = a.close_on(now).unwrap() / a.close_on(then).unwrap();
            let gb = b.close_on(now).unwrap() / b.close_on(then).unwrap();
            out.push((now, ga / gb));
        }
        out
    }

    pub fn percentile(v: &Series, window: usize) -> Vec<(i32, f64)> {
        let mut out = Vec::new();
        for t in 0..v.closes.len() {
            if t + 1 < window {
                continue;
            }
            let mut below = 0;
            for k in t + 1 - window..=t {
                if v.closes[k] < v.closes[t] {
                    below += 1;
                }
            }
            out.push((v.dates[t], below as f64 / window as f64));
        }
        out
    }

    pub fn close_over_sma(s: &Series, n: usize) -> Vec<(i32, f64)> {
        let mut out = Vec::new();
        for t in 0..s.closes.len() {
            if t + 1 < n {
                continue;
            }
            let mut sum = 0.0;
            for k in t + 1 - n..=t {
                sum += s.closes[k];
            }
            out.push((s.dates[t], s.closes[t] / (sum / n as f64)));
        }
        out
    }
}

#[test]
fn the_signals_match_a_plain_reimplementation_on_generated_data() {
    for seed in [1u64, 7, 42] {
        let s = generated(seed, 1500);
        let (spy, xlu, wood, gld, tlt, ief, vix) =
            (&s[0], &s[1], &s[2], &s[3], &s[4], &s[5], &s[6]);
        let p = Params {
            vix: VixMode::Percentile {
                window: 252,
                low: 0.25,
                high: 0.75,
            },
            ..Params::default()
        };
        let inputs = Inputs {
            spy,
            xlu,
            wood,
            gld,
            tlt,
            ief,
            vix,
        };
        let got = rules::all(&inputs, &p);
        let expected = [
            reference::ratio(xlu, spy, 21),
            reference::ratio(wood, gld, 65),
            reference::ratio(tlt, ief, 21),
            reference::percentile(vix, 252),
            reference::close_over_sma(spy, 200),
        ];
        for (signal, want) in got.iter().zip(&expected) {
            assert_eq!(
                signal.points.len(),
                want.len(),
                "{} seed {seed}",
                signal.name
            );
            for (p, (date, value)) in signal.points.iter().zip(want) {
                assert_eq!(p.date, *date, "{}", signal.name);
                assert!(
                    (p.value - value).abs() <= 1e-12,
                    "{} on {date}: {} vs {value}",
                    signal.name,
                    p.value
                );
            }
        }
    }
}

#[test]
fn the_backtest_switches_on_weekly_decisions_and_pays_for_it() {
    // Two weeks, Monday 2024-01-08 to Friday 2024-01-19. The risk-on asset rises 1 % a day;
    // the risk-off asset is flat. Risk-Off on Wednesday of week one is ignored (weekly
    // rebalancing), Risk-Off on Friday switches from the next Monday on.
    let monday = dates::parse("2024-01-08").expect("date");
    let days: Vec<i32> = (0..12)
        .map(|i| monday + i)
        .filter(|d| (d - monday) % 7 < 5)
        .collect();
    let on = Series::new(
        days.iter()
            .enumerate()
            .map(|(i, d)| (*d, 100.0 * 1.01f64.powi(i as i32)))
            .collect(),
    )
    .expect("on");
    let off = Series::new(days.iter().map(|d| (*d, 50.0)).collect()).expect("off");
    let decisions = vec![(days[2], Decision::RiskOff), (days[4], Decision::RiskOff)];
    let config = BacktestConfig {
        rebalance: Rebalance::Weekly,
        cost_bps: 10.0,
    };
    let b = backtest::run(&decisions, &on, Some(&off), &config).expect("runs");
    assert_eq!(b.switches, 1);
    let end = b.curve.last().expect("curve").1;
    // Four rising days in week one, then the cost, then flat.
    assert!(
        (end - 1.01f64.powi(4) * (1.0 - 0.001)).abs() < 1e-12,
        "{end}"
    );
    assert!(
        (b.curve.last().expect("curve").2 - 1.01f64.powi(9)).abs() < 1e-12,
        "buy and hold"
    );
    // Positions taken at the close of Monday to Thursday were risk-on: 4 of 10 days.
    assert!((b.time_risk_on - 0.4).abs() < 1e-12, "{}", b.time_risk_on);
    assert!(b.strategy.max_drawdown.abs() < 2e-3, "{:?}", b.strategy);
    let daily = backtest::run(
        &decisions,
        &on,
        None,
        &BacktestConfig {
            rebalance: Rebalance::Daily,
            cost_bps: 0.0,
        },
    )
    .expect("runs");
    assert_eq!(daily.switches, 1, "already risk-off at the second decision");
    assert!(
        (daily.curve.last().expect("curve").1 - 1.01f64.powi(2)).abs() < 1e-12,
        "cash from Thursday on"
    );
}

#[test]
fn parameters_outside_their_ranges_are_named() {
    assert_eq!(Params::default().check(), Ok(()));
    let percentile = |window, low, high| Params {
        vix: VixMode::Percentile { window, low, high },
        ..Params::default()
    };
    assert_eq!(percentile(252, 0.25, 0.75).check(), Ok(()));
    let cases = [
        (percentile(252, 25.0, 75.0), "vix.low"),
        (percentile(252, 0.25, 75.0), "vix.high"),
        (percentile(252, 0.5, 0.5), "vix.low"),
        (percentile(1, 0.25, 0.75), "vix.window"),
        (
            percentile(rules::MAX_VIX_WINDOW + 1, 0.25, 0.75),
            "vix.window",
        ),
        (
            Params {
                vix: VixMode::Threshold { level: 0.0 },
                ..Params::default()
            },
            "vix.level",
        ),
        (
            Params {
                treasury_lookback: 0,
                ..Params::default()
            },
            "treasury_lookback",
        ),
        (
            Params {
                utilities_lookback: rules::MAX_LOOKBACK + 1,
                ..Params::default()
            },
            "utilities_lookback",
        ),
        (
            Params {
                treasury_band: -0.01,
                ..Params::default()
            },
            "treasury_band",
        ),
    ];
    for (p, name) in cases {
        assert_eq!(p.check().map_err(|e| e.name), Err(name), "{p:?}");
    }
}

/// `params` in a body take the query string's short forms (`"vix": "percentile"`), each
/// standing for its defaults, beside the long form; anything else is named.
#[test]
fn params_take_the_short_forms_of_the_query_string() {
    let p: Params =
        serde_json::from_str(r#"{"vix": "percentile", "trend": "50_200"}"#).expect("short forms");
    assert_eq!(p.vix, VixMode::PERCENTILE);
    assert_eq!(p.trend, TrendMode::Sma50And200);
    let p: Params = serde_json::from_str(r#"{"vix": "threshold"}"#).expect("short form");
    assert_eq!(p.vix, Params::default().vix);
    let p: Params = serde_json::from_str(
        r#"{"vix": {"mode": "percentile", "window": 100, "low": 0.1, "high": 0.9}}"#,
    )
    .expect("long form");
    assert_eq!(
        p.vix,
        VixMode::Percentile {
            window: 100,
            low: 0.1,
            high: 0.9
        }
    );
    let e = serde_json::from_str::<Params>(r#"{"vix": "median"}"#).expect_err("unknown");
    assert!(e.to_string().contains("\"median\""), "{e}");
    let e = serde_json::from_str::<Params>(r#"{"vix": {"mode": "percentile", "window": 10}}"#)
        .expect_err("incomplete");
    assert!(e.to_string().contains("missing field `low`"), "{e}");
    // What is written back is the long form.
    assert_eq!(
        serde_json::to_value(VixMode::PERCENTILE).expect("json"),
        serde_json::json!({"mode": "percentile", "window": 252, "low": 0.25, "high": 0.75})
    );
}
