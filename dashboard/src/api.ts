// One way to call the API: JSON in and out, the signed-in principal's bearer token, a
// refresh shortly before the access token expires, and the API's own error message on failure.

import * as session from "./session";

/** An error answer from the API, carrying its `{"error":{code,message}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
  }
}

interface Options {
  method?: string;
  body?: unknown;
  raw?: BodyInit;
  /** Skip the bearer token (sign-in itself). */
  anonymous?: boolean;
  /** A bearer token other than the signed-in one (checking a pasted key). */
  token?: string;
}

let refreshing: Promise<void> | null = null;

/** Refreshes the access token when it expires within a minute (before a call or a connect). */
export async function refreshIfDue(): Promise<void> {
  const token = session.refreshToken();
  if (!token || session.expiresIn() > 60) return;
  refreshing ??= (async () => {
    try {
      const pair = await request<LoginAnswer>("/api/auth/refresh", {
        method: "POST",
        body: { refresh_token: token },
        anonymous: true,
      });
      session.save(pair.access_token, pair.refresh_token, pair.expires_in, pair.principal);
    } catch (e) {
      // Only a refused refresh token ends the sign-in; a network blip or a busy server does not.
      if (e instanceof ApiError && e.status === 401) session.clear();
    } finally {
      refreshing = null;
    }
  })();
  await refreshing;
}

export interface LoginAnswer {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  principal: session.Principal;
}

async function request<T>(path: string, opts: Options): Promise<T> {
  const headers: Record<string, string> = {};
  const token = opts.token ?? (opts.anonymous ? null : session.accessToken());
  if (token) headers.authorization = `Bearer ${token}`;
  let body: BodyInit | undefined = opts.raw;
  if (opts.body !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(path, { method: opts.method ?? "GET", headers, body });
  } catch {
    throw new ApiError(0, "unreachable", "The server could not be reached. Check your connection and try again.");
  }
  const text = await res.text();
  let json: unknown = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: string; message?: string; request_id?: string } } | null)?.error;
    if (res.status === 401 && !opts.anonymous && !opts.token && session.signedIn()) session.clear();
    throw new ApiError(
      res.status,
      err?.code ?? `http_${res.status}`,
      err?.message ?? (typeof json === "string" && json ? json : `${res.status} ${res.statusText}`),
      err?.request_id,
    );
  }
  return json as T;
}

/** Calls the API. */
export async function api<T>(path: string, opts: Options = {}): Promise<T> {
  if (!opts.anonymous) await refreshIfDue();
  return request<T>(path, opts);
}

/** Prometheus text from `/metrics`. */
export async function metricsText(): Promise<string> {
  const res = await fetch("/metrics");
  if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, `metrics: ${res.status} ${res.statusText}`);
  return res.text();
}

/** Signs in with a username and password. */
export async function login(username: string, password: string): Promise<void> {
  const answer = await api<LoginAnswer>("/api/auth/login", {
    method: "POST",
    body: { username, password },
    anonymous: true,
  });
  session.save(answer.access_token, answer.refresh_token, answer.expires_in, answer.principal);
}

/** Signs in with an API key or the operator token: whoever it names, per `/api/auth/me`. */
export async function useToken(token: string): Promise<void> {
  const principal = await request<session.Principal>("/api/auth/me", { token });
  session.save(token, null, null, principal);
}

export async function logout(): Promise<void> {
  const refresh = session.refreshToken();
  session.clear();
  if (refresh) {
    await api("/api/auth/logout", { method: "POST", body: { refresh_token: refresh }, anonymous: true }).catch(() => {});
  }
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  return e instanceof Error ? e.message : String(e);
}
