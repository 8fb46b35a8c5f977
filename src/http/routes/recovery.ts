// Account recovery and email verification (docs/recovery.md): forgot and reset password, the
// signed verification link and the resend. (REQUIRE_VERIFIED_EMAIL is ../request-credentials.ts's.)
// Bodies are declared once, in `body` (docs/api.md §3.5); unlike §3's, they refuse unknown
// fields, so a misspelt one is a 422 rather than silently ignored.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { VERIFY_PATH } from '../../core/email-verification.js';
import type { AuthContext } from '../../core/types.js';
import { closedObjectSchema, MAX_EMAIL_LENGTH, requiredString } from '../../core/validation.js';
import type { Latchkey } from '../../latchkey.js';
import { authenticate } from '../credentials.js';
import { ANY_CREDENTIAL, errorResponses, noContent } from '../openapi.js';

const tags = ['recovery'];
const string = { type: 'string' } as const;
const BODY_ERRORS = [400, 413, 415, 422] as const;
/** A reset token's length (64 hex characters): a longer one is refused before anything is hashed. */
const RESET_TOKEN_LENGTH = 64;
const statusBody = (status: string) => ({ type: 'object', required: ['status'], properties: { status: { type: 'string', enum: [status] } } });

const forgotSchema = {
  summary: 'Mail a password reset link',
  description:
    'Answers 202 the same way whether or not an account has this email. At most one mail per PASSWORD_RESET_THROTTLE seconds per address; rate limited per (email, client IP) and per client IP. The link opens the account page\'s reset form and works for PASSWORD_RESET_EXPIRE minutes.',
  tags,
  body: closedObjectSchema({ email: requiredString(MAX_EMAIL_LENGTH) }, ['email']),
  response: { 202: statusBody('sent'), ...errorResponses(...BODY_ERRORS, 429, 503) },
};
interface ForgotBody {
  email: string;
}

const resetSchema = {
  summary: 'Set a new password with the token of a reset link',
  description:
    'Sets the password, spends the link and revokes every token and session of the user. A wrong, used or expired link is 422 `invalid_reset_token`; rate limited per client IP.',
  tags,
  body: closedObjectSchema(
    {
      email: requiredString(MAX_EMAIL_LENGTH),
      token: { ...requiredString(RESET_TOKEN_LENGTH), description: "the link's token: 64 lower-case hex characters; a shorter or other one is invalid_reset_token" },
      password: { ...requiredString(), description: 'the rules of a new password (PASSWORD_MIN_LENGTH, the hasher\'s byte limit)' },
    },
    ['email', 'token', 'password'],
  ),
  response: { 200: statusBody('reset'), ...errorResponses(...BODY_ERRORS, 429, 503) },
};
interface ResetBody {
  email: string;
  token: string;
  password: string;
}

const verifyEmailSchema = {
  summary: 'Follow an email verification link',
  description:
    "Laravel's signed URL: `hash` is the SHA-1 of the email, `signature` the HMAC-SHA256 of the URL without it, keyed with APP_KEY. Sets email_verified_at. 204, or a redirect to the account page under APP_URL when the request accepts HTML; a bad or expired link is 403 `invalid_signature`.",
  tags,
  params: { type: 'object', properties: { id: string, hash: string } },
  querystring: { type: 'object', properties: { expires: string, signature: string } },
  response: { ...noContent, 303: { description: 'To the account page (a browser asked)', type: 'null' }, ...errorResponses(403, 503) },
};

const resendSchema = {
  summary: 'Mail a new verification link',
  description: 'Nothing is sent when the email is verified already. A few per user per minute.',
  tags,
  security: ANY_CREDENTIAL,
  response: { 202: statusBody('sent'), ...errorResponses(401, 403, 429, 503) },
};

export function recoveryRoutes(latchkey: Latchkey) {
  const { recovery, verification, config } = latchkey;
  const anyCredential = authenticate(latchkey);

  return async function routes(app: FastifyInstance) {
    app.post<{ Body: ForgotBody }>('/api/auth/forgot-password', { schema: forgotSchema }, async (request, reply) => {
      await recovery.forgotPassword({ email: request.body.email }, request.ip);
      return reply.code(202).send({ status: 'sent' });
    });

    app.post<{ Body: ResetBody }>('/api/auth/reset-password', { schema: resetSchema }, async (request) => {
      const { email, token, password } = request.body;
      await recovery.resetPassword({ email, token, password }, request.ip);
      return { status: 'reset' };
    });

    app.get(`${VERIFY_PATH}/:id/:hash`, { schema: verifyEmailSchema }, async (request, reply) => {
      const { id, hash } = request.params as { id: string; hash: string };
      const [path, query = ''] = request.raw.url!.split(/\?(.*)/s, 2) as [string, string?];
      await verification.verify({ url: `${request.protocol}://${hostOf(request)}${path}`, query, id, hash });
      if (acceptsHtml(request)) return reply.redirect(`${config.recovery.appUrl}/account#verified`, 303);
      return reply.code(204).send();
    });

    app.post('/api/auth/email/verification-notification', { preValidation: anyCredential, schema: resendSchema }, async (request, reply) => {
      await verification.resend((request.credential as AuthContext).user);
      return reply.code(202).send({ status: 'sent' });
    });
  };
}

/** Symfony's getHttpHost, which Laravel signs: the Host header, less a port that is the scheme's default. */
function hostOf(request: FastifyRequest): string {
  const host = request.host;
  const defaultPort = request.protocol === 'https' ? ':443' : ':80';
  return host.endsWith(defaultPort) ? host.slice(0, -defaultPort.length) : host;
}

function acceptsHtml(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  return /\btext\/html\b/.test(accept);
}

