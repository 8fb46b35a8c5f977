// One access log line per request instead of Fastify's two ("incoming request" + "request
// completed"). It names the request (reqId), its method, path, status and duration — never
// headers, cookies, bodies or the query string, any of which may carry a credential from a
// misconfigured client.
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

export class AccessLogController extends LogController {
  /**
   * Writes the lines of answered requests. They are built here from fields that cannot hold a
   * secret, so they skip the redaction paths (which cost more than the rest of the line, on
   * every request at LOG_LEVEL=info); and the request's id is a field of the line, not the
   * binding of a per-request child logger, which would cost one more object per request.
   */
  private readonly lines: Logger;

  /** `logger`: the root logger, whose level decides whether access lines are written at all. */
  constructor(private readonly logger: Logger) {
    super();
    this.lines = logger.child({}, { redact: { paths: [] } });
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
    // An error may carry anything: its line goes through the request's logger, redaction and all.
    if (error) reply.log.error({ ...line, err: error }, 'request failed');
    else this.lines.info({ reqId: request.id, ...line }, 'request');
  }
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
