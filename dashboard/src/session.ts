// Who is signed in. Tokens live in sessionStorage: a tab's sign-in ends with the tab, and
// nothing outlives the browser session on a shared trading desk machine.

export interface Principal {
  id: string;
  roles: string[];
}

interface Stored {
  access: string;
  refresh: string | null;
  expiresAt: number;
  principal: Principal;
}

const KEY = "bourse.session";
const listeners = new Set<() => void>();
let current: Stored | null = load();

function load(): Stored | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Stored) : null;
  } catch {
    return null;
  }
}

export function signedIn(): Principal | null {
  return current?.principal ?? null;
}

export function hasRole(...roles: string[]): boolean {
  return current?.principal.roles.some((r) => roles.includes(r)) ?? false;
}

/** Ops pages: the ops or admin role. */
export function isOps(): boolean {
  return hasRole("ops", "admin");
}

export function accessToken(): string | null {
  return current?.access ?? null;
}

export function refreshToken(): string | null {
  return current?.refresh ?? null;
}

/** Seconds until the access token expires (Infinity for API keys and the admin token). */
export function expiresIn(): number {
  return current ? (current.expiresAt - Date.now()) / 1000 : 0;
}

export function save(access: string, refresh: string | null, expiresInS: number | null, principal: Principal): void {
  // A refreshed token for the same principal changes nothing on screen (and keeps the live
  // connection, which was authenticated when it opened).
  const same =
    current !== null &&
    current.principal.id === principal.id &&
    current.principal.roles.join() === principal.roles.join();
  current = {
    access,
    refresh,
    expiresAt: expiresInS === null ? Number.MAX_SAFE_INTEGER : Date.now() + expiresInS * 1000,
    principal,
  };
  sessionStorage.setItem(KEY, JSON.stringify(current));
  if (!same) listeners.forEach((f) => f());
}

export function clear(): void {
  current = null;
  sessionStorage.removeItem(KEY);
  listeners.forEach((f) => f());
}

export function onChange(f: () => void): void {
  listeners.add(f);
}
