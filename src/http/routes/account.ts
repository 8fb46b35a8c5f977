// docs/api.md §3: register, login, logout, me, password, tokens and verify.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ALL_ABILITIES, NEW_ACCOUNT_FIELDS } from '../../core/accounts.js';
import { hasAbility } from '../../core/credentials.js';
import type { AuthContext } from '../../core/types.js';
import { forbidden } from '../../core/errors.js';
import type { Latchkey } from '../../latchkey.js';
import { authenticate } from '../credentials.js';
import { asOriginalRequest, verifiedEmailRule } from '../request-credentials.js';
import { ANY_CREDENTIAL, errorResponses, noContent } from '../openapi.js';
import { presentInstant, presentTokenInfo, presentTokenResponse, presentUser, tokenInfoSchema, tokenResponseSchema, userSchema } from '../presenters.js';
import { RenderedBodies } from '../rendered-bodies.js';
import { clearSessionCookie, setSessionCookie } from '../cookies.js';
import { clientOf, routeId } from '../request-info.js';
import { MAX_ABILITIES, MAX_NAME_LENGTH, MAX_TOKEN_LIFETIME_MINUTES, objectSchema, optionalString, requiredString } from '../../core/validation.js';

// ---- route schemas: body validation, response serialisation and the OpenAPI description ------
// A body is declared once, in `body`, with the helpers of core/validation.ts (how: docs/api.md
// §3.5); its TypeScript shape is the interface beside it.

const tags = ['auth'];
const string = { type: 'string' } as const;
const BODY_ERRORS = [400, 413, 415, 422] as const;

const registerSchema = {
  summary: 'Create an account and its first token',
  description: 'The email is trimmed, lower-cased and compared case-insensitively. The token has every ability (`*`).',
  tags,
  body: objectSchema({ ...NEW_ACCOUNT_FIELDS, device_name: { ...optionalString(MAX_NAME_LENGTH), description: 'names the token' } }, ['email', 'password']),
  response: { 201: tokenResponseSchema, ...errorResponses(...BODY_ERRORS, 409, 429, 503) },
};
interface RegisterBody {
  email: string;
  password: string;
  name?: string | null;
  device_name?: string | null;
}

