// `latchkey/fastify`: a Fastify plugin. `app.latchkey.require(ability?)` is a preHandler that
// sets `request.auth` or answers 401 / 403 with latchkey's own error bodies; the app's onClose
// closes latchkey (flushing last_used_at).
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import type { Logger } from 'pino';
import { errorResponseOf } from '../http/error-response.js';
import type { Latchkey } from '../latchkey.js';
import { authorizeThen, embedLatchkey, type EmbedOptions, type RequestAuth } from './embedded.js';

export type { EmbedOptions, RequestAuth } from './embedded.js';
export { LatchkeyStartError } from './embedded.js';

export interface FastifyLatchkey {
  /** A preHandler: any valid credential, or a token with `ability` (or `*`) when one is named. */
  require(ability?: string): preHandlerHookHandler;
  /** The core this app runs. */
  readonly core: Latchkey;
}

declare module 'fastify' {
  interface FastifyInstance {
    latchkey: FastifyLatchkey;
  }
  interface FastifyRequest {
    /** Set by `app.latchkey.require()`; null on routes without it. */
    auth: RequestAuth;
  }
}

/** Options: `env` (default process.env) and `logger` (default the app's own). */
export type LatchkeyPluginOptions = EmbedOptions;

async function latchkeyPlugin(app: FastifyInstance, options: LatchkeyPluginOptions): Promise<void> {
  const embedded = await embedLatchkey({ env: options.env, logger: options.logger ?? (app.log as unknown as Logger) });
  app.addHook('onClose', async () => embedded.close());
  app.decorateRequest('auth', null as unknown as RequestAuth);
  app.decorate('latchkey', {
    core: embedded.core,
    require(ability?: string): preHandlerHookHandler {
      // Callback style: a credential in the in-process tier is accepted with no promise.
      return function latchkeyRequire(request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void {
        authorizeThen(
          embedded,
          request,
          ability,
          (auth) => {
            request.auth = auth;
            done();
          },
          (error) => refuse(reply, error, done),
        );
      };
    },
  } satisfies FastifyLatchkey);
}

/** latchkey's answer, whatever the app's error handler does; a bug goes to that handler. */
function refuse(reply: FastifyReply, error: unknown, done: (error?: Error) => void): void {
  const response = errorResponseOf(error);
  if (!response) return done(error as Error);
  void reply.code(response.status).headers(response.headers).send(response.body);
}

export default fastifyPlugin(latchkeyPlugin, { fastify: '5.x', name: 'latchkey' });
