// Simulations: start a seeded scenario in a sandbox venue, watch its progress live, then its
// price chart and per-symbol statistics.

import { CandlestickSeries, type IChartApiBase } from "lightweight-charts";
import { api } from "../api";
import * as session from "../session";
import * as ws from "../ws";
import { h, fill, field, formValues, table, num } from "../dom";
import * as notify from "../notify";
import { numberChart } from "../charts";
import type { Render } from "../page";

interface Progress {
  generated: number;
  accepted: number;
  rejected: number;
  trades: number;
  volume: number;
  open_orders: number;
  elapsed_ms: number;
  orders_per_second: number;
  done: number;
}
interface SymbolSummary {
  trades: number;
  volume: number;
  vwap: number;
  last: number | null;
  high: number | null;
  low: number | null;
}
interface View {
  id: string;
  status: string;
  reason?: string | null;
  ran_on?: string;
  scenario?: { symbols: string[] };
  progress?: Progress;
  summary?: { book_hash: string; symbols: Record<string, SymbolSummary> } | null;
}
interface Bars {
  symbol: string;
  orders_per_bar?: number;
  bars: { start: number; open: number; high: number; low: number; close: number; volume: number; trades: number }[];
}

// Runs started from this tab, newest first, kept across page switches (not across sign-ins).
const runs: { id: string; status: string }[] = [];
session.onChange(() => runs.splice(0));
const ticks = (t: number | null | undefined) => (t === null || t === undefined ? "–" : (t / 100).toFixed(2));