const loginSchema = {
  summary: 'Log in with email and password; returns a new token',
  description: 'Revokes the earlier tokens and sessions of the user when LOGIN_REVOKES_OTHER_TOKENS. Failed attempts are rate limited per (email, client IP).',
  tags,
  body: objectSchema(
    {
      email: { ...requiredString(), description: 'compared trimmed and case-insensitively; an unknown or over-long one is invalid_credentials' },
      password: { ...requiredString(), description: 'over 4096 bytes is invalid_credentials' },
      device_name: { ...optionalString(MAX_NAME_LENGTH), description: 'names the token' },
    },
    ['email', 'password'],
  ),
  response: { 200: tokenResponseSchema, ...errorResponses(...BODY_ERRORS, 401, 429, 503) },
};
interface LoginBody {
  email: string;
  password: string;
  device_name?: string | null;
}

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
  body: objectSchema({ current_password: requiredString(), password: NEW_ACCOUNT_FIELDS.password }, ['current_password', 'password']),
  response: { 200: tokenResponseSchema, ...errorResponses(...BODY_ERRORS, 401, 403, 429, 503) },
};
interface PasswordBody {
  current_password: string;
  password: string;
}

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
  body: objectSchema(
    {
      name: requiredString(MAX_NAME_LENGTH),
      abilities: { type: ['array', 'null'], minItems: 1, maxItems: MAX_ABILITIES, items: requiredString(MAX_NAME_LENGTH), default: ALL_ABILITIES },
      expires_in_minutes: { type: ['integer', 'null'], minimum: 1, maximum: MAX_TOKEN_LIFETIME_MINUTES },
    },
    ['name'],
  ),
  response: { 201: tokenResponseSchema, ...errorResponses(...BODY_ERRORS, 401, 403, 503) },
};
interface NewTokenBody {
  name: string;
  abilities?: string[] | null;
  expires_in_minutes?: number | null;
}

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
    'With `ability`, answers 403 unless the token has it. With a cookie session `token_id` is null and X-Token-Id absent. A proxy checking a request on its behalf sends the original method in `X-Original-Method`: with a cookie session, an unsafe one (not GET, HEAD or OPTIONS) needs the `X-XSRF-TOKEN` header matching the `XSRF-TOKEN` cookie, else 403 `csrf_mismatch`. With REQUIRE_VERIFIED_EMAIL, 403 `email_unverified` for a user whose email is not verified.',
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
  const { accounts, credentials, verification } = latchkey;
  const secureCookies = latchkey.config.sessionSecureCookie;
  const anyCredential = authenticate(latchkey);
  const accountManagement = authenticate(latchkey, '*');
  const verifyCredential = authenticate(latchkey, undefined, asOriginalRequest, verifiedEmailRule(latchkey));
  const ctxOf = (request: FastifyRequest) => request.credential as AuthContext;
  const keptInProcess = (ctx: AuthContext) => credentials.keptInProcess(ctx);
  const rendered = { me: new RenderedBodies(keptInProcess), verify: new RenderedBodies(keptInProcess) };

  return async function routes(app: FastifyInstance) {
    app.post<{ Body: RegisterBody }>('/api/auth/register', { schema: registerSchema }, async (request, reply) => {
      const { email, password, name, device_name: deviceName } = request.body;
      const issued = await accounts.register({ email, password, name, deviceName }, clientOf(request));
      return reply.code(201).send(presentTokenResponse(issued));
    });

    app.post<{ Body: LoginBody }>('/api/auth/login', { schema: loginSchema }, async (request) => {
      const { email, password, device_name: deviceName } = request.body;
      return presentTokenResponse(await accounts.login({ email, password, deviceName }, clientOf(request)));
    });

    app.post('/api/auth/logout', { preValidation: anyCredential, schema: logoutSchema }, async (request, reply) => {
      const ctx = ctxOf(request);
      await accounts.logout(ctx);
      if (ctx.session) clearSessionCookie(reply, secureCookies);
      return reply.code(204).send();
    });

    // /me and /verify are the hot paths: synchronous handlers, no promise per request, bodies
    // rendered once per credential. /me's last_used_at, which moves every second, is a slot.
    app.get('/api/auth/me', { preValidation: anyCredential, schema: meSchema }, (request, reply) => {
      const ctx = ctxOf(request);
      const token = ctx.token;
      // A user cached as unverified who followed a link on this instance since (docs/recovery.md):
      // shown from memory, not from the bodies rendered for the cached copy.
      const user = verification.withKnownVerification(ctx.user);
      if (user !== ctx.user) return { user: presentUser(user), token: token && presentTokenInfo(token, credentials.expiryOf(token), credentials.lastUsedAt(token), true) };
      if (!token) return rendered.me.send(reply, ctx, () => ({ user: presentUser(ctx.user), token: null }));
      return rendered.me.sendWithSlot(reply, ctx, presentInstant(credentials.lastUsedAt(token)), (slot) => ({
        user: presentUser(ctx.user),
        // last_used_at comes after every value a user controls, as the slot must (rendered-bodies.ts).
        token: { ...presentTokenInfo(token, credentials.expiryOf(token), null, true), last_used_at: slot },
      }));
    });

    app.put<{ Body: PasswordBody }>('/api/auth/password', { preValidation: accountManagement, schema: passwordSchema }, async (request, reply) => {
      const { current_password: currentPassword, password } = request.body;
      const { token, session } = await accounts.changePassword(ctxOf(request), { currentPassword, password }, clientOf(request));
      if (session) setSessionCookie(reply, secureCookies, session.secret);
      return presentTokenResponse(token);
    });

    app.get(
      '/api/auth/tokens',
      { preValidation: accountManagement, schema: listTokensSchema },
      async (request) => {
        const ctx = ctxOf(request);
        const tokens = await accounts.listTokens(ctx);
        return { tokens: tokens.map((t) => presentTokenInfo(t, credentials.expiryOf(t), t.lastUsedAt, t.id === ctx.token?.id)) };
      },
    );

    app.post<{ Body: NewTokenBody }>('/api/auth/tokens', { preValidation: accountManagement, schema: createTokenSchema }, async (request, reply) => {
      const { name, abilities, expires_in_minutes: expiresInMinutes } = request.body;
      const issued = await accounts.createToken(ctxOf(request), { name, abilities, expiresInMinutes });
      return reply.code(201).send(presentTokenResponse(issued));
    });

    app.delete('/api/auth/tokens/:id', { preValidation: accountManagement, schema: deleteTokenSchema }, async (request, reply) => {
      await accounts.deleteToken(ctxOf(request), routeId(request));
      return reply.code(204).send();
    });

    // For nginx auth_request, Traefik ForwardAuth and other services. A cookie session is
    // judged as the proxied request: an unsafe X-Original-Method needs the CSRF header.
    // REQUIRE_VERIFIED_EMAIL is applied by verifyCredential (the rule the embedded require() shares).
    app.get('/api/auth/verify', { preValidation: verifyCredential, schema: verifySchema }, (request, reply) => {
      const ctx = ctxOf(request);
      const { ability } = request.query as { ability?: string };
      if (ability && !hasAbility(ctx, ability)) throw forbidden(ability);
      void reply.header('x-user-id', String(ctx.user.id));
      if (ctx.token) void reply.header('x-token-id', String(ctx.token.id));
      return rendered.verify.send(reply, ctx, () => ({
        user_id: ctx.user.id,
        token_id: ctx.token?.id ?? null,
        abilities: ctx.abilities,
        expires_at: ctx.token ? presentInstant(credentials.expiryOf(ctx.token)) : null,
      }));
    });
  };
}
