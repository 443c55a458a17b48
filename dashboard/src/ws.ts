// The live connection: one WebSocket per tab, rooms subscribed by whichever page is showing,
// reconnected with backoff and resumed with the server's session id so no event is skipped.

import { refreshIfDue } from "./api";
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

const rooms = new Map<string, { handlers: Set<Handler>; extra: Record<string, unknown> }>();
const statusListeners = new Set<(up: boolean) => void>();
let socket: WebSocket | null = null;
let sessionId: string | null = null;
let retry = 0;
let timer: number | undefined;
let up = false;
let connecting = false;

function url(): string {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const params = new URLSearchParams();
  const token = session.accessToken();
  if (token) params.set("token", token);
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
  // The upgrade is authenticated by the token in its URL: an expired one would be refused.
  void refreshIfDue().finally(() => {
    connecting = false;
    open();
  });
}

function open(): void {
  const ws = new WebSocket(url());
  socket = ws;
  ws.onopen = () => {
    retry = 0;
    setUp(true);
    // Without a session to resume, every room is subscribed afresh; with one, the server's
    // `session` reply says which rooms it restored (see onMessage).
    if (!sessionId) for (const room of rooms.keys()) send({ op: "subscribe", room, ...rooms.get(room)!.extra });
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
    for (const room of rooms.keys()) {
      if (!restored.has(room)) send({ op: "subscribe", room, ...rooms.get(room)!.extra });
    }
    for (const room of restored) if (!rooms.has(room)) send({ op: "unsubscribe", room });
    return;
  }
  // Room events (no `type`), book snapshots and overflow notices reach the room's handlers;
  // plain acknowledgements (subscribed, unsubscribed) do not.
  const forRoom = msg.type === undefined || msg.type === "snapshot" || msg.type === "lagged";
  if (msg.room && forRoom) rooms.get(msg.room)?.handlers.forEach((f) => f(msg));
}

function send(value: unknown): void {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(value));
}

/** Listens to `room` until the returned function is called. */
export function subscribe(room: string, handler: Handler, extra: Record<string, unknown> = {}): () => void {
  let entry = rooms.get(room);
  if (!entry) {
    entry = { handlers: new Set(), extra };
    rooms.set(room, entry);
    send({ op: "subscribe", room, ...extra });
  }
  entry.handlers.add(handler);
  if (!socket) connect();
  return () => {
    const e = rooms.get(room);
    if (!e) return;
    e.handlers.delete(handler);
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
