// Dashboard load figures against a running host (BOURSE_URL):
// - cold-cache loads of `/` in fresh browser contexts: DOMContentLoaded, load, first page shown;
// - per-request cost of the dashboard component (a fresh instance per request) against the
//   host's native `/health` in the same run: sequential requests over one keep-alive client.
// Usage: node e2e/load-bench.mjs [cold loads, default 10] [requests per route, default 2000]
import { launch, coldLoad } from "./browser.mjs";

const base = process.env.BOURSE_URL ?? "http://127.0.0.1:3000";
const loads = Number(process.argv[2] ?? 10);
const requests = Number(process.argv[3] ?? 2000);

const quantile = (xs, q) => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))];

const browser = await launch();
const results = [];
try {
  for (let i = 0; i < loads; i++) results.push(await coldLoad(browser, `${base}/`));
} finally {
  await browser.close();
}
const stat = (key) => {
  const xs = results.map((r) => r[key]).sort((a, b) => a - b);
  return `p50 ${quantile(xs, 0.5).toFixed(0)} ms, max ${xs[xs.length - 1].toFixed(0)} ms`;
};
console.log(`cold loads of /: ${loads}, ${(results[0].bytes / 1024).toFixed(0)} KB transferred each`);
console.log(`  DOMContentLoaded   ${stat("domContentLoaded")}`);
console.log(`  load               ${stat("load")}`);
console.log(`  first page shown   ${stat("rendered")}`);

const index = await (await fetch(`${base}/`)).text();
const script = /src="(\/assets\/[^"]+\.js)"/.exec(index)?.[1];
const routes = [
  ["/health (host, native)", "/health", {}],
  ["/ (dashboard, index.html)", "/", {}],
  [`${script} (dashboard, gzip)`, script, { "accept-encoding": "gzip" }],
];
console.log(`sequential requests, ${requests} per route (after 100 warm-up):`);
for (const [label, path, headers] of routes) {
  const times = [];
  for (let i = 0; i < requests + 100; i++) {
    const t = process.hrtime.bigint();
    const res = await fetch(`${base}${path}`, { headers });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`${path}: ${res.status}`);
    if (i >= 100) times.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  times.sort((a, b) => a - b);
  console.log(`  ${label.padEnd(44)} p50 ${quantile(times, 0.5).toFixed(0)} µs, p99 ${quantile(times, 0.99).toFixed(0)} µs`);
}
