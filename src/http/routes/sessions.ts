// docs/api.md §4: cookie sessions for first-party browser apps (Sanctum's SPA mode). Who is
// calling and the CSRF double submit live in credentials.ts; the session rules in the core.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthContext } from '../../core/types.js';
import { notFound } from '../../core/errors.js';
import { randomAlphanumeric } from '../../core/token-format.js';
import type { Latchkey } from '../../latchkey.js';
import { clearSessionCookie, cookieOptions, SESSION_COOKIE, setSessionCookie, XSRF_COOKIE } from '../cookies.js';
import { authenticate, requireCsrf } from '../credentials.js';
import { cookiesOf } from '../request-credentials.js';
import { ANY_CREDENTIAL, errorResponses, noContent } from '../openapi.js';
import { presentSession, presentUser, sessionInfoSchema, userSchema } from '../presenters.js';
import { clientOf, routeId } from '../request-info.js';
import { objectSchema, requiredString } from '../../core/validation.js';

const XSRF_LENGTH = 40;

// ---- route schemas: body validation, response serialisation and the OpenAPI description ------

const tags = ['sessions'];

const csrfCookieSchema = {
  summary: 'Set the XSRF-TOKEN cookie',
  description:
    'Sets cookie `XSRF-TOKEN`, readable by scripts. Send its value back in header `X-XSRF-TOKEN` on the session login and on every ' +
    'state-changing request that the session cookie authenticates.',
  tags,
  response: { ...noContent },
};

const sessionLoginSchema = {
  summary: 'Sign in with a cookie session',
  description:
    'Needs header `X-XSRF-TOKEN` equal to the `XSRF-TOKEN` cookie (login CSRF). Sets the HttpOnly cookie `latchkey_session` with a new ' +
    'session id; the session the browser had before, if any, ends. Revokes the earlier tokens and sessions of the user when ' +
    'LOGIN_REVOKES_OTHER_TOKENS. Rate limited together with login.',
  tags,
  body: objectSchema({ email: requiredString(), password: requiredString() }, ['email', 'password']),
  response: { 200: { type: 'object', required: ['user'], properties: { user: userSchema } }, ...errorResponses(400, 401, 403, 413, 415, 422, 429, 503) },
};
interface SessionLoginBody {
  email: string;
  password: string;
}

const sessionLogoutSchema = {
  summary: 'Sign out: end the cookie session',
  description: 'Ends the session of the cookie and clears the cookie. Needs `X-XSRF-TOKEN`. 404 when a bearer token, not the cookie, authenticated the request.',
  tags,
  security: [{ sessionCookie: [] }],
  response: { ...noContent, ...errorResponses(401, 403, 404, 503) },
};

const listSessionsSchema = {
  summary: "The user's live sessions (devices)",
  description: '`id` is the public row id, never the cookie value; `ip` and `user_agent` are those of the login. Needs a session or a `*` token.',
  tags,
  security: ANY_CREDENTIAL,
  response: {
    200: { type: 'object', required: ['sessions'], properties: { sessions: { type: 'array', items: sessionInfoSchema } } },
    ...errorResponses(401, 403, 503),
  },
};

const endSessionSchema = {
  summary: "End one of the user's sessions",
  description: "404 unless the session is the user's. Ending the current session also clears its cookie. Needs a session (with `X-XSRF-TOKEN`) or a `*` token.",
  tags,
  security: ANY_CREDENTIAL,
  params: { type: 'object', properties: { id: { type: 'string', description: 'session id from GET /api/auth/sessions (a positive integer; anything else is 404)' } } },
  response: { ...noContent, ...errorResponses(401, 403, 404, 503) },
};

export function sessionRoutes(latchkey: Latchkey) {
  const { accounts } = latchkey;
  const secureCookies = latchkey.config.sessionSecureCookie;
  const anyCredential = authenticate(latchkey);
  const accountManagement = authenticate(latchkey, '*');
  const ctxOf = (request: FastifyRequest) => request.credential as AuthContext;

  return async function routes(app: FastifyInstance) {
    app.get('/api/auth/csrf-cookie', { schema: csrfCookieSchema }, async (_request, reply) => {
      // Readable by scripts on purpose: the page copies it into the X-XSRF-TOKEN header. A page
      // on another site can neither read it nor set our header, which is the whole defence.
      void reply.setCookie(XSRF_COOKIE, randomAlphanumeric(XSRF_LENGTH), cookieOptions(secureCookies, false));
      return reply.code(204).send();
    });

    // Login CSRF: a foreign page must not sign the browser in to the attacker's account. Checked
    // before the body's schema, as a credential is (docs/api.md §3.2).
    const loginCsrf = async (request: FastifyRequest) => requireCsrf(request);
    app.post<{ Body: SessionLoginBody }>('/api/auth/session', { preValidation: loginCsrf, schema: sessionLoginSchema }, async (request, reply) => {
      const { email, password } = request.body;
      const issued = await accounts.loginSession({ email, password }, clientOf(request), cookiesOf(request)[SESSION_COOKIE]);
      setSessionCookie(reply, secureCookies, issued.secret);
      return { user: presentUser(issued.user) };
    });

    app.delete('/api/auth/session', { preValidation: anyCredential, schema: sessionLogoutSchema }, async (request, reply) => {
      const ctx = ctxOf(request);
      // A bearer token takes precedence over the cookie; silently revoking it here would surprise.
      if (!ctx.session) throw notFound('No session cookie authenticated this request; POST /api/auth/logout revokes a bearer token.');
      await accounts.endSession(ctx, ctx.session.id);
      clearSessionCookie(reply, secureCookies);
      return reply.code(204).send();
    });

    app.get('/api/auth/sessions', { preValidation: accountManagement, schema: listSessionsSchema }, async (request) => {
      const ctx = ctxOf(request);
      const sessions = await accounts.listSessions(ctx);
      return { sessions: sessions.map((s) => presentSession(s, ctx)) };
    });

    app.delete('/api/auth/sessions/:id', { preValidation: accountManagement, schema: endSessionSchema }, async (request, reply) => {
      const ctx = ctxOf(request);
      const id = routeId(request);
      await accounts.endSession(ctx, id);
      if (ctx.session?.id === id) clearSessionCookie(reply, secureCookies);
      return reply.code(204).send();
    });
  };
}
