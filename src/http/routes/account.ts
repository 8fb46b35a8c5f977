// API.md §3: register, login, logout, me, password, tokens and verify.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasAbility, type ClientInfo } from '../../core/auth-service.js';
import type { AuthContext, User } from '../../core/types.js';
import { requireVerified, verifiedSinceCached } from './recovery.js';
import { forbidden, notFound } from '../../core/errors.js';
import type { Latchkey } from '../../latchkey.js';
import { authenticate } from '../credentials.js';
import { ANY_CREDENTIAL, errorResponses, noContent } from '../openapi.js';
import { presentInstant, presentTokenInfo, presentTokenResponse, presentUser, tokenInfoSchema, tokenResponseSchema, userSchema } from '../presenters.js';
import { objectBody } from '../app.js';
import { RenderedBodies } from '../rendered-bodies.js';
import { setSessionCookie } from './sessions.js';

export function clientOf(request: FastifyRequest): ClientInfo {
  const agent = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof agent === 'string' ? agent : null };
}

/** Route ids are positive decimal integers; anything else cannot name a row (404). */
export function routeId(request: FastifyRequest): number {
  const raw = (request.params as { id?: string }).id ?? '';
  const id = /^[1-9]\d{0,15}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(id)) throw notFound();
  return id;
}

// ---- route schemas: response serialisation and the OpenAPI description (../openapi.ts) ------

const tags = ['auth'];
const string = { type: 'string' } as const;
const BODY_ERRORS = [400, 413, 415, 422] as const;

const registerSchema = {
  summary: 'Create an account and its first token',
  description: 'The email is trimmed, lower-cased and compared case-insensitively. The token has every ability (`*`).',
  tags,
  documentedBody: {
    type: 'object',
    required: ['email', 'password'],
    properties: { email: { type: 'string', maxLength: 255 }, password: string, name: string, device_name: { ...string, description: 'names the token' } },
  },
  response: { 201: tokenResponseSchema, ...errorResponses(...BODY_ERRORS, 409, 503) },
};

const loginSchema = {
  summary: 'Log in with email and password; returns a new token',
  description: 'Revokes the earlier tokens and sessions of the user when LOGIN_REVOKES_OTHER_TOKENS. Failed attempts are rate limited per (email, client IP).',
  tags,
  documentedBody: { type: 'object', required: ['email', 'password'], properties: { email: string, password: string, device_name: string } },
  response: { 200: tokenResponseSchema, ...errorResponses(...BODY_ERRORS, 401, 429, 503) },
};

const logoutSchema = {
  summary: 'Revoke the presented token, or end the cookie session',
  tags,
  security: ANY_CREDENTIAL,
  response: { ...noContent, ...errorResponses(401, 403, 503) },
};

const meSchema = {
  summary: 'Who the credential belongs to',
  description: '`token` is null for a cookie session.',
  tags,
  security: ANY_CREDENTIAL,
  response: {
    200: {
      type: 'object',
      required: ['user', 'token'],
      properties: { user: userSchema, token: { ...tokenInfoSchema, type: ['object', 'null'] } /* not anyOf: 4x faster to serialise */ },
    },
    ...errorResponses(401),
  },
};

const passwordSchema = {
  summary: 'Change the password',
  description:
    'Revokes every token and session of the user, the presented one included; the response carries a fresh token (and a fresh session cookie for a cookie session). A wrong current_password is 422 and counts as a failed login for the rate limit. Needs a `*` token or a session.',
  tags,
  security: ANY_CREDENTIAL,
  documentedBody: { type: 'object', required: ['current_password', 'password'], properties: { current_password: string, password: string } },
  response: { 200: tokenResponseSchema, ...errorResponses(...BODY_ERRORS, 401, 403, 429, 503) },
};

const listTokensSchema = {
  summary: "The user's live tokens",
  description: 'Needs a `*` token or a session.',
  tags,
  security: ANY_CREDENTIAL,
  response: { 200: { type: 'object', properties: { tokens: { type: 'array', items: tokenInfoSchema } } }, ...errorResponses(401, 403, 503) },
};

const createTokenSchema = {
  summary: 'Create another personal access token',
  description: '`expires_in_minutes` is a positive JSON integer, capped by TOKEN_EXPIRATION when that is > 0. Needs a `*` token or a session.',
  tags,
  security: ANY_CREDENTIAL,
  documentedBody: {
    type: 'object',
    required: ['name'],
    properties: {
      name: { type: 'string', maxLength: 255 },
      abilities: { type: 'array', items: string, default: ['*'] },
      expires_in_minutes: { type: 'integer', minimum: 1 },
    },
  },
  response: { 201: tokenResponseSchema, ...errorResponses(...BODY_ERRORS, 401, 403, 503) },
};

const deleteTokenSchema = {
  summary: 'Revoke one of the user\'s tokens',
  description: '404 unless the token is the user\'s. Needs a `*` token or a session.',
  tags,
  security: ANY_CREDENTIAL,
  params: { type: 'object', properties: { id: { type: 'string', description: 'token id (a positive integer; anything else is 404)' } } },
  response: { ...noContent, ...errorResponses(401, 403, 404, 503) },
};

