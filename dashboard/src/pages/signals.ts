// Signals: the five Gayed signals and the consensus, one signal's history as a chart, and a
// backtest's equity curve against buy-and-hold with the regimes shaded.

import { LineSeries, PriceScaleMode, type IChartApi, type Time } from "lightweight-charts";
import { api, errorText } from "../api";
import * as session from "../session";
import * as ws from "../ws";
import { h, fill, field, formValues, select, table, pct, num } from "../dom";
import * as notify from "../notify";
import { dateChart, regimeBands, RISK_ON, RISK_OFF, NEUTRAL } from "../charts";
import type { Render } from "../page";

type Regime = "risk_on" | "risk_off" | "neutral";
const NAMES = ["utilities", "lumber_gold", "treasury", "vix", "trend"] as const;
const LABELS: Record<string, string> = {
  utilities: "Utilities (XLU/SPY)",
  lumber_gold: "Lumber/gold (WOOD/GLD)",
  treasury: "Treasuries (TLT/IEF)",
  vix: "VIX",
  trend: "Trend (SPY vs SMA)",
  consensus: "Consensus",
};

interface Latest {
  signals: Record<string, { date: string; value: number; regime: Regime } | null>;
  consensus: { date: string; state: string; risk_on: number; risk_off: number } | null;
}
interface Stats {
  cagr: number | null;
  volatility: number | null;
  sharpe: number | null;
  max_drawdown: number | null;
  total_return: number | null;
}
interface Backtest {
  id: string;
  signal: string;
  risk_on: string;
  risk_off: string;
  from: string | null;
  to: string | null;
  strategy: Stats;
  benchmark: Stats;
  switches: number;
  time_risk_on: number;
  time_risk_off: number;
  curve: [string, number, number, boolean][];
}

function pill(state: string): HTMLElement {
  return h("span", { class: `pill ${state}` }, state.replace("_", "-"));
}

function bandColor(regime: string): string {
  return regime === "risk_on" ? RISK_ON : regime === "risk_off" ? RISK_OFF : NEUTRAL;
}

