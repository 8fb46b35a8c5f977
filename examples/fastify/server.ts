// A small Fastify API protected by latchkey in-process: GET / is open, GET /orders needs a token
// with the orders:read ability (or *), or a cookie session. latchkey reads its configuration from
// the environment as the server does (DATABASE_URL, REDIS_URL, …; default: ./data/latchkey.db).
import Fastify from 'fastify';
import latchkey from 'latchkey/fastify';

const app = Fastify({ logger: true });
await app.register(latchkey);

app.get('/', async () => ({ hello: 'anyone' }));

app.get('/orders', { preHandler: app.latchkey.require('orders:read') }, async (request) => {
  return { user: request.auth.user, orders: [] };
});

const port = Number(process.env.APP_PORT ?? 3002);
await app.listen({ port, host: '127.0.0.1' });

// Stop cleanly: app.close() finishes requests, then closes latchkey (flushing last_used_at).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void app.close().then(() => process.exit(0)));
}
