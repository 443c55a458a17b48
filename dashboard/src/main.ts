// The dashboard shell: navigation, sign-in and the page router (hash routes, so the host
// serves one index.html and every page works from a bookmark).

import "./style.css";
import * as api from "./api";
import * as session from "./session";
import * as ws from "./ws";
import { h, fill, field, formValues } from "./dom";
import { inline } from "./notify";
import type { Page } from "./page";

const pages: Page[] = [
  { path: "trade", title: "Trade", load: () => import("./pages/trade") },
  { path: "signals", title: "Signals", load: () => import("./pages/signals") },
  { path: "simulations", title: "Simulations", role: "signed-in", load: () => import("./pages/simulations") },
  { path: "components", title: "Components", role: "ops", load: () => import("./pages/components") },
  { path: "health", title: "Health", load: () => import("./pages/health") },
  { path: "api", title: "API", load: () => import("./pages/api") },
];

const app = document.getElementById("app")!;
const nav = h("nav", { "aria-label": "Pages" });
const who = h("div", { class: "who" });
const live = h("span", { class: "live", title: "Live connection" });
const main = h("main", { id: "main", tabindex: "-1" });
fill(
  app,
  h("header", {}, h("a", { class: "brand", href: "#/trade" }, "Bourse"), nav, live, who),
  main,
);

ws.onStatus((up) => {
  live.className = up ? "live up" : "live";
  live.textContent = up ? "live" : "offline";
});

let cleanup: (() => void) | null = null;

function allowed(page: Page): boolean {
  if (page.role === "ops") return session.isOps();
  if (page.role === "signed-in") return session.signedIn() !== null;
  return true;
}

function renderChrome(): void {
  const current = location.hash.replace(/^#\//, "").split("?")[0];
  fill(
    nav,
    pages
      .filter(allowed)
      .map((p) =>
        h("a", { href: `#/${p.path}`, "aria-current": p.path === current ? "page" : null }, p.title),
      ),
  );
  const principal = session.signedIn();
  if (principal) {
    fill(
      who,
      h("span", { class: "principal", title: principal.roles.join(", ") }, principal.id, " · ", principal.roles.join(", ")),
      h("button", { type: "button", class: "link", onclick: () => void api.logout() }, "Sign out"),
    );
  } else {
    fill(who, h("a", { href: "#/signin", class: "button" }, "Sign in"));
  }
}

let visit = 0;

function route(): void {
  cleanup?.();
  cleanup = null;
  const mine = ++visit;
  const path = location.hash.replace(/^#\//, "").split("?")[0] || "trade";
  renderChrome();
  const root = h("section", { class: "page" });
  fill(main, root);
  if (path === "signin") {
    signIn(root);
    return;
  }
  const page = pages.find((p) => p.path === path);
  if (!page) {
    fill(root, h("h1", {}, "Not found"), h("p", {}, "No page at ", h("code", {}, location.hash), "."));
    return;
  }
  document.title = `${page.title} · Bourse`;
  if (!allowed(page)) {
    fill(
      root,
      h("h1", {}, page.title),
      h(
        "p",
        { class: "notice" },
        page.role === "ops" ? "This page needs the ops or admin role. " : "Sign in to see this page. ",
        session.signedIn() ? null : h("a", { href: `#/signin?next=${page.path}` }, "Sign in"),
      ),
    );
    return;
  }
  fill(root, h("p", { class: "muted" }, "Loading…"));
  page
    .load()
    .then(({ render }) => {
      // The user may have moved on while the page's code loaded.
      if (mine === visit) cleanup = render(root);
    })
    .catch((e: unknown) => {
      if (mine === visit) fill(root, h("p", { class: "error", role: "alert" }, `This page failed to load: ${String(e)}`));
    });
}

function signIn(root: HTMLElement): void {
  document.title = "Sign in · Bourse";
  const next = new URLSearchParams(location.hash.split("?")[1] ?? "").get("next") ?? "trade";
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const tokenError = h("p", { class: "error", role: "alert", hidden: true });
  const done = () => {
    location.hash = `#/${next}`;
  };
  const submit = (kind: "login" | "register") => async (ev: Event) => {
    ev.preventDefault();
    const form = (ev.target as HTMLElement).closest("form")!;
    // "Create account" is not the submit button: check the fields the way submitting would.
    if (!form.reportValidity()) return;
    const v = formValues(form);
    inline(error, null);
    try {
      if (kind === "register") {
        await api.api("/api/auth/register", {
          method: "POST",
          body: { username: v.username, password: v.password },
          anonymous: true,
        });
      }
      await api.login(v.username, v.password);
      done();
    } catch (e) {
      inline(error, e);
    }
  };
  const login = h(
    "form",
    { class: "card narrow", onsubmit: submit("login"), "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    field("Username", h("input", { name: "username", autocomplete: "username", required: true })),
    field("Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    error,
    h(
      "div",
      { class: "row" },
      h("button", { type: "submit", class: "primary" }, "Sign in"),
      h("button", { type: "button", onclick: submit("register") }, "Create account"),
    ),
  );
  const token = h(
    "form",
    {
      class: "card narrow",
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        inline(tokenError, null);
        try {
          await api.useToken(formValues(ev.target as HTMLFormElement).token);
          done();
        } catch (e) {
          inline(tokenError, e);
        }
      },
    },
    h("h2", {}, "Or use an API key"),
    field("API key or operator token", h("input", { name: "token", type: "password", autocomplete: "off", required: true })),
    tokenError,
    h("button", { type: "submit" }, "Use key"),
  );
  fill(root, h("div", { class: "signin" }, login, token));
  (login.querySelector("input") as HTMLInputElement).focus();
}

session.onChange(route);
window.addEventListener("hashchange", route);
route();
