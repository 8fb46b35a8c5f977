// latchkey's Fastify setup, shared by the server (./server.ts) and by the benchmark's no-auth
// baseline: the body rules of docs/api.md §3 (JSON only, 64 KiB, one error shape, route schemas
// checked by the core's Ajv), request ids, the access log, cookies and the headers every answer
// carries. No routes.
import cookie from '@fastify/cookie';
import Fastify, {
  errorCodes,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type onRouteHookHandler,
  type preValidationHookHandler,
  type FastifySchemaValidationError,
} from 'fastify';
import type { ErrorObject } from 'ajv';
import type { Logger } from 'pino';
import type { TrustProxy } from '../config.js';
import { AppError, UnavailableError, validationFailed } from '../core/errors.js';
import { fieldProblems, inputValidator } from '../core/validation.js';
import { errorBody, errorResponseOf } from './error-response.js';
import { AccessLogController } from '../observability/access-log.js';
import { LazyRequestLogger } from '../observability/request-logger.js';
import { isUnavailable } from '../store/failures.js';

export const BODY_LIMIT = 64 * 1024;

/** An incoming X-Request-Id is kept only if it is short and plain enough to log as is. */
const SANE_REQUEST_ID = /^[\w.:-]{1,128}$/;

export interface HttpAppOptions {
  logger: Logger;
  trustProxy: TrustProxy;
}

export async function createHttpApp(options: HttpAppOptions): Promise<FastifyInstance> {
  // Generated ids: random per process, then a counter (a UUID per request costs more than the
  // whole token validation); unique across instances and restarts all the same.
  const requestIdPrefix = crypto.randomUUID().slice(0, 8);
  let requestCount = 0;
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT,
    // Fastify takes a hop count too, though its typings omit it.
    trustProxy: options.trustProxy as boolean | string[],
    requestTimeout: 30_000,
    // On shutdown, a request that already reached us is answered normally, not with 503:
    // close() stops accepting new connections and waits for these (see cli/serve.ts).
    return503OnClosing: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : `${requestIdPrefix}-${++requestCount}`;
    },
    logController: new AccessLogController(options.logger),
    childLoggerFactory: (logger, bindings) => new LazyRequestLogger(logger as Logger, bindings),
    schemaErrorFormatter: schemaError,
  });
  // Route schemas are compiled by the core's Ajv, the one the CLI validates with too.
  app.setValidatorCompiler(({ schema }) => inputValidator.compile(schema));
  app.addHook('onRoute', readNoBodyAsEmpty);

  app.removeAllContentTypeParsers();
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // An empty body is fine where none is needed; JSON is parsed with prototype-poisoning guards.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined);
    parseJson(request, body as string, done);
  });
  // Any other type: an empty body is fine where none is needed (logout), anything else is 415.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    if ((body as Buffer).length === 0) return done(null, undefined);
    done(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(request.headers['content-type'] ?? ''));
  });
  // No parsing hook: the credential rules parse the Cookie header only where no bearer header
  // settles the question (cookiesOf), so a bearer request never pays for it.
  await app.register(cookie, { hook: false });

  app.addHook('onRoute', withAnswerHeaders);
  app.setErrorHandler((error: FastifyError, request, reply) => {
    markAnswer(request, reply);
    return sendError(error, request, reply);
  });
  app.setNotFoundHandler((request, reply) => {
    markAnswer(request, reply);
    void reply.code(404).send(errorBody('not_found', 'No such route.'));
  });

  return app;
}

function sendError(error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply) {
  // User-caused errors and an unreachable database answer as the embedded adapters answer them.
  const known = errorResponseOf(error);
  if (known) {
    if (isUnavailable(error)) {
      const cause = error instanceof UnavailableError ? error.causeError : error;
      request.log.warn({ event: 'database_unavailable', err: String(cause) }, 'Database unavailable');
    }
    return reply.code(known.status).headers(known.headers).send(known.body);
  }
  switch ((error as FastifyError).code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return reply.code(413).send(errorBody('payload_too_large', `The body is larger than ${BODY_LIMIT / 1024} KiB.`));
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return reply.code(415).send(errorBody('unsupported_media_type', 'Send the body as application/json.'));
  }
  const status = (error as FastifyError).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    const json = error instanceof SyntaxError || /JSON/.test(String((error as FastifyError).code));
    return reply.code(400).send(errorBody('bad_request', json ? 'The request body is not valid JSON.' : 'The request is malformed.'));
  }
  request.log.error({ err: error }, 'Unhandled error');
  return reply.code(500).send(errorBody('internal_error', 'Something went wrong on our side.'));
}

/**
 * A route schema's errors as docs/api.md §3.2 answers them: a body that is not a JSON object
 * (array, string, number, null) is 400, wrong fields are one 422 naming each; a wrong query string
 * or path parameter is 400.
 */
function schemaError(errors: FastifySchemaValidationError[], part: string): Error {
  if (part !== 'body') return new AppError(400, 'bad_request', 'The request is malformed.');
  if (errors.some((e) => e.instancePath === '' && e.keyword === 'type')) return new AppError(400, 'bad_request', 'The request body must be a JSON object.');
  return validationFailed(fieldProblems(errors as ErrorObject[]));
}

/**
 * The headers every answer carries, errors included: responses carry credentials, so no shared
 * cache may keep one; and the id of the request the answer's log lines name. Set by each route's
 * handler and by the error and not-found handlers (every way an answer leaves), rather than in
 * an onSend hook, which would cost every request a hook run.
 */
function markAnswer(request: FastifyRequest, reply: FastifyReply): void {
  void reply.header('cache-control', 'no-store').header('x-request-id', request.id);
}

const withAnswerHeaders: onRouteHookHandler = (route) => {
  const handler = route.handler;
  route.handler = function answerWithHeaders(this: FastifyInstance, request, reply) {
    markAnswer(request, reply);
    return handler.call(this, request, reply);
  };
};

/** On a route with a body schema, no body reads as `{}`: the schema then names the missing fields. */
const readNoBodyAsEmpty: onRouteHookHandler = (route) => {
  if (!route.schema?.body) return;
  const given = route.preValidation === undefined ? [] : [route.preValidation].flat();
  route.preValidation = [...given, noBodyIsEmpty];
};

const noBodyIsEmpty: preValidationHookHandler = (request, _reply, done) => {
  if (request.body === undefined) request.body = {}; // (null stays null: not an object, 400)
  done();
};
