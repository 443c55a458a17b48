// Debian's Chromium driven by playwright-core: no browser download (the machines that run
// this have no route to one). Playwright gives every launch a fresh temporary profile.
import { chromium } from "playwright-core";

export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_FLAGS,
  });
}

/** Cold-cache load of `url` in a new context: navigation timings and bytes transferred. */
export async function coldLoad(browser, url, viewport = { width: 1366, height: 860 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const started = Date.now();
  await page.goto(url);
  await page.locator("nav a", { hasText: "Trade" }).first().waitFor();
  // The first page's content (the order book panel) is on screen.
  await page.locator("[data-testid=book] table").waitFor();
  const rendered = Date.now() - started;
  const timing = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const resources = performance.getEntriesByType("resource");
    const bytes = [nav, ...resources].reduce((n, r) => n + (r.transferSize || 0), 0);
    return { domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, bytes };
  });
  await context.close();
  return { ...timing, rendered };
}
