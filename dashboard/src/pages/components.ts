// Components (ops): what is live with its digest, each swap on record, uploading a new
// version and rolling back. Every swap anywhere arrives on the `components` room.

import { api } from "../api";
import * as ws from "../ws";
import { h, fill, field, table, time } from "../dom";
import * as notify from "../notify";
import type { Render } from "../page";

interface ComponentInfo {
  name: string;
  status: "loaded" | "failed";
  world: string | null;
  digest: string | null;
  source: string;
  error?: string;
}
interface Version {
  digest: string;
  size: number;
  deployed_at_ms: number;
}
interface Entry {
  component: string;
  digest: string;
  actor: string;
  via: string;
  outcome: string;
  detail: string;
  duration_ms: number;
  at_ms: number;
}
interface Report {
  component: string;
  digest: string;
  previous: string | null;
  compiled: boolean;
  duration_ms: number;
}

const short = (d: string | null | undefined) => (d ? d.replace(/^sha256:/, "").slice(0, 12) : "–");

export const render: Render = (root) => {
  const listBox = h("div", { "data-testid": "components-table" });
  const detailBox = h("div");
  const historyBox = h("div", { class: "scroll", "data-testid": "swap-history" });
  fill(
    root,
    h("h1", {}, "Components"),
    h(
      "div",
      { class: "grid" },
      h("div", { class: "card span-12" }, h("h2", {}, "Live"), listBox),
      h("div", { class: "card span-5" }, detailBox),
      h("div", { class: "card span-7" }, h("h2", {}, "Swap history"), historyBox),
    ),
  );

  let list: { component: ComponentInfo; versions: Version[] }[] = [];
  let selected = "";
  let pendingUpload = false;

  async function load(): Promise<void> {
    try {
      list = await api<{ component: ComponentInfo; versions: Version[] }[]>("/admin/components");
      if (!selected || !list.some((c) => c.component.name === selected)) selected = list[0]?.component.name ?? "";
      drawList();
      // A file chosen for upload stays chosen while swaps elsewhere refresh the page.
      if (!pendingUpload) drawDetail();
      await loadHistory();
    } catch (e) {
      fill(listBox, h("p", { class: "error", role: "alert" }, (e as Error).message));
    }
  }

  function drawList(): void {
    fill(
      listBox,
      table(
        ["Component", "Status", "World", "Digest", "Source", "Versions kept", ""],
        list.map(({ component: c, versions }) => [
          h("b", {}, c.name),
          h("span", { class: `pill ${c.status === "loaded" ? "live" : "failed"}`, title: c.error ?? "" }, c.status),
          h("span", { class: "mono" }, c.world ?? "–"),
          h("span", { class: "mono", title: c.digest ?? "" }, short(c.digest)),
          h("span", { class: "mono" }, c.source),
          String(versions.length),
          h("button", { type: "button", "aria-pressed": String(c.name === selected), onclick: () => select(c.name) }, c.name === selected ? "Selected" : "Manage"),
        ]),
      ),
    );
  }

  function select(name: string): void {
    selected = name;
    pendingUpload = false;
    drawList();
    drawDetail();
    void loadHistory();
  }

  function drawDetail(): void {
    const entry = list.find((c) => c.component.name === selected);
    if (!entry) {
      fill(detailBox, h("p", { class: "muted" }, "No component."));
      return;
    }
    const { component: c, versions } = entry;
    const uploadError = h("p", { class: "error", role: "alert", hidden: true });
    const rollbackError = h("p", { class: "error", role: "alert", hidden: true });
    const file = h("input", { type: "file", name: "wasm", accept: ".wasm,application/wasm", required: true, "data-testid": "upload-file" });
    file.addEventListener("change", () => {
      pendingUpload = (file.files?.length ?? 0) > 0;
    });
    const deploy = h("button", { type: "submit", class: "primary" }, "Upload and swap");
    const others = versions.filter((v) => v.digest !== c.digest);
    const target = h(
      "select",
      { name: "digest", "aria-label": "Version to roll back to" },
      others.map((v) => h("option", { value: v.digest }, `${short(v.digest)} · ${new Date(v.deployed_at_ms).toLocaleString()}`)),
    );
    fill(
      detailBox,
      h("h2", {}, c.name),
      h(
        "dl",
        { class: "kv" },
        h("dt", {}, "Live digest"),
        h("dd", { class: "mono", "data-testid": "live-digest" }, c.digest ?? "–"),
        h("dt", {}, "World"),
        h("dd", { class: "mono" }, c.world ?? "–"),
      ),
      c.error ? h("p", { class: "error" }, c.error) : null,
      h(
        "form",
        {
          "aria-label": `Upload a new version of ${c.name}`,
          onsubmit: async (e: Event) => {
            e.preventDefault();
            const f = file.files?.[0];
            if (!f) return;
            notify.inline(uploadError, null);
            deploy.disabled = true;
            deploy.textContent = "Checking and compiling…";
            try {
              const r = await api<Report>(`/admin/components/${encodeURIComponent(c.name)}`, { method: "POST", raw: f });
              notify.ok(`${r.component} is live at ${short(r.digest)} (${r.duration_ms} ms${r.compiled ? ", compiled" : ""})`);
              pendingUpload = false;
              await load();
            } catch (err) {
              notify.inline(uploadError, err);
              void loadHistory();
            } finally {
              pendingUpload = false;
              deploy.disabled = false;
              deploy.textContent = "Upload and swap";
            }
          },
        },
        field("New version (.wasm)", file, "checked against its world and smoke-tested before it goes live"),
        uploadError,
        deploy,
      ),
      h(
        "form",
        {
          "aria-label": `Roll back ${c.name}`,
          onsubmit: async (e: Event) => {
            e.preventDefault();
            notify.inline(rollbackError, null);
            try {
              const r = await api<Report>(`/admin/components/${encodeURIComponent(c.name)}/rollback`, {
                method: "POST",
                body: target.value ? { digest: target.value } : {},
              });
              notify.ok(`${r.component} rolled back to ${short(r.digest)}`);
              await load();
            } catch (err) {
              notify.inline(rollbackError, err);
            }
          },
        },
        others.length ? field("Roll back to", target) : h("p", { class: "muted" }, "No earlier version kept."),
        rollbackError,
        h("button", { type: "submit", disabled: others.length === 0 }, "Roll back"),
      ),
    );
  }

  async function loadHistory(): Promise<void> {
    if (!selected) return;
    try {
      const entries = await api<Entry[]>(`/admin/components/${encodeURIComponent(selected)}/history?limit=50`);
      fill(
        historyBox,
        table(
          ["When", "Via", "Who", "Outcome", "Digest", "Detail", "ms"],
          entries.map((e) => [
            `${new Date(e.at_ms).toLocaleDateString()} ${time(e.at_ms)}`,
            e.via,
            e.actor,
            h("span", { class: `pill ${e.outcome}` }, e.outcome),
            h("span", { class: "mono", title: e.digest }, short(e.digest)),
            e.detail,
            String(e.duration_ms),
          ]),
          "No swaps recorded",
        ),
      );
    } catch (e) {
      notify.error(e);
    }
  }

  void load();
  let pending: number | undefined;
  const off = ws.subscribe(
    "components",
    () => {
      window.clearTimeout(pending);
      pending = window.setTimeout(() => void load(), 150);
    },
    {},
    () => void load(),
  );
  return () => {
    off();
    window.clearTimeout(pending);
  };
};
