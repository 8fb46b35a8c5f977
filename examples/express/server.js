// A small Express API protected by latchkey in-process: GET / is open, GET /orders needs a token
// with the orders:read ability (or *), or a cookie session. latchkey reads its configuration from
// the environment as the server does (DATABASE_URL, REDIS_URL, …; default: ./data/latchkey.db).
import express from 'express';
import { latchkey } from 'latchkey/express';

const lk = await latchkey();
const app = express();

app.get('/', (req, res) => {
  res.json({ hello: 'anyone' });
});

app.get('/orders', lk.require('orders:read'), (req, res) => {
  res.json({ user: req.auth.user, orders: [] });
});

const port = Number(process.env.APP_PORT ?? 3001);
const server = app.listen(port, '127.0.0.1', () => console.log(`example API on http://127.0.0.1:${port}`));

// Stop cleanly: finish requests, then flush last_used_at and close latchkey's connections.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.close(async () => {
      await lk.close();
      process.exit(0);
    });
    server.closeIdleConnections();
  });
}
