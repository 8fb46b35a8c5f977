// One access log line per request instead of Fastify's two ("incoming request" + "request
// completed"). It names the request (reqId comes from the request's child logger), its method,
// path, status and duration — never headers, cookies, bodies or the query string, any of which
// may carry a credential from a misconfigured client.
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

export class AccessLogController extends LogController {
  /** `logger`: the root logger, whose level decides whether access lines are written at all. */
  constructor(private readonly logger: Logger) {
    super();
  }

  override incomingRequest(): void {
    // Logged once, when the response is done.
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (!error && !this.logger.isLevelEnabled('info')) return; // the common case at LOG_LEVEL=warn
    const line = {
      method: request.method,
      path: pathOf(request.url),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100,
    };
    if (error) reply.log.error({ ...line, err: error }, 'request failed');
    else reply.log.info(line, 'request');
  }
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
