// The latchkey HTTP server: the shared Fastify setup (./app.ts) with latchkey's routes.
// Thin by design: every decision lives in the core.
import type { FastifyInstance } from 'fastify';
import type { Latchkey } from '../latchkey.js';
import { createHttpApp } from './app.js';
import { accountPageRoutes } from './account-page/routes.js';
import { registerOpenApi } from './openapi.js';
import { accountRoutes } from './routes/account.js';
import { opsRoutes } from './routes/ops.js';
import { recoveryRoutes } from './routes/recovery.js';
import { sessionRoutes } from './routes/sessions.js';

export async function buildServer(latchkey: Latchkey): Promise<FastifyInstance> {
  const app = await createHttpApp({ logger: latchkey.logger, trustProxy: latchkey.config.trustProxy });
  app.decorateRequest('credential', null);
  await registerOpenApi(app);
  await app.register(accountRoutes(latchkey));
  await app.register(sessionRoutes(latchkey));
  await app.register(recoveryRoutes(latchkey));
  await app.register(opsRoutes(latchkey));
  await app.register(accountPageRoutes);
  return app;
}
