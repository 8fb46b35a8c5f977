// API.md §3: register, login, logout, me, password, tokens and verify.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { hasAbility, type AuthContext, type ClientInfo } from '../../core/auth-service.js';
import { forbidden, notFound } from '../../core/errors.js';
import type { Latchkey } from '../../latchkey.js';
import { toIso } from '../../store/time.js';
import { authenticate } from '../credentials.js';
import { presentTokenInfo, presentTokenResponse, presentUser, tokenInfoSchema, tokenResponseSchema, userSchema } from '../presenters.js';
import { objectBody } from '../server.js';
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

export function accountRoutes(latchkey: Latchkey) {
  const { auth } = latchkey;
  const anyCredential = authenticate(auth);
  const accountManagement = authenticate(auth, '*');
  const ctxOf = (request: FastifyRequest) => request.auth as AuthContext;
  const tokenInfo = (ctx: AuthContext) => ctx.token && presentTokenInfo(auth.withLastUse(ctx.token), auth.tokenExpiry(ctx.token), true);

  return async function routes(app: FastifyInstance) {
    app.post('/api/auth/register', { schema: { response: { 201: tokenResponseSchema } } }, async (request, reply) => {
      const issued = await auth.register(objectBody(request));
      return reply.code(201).send(presentTokenResponse(issued));
    });

    app.post('/api/auth/login', { schema: { response: { 200: tokenResponseSchema } } }, async (request) => {
      return presentTokenResponse(await auth.login(objectBody(request), clientOf(request)));
    });

    app.post('/api/auth/logout', { preHandler: anyCredential }, async (request, reply) => {
      const ctx = ctxOf(request);
      await auth.logout(ctx);
      if (ctx.session) void reply.clearCookie('latchkey_session', { path: '/' });
      return reply.code(204).send();
    });

    const meSchema = {
      response: {
        200: {
          type: 'object',
          required: ['user', 'token'],
          properties: { user: userSchema, token: { anyOf: [tokenInfoSchema, { type: 'null' }] } },
        },
      },
    };
    app.get('/api/auth/me', { preHandler: anyCredential, schema: meSchema }, async (request) => {
      const ctx = ctxOf(request);
      return { user: presentUser(ctx.user), token: tokenInfo(ctx) };
    });

    app.put('/api/auth/password', { preHandler: accountManagement, schema: { response: { 200: tokenResponseSchema } } }, async (request, reply) => {
      const { token, session } = await auth.changePassword(ctxOf(request), objectBody(request), clientOf(request));
      if (session) setSessionCookie(reply, latchkey, session.secret);
      return presentTokenResponse(token);
    });

    app.get(
      '/api/auth/tokens',
      { preHandler: accountManagement, schema: { response: { 200: { type: 'object', properties: { tokens: { type: 'array', items: tokenInfoSchema } } } } } },
      async (request) => {
        const ctx = ctxOf(request);
        const tokens = await auth.listTokens(ctx);
        return { tokens: tokens.map((t) => presentTokenInfo(t, auth.tokenExpiry(t), t.id === ctx.token?.id)) };
      },
    );

    app.post('/api/auth/tokens', { preHandler: accountManagement, schema: { response: { 201: tokenResponseSchema } } }, async (request, reply) => {
      const issued = await auth.createToken(ctxOf(request), objectBody(request));
      return reply.code(201).send(presentTokenResponse(issued));
    });

    app.delete('/api/auth/tokens/:id', { preHandler: accountManagement }, async (request, reply) => {
      await auth.deleteToken(ctxOf(request), routeId(request));
      return reply.code(204).send();
    });

    const verifySchema = {
      querystring: { type: 'object', properties: { ability: { type: 'string' } } },
      response: {
        200: {
          type: 'object',
          required: ['user_id', 'token_id', 'abilities', 'expires_at'],
          properties: {
            user_id: { type: 'integer' },
            token_id: { type: ['integer', 'null'] },
            abilities: { type: 'array', items: { type: 'string' } },
            expires_at: { type: ['string', 'null'], format: 'date-time' },
          },
        },
      },
    };
    // For nginx auth_request, Traefik ForwardAuth and other services.
    app.get('/api/auth/verify', { preHandler: anyCredential, schema: verifySchema }, async (request, reply) => {
      const ctx = ctxOf(request);
      const { ability } = request.query as { ability?: string };
      if (ability && !hasAbility(ctx, ability)) throw forbidden(ability);
      void reply.header('x-user-id', String(ctx.user.id));
      if (ctx.token) void reply.header('x-token-id', String(ctx.token.id));
      return {
        user_id: ctx.user.id,
        token_id: ctx.token?.id ?? null,
        abilities: ctx.abilities,
        expires_at: ctx.token ? toIso(auth.tokenExpiry(ctx.token)) : null,
      };
    });
  };
}
