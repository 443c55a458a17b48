// Trade: a symbol's live book ladder and trades over the WebSocket, the order ticket, and the
// signed-in account's open orders (amend, cancel) and fills.

import { api } from "../api";
import * as session from "../session";
import * as ws from "../ws";
import { h, fill, field, formValues, select, table, time } from "../dom";
import * as notify from "../notify";
import type { Render } from "../page";

interface SymbolSpec {
  symbol: string;
  tick_size: string;
  lot_size: string;
}
interface Trade {
  price: string;
  quantity: string;
  aggressor: "buy" | "sell";
  maker_order_id: string;
  taker_order_id: string;
  sequence: number;
  timestamp_ms: number;
}
interface OrderInfo {
  order_id: string;
  symbol: string;
  side: "buy" | "sell";
  type: "limit" | "market";
  price?: string;
  status: string;
  filled_quantity: string;
  remaining_quantity: string;
}
interface OrderResult {
  order_id: string;
  status: string;
  filled_quantity: string;
  remaining_quantity: string;
  trades: Trade[];
  duplicate?: boolean;
}
interface Fill {
  order_id: string;
  symbol: string;
  side: "buy" | "sell";
  price: string;
  quantity: string;
  remaining_quantity: string;
  liquidity: "maker" | "taker";
  timestamp_ms: number;
}
type Level = [string, string];

const LADDER_DEPTH = 12;
const TRADES_KEPT = 60;
// Fills seen over this tab's connection, kept across page switches (not across sign-ins).
const fills: Fill[] = [];
session.onChange(() => fills.splice(0));

/** A book side keyed by price (as a number, so "101.3" and "101.30" are one level). */
class Side {
  levels = new Map<number, Level>();
  replace(levels: Level[]): void {
    this.levels.clear();
    this.apply(levels);
  }
  apply(levels: Level[]): void {
    for (const [price, qty] of levels) {
      if (Number(qty) === 0) this.levels.delete(Number(price));
      else this.levels.set(Number(price), [price, qty]);
    }
  }
  best(descending: boolean, n: number): Level[] {
    const keys = [...this.levels.keys()].sort((a, b) => (descending ? b - a : a - b)).slice(0, n);
    return keys.map((k) => this.levels.get(k)!);
  }
}

function storedSymbol(): string | null {
  return localStorage.getItem("bourse.symbol");
}

