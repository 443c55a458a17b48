/** Fills a page's root and returns what undoes its subscriptions and timers. */
export type Render = (root: HTMLElement) => () => void;

/** A dashboard page; its code loads when first opened, so charts never slow the first page. */
export interface Page {
  path: string;
  title: string;
  /** Who may open it: everyone (default), anyone signed in, or ops/admin. */
  role?: "signed-in" | "ops";
  load: () => Promise<{ render: Render }>;
}
