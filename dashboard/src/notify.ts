// Messages for the user: the API's own words on failure, a short note on success.

import { errorText } from "./api";
import { h } from "./dom";

let region: HTMLElement | null = null;

function host(): HTMLElement {
  if (!region) {
    region = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(region);
  }
  return region;
}

function show(text: string, kind: "error" | "ok"): void {
  const el = h("div", { class: `toast ${kind}` }, text);
  host().append(el);
  window.setTimeout(() => el.remove(), kind === "error" ? 8000 : 3000);
}

export function error(e: unknown): void {
  show(errorText(e), "error");
}

export function ok(text: string): void {
  show(text, "ok");
}

/** An inline error line under a form, replaced on each attempt. */
export function inline(target: HTMLElement, e: unknown | null): void {
  target.textContent = e === null ? "" : errorText(e);
  target.hidden = e === null;
}