export const render: Render = (root) => {
  const principal = session.signedIn();
  const picker = h("select", { name: "symbol", "aria-label": "Symbol", "data-testid": "symbol" });
  const ladder = h("div", { "data-testid": "book" });
  const tradesBox = h("div", { class: "scroll", "data-testid": "trades" });
  const ticket = h("div");
  const ordersBox = h("div", { class: "scroll", "data-testid": "open-orders" });
  const fillsBox = h("div", { class: "scroll", "data-testid": "fills" });
  fill(
    root,
    h("div", { class: "row title" }, h("h1", {}, "Trade"), picker),
    h(
      "div",
      { class: "grid" },
      h("div", { class: "card span-4" }, h("h2", {}, "Order book"), ladder),
      h("div", { class: "card span-4" }, h("h2", {}, "Trades"), tradesBox),
      h("div", { class: "card span-4" }, h("h2", {}, "Order ticket"), ticket),
      h("div", { class: "card span-7" }, h("h2", {}, "My open orders"), ordersBox),
      h("div", { class: "card span-5" }, h("h2", {}, "My fills"), fillsBox),
    ),
  );

  let symbol = "";
  let specs: SymbolSpec[] = [];
  const bids = new Side();
  const asks = new Side();
  let bookSeq = 0;
  // A snapshot was asked for: deltas wait for it.
  let resyncing = false;
  let disposed = false;
  let trades: Trade[] = [];
  const seen = new Set<string>();
  const undo: (() => void)[] = [];
  let symbolUndo: (() => void)[] = [];
  let priceInput: HTMLInputElement | null = null;

  function drawLadder(): void {
    const a = asks.best(false, LADDER_DEPTH).reverse();
    const b = bids.best(true, LADDER_DEPTH);
    const bestAsk = a.length ? Number(a[a.length - 1][0]) : null;
    const bestBid = b.length ? Number(b[0][0]) : null;
    const spread = bestAsk !== null && bestBid !== null ? (bestAsk - bestBid).toFixed(4).replace(/\.?0+$/, "") : "–";
    const row = (cls: string, [price, qty]: Level) =>
      h(
        "tr",
        { class: cls, tabindex: "0", title: "Use this price", onclick: () => usePrice(price), onkeydown: (e: Event) => (e as KeyboardEvent).key === "Enter" && usePrice(price) },
        h("td", {}, price),
        h("td", {}, qty),
      );
    fill(
      ladder,
      h(
        "table",
        { class: "ladder" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Price"), h("th", { scope: "col" }, "Quantity"))),
        h(
          "tbody",
          {},
          a.map((l) => row("ask", l)),
          h("tr", { class: "spread" }, h("td", { colspan: 2 }, `spread ${spread}`)),
          b.map((l) => row("bid", l)),
        ),
      ),
    );
  }

  function usePrice(price: string): void {
    if (priceInput) {
      priceInput.value = price;
      priceInput.focus();
    }
  }

  function drawTrades(): void {
    fill(
      tradesBox,
      table(
        ["Time", "Price", "Qty", "Side"],
        trades.map((t) => [
          time(t.timestamp_ms),
          h("span", { class: t.aggressor === "buy" ? "buy-text" : "sell-text" }, t.price),
          t.quantity,
          t.aggressor,
        ]),
        "No trades yet",
      ),
    );
  }

  function addTrades(list: Trade[], atFront: boolean): void {
    const fresh = list.filter((t) => {
      const key = `${t.sequence}:${t.maker_order_id}:${t.taker_order_id}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    trades = atFront ? [...fresh.reverse(), ...trades] : [...trades, ...fresh];
    trades = trades.slice(0, TRADES_KEPT);
    drawTrades();
  }

  function resync(room: string): void {
    if (resyncing) return;
    resyncing = true;
    ws.snapshot(room);
  }

  function onBook(msg: ws.Message): void {
    const room = msg.room!;
    if (msg.type === "lagged") return resync(room);
    const data = msg.data as { type: string; bids: Level[]; asks: Level[] } | undefined;
    if (!data || msg.seq === undefined) return;
    // Numbers going back to 1 mean the room started over (its history was lost).
    const restarted = msg.seq === 1 && bookSeq > 1;
    if (msg.type === "snapshot" || (data.type === "snapshot" && (msg.seq > bookSeq || restarted))) {
      // The reply to subscribe/snapshot, or a shard (re)started: the whole book.
      bids.replace(data.bids);
      asks.replace(data.asks);
      bookSeq = msg.seq;
      resyncing = false;
    } else if (data.type === "delta") {
      if (restarted) return resync(room);
      if (resyncing || msg.seq <= bookSeq) return;
      // A gap: the ladder is no longer exact.
      if (msg.seq !== bookSeq + 1) return resync(room);
      bids.apply(data.bids);
      asks.apply(data.asks);
      bookSeq = msg.seq;
    } else {
      return;
    }
    drawLadder();
  }

  async function selectSymbol(next: string): Promise<void> {
    if (disposed) return;
    symbolUndo.forEach((f) => f());
    symbolUndo = [];
    symbol = next;
    localStorage.setItem("bourse.symbol", symbol);
    picker.value = symbol;
    bids.replace([]);
    asks.replace([]);
    bookSeq = 0;
    resyncing = false;
    trades = [];
    seen.clear();
    drawLadder();
    drawTrades();
    drawTicket();
    symbolUndo.push(ws.subscribe(`book:${symbol}`, onBook, { depth: 50 }));
    symbolUndo.push(
      ws.subscribe(
        `trades:${symbol}`,
        (msg) => {
          const data = msg.data as { trades?: Trade[] } | undefined;
          if (data?.trades) addTrades(data.trades, true);
        },
        {},
        () => void loadRecentTrades(next, true),
      ),
    );
    await loadRecentTrades(next, false);
  }

  /** The symbol's latest trades from the API; `resync`: after live trades were lost. */
  async function loadRecentTrades(next: string, resync: boolean): Promise<void> {
    try {
      const recent = await api<{ trades: Trade[] }>(`/api/trades/${encodeURIComponent(next)}?limit=${TRADES_KEPT}`);
      if (disposed || next !== symbol) return;
      if (resync) {
        trades = [];
        seen.clear();
      }
      // Newest first, as the API lists them, after any live trade that came in meanwhile.
      addTrades(recent.trades, false);
    } catch (e) {
      notify.error(e);
    }
  }

  function drawTicket(): void {
    if (!principal) {
      fill(ticket, h("p", { class: "notice" }, h("a", { href: "#/signin?next=trade" }, "Sign in"), " to place orders."));
      priceInput = null;
      return;
    }
    const spec = specs.find((s) => s.symbol === symbol);
    const error = h("p", { class: "error", role: "alert", hidden: true });
    priceInput = h("input", { name: "price", inputmode: "decimal", step: spec?.tick_size ?? "any", placeholder: spec ? `tick ${spec.tick_size}` : "", autocomplete: "off" });
    const type = select("type", [["limit", "Limit"], ["market", "Market"]]);
    type.addEventListener("change", () => {
      priceInput!.disabled = type.value === "market";
    });
    const place = (side: "buy" | "sell") => async () => {
      const form = ticket.querySelector("form")!;
      if (!form.reportValidity()) return;
      const v = formValues(form);
      const body: Record<string, unknown> = {
        symbol,
        side,
        type: v.type,
        quantity: v.quantity,
        time_in_force: v.time_in_force,
        client_order_id: `ui-${crypto.randomUUID()}`,
      };
      if (v.type === "limit") body.price = v.price;
      if (v.post_only === "on") body.post_only = true;
      notify.inline(error, null);
      try {
        const r = await api<OrderResult>("/api/orders", { method: "POST", body });
        notify.ok(`Order ${r.order_id}: ${r.status.replace("_", " ")}, filled ${r.filled_quantity}`);
        void loadOrders();
      } catch (e) {
        notify.inline(error, e);
      }
    };
    fill(
      ticket,
      h(
        "form",
        { onsubmit: (e: Event) => e.preventDefault(), "aria-label": "Order ticket" },
        h(
          "div",
          { class: "row" },
          field("Type", type),
          field("Time in force", select("time_in_force", [["gtc", "GTC"], ["ioc", "IOC"], ["fok", "FOK"]])),
        ),
        h(
          "div",
          { class: "row" },
          field("Price", priceInput),
          field("Quantity", h("input", { name: "quantity", inputmode: "decimal", required: true, placeholder: spec ? `lot ${spec.lot_size}` : "", autocomplete: "off" })),
        ),
        h("label", { class: "row" }, h("input", { type: "checkbox", name: "post_only" }), "Post only"),
        error,
        h(
          "div",
          { class: "row" },
          h("button", { type: "button", class: "buy", onclick: place("buy"), "data-testid": "buy" }, "Buy"),
          h("button", { type: "button", class: "sell", onclick: place("sell"), "data-testid": "sell" }, "Sell"),
        ),
      ),
    );
  }

  let orders: OrderInfo[] = [];
  let amending: string | null = null;
  // What is typed into the amend form: the orders table is redrawn whenever an update
  // arrives, and a redraw must not throw away what the user is typing.
  let draft: { price: string; quantity: string; field: "price" | "quantity" } | null = null;

  async function loadOrders(): Promise<void> {
    if (!principal) return;
    try {
      orders = (await api<{ orders: OrderInfo[] }>("/api/orders?status=open&limit=200")).orders;
      drawOrders();
    } catch (e) {
      notify.error(e);
    }
  }

  function drawOrders(): void {
    if (!principal) {
      fill(ordersBox, h("p", { class: "muted" }, "Sign in to see your orders."));
      return;
    }
    fill(
      ordersBox,
      table(
        ["Order", "Symbol", "Side", "Price", "Open", "Filled", "Status", ""],
        orders.map((o) => [
          h("span", { class: "mono" }, o.order_id),
          o.symbol,
          h("span", { class: o.side === "buy" ? "buy-text" : "sell-text" }, o.side),
          o.price ?? "market",
          o.remaining_quantity,
          o.filled_quantity,
          o.status.replace("_", " "),
          amending === o.order_id ? amendForm(o) : h(
            "div",
            { class: "row" },
            o.type === "limit" ? h("button", { type: "button", onclick: () => { amending = o.order_id; draft = null; drawOrders(); }, "aria-label": `Amend order ${o.order_id}` }, "Amend") : null,
            h("button", { type: "button", onclick: () => void cancel(o), "aria-label": `Cancel order ${o.order_id}` }, "Cancel"),
          ),
        ]),
        "No open orders",
      ),
    );
  }

  function amendForm(o: OrderInfo): HTMLElement {
    const error = h("span", { class: "error", role: "alert", hidden: true });
    const price = h("input", { name: "price", value: draft?.price ?? o.price ?? "", "aria-label": "New price", size: 8, inputmode: "decimal" });
    const quantity = h("input", { name: "quantity", value: draft?.quantity ?? o.remaining_quantity, "aria-label": "New quantity", size: 6, inputmode: "decimal" });
    const keep = (field: "price" | "quantity") => () => {
      draft = { price: price.value, quantity: quantity.value, field };
    };
    price.addEventListener("input", keep("price"));
    quantity.addEventListener("input", keep("quantity"));
    const form = h(
      "form",
      {
        class: "row",
        onsubmit: async (e: Event) => {
          e.preventDefault();
          const body: Record<string, string> = {};
          if (price.value.trim() && price.value.trim() !== o.price) body.price = price.value.trim();
          if (quantity.value.trim() && quantity.value.trim() !== o.remaining_quantity) body.quantity = quantity.value.trim();
          if (Object.keys(body).length === 0) {
            notify.inline(error, new Error("Change the price or the quantity first."));
            return;
          }
          try {
            const r = await api<OrderResult>(`/api/orders/${o.order_id}`, { method: "PATCH", body });
            notify.ok(`Order ${r.order_id} amended: ${r.status.replace("_", " ")}`);
            amending = null;
            draft = null;
            void loadOrders();
          } catch (err) {
            notify.inline(error, err);
          }
        },
      },
      price,
      quantity,
      h("button", { type: "submit", class: "primary" }, "Save"),
      h("button", { type: "button", onclick: () => { amending = null; draft = null; drawOrders(); } }, "Back"),
      error,
    );
    queueMicrotask(() => {
      const field = draft?.field === "quantity" ? quantity : price;
      // After a redraw, the caret goes back where the user was typing.
      if (draft) field.setSelectionRange(field.value.length, field.value.length);
      field.focus();
    });
    return form;
  }

  async function cancel(o: OrderInfo): Promise<void> {
    try {
      await api<OrderResult>(`/api/orders/${o.order_id}`, { method: "DELETE" });
      notify.ok(`Order ${o.order_id} cancelled`);
      void loadOrders();
    } catch (e) {
      notify.error(e);
    }
  }

  function drawFills(): void {
    fill(
      fillsBox,
      principal
        ? table(
            ["Time", "Order", "Symbol", "Side", "Price", "Qty", "Liquidity"],
            fills.map((f) => [time(f.timestamp_ms), h("span", { class: "mono" }, f.order_id), f.symbol, f.side, f.price, f.quantity, f.liquidity]),
            "No fills since you signed in",
          )
        : h("p", { class: "muted" }, "Sign in to see your fills."),
    );
  }

  let pending: number | undefined;
  if (principal) {
    let lastSeq = 0;
    undo.push(
      ws.subscribe(
        "orders",
        (msg) => {
          // A resumed session may repeat events it had sent: each is counted once.
          if (msg.seq !== undefined) {
            if (msg.seq <= lastSeq && msg.seq !== 1) return;
            lastSeq = msg.seq;
          }
          const updates = (msg.data as { updates?: ({ type: string } & Fill)[] } | undefined)?.updates ?? [];
          for (const u of updates) if (u.type === "fill") fills.unshift(u);
          fills.splice(100);
          drawFills();
          // Several updates arrive per batch: one reload for them all.
          window.clearTimeout(pending);
          pending = window.setTimeout(() => void loadOrders(), 100);
        },
        {},
        () => void loadOrders(),
      ),
    );
    void loadOrders();
  }
  drawOrders();
  drawFills();

  picker.addEventListener("change", () => void selectSymbol(picker.value));
  void (async () => {
    try {
      specs = await api<SymbolSpec[]>("/api/symbols");
      if (disposed) return;
      fill(picker, specs.map((s) => h("option", { value: s.symbol }, s.symbol)));
      const remembered = storedSymbol();
      await selectSymbol(specs.some((s) => s.symbol === remembered) ? remembered! : (specs[0]?.symbol ?? ""));
    } catch (e) {
      notify.error(e);
    }
  })();

  return () => {
    disposed = true;
    window.clearTimeout(pending);
    symbolUndo.forEach((f) => f());
    undo.forEach((f) => f());
  };
};
