// What a browser does with latchkey's cookies, for in-process tests of docs/api.md §4: fetch the
// XSRF-TOKEN cookie, sign in with the double submit, and send the cookies (and the header on
// state changes) back.
import assert from 'node:assert/strict';
import type { Reply, RequestOptions, TestApp } from '../helpers/app.js';

export const SESSION_COOKIE = 'latchkey_session';
export const XSRF_COOKIE = 'XSRF-TOKEN';

/** One signed-in browser: its session cookie and XSRF token. */
export class Device {
  constructor(
    readonly session: string,
    readonly xsrf: string,
  ) {}

  /** What a safe request (GET) sends: the cookies, no header needed. */
  read(options: RequestOptions = {}): RequestOptions {
    return { ...options, cookies: { [SESSION_COOKIE]: this.session, [XSRF_COOKIE]: this.xsrf, ...options.cookies } };
  }

  /** A state change as the page sends it: the cookies plus the matching X-XSRF-TOKEN header. */
  write(body?: unknown, options: RequestOptions = {}): RequestOptions {
    return this.read({ ...options, body, headers: { 'x-xsrf-token': this.xsrf, ...options.headers } });
  }

  /** A state change as a cross-site form would send it: the cookies ride along, the header cannot. */
  forged(body?: unknown): RequestOptions {
    return this.read({ body });
  }
}

export async function xsrfToken(app: TestApp): Promise<string> {
  const reply = await app.request('GET', '/api/auth/csrf-cookie');
  assert.equal(reply.status, 204);
  const token = reply.cookies[XSRF_COOKIE];
  assert.ok(token, 'csrf-cookie sets XSRF-TOKEN');
  return token;
}

/** POST /api/auth/session with the double submit; `cookies` are what the browser already holds. */
export async function sessionLogin(
  app: TestApp,
  credentials: { email: string; password: string },
  options: { userAgent?: string; cookies?: Record<string, string> } = {},
): Promise<{ reply: Reply; xsrf: string }> {
  const xsrf = await xsrfToken(app);
  const headers: Record<string, string> = { 'x-xsrf-token': xsrf };
  if (options.userAgent) headers['user-agent'] = options.userAgent;
  const reply = await app.request('POST', '/api/auth/session', { body: credentials, headers, cookies: { ...options.cookies, [XSRF_COOKIE]: xsrf } });
  return { reply, xsrf };
}

export async function signIn(app: TestApp, credentials: { email: string; password: string }, options: { userAgent?: string } = {}): Promise<Device> {
  const { reply, xsrf } = await sessionLogin(app, credentials, options);
  assert.equal(reply.status, 200, `session login: ${JSON.stringify(reply.body)}`);
  const session = reply.cookies[SESSION_COOKIE];
  assert.ok(session, 'session login sets latchkey_session');
  return new Device(session, xsrf);
}

export interface SetCookie {
  value: string;
  /** Lower-cased attributes: 'httponly', 'secure', 'path=/', 'samesite=lax', 'max-age=0'... */
  attributes: Set<string>;
}

/** The Set-Cookie header of a reply for one cookie, parsed as a browser reads it. */
export function setCookie(reply: Reply, name: string): SetCookie | undefined {
  const raw = reply.headers['set-cookie'];
  for (const line of Array.isArray(raw) ? raw : raw !== undefined ? [String(raw)] : []) {
    const [pair, ...attributes] = line.split(';').map((part) => part.trim());
    const eq = pair!.indexOf('=');
    if (pair!.slice(0, eq) !== name) continue;
    return { value: decodeURIComponent(pair!.slice(eq + 1)), attributes: new Set(attributes.map((a) => a.toLowerCase())) };
  }
  return undefined;
}

/** Polls `check` until it holds, for at most `withinMs` (bounds from docs/api.md, with margin). */
export async function eventually(check: () => Promise<boolean>, withinMs: number): Promise<boolean> {
  const until = Date.now() + withinMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
