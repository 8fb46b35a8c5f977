// The latchkey server's preHandlers over the framework-neutral rules of ./request-credentials.ts.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthContext } from '../core/types.js';
import type { Latchkey } from '../latchkey.js';
import { authorize, credentialValidator, type CredentialRule, type PresentedRequest } from './request-credentials.js';

export { requireCsrf, SESSION_COOKIE, XSRF_COOKIE, XSRF_HEADER } from './request-credentials.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The credential a preHandler of this module accepted (null on open routes). */
    credential: AuthContext | null;
  }
}

/**
 * preHandler factory: authenticates, then requires `ability` (`*` = account management).
 * Callback style, so that a credential found in the in-process tier is accepted with no
 * promise on the way: this runs on every authenticated request. `as` names the request the
 * rules judge when it is not the request itself (/verify judges the proxied one); `rule` is a
 * further condition (/verify's REQUIRE_VERIFIED_EMAIL).
 */
export function authenticate(latchkey: Latchkey, ability?: string, as?: (request: FastifyRequest) => PresentedRequest, rule?: CredentialRule) {
  const validator = credentialValidator(latchkey);
  return function authenticateRequest(request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void {
    let found: AuthContext | Promise<AuthContext>;
    try {
      found = authorize(validator, as ? as(request) : request, ability, rule);
    } catch (error) {
      return done(error as Error);
    }
    if (found instanceof Promise) {
      found.then((ctx) => {
        request.credential = ctx;
        done();
      }, done);
    } else {
      request.credential = found;
      done();
    }
  };
}
