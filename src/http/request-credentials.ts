// Who is calling, for any HTTP framework: the rules of docs/api.md §3 and §4 over a request's method,
// headers and cookies. A bearer header wins over the session cookie (an invalid bearer token is
// 401 even with a valid cookie); a cookie-authenticated state change needs the CSRF double
// submit; with REQUIRE_VERIFIED_EMAIL, /verify and the embedded authorize() also need a verified
// email. The latchkey server (./credentials.ts), the Fastify plugin and the Express middleware
// (src/embed/) all decide through here, so they cannot drift apart.
import type { IncomingHttpHeaders } from 'node:http';
import { parseCookie } from 'cookie';
import { hasAbility, type Credentials, type MaybePromise } from '../core/credentials.js';
import { csrfMismatch, emailUnverified, forbidden, unauthenticated } from '../core/errors.js';
import { constantTimeEqual } from '../core/token-format.js';
import type { AuthContext } from '../core/types.js';
import type { Latchkey } from '../latchkey.js';
import { SESSION_COOKIE, XSRF_COOKIE } from './cookies.js';

export { SESSION_COOKIE, XSRF_COOKIE };
export const XSRF_HEADER = 'x-xsrf-token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const BEARER = /^Bearer +([^\s]+) *$/i;

export type Cookies = Readonly<Record<string, string | undefined>>;

/**
 * What the rules read of a request. A Fastify request is one as it is; other frameworks pass
 * theirs too. `cookies` when the framework has parsed them already, else the Cookie header is
 * parsed here, and only when no bearer header settles the question first.
 */
export interface PresentedRequest {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly cookies?: Cookies;
}

/** Checks a presented secret: synchronous when the in-process tier holds it, else a promise. */
export type CredentialValidator = Pick<Credentials, 'validateToken' | 'validateSession'>;

/** The one place that names the core's validation calls, for every caller above. */
export function credentialValidator(latchkey: Latchkey): CredentialValidator {
  return latchkey.credentials;
}

/** A further condition on an accepted credential: returns it, or throws the AppError to answer. */
export type CredentialRule = (ctx: AuthContext) => MaybePromise<AuthContext>;

/**
 * The caller's credential checked and holding `ability` when one is named, then passing `rule`
 * when given; throws (or rejects with) the AppError to answer otherwise: 401 `unauthenticated`,
 * 403 `forbidden`, `csrf_mismatch` or the rule's. Synchronous on the warm path: no promise per request.
 */
export function authorize(validator: CredentialValidator, request: PresentedRequest, ability?: string, rule?: CredentialRule): MaybePromise<AuthContext> {
  const found = resolveCredential(validator, request);
  return found instanceof Promise ? found.then((ctx) => accepted(ctx, ability, rule)) : accepted(found, ability, rule);
}

function accepted(ctx: AuthContext | undefined, ability: string | undefined, rule: CredentialRule | undefined): MaybePromise<AuthContext> {
  const checked = accept(ctx, ability);
  return rule ? rule(checked) : checked;
}

/**
 * REQUIRE_VERIFIED_EMAIL (docs/recovery.md), the one rule the server's /verify and the embedded
 * authorize() both apply: 403 `email_unverified` for a user who has not followed a verification
 * link. Undefined when the setting is off. Synchronous for a user cached as verified; for one
 * cached as unverified, the database is asked (at most once a second per user), since the link
 * may have been followed on another instance after the credential was cached.
 */
export function verifiedEmailRule(latchkey: Latchkey): CredentialRule | undefined {
  if (!latchkey.config.recovery.requireVerifiedEmail) return undefined;
  const { verification } = latchkey;
  return (ctx) => {
    if (ctx.user.emailVerifiedAt !== null) return ctx;
    return verification.verifiedAt(ctx.user).then((verifiedAt) => {
      if (verifiedAt === null) throw emailUnverified();
      return ctx;
    });
  };
}

function accept(ctx: AuthContext | undefined, ability: string | undefined): AuthContext {
  if (!ctx) throw unauthenticated();
  if (ability && !hasAbility(ctx, ability)) throw forbidden(ability);
  return ctx;
}

/** The caller's credential, checked; undefined when there is none or it is not valid. */
export function resolveCredential(validator: CredentialValidator, request: PresentedRequest): MaybePromise<AuthContext | undefined> {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = BEARER.exec(header);
    return match ? validator.validateToken(match[1]!) : undefined;
  }
  const cookies = cookiesOf(request);
  const secret = cookies[SESSION_COOKIE];
  if (!secret) return undefined;
  const found = validator.validateSession(secret);
  if (SAFE_METHODS.has(request.method.toUpperCase())) return found;
  return found instanceof Promise ? found.then((ctx) => withCsrf(request, cookies, ctx)) : withCsrf(request, cookies, found);
}

/** A valid session changing state must also pass the CSRF check (an invalid one is 401 first). */
function withCsrf(request: PresentedRequest, cookies: Cookies, ctx: AuthContext | undefined): AuthContext | undefined {
  if (ctx) requireCsrf(request, cookies);
  return ctx;
}

/** Double submit: the X-XSRF-TOKEN header must equal the XSRF-TOKEN cookie sent with it. */
export function requireCsrf(request: PresentedRequest, cookies: Cookies = cookiesOf(request)): void {
  const cookie = cookies[XSRF_COOKIE];
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

const NO_COOKIES: Cookies = Object.freeze({});

export function cookiesOf(request: PresentedRequest): Cookies {
  if (request.cookies) return request.cookies;
  const header = request.headers.cookie;
  return header ? parseCookie(header) : NO_COOKIES;
}

/**
 * The original request's method when a proxy checks a credential on its behalf (nginx
 * auth_request, Traefik ForwardAuth): `/api/auth/verify` then judges the CSRF rule by it.
 */
export const ORIGINAL_METHOD_HEADER = 'x-original-method';

/** The request as the proxied one it stands for, or the request itself when none is named. */
export function asOriginalRequest<R extends PresentedRequest>(request: R): PresentedRequest {
  const original = request.headers[ORIGINAL_METHOD_HEADER];
  if (typeof original !== 'string' || original === '') return request;
  return { method: original, headers: request.headers, cookies: request.cookies };
}
