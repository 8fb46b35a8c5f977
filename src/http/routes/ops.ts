// Health, readiness and Prometheus metrics (docs/api.md §3).
import { timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { FastifyInstance, FastifySchema } from 'fastify';
import type { Latchkey } from '../../latchkey.js';
import { errorResponses } from '../openapi.js';
import { errorBody } from '../error-response.js';

const tags = ['ops'];

const healthSchema = {
  summary: 'Liveness: the process answers',
  tags,
  response: { 200: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } } },
};

const readiness = {
  type: 'object',
  required: ['database', 'cache'],
  properties: {
    database: { type: 'string', enum: ['up', 'down'] },
    cache: { type: 'string', enum: ['up', 'down', 'memory'], description: '`memory`: no Redis configured (in-process cache); `down`: Redis is configured but unusable (latchkey answers from the database)' },
  },
} as const;

const readySchema = {
  summary: 'Readiness: can this instance answer requests?',
  description: '503 only when the database is down; Redis being down is reported but not fatal (latchkey then works from the database).',
  tags,
  response: { 200: { description: 'Ready', ...readiness }, 503: { description: 'The database is down', ...readiness } },
};

const metricsSchema: FastifySchema = {
  summary: 'Prometheus metrics (text format)',
  description:
    'With METRICS_TOKEN set, send `Authorization: Bearer <METRICS_TOKEN>`. Without it, open when latchkey listens on a loopback address (HOST) or METRICS_PUBLIC=true, and refused with 403 otherwise.',
  tags,
  security: [{}, { metricsToken: [] }],
  response: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errorResponses(401, 403) },
};

/** localhost, 127.0.0.0/8 and ::1 (also IPv4-mapped): only this machine can connect. */
function isLoopback(host: string): boolean {
  const address = host.toLowerCase().replace(/^\[|\]$/g, '').replace(/^::ffff:/, '');
  return address === 'localhost' || address === '::1' || (isIPv4(address) && address.startsWith('127.'));
}

export function opsRoutes(latchkey: Latchkey) {
  const { config } = latchkey;
  const metricsAuthorization = config.metricsToken === undefined ? undefined : Buffer.from(`Bearer ${config.metricsToken}`);
  // Reachable from other machines with no token: counts of logins and users are not for anyone.
  const metricsRefused = !metricsAuthorization && !config.metricsPublic && !isLoopback(config.host);

  return async function routes(app: FastifyInstance) {
    app.get('/healthz', { schema: healthSchema }, async () => ({ status: 'ok' }));

    app.get('/readyz', { schema: readySchema }, async (_request, reply) => {
      const database = await latchkey.store.ping().then(
        () => 'up' as const,
        () => 'down' as const,
      );
      latchkey.metrics.databaseUp.set(database === 'up' ? 1 : 0);
      return reply.code(database === 'up' ? 200 : 503).send({ database, cache: latchkey.cache.status() });
    });

    app.get('/metrics', { schema: metricsSchema }, async (request, reply) => {
      if (metricsRefused) {
        return reply
          .code(403)
          .send(
            errorBody('forbidden', `/metrics is not served to other machines without a token: set METRICS_TOKEN (HOST is ${config.host}, not a loopback address), or METRICS_PUBLIC=true.`),
          );
      }
      if (metricsAuthorization) {
        const given = Buffer.from(request.headers.authorization ?? '');
        if (given.length !== metricsAuthorization.length || !timingSafeEqual(given, metricsAuthorization)) {
          return reply.code(401).header('www-authenticate', 'Bearer').send(errorBody('unauthenticated', 'The metrics token is missing or wrong.'));
        }
      }
      const { registry } = latchkey.metrics;
      return reply.header('content-type', registry.contentType).send(await registry.metrics());
    });
  };
}
