// A database that refuses latchkey, in every way a server does: restarting, refusing connections,
// every connection slot taken by other clients, its database gone, latchkey's password rotated.
// Each against a server this file starts itself (so it can stop it), on PostgreSQL and MariaDB:
// register and a session login answer 503 `unavailable` (never 500) within
// LATCHKEY_DATABASE_TIMEOUT, nothing is half-written, cached credentials keep validating, and
// writes work again within seconds of the server's return, without restarting latchkey.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { register, startInstance, uniquePrefix, type Reply, type TestApp } from '../helpers/app.js';
import { startPrivateMariadb } from '../helpers/private-mariadb.js';
import { startPrivatePostgres } from '../helpers/private-postgres.js';
import type { RefusalKind, RefusingDatabase } from '../helpers/refusing-database.js';
import { eventually, sessionLogin, signIn, type Device } from '../sessions/helpers.js';

const DATABASE_TIMEOUT_MS = 1500;
/** What a loaded, shared machine may add: the bound says "answers instead of hanging". */
const SLACK_MS = 8000;
/** How soon after the server's return a write must succeed again. */
const RECOVERY_MS = 15_000;

const REFUSALS: [RefusalKind, string][] = [
  ['restart', 'a restart'],
  ['refused', 'connections refused'],
  ['full', 'max_connections taken by other clients'],
  ['gone', 'a database that no longer exists'],
  ['password', 'wrong credentials after a password rotation'],
];

const servers: Partial<Record<RefusingDatabase['kind'], RefusingDatabase>> = {};

// Both servers start at once: each takes seconds to initialise on a loaded machine.
before(async () => {
  const started = await Promise.allSettled([startPrivatePostgres(), startPrivateMariadb()]);
  for (const result of started) if (result.status === 'fulfilled') servers[result.value.kind] = result.value;
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
});
after(async () => {
  await Promise.all(Object.values(servers).map((server) => server.close()));
});

for (const kind of ['postgres', 'mysql'] as const) {
  describe(`database refusals: ${kind} of the test's own`, () => {
    let database: RefusingDatabase;
    let app: TestApp;
    let alice: Awaited<ReturnType<typeof register>>;
    let aliceBrowser: Device;

    before(async () => {
      database = servers[kind]!;
      app = await startInstance({
        DATABASE_URL: database.url,
        CACHE_PREFIX: uniquePrefix(),
        LATCHKEY_DATABASE_TIMEOUT: String(DATABASE_TIMEOUT_MS),
        // Alice's credentials stay cached for the whole file; her session logins answered 503
        // count as attempts, which the login rate limit must not turn into 429s here; and a
        // session login does not end her token, so every user keeps the token it registered with.
        CACHE_TTL: '3600',
        LOGIN_RATE_LIMIT: '1000',
        LOGIN_REVOKES_OTHER_TOKENS: 'false',
      });
      alice = await register(app);
      aliceBrowser = await signIn(app, alice);
      await assertCachedCredentialsValidate();
    });
    after(async () => app?.close());

    async function assertCachedCredentialsValidate() {
      assert.equal((await app.request('GET', '/api/auth/me', { token: alice.token })).status, 200, 'the bearer token validates');
      assert.equal((await app.request('GET', '/api/auth/me', aliceBrowser.read())).status, 200, 'the session cookie validates');
    }

    const aliceSessions = () => database.count(`select count(*) as n from latchkey_sessions where user_id = ${alice.user.id}`);

    for (const [refusalKind, title] of REFUSALS) {
      test(`${title}: 503 unavailable, nothing half-written, cached credentials validate, writes come back`, async (t) => {
        const refusal = database.refusals[refusalKind];
        const email = `refused-${refusalKind}-${randomBytes(4).toString('hex')}@example.com`;
        const sessionsBefore = await aliceSessions();

        await refusal.inflict();
        let refused: { registerMs: number; sessionLoginMs: number };
        try {
          const registered = await answered(app.request('POST', '/api/auth/register', { body: { email, password: 'password-1' } }));
          assertUnavailable(registered.reply, `register during ${refusal.name}`);
          const signedIn = await answered(sessionLogin(app, alice).then(({ reply }) => reply));
          assertUnavailable(signedIn.reply, `session login during ${refusal.name}`);
          refused = { registerMs: registered.ms, sessionLoginMs: signedIn.ms };
          await assertCachedCredentialsValidate();
        } finally {
          await refusal.repair();
        }

        const repairedAt = performance.now();
        const bob = { email: `back-${refusalKind}-${randomBytes(4).toString('hex')}@example.com`, password: 'password-1' };
        const back = await eventually(async () => {
          const reply = await app.request('POST', '/api/auth/register', { body: bob });
          if (reply.status !== 201) assertUnavailable(reply, `register after the repair of ${refusal.name}`);
          return reply.status === 201;
        }, RECOVERY_MS);
        assert.ok(back, `register still answers 503 ${RECOVERY_MS} ms after the repair of ${refusal.name}`);
        const recoveredMs = performance.now() - repairedAt;
        assert.equal((await sessionLogin(app, bob)).reply.status, 200, 'a session login works again');
        await assertCachedCredentialsValidate();

        assert.equal(await database.count(`select count(*) as n from users where email = '${email}'`), 0, 'the refused registration left no user');
        const withoutToken = `select count(*) as n from users u where not exists (select 1 from personal_access_tokens t where t.tokenable_id = u.id)`;
        assert.equal(await database.count(withoutToken), 0, 'no user without the token it registered with');
        assert.equal(await aliceSessions(), sessionsBefore, 'the refused session login left no session');
        t.diagnostic(
          `${refusal.name}: register answered 503 in ${refused.registerMs.toFixed(0)} ms, session login in ${refused.sessionLoginMs.toFixed(0)} ms; ` +
            `writes back ${recoveredMs.toFixed(0)} ms after the repair`,
        );
      });
    }
  });
}

function assertUnavailable(reply: Reply, what: string): void {
  assert.deepEqual([reply.status, reply.body?.error?.code], [503, 'unavailable'], `${what}: ${JSON.stringify(reply.body)}`);
}

/** The reply and how long it took, or a clear failure if it takes longer than the timeout allows. */
async function answered(request: Promise<Reply>): Promise<{ reply: Reply; ms: number }> {
  const started = performance.now();
  const boundMs = DATABASE_TIMEOUT_MS + SLACK_MS;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within LATCHKEY_DATABASE_TIMEOUT (${DATABASE_TIMEOUT_MS} ms) + ${SLACK_MS} ms`)), boundMs);
  });
  try {
    const reply = await Promise.race([request, late]);
    return { reply, ms: performance.now() - started };
  } finally {
    clearTimeout(timer);
  }
}
