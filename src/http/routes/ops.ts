// Health, readiness and Prometheus metrics (docs/api.md §3).
import { timingSafeEqual } from 'node:crypto';
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
  description: 'Open unless METRICS_TOKEN is set; then send `Authorization: Bearer <METRICS_TOKEN>`.',
  tags,
  security: [{}, { metricsToken: [] }],
  response: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errorResponses(401) },
};

export function opsRoutes(latchkey: Latchkey) {
  const metricsAuthorization = latchkey.config.metricsToken === undefined ? undefined : Buffer.from(`Bearer ${latchkey.config.metricsToken}`);

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
