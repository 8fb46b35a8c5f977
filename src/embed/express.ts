// `latchkey/express`: middleware for Express 4 and 5 (and anything with the same (req, res,
// next) signature). `lk.require(ability?)` sets `req.auth` or answers 401 / 403 with latchkey's
// own error bodies; `lk.close()` flushes last_used_at and closes latchkey.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorResponseOf } from '../http/error-response.js';
import type { Cookies } from '../http/request-credentials.js';
import type { Latchkey } from '../latchkey.js';
import { authorizeThen, embedLatchkey, type EmbedOptions, type RequestAuth } from './embedded.js';

export type { EmbedOptions, RequestAuth } from './embedded.js';
export { LatchkeyStartError } from './embedded.js';

declare global {
  // Express's own request type gains `auth` (the namespace is where @types/express merges).
  namespace Express {
    interface Request {
      /** Set by `lk.require()`; undefined on routes without it. */
      auth: RequestAuth;
    }
  }
}

/** The request as the middleware reads and writes it; `cookies` when cookie-parser ran. */
type MiddlewareRequest = IncomingMessage & { auth?: RequestAuth; cookies?: Cookies };

export type LatchkeyMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

export interface ExpressLatchkey {
  /** Middleware: any valid credential, or a token with `ability` (or `*`) when one is named. */
  require(ability?: string): LatchkeyMiddleware;
  /** Flushes the batched last_used_at writes and closes the database, Redis and timers. */
  close(): Promise<void>;
  /** The core this app runs. */
  readonly core: Latchkey;
}

export async function latchkey(options: EmbedOptions = {}): Promise<ExpressLatchkey> {
  const embedded = await embedLatchkey(options);
  return {
    core: embedded.core,
    close: () => embedded.close(),
    require(ability?: string): LatchkeyMiddleware {
      return function latchkeyRequire(req, res, next) {
        const request = req as MiddlewareRequest;
        // req.method is always set on a server's request; the type allows undefined for clients.
        const presented = { method: request.method ?? 'GET', headers: request.headers, cookies: request.cookies };
        authorizeThen(
          embedded,
          presented,
          ability,
          (auth) => {
            request.auth = auth;
            next();
          },
          (error) => refuse(res, error, next),
        );
      };
    },
  };
}

/** latchkey's answer, whatever the app's error handler does; a bug goes to that handler. */
function refuse(res: ServerResponse, error: unknown, next: (error?: unknown) => void): void {
  const response = errorResponseOf(error);
  if (!response) return next(error);
  res.statusCode = response.status;
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(response.body));
}
