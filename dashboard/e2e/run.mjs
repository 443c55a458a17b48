// The dashboard's end-to-end test in headless Chromium against a running Bourse host:
// sign-in, crossing orders seen in the book and trades panels, amend and cancel, an API error
// shown in the API's words, a backtest chart, a simulation run to completion, role gating, a
// component swap and rollback seen in the history, the API description (Swagger UI) with a
// call made from it, and screenshots of every page at laptop and phone widths.
//
// BOURSE_URL (host), ADMIN_TOKEN (ops token), SWAP_WASM (a component .wasm of the app's
// `simulation`), SCREENSHOTS (directory) come from the environment.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { launch, coldLoad } from "./browser.mjs";

const base = process.env.BOURSE_URL ?? "http://127.0.0.1:3000";
const adminToken = process.env.ADMIN_TOKEN;
const swapWasm = process.env.SWAP_WASM;
const shots = process.env.SCREENSHOTS ?? "screenshots";
assert.ok(adminToken, "ADMIN_TOKEN is not set");
assert.ok(swapWasm, "SWAP_WASM is not set");
mkdirSync(shots, { recursive: true });

const LAPTOP = { width: 1366, height: 860 };
const PHONE = { width: 390, height: 844 };
const suffix = randomBytes(3).toString("hex");
const password = "correct horse battery staple";
const errors = [];
const pages = [];
let step = "start";

function log(text) {
  console.log(`dashboard e2e: ${text}`);
}

async function newPage(browser, viewport = LAPTOP) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  pages.push(page);
  page.on("pageerror", (e) => errors.push(`${step}: page error: ${e.message}`));
  page.on("console", (m) => {
    // The browser logs refused requests (and, while offline, refused connections) on its own;
    // the API's answers are checked by the steps.
    if (m.type() === "error" && !/Failed to load resource|ERR_INTERNET_DISCONNECTED/.test(m.text())) {
      errors.push(`${step}: console: ${m.text()}`);
    }
  });
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** A copy of a component with a custom section appended: the same code under a new digest. */
function rebuilt(path) {
  const bytes = readFileSync(path);
  const name = Buffer.from("bourse-e2e");
  const payload = Buffer.concat([Buffer.from([name.length]), name, Buffer.from(suffix)]);
  const leb = [];
  let n = payload.length;
  do {
    let b = n & 0x7f;
    n >>= 7;
    if (n) b |= 0x80;
    leb.push(b);
  } while (n);
  return Buffer.concat([bytes, Buffer.from([0, ...leb]), payload]);
}