const verifySchema = {
  summary: 'Check a credential (nginx auth_request, Traefik ForwardAuth)',
  description:
    'With `ability`, answers 403 unless the token has it. With a cookie session `token_id` is null and X-Token-Id absent. With REQUIRE_VERIFIED_EMAIL, 403 `email_unverified` for a user whose email is not verified.',
  tags,
  security: ANY_CREDENTIAL,
  querystring: { type: 'object', properties: { ability: string } },
  response: {
    200: {
      type: 'object',
      required: ['user_id', 'token_id', 'abilities', 'expires_at'],
      headers: { 'X-User-Id': { type: 'integer' }, 'X-Token-Id': { type: 'integer', description: 'absent for a cookie session' } },
      properties: {
        user_id: { type: 'integer' },
        token_id: { type: ['integer', 'null'] },
        abilities: { type: 'array', items: string },
        expires_at: { type: ['string', 'null'], format: 'date-time' },
      },
    },
    ...errorResponses(401, 403),
  },
};

export function accountRoutes(latchkey: Latchkey) {
  const { auth } = latchkey;
  const anyCredential = authenticate(auth);
  const accountManagement = authenticate(auth, '*');
  const ctxOf = (request: FastifyRequest) => request.auth as AuthContext;
  const rendered = { me: new RenderedBodies(), verify: new RenderedBodies() };

  return async function routes(app: FastifyInstance) {
    app.post('/api/auth/register', { schema: registerSchema }, async (request, reply) => {
      const issued = await auth.register(objectBody(request));
      return reply.code(201).send(presentTokenResponse(issued));
    });

    app.post('/api/auth/login', { schema: loginSchema }, async (request) => {
      return presentTokenResponse(await auth.login(objectBody(request), clientOf(request)));
    });

    app.post('/api/auth/logout', { preHandler: anyCredential, schema: logoutSchema }, async (request, reply) => {
      const ctx = ctxOf(request);
      await auth.logout(ctx);
      if (ctx.session) void reply.clearCookie('latchkey_session', { path: '/' });
      return reply.code(204).send();
    });

    // /me and /verify are the hot paths: synchronous handlers, no promise per request, bodies
    // rendered once per credential. /me shows last_used_at, hence its version.
    app.get('/api/auth/me', { preHandler: anyCredential, schema: meSchema }, (request, reply) => {
      const ctx = ctxOf(request);
      const lastUsedAt = ctx.token && auth.lastUsedAt(ctx.token);
      const body = (user: User) => ({ user: presentUser(user), token: ctx.token && presentTokenInfo(ctx.token, auth.tokenExpiry(ctx.token), lastUsedAt, true) });
      // A user cached as unverified who verified since on this instance (docs/recovery.md).
      const verifiedSince = verifiedSinceCached(latchkey, ctx.user);
      if (verifiedSince) return body(verifiedSince);
      return rendered.me.send(reply, ctx, lastUsedAt, () => body(ctx.user));
    });

    app.put('/api/auth/password', { preHandler: accountManagement, schema: passwordSchema }, async (request, reply) => {
      const { token, session } = await auth.changePassword(ctxOf(request), objectBody(request), clientOf(request));
      if (session) setSessionCookie(reply, latchkey, session.secret);
      return presentTokenResponse(token);
    });

    app.get(
      '/api/auth/tokens',
      { preHandler: accountManagement, schema: listTokensSchema },
      async (request) => {
        const ctx = ctxOf(request);
        const tokens = await auth.listTokens(ctx);
        return { tokens: tokens.map((t) => presentTokenInfo(t, auth.tokenExpiry(t), t.lastUsedAt, t.id === ctx.token?.id)) };
      },
    );

    app.post('/api/auth/tokens', { preHandler: accountManagement, schema: createTokenSchema }, async (request, reply) => {
      const issued = await auth.createToken(ctxOf(request), objectBody(request));
      return reply.code(201).send(presentTokenResponse(issued));
    });

    app.delete('/api/auth/tokens/:id', { preHandler: accountManagement, schema: deleteTokenSchema }, async (request, reply) => {
      await auth.deleteToken(ctxOf(request), routeId(request));
      return reply.code(204).send();
    });

    // For nginx auth_request, Traefik ForwardAuth and other services.
    app.get('/api/auth/verify', { preHandler: anyCredential, schema: verifySchema }, (request, reply) => {
      const ctx = ctxOf(request);
      const { ability } = request.query as { ability?: string };
      if (ability && !hasAbility(ctx, ability)) throw forbidden(ability);
      if (latchkey.config.recovery.requireVerifiedEmail && ctx.user.emailVerifiedAt === null) {
        return requireVerified(latchkey, ctx.user).then(() => verified(request, reply));
      }
      return verified(request, reply);
    });

    const verified = (request: FastifyRequest, reply: FastifyReply) => {
      const ctx = ctxOf(request);
      void reply.header('x-user-id', String(ctx.user.id));
      if (ctx.token) void reply.header('x-token-id', String(ctx.token.id));
      return rendered.verify.send(reply, ctx, null, () => ({
        user_id: ctx.user.id,
        token_id: ctx.token?.id ?? null,
        abilities: ctx.abilities,
        expires_at: ctx.token ? presentInstant(auth.tokenExpiry(ctx.token)) : null,
      }));
    };
  };
}
