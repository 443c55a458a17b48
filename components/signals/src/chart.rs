//! The backtest chart as SVG: the strategy's equity against buy-and-hold on a log scale, with
//! the days it held the risk-on asset shaded green and the risk-off days red, year marks, and
//! the headline statistics. Written directly: the picture is a few rectangles and two lines.

use std::fmt::Write;

use bourse_signals::dates;
use serde_json::Value;

const W: f64 = 960.0;
const H: f64 = 460.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 64.0;
const BOTTOM: f64 = 40.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map_or("–".into(), |x| format!("{:.1}%", x * 100.0))
}

/// Renders a stored backtest (`curve`: `[day, strategy, buy-and-hold, risk-on?]` rows).
pub fn svg(result: &Value) -> String {
    let curve: Vec<(i32, f64, f64, bool)> = result["curve_days"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| {
                    Some((
                        r[0].as_i64()? as i32,
                        r[1].as_f64()?,
                        r[2].as_f64()?,
                        r[3].as_bool()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="system-ui, sans-serif" font-size="12">"#
    );
    out.push_str(r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let title = format!(
        "{} rotation: {} / {}, {} rebalancing",
        result["signal"].as_str().unwrap_or("signal"),
        result["risk_on"].as_str().unwrap_or("?"),
        result["risk_off"].as_str().unwrap_or("?"),
        result["rebalance"].as_str().unwrap_or("?")
    );
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="24" font-size="16" font-weight="600" fill="#1f2328">{}</text>"##,
        escape(&title)
    );
    let stats = format!(
        "CAGR {} vs {} · Sharpe {:.2} vs {:.2} · max drawdown {} vs {} · {} switches",
        pct(&result["strategy"]["cagr"]),
        pct(&result["benchmark"]["cagr"]),
        result["strategy"]["sharpe"].as_f64().unwrap_or(0.0),
        result["benchmark"]["sharpe"].as_f64().unwrap_or(0.0),
        pct(&result["strategy"]["max_drawdown"]),
        pct(&result["benchmark"]["max_drawdown"]),
        result["switches"]
    );
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="44" fill="#59636e">{}</text>"##,
        escape(&stats)
    );
    if curve.len() < 2 {
        out.push_str("</svg>");
        return out;
    }
    let (plot_w, plot_h) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let n = curve.len();
    let x = |i: usize| LEFT + plot_w * i as f64 / (n - 1) as f64;
    let (lo, hi) = curve.iter().fold((f64::MAX, f64::MIN), |(lo, hi), c| {
        (lo.min(c.1).min(c.2), hi.max(c.1).max(c.2))
    });
    let (llo, lhi) = (
        lo.max(1e-9).ln(),
        hi.max(1e-9).ln().max(lo.max(1e-9).ln() + 1e-6),
    );
    let y = |v: f64| TOP + plot_h * (1.0 - (v.max(1e-9).ln() - llo) / (lhi - llo));
    // Regimes: one rectangle per run of days holding the same asset.
    let mut start = 0;
    for i in 1..=n {
        if i == n || curve[i].3 != curve[start].3 {
            let fill = if curve[start].3 { "#2da44e" } else { "#cf222e" };
            let _ = write!(
                out,
                r#"<rect x="{:.1}" y="{TOP}" width="{:.1}" height="{plot_h}" fill="{fill}" fill-opacity="0.09"/>"#,
                x(start),
                (x(i.min(n - 1)) - x(start)).max(0.5)
            );
            start = i;
        }
    }
    // Gridlines at powers of a readable step, labelled as multiples of the start.
    let step: f64 = if hi / lo > 8.0 { 2.0 } else { 1.25 };
    let mut level = step.powf((lo.ln() / step.ln()).ceil());
    while level <= hi {
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#d1d9e0"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#59636e">{level:.2}×</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y(level) + 4.0,
            y = y(level)
        );
        level *= step;
    }
    // Year marks on the first trading day of each year (every few years when they crowd).
    let years: Vec<(usize, i32)> = (0..n)
        .filter_map(|i| {
            let (yr, ..) = dates::civil_from_days(curve[i].0);
            (i == 0 || dates::civil_from_days(curve[i - 1].0).0 != yr).then_some((i, yr))
        })
        .collect();
    let every = (years.len() / 12).max(1);
    for (k, (i, yr)) in years.iter().enumerate() {
        if k % every == 0 {
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#59636e">{yr}</text>"##,
                x(*i),
                H - BOTTOM + 18.0
            );
        }
    }
    // At most about a thousand points per line: a pixel cannot show more.
    let stride = (n / 1000).max(1);
    for (series, colour, width) in [(2usize, "#6e7781", 1.5), (1usize, "#0969da", 2.0)] {
        let mut points = String::new();
        for i in (0..n).step_by(stride).chain(std::iter::once(n - 1)) {
            let v = if series == 1 { curve[i].1 } else { curve[i].2 };
            let _ = write!(points, "{:.1},{:.1} ", x(i), y(v));
        }
        let _ = write!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="{width}" stroke-linejoin="round"/>"#,
            points.trim_end()
        );
    }
    let legend_y = TOP - 8.0;
    let _ = write!(
        out,
        r##"<line x1="{a}" x2="{b}" y1="{legend_y}" y2="{legend_y}" stroke="#0969da" stroke-width="2"/><text x="{c}" y="{t}" fill="#1f2328">strategy</text><line x1="{d}" x2="{e}" y1="{legend_y}" y2="{legend_y}" stroke="#6e7781" stroke-width="1.5"/><text x="{f}" y="{t}" fill="#1f2328">buy and hold</text><rect x="{g}" y="{r}" width="12" height="10" fill="#2da44e" fill-opacity="0.25"/><text x="{h}" y="{t}" fill="#1f2328">risk-on</text><rect x="{i}" y="{r}" width="12" height="10" fill="#cf222e" fill-opacity="0.25"/><text x="{j}" y="{t}" fill="#1f2328">risk-off</text>"##,
        a = W - 420.0,
        b = W - 400.0,
        c = W - 395.0,
        d = W - 330.0,
        e = W - 310.0,
        f = W - 305.0,
        g = W - 210.0,
        h = W - 194.0,
        i = W - 130.0,
        j = W - 114.0,
        t = legend_y + 4.0,
        r = legend_y - 6.0
    );
    out.push_str("</svg>");
    out
}
