// Health, readiness and Prometheus metrics.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Latchkey } from '../../latchkey.js';
import { errorBody } from '../server.js';

export function opsRoutes(latchkey: Latchkey) {
  return async function routes(app: FastifyInstance) {
    app.get('/healthz', async () => ({ status: 'ok' }));

    app.get('/readyz', async (_request, reply) => {
      const database = await latchkey.store.ping().then(
        () => 'up' as const,
        () => 'down' as const,
      );
      latchkey.metrics.databaseUp.set(database === 'up' ? 1 : 0);
      return reply.code(database === 'up' ? 200 : 503).send({ database, cache: latchkey.cache.status() });
    });

    app.get('/metrics', async (request, reply) => {
      const expected = latchkey.config.metricsToken;
      if (expected !== undefined) {
        const given = Buffer.from(request.headers.authorization ?? '');
        const wanted = Buffer.from(`Bearer ${expected}`);
        if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) {
          return reply.code(401).header('www-authenticate', 'Bearer').send(errorBody('unauthenticated', 'The metrics token is missing or wrong.'));
        }
      }
      const { registry } = latchkey.metrics;
      return reply.header('content-type', registry.contentType).send(await registry.metrics());
    });
  };
}
