// Health: dependencies, this replica, the engine and a few Prometheus figures, every 2 s.

import { api, metricsText, errorText } from "../api";
import { h, fill, table, num } from "../dom";
import type { Render } from "../page";

interface Check {
  status: string;
  backend?: string;
  latency_ms?: number;
  error?: string;
}

interface Ready {
  status: string;
  role?: string;
  checks?: Record<string, Check>;
  components?: { loaded: number; failed: string[] };
  replica?: { id?: string; role?: string; cluster?: string | null; owned_shards?: number[]; redis?: unknown };
}

/** Prometheus samples by metric name, summed over labels. */
function metricTotals(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eE]+|NaN)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    out.set(m[1], (out.get(m[1]) ?? 0) + value);
  }
  return out;
}

const TILES: [string, string, (v: number) => string][] = [
  ["http_requests_total", "HTTP requests", (v) => v.toFixed(0)],
  ["websocket_sessions", "WebSocket sessions", (v) => v.toFixed(0)],
  ["matching_commands_total", "Matching commands", (v) => v.toFixed(0)],
  ["component_calls_total", "Component calls", (v) => v.toFixed(0)],
  ["components_loaded", "Components loaded", (v) => v.toFixed(0)],
  ["process_resident_memory_bytes", "Resident memory", (v) => `${(v / 1048576).toFixed(0)} MB`],
  ["sql_pool_connections", "SQL connections", (v) => v.toFixed(0)],
  ["simulation_refused_total", "Simulations refused", (v) => v.toFixed(0)],
];

function pill(status: string): HTMLElement {
  return h("span", { class: `pill ${status}` }, status);
}

export const render: Render = (root) => {
  const status = h("div", { class: "card span-4", "data-testid": "health-status" });
  const deps = h("div", { class: "card span-8" });
  const engine = h("div", { class: "card span-6" });
  const metrics = h("div", { class: "card span-6" });
  fill(root, h("h1", {}, "Health"), h("div", { class: "grid" }, status, deps, engine, metrics));

  async function refresh(): Promise<void> {
    // /ready answers 503 with the same body while something is down: read it either way.
    let ready: Ready | null = null;
    try {
      const res = await fetch("/ready");
      ready = (await res.json()) as Ready;
    } catch (e) {
      fill(status, h("h2", {}, "Status"), h("p", { class: "error" }, errorText(e)));
    }
    if (ready) {
      const r = ready.replica;
      fill(
        status,
        h("h2", {}, "Status"),
        h("p", {}, pill(ready.status)),
        h(
          "dl",
          { class: "kv" },
          h("dt", {}, "Role"),
          h("dd", {}, ready.role ?? r?.role ?? "–"),
          h("dt", {}, "Replica"),
          h("dd", { class: "mono" }, r?.id ?? "–"),
          h("dt", {}, "Cluster"),
          h("dd", {}, r?.cluster ?? "single instance"),
          h("dt", {}, "Owned shards"),
          h("dd", {}, r?.owned_shards ? r.owned_shards.join(", ") || "none" : "–"),
        ),
      );
      const checks = Object.entries(ready.checks ?? {});
      const comps: { loaded?: number; failed?: string[] } = ready.components ?? {};
      const loaded = String(comps.loaded ?? "–");
      const failed = comps.failed?.length ? comps.failed.join(", ") : "none";
      fill(
        deps,
        h("h2", {}, "Dependencies"),
        table(
          ["Check", "Status", "Backend", "Latency", "Error"],
          checks.map(([name, c]) => [name, pill(c.status), c.backend ?? "–", c.latency_ms === undefined ? "–" : `${num(c.latency_ms, 1)} ms`, c.error ?? ""]),
        ),
        h("p", {}, h("span", { class: "muted" }, "Components loaded: "), loaded),
        h("p", {}, h("span", { class: "muted" }, "Failed: "), failed),
      );
    }
    try {
      const stats = await api<{
        orders_per_second?: number;
        journal?: { lag_jobs?: number };
        shards?: {
          shard: number;
          runs_here: boolean;
          owner: string | null;
          commands?: number;
          state: { open_orders: number; durable_seq: number; fencing_token: number } | null;
        }[];
      }>("/api/engine/stats");
      fill(
        engine,
        h("h2", {}, "Engine"),
        h(
          "div",
          { class: "tiles" },
          h("div", { class: "tile" }, h("b", {}, String(stats.orders_per_second ?? 0)), "orders/s (last second)"),
          h("div", { class: "tile" }, h("b", {}, String(stats.journal?.lag_jobs ?? 0)), "journal lag (commands)"),
        ),
        table(
          ["Shard", "Runs on", "Commands", "Durable seq", "Open orders"],
          (stats.shards ?? []).map((s) => [
            String(s.shard),
            s.runs_here ? "this replica" : (s.owner ?? "–"),
            s.commands === undefined ? "–" : String(s.commands),
            s.state ? String(s.state.durable_seq) : "–",
            s.state ? String(s.state.open_orders) : "no answer",
          ]),
        ),
      );
    } catch (e) {
      fill(engine, h("h2", {}, "Engine"), h("p", { class: "error" }, errorText(e)));
    }
    try {
      const totals = metricTotals(await metricsText());
      fill(
        metrics,
        h("h2", {}, "Key metrics"),
        h(
          "div",
          { class: "tiles" },
          TILES.filter(([name]) => totals.has(name)).map(([name, label, fmt]) =>
            h("div", { class: "tile" }, h("b", {}, fmt(totals.get(name)!)), label),
          ),
        ),
      );
    } catch (e) {
      fill(metrics, h("h2", {}, "Key metrics"), h("p", { class: "error" }, errorText(e)));
    }
  }

  // One refresh at a time: on a slow host, polls must not pile up.
  let busy = false;
  const tick = () => {
    if (busy) return;
    busy = true;
    void refresh().finally(() => {
      busy = false;
    });
  };
  tick();
  const timer = window.setInterval(tick, 2000);
  return () => window.clearInterval(timer);
};