async function register(username) {
  const res = await fetch(`${base}/api/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  assert.equal(res.status, 201, `register ${username}: ${await res.text()}`);
}

async function signIn(page, username) {
  await page.goto(`${base}/#/signin`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByLabel("Password").press("Enter");
  await page.waitForURL(/#\/trade$/);
  await page.locator(".principal", { hasText: username }).waitFor();
}

async function placeOrder(page, side, price, quantity) {
  await page.locator("input[name=price]").fill(price);
  await page.locator("input[name=quantity]").fill(quantity);
  await page.getByTestId(side).click();
}

const row = (page, testId, ...texts) => {
  let rows = page.getByTestId(testId).locator("tr");
  for (const t of texts) rows = rows.filter({ hasText: t });
  return rows.first();
};

/** The ladder's row for exactly this price and quantity. */
const level = (page, price, qty) =>
  page
    .getByTestId("book")
    .locator(`tr:has(td:nth-child(1):text-is("${price}")):has(td:nth-child(2):text-is("${qty}"))`)
    .first();

/** What each page shows once it has drawn (the phone pass waits for it before measuring). */
const PAGES = {
  trade: ["Trade", "[data-testid=book] table"],
  signals: ["Signals", "[data-testid=signals-table] table"],
  simulations: ["Simulations", "form[aria-label='New simulation']"],
  components: ["Components", "[data-testid=components-table] table"],
  health: ["Health", "[data-testid=health-status] .pill"],
  api: ["API", "[data-testid=api-docs] .opblock"],
};

async function main() {
  const browser = await launch();
  try {
    step = "cold load";
    const cold = await coldLoad(browser, `${base}/`);
    log(
      `cold load: DOMContentLoaded ${cold.domContentLoaded.toFixed(0)} ms, load ${cold.load.toFixed(0)} ms, ` +
        `first page on screen ${cold.rendered} ms, ${(cold.bytes / 1024).toFixed(0)} KB transferred`,
    );

    // Alice creates her account in the UI; Bob's exists and he signs in.
    step = "sign-up";
    const alice = await newPage(browser);
    const aliceName = `alice-${suffix}`;
    await alice.goto(`${base}/#/signin`);
    await alice.getByLabel("Username").fill(aliceName);
    await alice.getByLabel("Password").fill(password);
    await alice.getByRole("button", { name: "Create account" }).click();
    await alice.waitForURL(/#\/trade$/);
    await alice.locator(".principal", { hasText: aliceName }).waitFor();
    log("alice signed up and in");

    step = "sign-in";
    const bobName = `bob-${suffix}`;
    await register(bobName);
    const bob = await newPage(browser);
    await signIn(bob, bobName);
    log("bob signed in");

    step = "a refused order shows the API's message";
    await alice.getByTestId("symbol").selectOption("AAPL");
    await placeOrder(alice, "sell", "101.255", "10");
    await alice.getByRole("alert").filter({ hasText: "101.255 has more than 2 decimal places" }).waitFor();
    log("off-tick price refused with the API's message");

    step = "a resting sell shows in the book";
    await placeOrder(alice, "sell", "101.25", "10");
    await level(alice, "101.25", "10").waitFor();
    await row(alice, "open-orders", "101.25").waitFor();
    await bob.getByTestId("symbol").selectOption("AAPL");
    await level(bob, "101.25", "10").waitFor();
    log("alice's ask is in both ladders");

    step = "crossing orders trade";
    await placeOrder(bob, "buy", "101.30", "4");
    await row(bob, "trades", "101.25").waitFor();
    await row(alice, "trades", "101.25").waitFor();
    await level(alice, "101.25", "6").waitFor();
    await row(alice, "fills", "101.25", "maker").waitFor();
    await row(bob, "fills", "101.25", "taker").waitFor();
    await row(alice, "open-orders", "101.25", "partially filled").waitFor();
    log("the trade is in both trade panels, the book shows 6 left, both fills are listed");
    await shot(alice, "trade");

    step = "amend and cancel";
    await placeOrder(alice, "sell", "105", "5");
    const resting = row(alice, "open-orders", "105");
    await resting.waitFor();
    await resting.getByRole("button", { name: /^Amend/ }).click();
    await alice.getByLabel("New price").fill("104.5");
    // An update arrives while the amend form is open (a fill of her other order redraws her
    // orders): what she typed must still be there when she presses Enter.
    const crossing = await fetch(`${base}/api/orders`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ symbol: "AAPL", side: "buy", type: "limit", price: "101.25", quantity: "1" }),
    });
    assert.equal(crossing.status, 201, await crossing.text());
    await alice
      .getByTestId("open-orders")
      .locator('tr:has(td:nth-child(4):text-is("101.25")):has(td:nth-child(5):text-is("5"))')
      .waitFor();
    await alice.getByLabel("New price").press("Enter");
    await row(alice, "open-orders", "104.5").waitFor();
    await level(alice, "104.5", "5").waitFor();
    await row(alice, "open-orders", "104.5").getByRole("button", { name: /^Cancel/ }).click();
    await row(alice, "open-orders", "104.5").waitFor({ state: "detached" });
    await row(alice, "book", "104.5").waitFor({ state: "detached" });
    log("amended to 104.5 by keyboard (typed across a redraw), then cancelled: gone from orders and book");
    // What is left of the first sell goes too, so a rerun against the same host starts clean.
    await row(alice, "open-orders", "101.25").getByRole("button", { name: /^Cancel/ }).click();
    await row(alice, "book", "101.25").waitFor({ state: "detached" });
    await row(bob, "book", "101.25").waitFor({ state: "detached" });

    step = "a dropped connection misses nothing";
    // Bob's browser goes offline (the live connection drops); a trade happens meanwhile; when
    // he is back, the connection resumes its session and the trade is in his panel.
    await bob.context().setOffline(true);
    await bob.locator(".live:not(.up)").waitFor();
    const sell = await fetch(`${base}/api/orders`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ symbol: "AAPL", side: "sell", type: "limit", price: "102.5", quantity: "1" }),
    });
    assert.equal(sell.status, 201, await sell.text());
    await placeOrder(alice, "buy", "102.5", "1");
    await row(alice, "trades", "102.5").waitFor();
    await bob.context().setOffline(false);
    const back = Date.now();
    await bob.locator(".live.up").waitFor({ timeout: 30_000 });
    log(`bob's connection was back ${Date.now() - back} ms after the network`);
    await row(bob, "trades", "102.5").waitFor();
    log("bob was offline during a trade and has it after reconnecting");

    step = "signals and a backtest";
    await alice.goto(`${base}/#/signals`);
    await row(alice, "signals-table", "Consensus").locator(".pill").waitFor();
    await alice.getByTestId("history-chart").locator("canvas").first().waitFor();
    await alice.getByRole("button", { name: "Run backtest" }).click();
    await alice.getByTestId("backtest-chart").locator("canvas").first().waitFor();
    await row(alice, "backtest-stats", "CAGR").waitFor();
    log("backtest charted with its statistics");
    await shot(alice, "signals");

    step = "a simulation";
    await alice.goto(`${base}/#/simulations`);
    await alice.getByLabel("Orders", { exact: true }).fill("20000");
    await alice.getByRole("button", { name: "Start" }).click();
    await alice.getByTestId("simulation-status").filter({ hasText: "completed" }).waitFor({ timeout: 60_000 });
    await alice.getByTestId("simulation-chart").locator("canvas").first().waitFor();
    await row(alice, "simulation-summary", "AAPL").waitFor();
    log("simulation completed, price chart and statistics shown");
    await shot(alice, "simulations");

    step = "roles";
    assert.equal(await alice.locator("nav a", { hasText: "Components" }).count(), 0, "a trader sees no Components link");
    await alice.goto(`${base}/#/components`);
    await alice.getByText("needs the ops or admin role").waitFor();
    log("a trader is shown no ops page");

    step = "ops: swap and roll back";
    const ops = await newPage(browser);
    await ops.goto(`${base}/#/signin?next=components`);
    await ops.getByLabel("API key or operator token").fill(adminToken);
    await ops.getByRole("button", { name: "Use key" }).click();
    await ops.waitForURL(/#\/components$/);
    const simRow = row(ops, "components-table", "simulation");
    await simRow.waitFor();
    await simRow.getByRole("button").click();
    const wasm = rebuilt(swapWasm);
    const digest = createHash("sha256").update(wasm).digest("hex");
    await ops.getByTestId("upload-file").setInputFiles({ name: "simulation.wasm", mimeType: "application/wasm", buffer: wasm });
    await ops.getByRole("button", { name: "Upload and swap" }).click();
    await ops.getByTestId("live-digest").filter({ hasText: digest }).waitFor({ timeout: 60_000 });
    await row(ops, "swap-history", "upload", digest.slice(0, 12), "live").waitFor();
    log(`swapped simulation to sha256:${digest.slice(0, 12)}…; the history shows the upload`);
    await shot(ops, "components");
    await ops.getByRole("button", { name: "Roll back" }).click();
    await row(ops, "swap-history", "rollback", "live").waitFor();
    await ops.getByTestId("live-digest").filter({ hasNotText: digest }).waitFor();
    log("rolled back; the history shows it");

    step = "health";
    await ops.goto(`${base}/#/health`);
    await ops.getByTestId("health-status").locator(".pill", { hasText: "ok" }).waitFor();
    await ops.locator(".tile", { hasText: "HTTP requests" }).waitFor();
    await shot(ops, "health");
    log("health shows ok and the key metrics");

    step = "the API description";
    await ops.goto(`${base}/#/api`);
    const docs = ops.getByTestId("api-docs");
    // A host route and a component's route, each from its own description.
    const operation = (method, path) =>
      docs.locator(`.opblock-${method}`).filter({ has: ops.locator(`.opblock-summary-path[data-path="${path}"]`) });
    await operation("post", "/api/simulations").waitFor();
    await operation("post", "/api/orders").waitFor();
    await operation("post", "/api/auth/login").waitFor();
    // "Try it out" sends the signed-in operator's credentials: /api/components needs them.
    const components = operation("get", "/api/components");
    await components.locator(".opblock-summary").click();
    await components.getByRole("button", { name: "Try it out" }).click();
    await components.getByRole("button", { name: "Execute" }).click();
    await components.locator(".live-responses-table .response-col_status", { hasText: "200" }).waitFor();
    await shot(ops, "api");
    log("the API page shows the host's and the components' routes, and runs one with the operator's credentials");

    step = "phone width";
    const phone = await newPage(browser, PHONE);
    await phone.goto(`${base}/#/signin`);
    await phone.getByLabel("API key or operator token").fill(adminToken);
    await phone.getByRole("button", { name: "Use key" }).click();
    await phone.waitForURL(/#\/trade$/);
    for (const [name, [title, drawn]] of Object.entries(PAGES)) {
      await phone.goto(`${base}/#/${name}`);
      await phone.waitForFunction((t) => document.title === t, `${title} · Bourse`);
      await phone.locator(drawn).first().waitFor();
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `${name} is ${overflow} px wider than a phone screen`);
      await shot(phone, `${name}-phone`);
    }
    log("every page fits a 390 px screen");

    assert.deepEqual(errors, [], "the pages logged errors");
    log(`passed; screenshots in ${shots}`);
  } catch (e) {
    console.error(`dashboard e2e: failed at step "${step}"`);
    for (const [i, page] of pages.entries()) {
      await page.screenshot({ path: join(shots, `failure-${i}.png`), fullPage: true }).catch(() => {});
    }
    if (errors.length) console.error(errors.join("\n"));
    throw e;
  } finally {
    await browser.close();
  }
}

await main();
