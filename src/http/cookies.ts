// The two cookies of browser sessions, set and cleared with the same options everywhere: both
// first-party and sent on top-level navigations only (SameSite=Lax).
import type { CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyReply } from 'fastify';

export const SESSION_COOKIE = 'latchkey_session';
export const XSRF_COOKIE = 'XSRF-TOKEN';

export function cookieOptions(secure: boolean, httpOnly: boolean): CookieSerializeOptions {
  return { path: '/', httpOnly, sameSite: 'lax', secure };
}

/** The session cookie carries the secret; scripts never see it (HttpOnly). No Max-Age: idle expiry is the server's. */
export function setSessionCookie(reply: FastifyReply, secure: boolean, secret: string): void {
  void reply.setCookie(SESSION_COOKIE, secret, cookieOptions(secure, true));
}

export function clearSessionCookie(reply: FastifyReply, secure: boolean): void {
  void reply.clearCookie(SESSION_COOKIE, cookieOptions(secure, true));
}