export const render: Render = (root) => {
  const latestBox = h("div", { "data-testid": "signals-table" });
  const historyPick = select("history", [...NAMES.map((n) => [n, LABELS[n]] as [string, string]), ["consensus", LABELS.consensus]]);
  historyPick.setAttribute("aria-label", "Signal history");
  const historyChart = h("div", { class: "chart", "data-testid": "history-chart" });
  const btForm = h("div");
  const btChart = h("div", { class: "chart", "data-testid": "backtest-chart", hidden: true });
  const btStats = h("div", { "data-testid": "backtest-stats" });
  fill(
    root,
    h("h1", {}, "Signals"),
    h(
      "div",
      { class: "grid" },
      h("div", { class: "card span-5" }, h("h2", {}, "Latest"), latestBox),
      h("div", { class: "card span-7" }, h("div", { class: "row title" }, h("h2", {}, "History"), historyPick), historyChart),
      h("div", { class: "card span-4" }, h("h2", {}, "Backtest"), btForm),
      h("div", { class: "card span-8" }, h("h2", {}, "Equity: strategy vs buy-and-hold (log scale)"), btChart, btStats),
    ),
  );

  let history: IChartApi | null = null;
  let bt: IChartApi | null = null;
  // Each history load draws only if it is still the latest (a keyboard user arrowing through
  // the picker starts several) and the page is still open.
  let historyLoad = 0;
  let disposed = false;

  async function loadLatest(): Promise<void> {
    try {
      const latest = await api<Latest>("/api/signals");
      const rows = NAMES.map((n) => {
        const s = latest.signals[n];
        return [LABELS[n], s?.date ?? "–", s ? num(s.value, 4) : "warming up / no bars", s ? pill(s.regime) : "–"];
      });
      const c = latest.consensus;
      rows.push([h("b", {}, LABELS.consensus), c?.date ?? "–", c ? `${c.risk_on} on · ${c.risk_off} off` : "–", c ? pill(c.state) : "–"]);
      fill(
        latestBox,
        table(["Signal", "Date", "Value", "Regime"], rows),
        c ? null : h("p", { class: "muted" }, "No bars yet: import daily bars (README, “Signals from synthetic bars”)."),
      );
    } catch (e) {
      fill(latestBox, h("p", { class: "error", role: "alert" }, errorText(e)));
    }
  }

  async function loadHistory(name: string): Promise<void> {
    const load = ++historyLoad;
    try {
      const answer = await api<{ points: { date: string; value?: number; regime?: Regime; state?: string; risk_on?: number; risk_off?: number }[] }>(
        `/api/signals/${name}/history`,
      );
      if (disposed || load !== historyLoad) return;
      history?.remove();
      history = dateChart(historyChart);
      const bands = regimeBands(history);
      const line = history.addSeries(LineSeries, { color: "#4c9aff", lineWidth: 2, priceLineVisible: false });
      const pts = answer.points;
      bands.setData(pts.map((p) => ({ time: p.date as Time, value: 1, color: bandColor(p.regime ?? p.state ?? "") })));
      line.setData(
        pts.map((p) => ({ time: p.date as Time, value: p.value ?? (p.risk_on ?? 0) - (p.risk_off ?? 0) })),
      );
      history.timeScale().fitContent();
    } catch (e) {
      notify.error(e);
    }
  }

  function drawForm(): void {
    if (!session.signedIn()) {
      fill(btForm, h("p", { class: "notice" }, h("a", { href: "#/signin?next=signals" }, "Sign in"), " to run a backtest."));
      return;
    }
    const error = h("p", { class: "error", role: "alert", hidden: true });
    const run = h("button", { type: "submit", class: "primary" }, "Run backtest");
    fill(
      btForm,
      h(
        "form",
        {
          "aria-label": "Backtest",
          onsubmit: async (e: Event) => {
            e.preventDefault();
            const v = formValues(e.target as HTMLFormElement);
            const body: Record<string, unknown> = {
              signal: v.signal,
              risk_on: v.risk_on,
              risk_off: v.risk_off,
              rebalance: v.rebalance,
              cost_bps: Number(v.cost_bps || 0),
            };
            if (v.from) body.from = v.from;
            if (v.to) body.to = v.to;
            notify.inline(error, null);
            run.disabled = true;
            run.textContent = "Running…";
            try {
              drawBacktest(await api<Backtest>("/api/backtests", { method: "POST", body }));
            } catch (err) {
              notify.inline(error, err);
            } finally {
              run.disabled = false;
              run.textContent = "Run backtest";
            }
          },
        },
        field("Signal", select("signal", [["consensus", "Consensus"], ...NAMES.map((n) => [n, LABELS[n]] as [string, string])])),
        h(
          "div",
          { class: "row" },
          field("Risk-on asset", h("input", { name: "risk_on", value: "SPY", required: true, size: 6 })),
          field("Risk-off asset", select("risk_off", [["TLT", "TLT"], ["IEF", "IEF"], ["XLU", "XLU"], ["GLD", "GLD"], ["cash", "cash"]])),
        ),
        h(
          "div",
          { class: "row" },
          field("Rebalance", select("rebalance", [["weekly", "weekly"], ["daily", "daily"]])),
          field("Cost per switch (bps)", h("input", { name: "cost_bps", type: "number", min: 0, max: 1000, value: 5, size: 5 })),
        ),
        h("div", { class: "row" }, field("From", h("input", { name: "from", type: "date" })), field("To", h("input", { name: "to", type: "date" }))),
        error,
        run,
      ),
    );
  }

  function drawBacktest(r: Backtest): void {
    if (disposed) return;
    btChart.hidden = false;
    bt?.remove();
    bt = dateChart(btChart, { rightPriceScale: { mode: PriceScaleMode.Logarithmic, borderColor: "#263240" } });
    const bands = regimeBands(bt);
    const strategy = bt.addSeries(LineSeries, { color: "#4c9aff", lineWidth: 2, title: "strategy", priceLineVisible: false });
    const hold = bt.addSeries(LineSeries, { color: "#d1d4dc", lineWidth: 1, title: `buy-and-hold ${r.risk_on}`, priceLineVisible: false });
    bands.setData(r.curve.map(([d, , , on]) => ({ time: d as Time, value: 1, color: on ? RISK_ON : RISK_OFF })));
    strategy.setData(r.curve.map(([d, s]) => ({ time: d as Time, value: s })));
    hold.setData(r.curve.map(([d, , b]) => ({ time: d as Time, value: b })));
    bt.timeScale().fitContent();
    const row = (label: string, f: (s: Stats) => string) => [label, f(r.strategy), f(r.benchmark)];
    fill(
      btStats,
      h("p", { class: "muted" }, `${LABELS[r.signal] ?? r.signal}: ${r.risk_on} when risk-on, ${r.risk_off} when risk-off · ${r.from ?? "–"} to ${r.to ?? "–"} · green: holding ${r.risk_on}, red: holding ${r.risk_off}`),
      h(
        "table",
        { class: "stats" },
        h("thead", {}, h("tr", {}, ["", "Strategy", "Buy-and-hold"].map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          {},
          [
            row("CAGR", (s) => pct(s.cagr)),
            row("Volatility", (s) => pct(s.volatility)),
            row("Sharpe", (s) => num(s.sharpe)),
            row("Max drawdown", (s) => pct(s.max_drawdown)),
            row("Total return", (s) => pct(s.total_return)),
          ].map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c)))),
        ),
      ),
      h("p", {}, `Switches: ${r.switches} · time risk-on ${pct(r.time_risk_on, 1)} · risk-off ${pct(r.time_risk_off, 1)}`),
    );
  }

  historyPick.addEventListener("change", () => void loadHistory(historyPick.value));
  historyPick.value = "consensus";
  drawForm();
  void loadLatest();
  void loadHistory("consensus");
  const refresh = () => {
    void loadLatest();
    void loadHistory(historyPick.value);
  };
  const off = ws.subscribe("signals", refresh, {}, refresh);
  return () => {
    off();
    disposed = true;
    history?.remove();
    bt?.remove();
  };
};
