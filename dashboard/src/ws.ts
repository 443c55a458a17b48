// The live connection: one WebSocket per tab, rooms subscribed by whichever page is showing,
// reconnected with backoff and resumed with the server's session id so no event is skipped.
// A room the server did not restore is subscribed again `after` the last event seen, so the
// server replays what was missed from the room's kept history; if even that is gone, the
// room's `resync` callbacks tell the page to reload what it shows.

import { api, refreshIfDue } from "./api";
import * as session from "./session";

/** What the server sends: room events `{room, seq, data}` and replies with a `type`. */
export interface Message {
  type?: string;
  room?: string;
  seq?: number;
  data?: unknown;
  session?: string;
  [key: string]: unknown;
}

type Handler = (msg: Message) => void;

interface Room {
  handlers: Set<Handler>;
  resyncs: Set<() => void>;
  extra: Record<string, unknown>;
  /** Number of the last event delivered (0: none yet). */
  lastSeq: number;
}

const rooms = new Map<string, Room>();
const statusListeners = new Set<(up: boolean) => void>();
let socket: WebSocket | null = null;
let sessionId: string | null = null;
let retry = 0;
let timer: number | undefined;
let up = false;
let connecting = false;

function url(ticket: string | null): string {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const params = new URLSearchParams();
  // A single-use ticket, not the token: URLs end up in proxy and access logs.
  if (ticket) params.set("ticket", ticket);
  if (sessionId) params.set("session", sessionId);
  const q = params.toString();
  return `${proto}//${location.host}/ws${q ? `?${q}` : ""}`;
}

function setUp(value: boolean): void {
  up = value;
  statusListeners.forEach((f) => f(value));
}

function connect(): void {
  clearTimeout(timer);
  if (connecting) return;
  connecting = true;
  // The upgrade is authenticated by a ticket bought with the access token: an expired token
  // would be refused, so it is refreshed first.
  void refreshIfDue()
    .then(async () => {
      if (!session.accessToken()) return null;
      const answer = await api<{ ticket: string }>("/api/ws/ticket", { method: "POST" });
      return answer.ticket;
    })
    .then(
      (ticket) => {
        connecting = false;
        open(ticket);
      },
      () => {
        // No ticket (network or server trouble): try again later, as after a drop.
        connecting = false;
        retry = Math.min(retry + 1, 6);
        timer = window.setTimeout(connect, 250 * 2 ** retry);
      },
    );
}

function open(ticket: string | null): void {
  const ws = new WebSocket(url(ticket));
  socket = ws;
  ws.onopen = () => {
    retry = 0;
    setUp(true);
    // Without a session to resume, every room is subscribed afresh; with one, the server's
    // `session` reply says which rooms it restored (see onMessage).
    if (!sessionId) for (const room of rooms.keys()) resubscribe(room);
  };
  ws.onmessage = (ev) => {
    let msg: Message;
    try {
      msg = JSON.parse(String(ev.data)) as Message;
    } catch {
      return;
    }
    onMessage(msg);
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    setUp(false);
    retry = Math.min(retry + 1, 6);
    timer = window.setTimeout(connect, 250 * 2 ** retry);
  };
}

function onMessage(msg: Message): void {
  if (typeof msg.session === "string") sessionId = msg.session;
  if (msg.type === "session") {
    const restored = new Set(Object.keys((msg.rooms as Record<string, number>) ?? {}));
    if (msg.resumed !== true) restored.clear();
    for (const room of rooms.keys()) if (!restored.has(room)) resubscribe(room);
    for (const room of restored) if (!rooms.has(room)) send({ op: "unsubscribe", room });
    return;
  }
  // Room events (no `type`), book snapshots and overflow notices reach the room's handlers;
  // plain acknowledgements (subscribed, unsubscribed) do not.
  const entry = msg.room ? rooms.get(msg.room) : undefined;
  if (!entry) return;
  if (msg.type === "subscribed" && typeof msg.missed === "number" && msg.missed > 0) {
    entry.resyncs.forEach((f) => f());
    return;
  }
  if (msg.type === undefined || msg.type === "snapshot" || msg.type === "lagged") {
    if (typeof msg.seq === "number") entry.lastSeq = msg.seq;
    entry.handlers.forEach((f) => f(msg));
  }
}

function resubscribe(room: string): void {
  const entry = rooms.get(room);
  if (!entry) return;
  // Book rooms start from a snapshot anyway; the others replay what came after.
  const after = entry.lastSeq > 0 && !room.startsWith("book:") ? { after: entry.lastSeq } : {};
  send({ op: "subscribe", room, ...entry.extra, ...after });
}

function send(value: unknown): void {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(value));
}

/**
 * Listens to `room` until the returned function is called. `resync` runs when events of the
 * room were lost for good (a long disconnection): reload what the page shows from the API.
 */
export function subscribe(
  room: string,
  handler: Handler,
  extra: Record<string, unknown> = {},
  resync?: () => void,
): () => void {
  let entry = rooms.get(room);
  if (!entry) {
    entry = { handlers: new Set(), resyncs: new Set(), extra, lastSeq: 0 };
    rooms.set(room, entry);
    send({ op: "subscribe", room, ...extra });
  }
  entry.handlers.add(handler);
  if (resync) entry.resyncs.add(resync);
  if (!socket) connect();
  return () => {
    const e = rooms.get(room);
    if (!e) return;
    e.handlers.delete(handler);
    if (resync) e.resyncs.delete(resync);
    if (e.handlers.size === 0) {
      rooms.delete(room);
      send({ op: "unsubscribe", room });
    }
  };
}

/** Asks for a fresh snapshot of a book room (after a gap in its numbers). */
export function snapshot(room: string): void {
  send({ op: "snapshot", room, ...(rooms.get(room)?.extra ?? {}) });
}

export function onStatus(f: (up: boolean) => void): () => void {
  statusListeners.add(f);
  f(up);
  return () => statusListeners.delete(f);
}

// Credentials changed: the connection (and its session) belongs to the old principal.
session.onChange(() => {
  sessionId = null;
  const old = socket;
  socket = null;
  old?.close();
  if (rooms.size > 0) connect();
});

// The browser knows before the socket does: a connection that went offline is dead, and one
// that came back should not wait out its backoff.
window.addEventListener("offline", () => socket?.close());
window.addEventListener("online", () => {
  if (!socket && rooms.size > 0) {
    retry = 0;
    connect();
  }
});
