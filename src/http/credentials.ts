// Who is calling: a bearer token wins over the session cookie (an invalid bearer token is 401
// even with a valid cookie); cookie-authenticated state changes need the CSRF double submit.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { hasAbility, type AuthContext, type AuthService } from '../core/auth-service.js';
import { csrfMismatch, forbidden, unauthenticated } from '../core/errors.js';

export const SESSION_COOKIE = 'latchkey_session';
export const XSRF_COOKIE = 'XSRF-TOKEN';
export const XSRF_HEADER = 'x-xsrf-token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const BEARER = /^Bearer +([^\s]+) *$/i;

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext | null;
  }
}

/** preHandler factory: authenticates, then requires `ability` (`*` = account management). */
export function authenticate(auth: AuthService, ability?: string) {
  return async function authenticateRequest(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const ctx = await resolve(auth, request);
    if (ability && !hasAbility(ctx, ability)) throw forbidden(ability);
    request.auth = ctx;
  };
}

async function resolve(auth: AuthService, request: FastifyRequest): Promise<AuthContext> {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = BEARER.exec(header);
    const ctx = match ? await auth.authenticateToken(match[1]!) : undefined;
    if (!ctx) throw unauthenticated();
    return ctx;
  }
  const cookie = request.cookies?.[SESSION_COOKIE];
  if (cookie) {
    const ctx = await auth.authenticateSession(cookie);
    if (!ctx) throw unauthenticated();
    if (!SAFE_METHODS.has(request.method)) requireCsrf(request);
    return ctx;
  }
  throw unauthenticated();
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
  const a = Buffer.from(decoded);
  const b = Buffer.from(cookie);
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw csrfMismatch();
}