export const render: Render = (root) => {
  const formBox = h("div");
  const runBox = h("div", { "data-testid": "simulation-run" });
  // Outside runBox, which is redrawn every 250 ms: the button keeps keyboard focus.
  const stopButton = h("button", { type: "button", hidden: true, onclick: () => watching && void stop(watching) }, "Stop");
  const chartBox = h("div", { class: "chart", "data-testid": "simulation-chart", hidden: true });
  const summaryBox = h("div", { "data-testid": "simulation-summary" });
  const runsBox = h("div");
  fill(
    root,
    h("h1", {}, "Simulations"),
    h(
      "div",
      { class: "grid" },
      h("div", { class: "card span-4" }, h("h2", {}, "New run"), formBox, h("h2", {}, "Runs from this tab"), runsBox),
      h("div", { class: "card span-8" }, h("h2", {}, "Run"), runBox, stopButton, chartBox, summaryBox),
    ),
  );

  let stopWatching: (() => void) | null = null;
  let chart: IChartApiBase<number> | null = null;
  let poll: number | undefined;
  let finished: string | null = null;
  let watching: string | null = null;
  let disposed = false;

  function drawRuns(): void {
    fill(
      runsBox,
      runs.length
        ? h(
            "ul",
            {},
            runs.map((r) => h("li", {}, h("button", { type: "button", class: "link", onclick: () => watch(r.id) }, r.id), " ", h("span", { class: `pill ${r.status}` }, r.status))),
          )
        : h("p", { class: "muted" }, "None yet."),
    );
  }

  function drawProgress(view: View): void {
    const p = view.progress;
    const entry = runs.find((r) => r.id === view.id);
    if (entry && entry.status !== view.status) {
      entry.status = view.status;
      drawRuns();
    }
    stopButton.hidden = view.status !== "running";
    fill(
      runBox,
      h("p", {}, h("span", { class: "mono" }, view.id), " ", h("span", { class: `pill ${view.status}`, "data-testid": "simulation-status" }, view.status), view.reason ? h("span", { class: "muted" }, ` · ${view.reason}`) : null),
      h("progress", { max: 1, value: p?.done ?? 0, "aria-label": "Progress" }),
      p
        ? h(
            "div",
            { class: "tiles" },
            h("div", { class: "tile" }, h("b", {}, p.generated.toLocaleString()), "orders generated"),
            h("div", { class: "tile" }, h("b", {}, p.trades.toLocaleString()), "trades"),
            h("div", { class: "tile" }, h("b", {}, Math.round(p.orders_per_second).toLocaleString()), "orders/s"),
            h("div", { class: "tile" }, h("b", {}, p.open_orders.toLocaleString()), "open orders"),
            h("div", { class: "tile" }, h("b", {}, `${(p.elapsed_ms / 1000).toFixed(1)} s`), "elapsed"),
          )
        : h("p", { class: "muted" }, "Waiting for the runner…"),
    );
  }

  async function finish(view: View): Promise<void> {
    window.clearInterval(poll);
    stopWatching?.();
    stopWatching = null;
    const symbols = Object.entries(view.summary?.symbols ?? {});
    fill(
      summaryBox,
      table(
        ["Symbol", "Trades", "Volume", "VWAP", "High", "Low", "Last"],
        symbols.map(([s, x]) => [s, x.trades.toLocaleString(), x.volume.toLocaleString(), num(x.vwap / 100), ticks(x.high), ticks(x.low), ticks(x.last)]),
        "No trades",
      ),
      view.summary ? h("p", { class: "muted" }, "Book hash ", h("span", { class: "mono" }, view.summary.book_hash), " (equal for equal scenario and seed)") : null,
    );
    const symbol = view.scenario?.symbols[0];
    if (!symbol) return;
    try {
      const bars = await api<Bars>(`/api/simulations/${view.id}/bars?symbol=${encodeURIComponent(symbol)}`);
      // The user may have left, or turned to another run, meanwhile.
      if (disposed || watching !== view.id) return;
      chart?.remove();
      chartBox.hidden = false;
      chart = numberChart(chartBox);
      const series = chart.addSeries(CandlestickSeries, {
        upColor: "#26a69a",
        downColor: "#ef5350",
        borderVisible: false,
        wickUpColor: "#26a69a",
        wickDownColor: "#ef5350",
        title: `${symbol}, one bar per ${bars.orders_per_bar ?? "–"} orders`,
      });
      series.setData(bars.bars.map((b) => ({ time: b.start, open: b.open / 100, high: b.high / 100, low: b.low / 100, close: b.close / 100 })));
      chart.timeScale().fitContent();
    } catch (e) {
      notify.error(e);
    }
  }

  function onView(view: View): void {
    drawProgress(view);
    if (view.status !== "running" && finished !== view.id) {
      finished = view.id;
      void finish(view);
    }
  }

  async function refresh(id: string): Promise<void> {
    try {
      const view = await api<View>(`/api/simulations/${id}`);
      if (!disposed && watching === id) onView(view);
    } catch (e) {
      window.clearInterval(poll);
      notify.error(e);
    }
  }

  function watch(id: string): void {
    stopWatching?.();
    window.clearInterval(poll);
    finished = null;
    watching = id;
    stopButton.hidden = true;
    fill(summaryBox);
    chartBox.hidden = true;
    fill(runBox, h("p", { class: "muted" }, `Loading ${id}…`));
    stopWatching = ws.subscribe(`simulations:${id}`, (msg) => {
      const data = msg.data as { status: string; progress: Progress } | undefined;
      if (!data) return;
      if (data.status === "running") drawProgress({ id, ...data });
      else void refresh(id);
    });
    // The room's last event may have gone before the subscription: read the run too, and
    // keep reading it while it runs in case the live connection is down.
    void refresh(id);
    poll = window.setInterval(() => void refresh(id), 1000);
  }

  async function stop(id: string): Promise<void> {
    try {
      await api(`/api/simulations/${id}`, { method: "DELETE" });
    } catch (e) {
      notify.error(e);
    }
  }

  const error = h("p", { class: "error", role: "alert", hidden: true });
  const start = h("button", { type: "submit", class: "primary" }, "Start");
  fill(
    formBox,
    h(
      "form",
      {
        "aria-label": "New simulation",
        onsubmit: async (e: Event) => {
          e.preventDefault();
          const v = formValues(e.target as HTMLFormElement);
          const body: Record<string, unknown> = {
            scenario: {
              symbols: v.symbols.split(",").map((s) => s.trim()).filter(Boolean),
              mid: Math.round(Number(v.mid) * 100),
              spread: Number(v.spread),
              seed: Number(v.seed),
              volatility_bp: Number(v.volatility_bp),
              agents: { noise: Number(v.noise), market_maker: Number(v.market_maker), momentum: Number(v.momentum) },
            },
            orders: Number(v.orders),
          };
          if (v.rate) body.rate = Number(v.rate);
          notify.inline(error, null);
          start.disabled = true;
          try {
            const view = await api<View>("/api/simulations", { method: "POST", body });
            runs.unshift({ id: view.id, status: view.status });
            if (disposed) return;
            drawRuns();
            watch(view.id);
          } catch (err) {
            notify.inline(error, err);
          } finally {
            start.disabled = false;
          }
        },
      },
      field("Symbols", h("input", { name: "symbols", value: "AAPL", required: true }), "comma-separated; a sandbox venue, never the live books"),
      h(
        "div",
        { class: "row" },
        field("Orders", h("input", { name: "orders", type: "number", min: 1, value: 20000, required: true, size: 8 })),
        field("Seed", h("input", { name: "seed", type: "number", min: 0, value: 7, required: true, size: 5 })),
      ),
      h(
        "div",
        { class: "row" },
        field("Mid price", h("input", { name: "mid", type: "number", min: 0.01, step: 0.01, value: 100, required: true, size: 6 })),
        field("Spread (ticks)", h("input", { name: "spread", type: "number", min: 1, value: 50, size: 5 })),
        field("Volatility (bp)", h("input", { name: "volatility_bp", type: "number", min: 0, max: 10000, value: 300, size: 5 })),
      ),
      h(
        "div",
        { class: "row" },
        field("Noise %", h("input", { name: "noise", type: "number", min: 0, max: 100, value: 60, size: 4 })),
        field("Market makers %", h("input", { name: "market_maker", type: "number", min: 0, max: 100, value: 30, size: 4 })),
        field("Momentum %", h("input", { name: "momentum", type: "number", min: 0, max: 100, value: 10, size: 4 })),
      ),
      field("Rate (orders/s)", h("input", { name: "rate", type: "number", min: 1, placeholder: "as fast as possible", size: 10 })),
      error,
      start,
    ),
  );
  drawRuns();
  if (runs[0]) watch(runs[0].id);
  else fill(runBox, h("p", { class: "muted" }, "Start a run to watch it here."));

  return () => {
    disposed = true;
    stopWatching?.();
    window.clearInterval(poll);
    chart?.remove();
  };
};
