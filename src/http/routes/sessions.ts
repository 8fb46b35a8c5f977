// API.md §4: cookie sessions for first-party browser apps (Sanctum's SPA mode).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthContext } from '../../core/auth-service.js';
import { randomAlphanumeric } from '../../core/token-format.js';
import type { Latchkey } from '../../latchkey.js';
import { authenticate, requireCsrf, SESSION_COOKIE, XSRF_COOKIE } from '../credentials.js';
import { presentSession, presentUser, sessionInfoSchema, userSchema } from '../presenters.js';
import { objectBody } from '../server.js';
import { clientOf, routeId } from './account.js';

const XSRF_LENGTH = 40;

export function setSessionCookie(reply: FastifyReply, latchkey: Latchkey, secret: string): void {
  void reply.setCookie(SESSION_COOKIE, secret, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: latchkey.config.sessionSecureCookie,
  });
}

export function sessionRoutes(latchkey: Latchkey) {
  const { auth } = latchkey;
  const accountManagement = authenticate(auth, '*');
  const ctxOf = (request: FastifyRequest) => request.auth as AuthContext;

  return async function routes(app: FastifyInstance) {
    app.get('/api/auth/csrf-cookie', async (_request, reply) => {
      // Readable by scripts on purpose: the page copies it into the X-XSRF-TOKEN header.
      void reply.setCookie(XSRF_COOKIE, randomAlphanumeric(XSRF_LENGTH), {
        path: '/',
        httpOnly: false,
        sameSite: 'lax',
        secure: latchkey.config.sessionSecureCookie,
      });
      return reply.code(204).send();
    });

    app.post('/api/auth/session', { schema: { response: { 200: { type: 'object', properties: { user: userSchema } } } } }, async (request, reply) => {
      requireCsrf(request); // login CSRF: a foreign page must not sign the browser in
      const issued = await auth.loginSession(objectBody(request), clientOf(request));
      setSessionCookie(reply, latchkey, issued.secret);
      return { user: presentUser(issued.user) };
    });

    app.delete('/api/auth/session', { preHandler: authenticate(auth) }, async (request, reply) => {
      await auth.logout(ctxOf(request));
      void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send();
    });

    app.get(
      '/api/auth/sessions',
      { preHandler: accountManagement, schema: { response: { 200: { type: 'object', properties: { sessions: { type: 'array', items: sessionInfoSchema } } } } } },
      async (request) => {
        const ctx = ctxOf(request);
        const sessions = await auth.listSessions(ctx);
        return { sessions: sessions.map((s) => presentSession(s, ctx)) };
      },
    );

    app.delete('/api/auth/sessions/:id', { preHandler: accountManagement }, async (request, reply) => {
      const ctx = ctxOf(request);
      const id = routeId(request);
      await auth.endSession(ctx, id);
      if (ctx.session?.id === id) void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send();
    });
  };
}
