// An app's own route, GET /orders, on a bare Fastify (no logger, no hooks: what an app would
// run), protected three ways for bench/embedded.ts:
//   none        no authentication (the app's ceiling)
//   embedded    latchkey in-process (latchkey/fastify: app.latchkey.require())
//   verify      a call to a latchkey server's GET /api/auth/verify per request, over keep-alive
//               connections (an undici Pool), as an app without the library would do it
// The answer names the caller and is serialised per request, as an app's route would.
// Usage: tsx bench/servers/app.ts <mode>; env PORT, and DATABASE_URL, REDIS_URL, … (embedded)
// or LATCHKEY_URL (verify).
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { Pool } from 'undici';
import latchkey from '../../src/embed/fastify.js';

const MODES = ['none', 'embedded', 'verify'] as const;
const mode = process.argv[2] as (typeof MODES)[number];
if (!MODES.includes(mode)) {
  console.error(`usage: app.ts <${MODES.join('|')}>`);
  process.exit(2);
}

const ordersSchema = { response: { 200: { type: 'object', properties: { user_id: { type: 'integer' }, orders: { type: 'array', items: { type: 'integer' } } } } } };
const NO_ORDERS: number[] = [];
const app = Fastify({ logger: false });

if (mode === 'none') {
  app.get('/orders', { schema: ordersSchema }, (_request, reply) => reply.send({ user_id: 1, orders: NO_ORDERS }));
}

if (mode === 'embedded') {
  await app.register(latchkey);
  app.get('/orders', { schema: ordersSchema, preHandler: app.latchkey.require() }, (request, reply) => reply.send({ user_id: request.auth.user.id, orders: NO_ORDERS }));
}

if (mode === 'verify') {
  const pool = new Pool(process.env.LATCHKEY_URL!, { connections: 64 });
  app.addHook('onClose', () => pool.close());
  const verified = new WeakMap<FastifyRequest, number>();
  const verify = async (request: FastifyRequest, reply: FastifyReply) => {
    const authorization = request.headers.authorization;
    const answer = await pool.request({ method: 'GET', path: '/api/auth/verify', headers: authorization ? { authorization } : {} });
    if (answer.statusCode !== 200) {
      void reply.code(answer.statusCode).header('content-type', 'application/json').send(await answer.body.text());
      return reply;
    }
    await answer.body.dump();
    verified.set(request, Number(answer.headers['x-user-id']));
  };
  app.get('/orders', { schema: ordersSchema, preHandler: verify }, (request, reply) => reply.send({ user_id: verified.get(request)!, orders: NO_ORDERS }));
}

app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
