// Who is calling: a bearer token wins over the session cookie (an invalid bearer token is 401
// even with a valid cookie); cookie-authenticated state changes need the CSRF double submit.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { hasAbility, type Credentials, type MaybePromise } from '../core/credentials.js';
import { constantTimeEqual } from '../core/token-format.js';
import type { AuthContext } from '../core/types.js';
import { csrfMismatch, forbidden, unauthenticated } from '../core/errors.js';
import { SESSION_COOKIE, XSRF_COOKIE } from './cookies.js';

export const XSRF_HEADER = 'x-xsrf-token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const BEARER = /^Bearer +([^\s]+) *$/i;

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext | null;
  }
}

/**
 * preValidation hook factory: authenticates, then requires `ability` (`*` = account management).
 * It runs before the route's schema is checked, so a request without a valid credential learns
 * nothing about its body's rules (docs/api.md §3.2, "What is checked first").
 * Callback style, so that a credential found in the in-process tier is accepted with no
 * promise on the way: this runs on every authenticated request.
 */
export function authenticate(credentials: Credentials, ability?: string) {
  const accept = (request: FastifyRequest, ctx: AuthContext | undefined, done: (error?: Error) => void) => {
    if (!ctx) return done(unauthenticated());
    if (ability && !hasAbility(ctx, ability)) return done(forbidden(ability));
    request.auth = ctx;
    done();
  };
  return function authenticateRequest(request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void {
    let found: MaybePromise<AuthContext | undefined>;
    try {
      found = resolve(credentials, request);
    } catch (error) {
      return done(error as Error);
    }
    if (found instanceof Promise) found.then((ctx) => accept(request, ctx, done), done);
    else accept(request, found, done);
  };
}

/** The caller's credential, checked; undefined when there is none or it is not valid. */
function resolve(credentials: Credentials, request: FastifyRequest): MaybePromise<AuthContext | undefined> {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = BEARER.exec(header);
    return match ? credentials.validateToken(match[1]!) : undefined;
  }
  const cookie = request.cookies?.[SESSION_COOKIE];
  if (!cookie) return undefined;
  const found = credentials.validateSession(cookie);
  if (SAFE_METHODS.has(request.method)) return found;
  return found instanceof Promise ? found.then((ctx) => withCsrf(request, ctx)) : withCsrf(request, found);
}

/** A valid session changing state must also pass the CSRF check (an invalid one is 401 first). */
function withCsrf(request: FastifyRequest, ctx: AuthContext | undefined): AuthContext | undefined {
  if (ctx) requireCsrf(request);
  return ctx;
}

/** Double submit: the X-XSRF-TOKEN header must equal the XSRF-TOKEN cookie sent with it. */
export function requireCsrf(request: FastifyRequest): void {
  const cookie = request.cookies?.[XSRF_COOKIE];
  const header = request.headers[XSRF_HEADER];
  if (!cookie || typeof header !== 'string' || header === '') throw csrfMismatch();
  let decoded: string;
  try {
    decoded = decodeURIComponent(header);
  } catch {
    throw csrfMismatch();
  }
  if (!constantTimeEqual(decoded, cookie)) throw csrfMismatch();
}
