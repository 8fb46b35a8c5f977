// Graceful shutdown of `latchkey serve` (src/cli/serve.ts): on SIGTERM it stops accepting,
// finishes every request it already has, flushes the pending last_used_at writes and exits 0.
// LATCHKEY_LAST_USED_FLUSH=3600 means the timer never flushes during the test: only the
// shutdown flush can have written last_used_at.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { CLI, startServer, tempSqlite, type Server } from './process.js';

interface Outcome {
  status?: number;
  error?: string;
}

/** One request on a new connection (no keep-alive), so every request is also a connection attempt. */
function get(base: string, path: string, token: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request(`${base}${path}`, { agent: false, headers: { authorization: `Bearer ${token}`, connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ status: res.statusCode, error: `body ${e.code ?? e.message}` }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

async function post(base: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

const database = tempSqlite();
let server: Server | undefined;
after(() => {
  if (server?.child.exitCode === null) server.child.kill('SIGKILL');
  database.remove();
});

test('SIGTERM under load: every accepted request completes, last_used_at is flushed, exit 0', async (t) => {
  server = await startServer([...CLI, 'serve'], {
    DATABASE_URL: database.url,
    LATCHKEY_LAST_USED_FLUSH: '3600',
    LOGIN_REVOKES_OTHER_TOKENS: 'false',
    // Slow enough hashing (~0.5 s) that a login is surely still running when the signal arrives.
    BCRYPT_ROUNDS: '13',
    LOG_LEVEL: 'info',
  });
  const { base } = server;
  const registered = await post(base, '/api/auth/register', { email: 'load@example.com', password: 'load-password' });
  assert.equal(registered.status, 201);
  const token: string = registered.body.token;
  const tokenId = Number(token.split('|')[0]);

  // Steady load: 6 clients, each sending /me then /verify back to back until the server is gone.
  const outcomes: Outcome[] = [];
  let serverGone = false;
  const exitWatch = server.exited.then((r) => {
    serverGone = true;
    return r;
  });
  const clients = Array.from({ length: 6 }, async (_, i) => {
    for (let n = 0; !serverGone && n < 20_000; n++) {
      const outcome = await get(base, n % 2 === i % 2 ? '/api/auth/me' : '/api/auth/verify', token);
      outcomes.push(outcome);
      if (outcome.error) await new Promise((r) => setTimeout(r, 5)); // refused: do not spin
    }
  });
  while (outcomes.filter((o) => o.status === 200).length < 50) await new Promise((r) => setTimeout(r, 20));

  // A login is in flight (bcrypt at cost 13 takes far longer than 150 ms) when SIGTERM arrives.
  const slowLogin = post(base, '/api/auth/login', { email: 'load@example.com', password: 'load-password' });
  await new Promise((r) => setTimeout(r, 150));
  const beforeSignal = outcomes.length;
  server.child.kill('SIGTERM');

  const login = await slowLogin;
  const exit = await exitWatch;
  await Promise.all(clients);

  assert.equal(login.status, 200, 'the login that was in flight when SIGTERM arrived completed');
  assert.equal(exit.code, 0, `exit code 0 (stderr: ${exit.stderr})`);

  const answered = outcomes.filter((o) => o.status !== undefined);
  const notOk = answered.filter((o) => o.status !== 200 || o.error);
  assert.deepEqual(notOk, [], 'every request the server accepted was answered 200 in full');

  // Connection attempts after the listening socket closed never reached latchkey: refused by
  // the kernel (ECONNREFUSED), or reset if they sat in the accept backlog or had not yet sent
  // their request when the server closed its idle connections (ECONNRESET).
  const unanswered = outcomes.filter((o) => o.status === undefined);
  const kinds = new Set(unanswered.map((o) => o.error));
  for (const kind of kinds) assert.ok(kind === 'ECONNREFUSED' || kind === 'ECONNRESET', `unexpected client error ${kind}`);
  const afterSignal = outcomes.slice(beforeSignal);
  assert.ok(afterSignal.some((o) => o.error === 'ECONNREFUSED'), 'the load continued until connections were refused');
  t.diagnostic(
    `load: ${answered.length} answered 200; after the listener closed ${unanswered.filter((o) => o.error === 'ECONNREFUSED').length} refused, ${unanswered.filter((o) => o.error === 'ECONNRESET').length} reset`,
  );

  const lines = exit.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event?: string; path?: string; msg: string });
  const stopping = lines.findIndex((l) => l.event === 'stopping');
  const loginLogged = lines.findIndex((l) => l.path === '/api/auth/login');
  assert.ok(stopping >= 0 && loginLogged > stopping, 'the login was answered after shutdown began (it was in flight)');
  assert.ok(lines.findIndex((l) => l.event === 'stopped') > loginLogged);

  const db = new Database(database.path, { readonly: true });
  try {
    const row = db.prepare('select last_used_at from personal_access_tokens where id = ?').get(tokenId) as { last_used_at: string | null };
    assert.ok(row.last_used_at, 'the shutdown flush wrote last_used_at');
  } finally {
    db.close();
  }
});
