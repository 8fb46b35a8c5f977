// Revoked means rejected (DESIGN.md 1, API.md §3), as races: on PostgreSQL and a shared Redis,
// instance B validates tokens while instance A (or a third one, or the CLI) revokes them, about
// two thousand times over every way of revoking. After each revocation returns, the revoker
// must reject at once and B within WINDOW_MS; expiry must hold to the millisecond.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { tokensRevoke } from '../../src/cli/commands.js';
import { parseConfig } from '../../src/config.js';
import { toSqlTime } from '../../src/store/time.js';
import { register, startStack, testEnv, type TestApp, type TestStack } from '../helpers/app.js';
import { inLanes, mintTokens, POLL_MARGIN_MS, raceRevocation, status, summarise, tokenId, WINDOW_MS, type RaceOutcome } from './support.js';

const LANES = 16;
/** Tokens each multi-token revocation kills besides the user's current one. */
const EXTRA = 9;

describe('revocation races: postgres, redis, three instances', () => {
  let stack: TestStack;
  let A: TestApp;
  let B: TestApp;
  let C: TestApp;
  const lastAccepts: number[] = [];
  let races = 0;

  before(async () => {
    stack = await startStack({ db: 'postgres', cache: 'redis' });
    A = stack.instance;
    B = await stack.another();
    C = await stack.another();
  });
  after(async () => {
    const count = async (app: TestApp, metric: 'fallbacks' | 'epochBumps') => (await app.latchkey.metrics[metric].get()).values[0]?.value ?? 0;
    console.log(`# ${races} races; last acceptance on the observer relative to the revocation's return: ${summarise(lastAccepts)}`);
    console.log(`# epoch changes seen by B: ${await count(B, 'epochBumps')}; Redis fallbacks on A: ${await count(A, 'fallbacks')}`);
    await stack?.close();
  });

  function judge(outcome: RaceOutcome, what: string): void {
    races++;
    if (outcome.lastAcceptMs !== null) lastAccepts.push(outcome.lastAcceptMs);
    assert.deepEqual(outcome.violations, [], `${what}: revoked token accepted`);
  }


  /** cold: nobody cached it; redis: A cached it (Redis + A's memory); both: B too. */
  async function warm(token: string, round: number): Promise<void> {
    const mode = round % 3;
    if (mode >= 1) assert.equal(await status(A, token), 200);
    if (mode === 2) assert.equal(await status(B, token), 200);
  }

  /** `count` tokens spread over a few users, each with its user's first token (its "master"). */
  async function tokenPool(count: number): Promise<{ token: string; master: string; round: number }[]> {
    const users = await Promise.all(Array.from({ length: LANES }, () => register(A)));
    const minted = await Promise.all(users.map(async (u) => (await mintTokens(A, u.user.id, Math.ceil(count / LANES))).map((token) => ({ token, master: u.token }))));
    return minted.flat().slice(0, count).map((item, round) => ({ ...item, round }));
  }

  test('logout: 350 interleavings', async () => {
    await inLanes(await tokenPool(350), LANES, async ({ token, round }) => {
      await warm(token, round);
      const outcome = await raceRevocation({
        revoker: A,
        observer: B,
        tokens: [token],
        windowMs: WINDOW_MS,
        revoke: async () => assert.equal((await A.request('POST', '/api/auth/logout', { token })).status, 204),
      });
      judge(outcome, 'logout');
    });
  });

  test('DELETE /api/auth/tokens/{id}: 350 interleavings', async () => {
    await inLanes(await tokenPool(350), LANES, async ({ token, master, round }) => {
      await warm(token, round);
      const outcome = await raceRevocation({
        revoker: A,
        observer: B,
        tokens: [token],
        windowMs: WINDOW_MS,
        revoke: async () => assert.equal((await A.request('DELETE', `/api/auth/tokens/${tokenId(token)}`, { token: master })).status, 204),
      });
      judge(outcome, 'token delete');
    });
  });

  test('password change revokes every token: 60 rounds of 10 tokens', async () => {
    const users = await Promise.all(Array.from({ length: LANES }, () => register(A, undefined, 'password-0')));
    const masters = users.map((u) => u.token);
    const passwords = users.map(() => 0);
    await inLanes([...Array(60).keys()], LANES, async (round, lane) => {
      const tokens = [masters[lane]!, ...(await mintTokens(A, users[lane]!.user.id, EXTRA))];
      for (const t of tokens) await warm(t, round);
      const outcome = await raceRevocation({
        revoker: A,
        observer: B,
        tokens,
        windowMs: WINDOW_MS,
        revoke: async () => {
          const next = passwords[lane]! + 1;
          const reply = await A.request('PUT', '/api/auth/password', { token: masters[lane], body: { current_password: `password-${next - 1}`, password: `password-${next}` } });
          assert.equal(reply.status, 200, JSON.stringify(reply.body));
          passwords[lane] = next;
          masters[lane] = reply.body.token;
        },
      });
      judge(outcome, 'password change');
    });
  });

  test('login revokes the earlier tokens: 60 rounds of 10 tokens', async () => {
    const users = await Promise.all(Array.from({ length: LANES }, () => register(A)));
    const masters = users.map((u) => u.token);
    await inLanes([...Array(60).keys()], LANES, async (round, lane) => {
      const tokens = [masters[lane]!, ...(await mintTokens(A, users[lane]!.user.id, EXTRA))];
      for (const t of tokens) await warm(t, round);
      const { email, password } = users[lane]!;
      const outcome = await raceRevocation({
        revoker: A,
        observer: B,
        tokens,
        windowMs: WINDOW_MS,
        revoke: async () => {
          const reply = await A.request('POST', '/api/auth/login', { body: { email, password }, headers: { 'x-forwarded-for': `10.0.0.${lane}` } });
          assert.equal(reply.status, 200, JSON.stringify(reply.body));
          masters[lane] = reply.body.token;
        },
      });
      judge(outcome, 'login');
    });
  });

  test('tokens:revoke from a third instance (30 rounds) and from the CLI command (3 rounds), 10 tokens each', async () => {
    const users = await Promise.all(Array.from({ length: LANES }, () => register(A)));
    const masters = users.map((u) => u.token);
    const cliConfig = parseConfig(testEnv(stack.env));
    const quiet = process.stdout.write;
    await inLanes([...Array(33).keys()], LANES, async (round, lane) => {
      const tokens = [masters[lane]!, ...(await mintTokens(A, users[lane]!.user.id, EXTRA))];
      for (const t of tokens) await warm(t, round);
      const userId = users[lane]!.user.id;
      const viaCli = round >= 30;
      const outcome = await raceRevocation({
        // C revokes through the same core calls tokens:revoke makes; the CLI process is a fourth instance.
        revoker: viaCli ? A : C,
        observer: B,
        tokens,
        windowMs: WINDOW_MS,
        revoke: async () => {
          if (viaCli) {
            process.stdout.write = (() => true) as typeof process.stdout.write;
            try {
              await tokensRevoke(cliConfig, { user: String(userId) });
            } finally {
              process.stdout.write = quiet;
            }
          } else {
            await C.latchkey.cache.forget(await C.latchkey.store.revokeUser(userId));
          }
        },
      });
      judge(outcome, viaCli ? 'CLI tokens:revoke' : 'tokens:revoke core calls');
      // A fresh token for the next round (the revocation took all of them).
      masters[lane] = (await A.request('POST', '/api/auth/login', { body: { email: users[lane]!.email, password: users[lane]!.password }, headers: { 'x-forwarded-for': `10.1.0.${lane}` } })).body.token;
    });
  });

  test('expiry: no instance accepts a token at or after its expires_at, cached or not', async () => {
    const { token: master } = await register(A);
    const tokens = await mintTokens(A, (await A.request('GET', '/api/auth/me', { token: master })).body.user.id, 60);
    // As another program would: expire them at the next whole second but one.
    const expiresAt = (Math.floor(Date.now() / 1000) + 2) * 1000;
    await A.latchkey.store.db.updateTable('personal_access_tokens').set({ expires_at: toSqlTime(expiresAt) }).where('id', 'in', tokens.map(tokenId)).execute();
    const late: string[] = [];
    let acceptedBefore = 0;
    let rejectedAfter = 0;
    await inLanes(tokens, LANES, async (token, lane) => {
      const app = [A, B, C][lane % 3]!;
      while (Date.now() < expiresAt + 300) {
        const start = Date.now();
        const code = await status(app, token, lane % 2 ? '/api/auth/verify' : '/api/auth/me');
        if (code === 200 && start >= expiresAt) late.push(`${start - expiresAt} ms after expiry`);
        if (code === 200 && start < expiresAt) acceptedBefore++;
        if (code === 401 && start >= expiresAt) rejectedAfter++;
      }
    });
    assert.deepEqual(late, []);
    assert.ok(acceptedBefore > 0 && rejectedAfter > 0, 'the tokens were used (and cached) on both sides of the expiry');
  });
});

describe('revocation without Redis: the CLI reaches a running server through the epoch', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startStack({ db: 'postgres', cache: 'memory' });
  });
  after(async () => stack?.close());

  test('tokens:revoke from the command line: the server rejects within the poll window, 10 rounds', async () => {
    const server = stack.instance;
    const config = parseConfig(testEnv(stack.env));
    const quiet = process.stdout.write;
    const lastAccepts: number[] = [];
    for (let round = 0; round < 10; round++) {
      const { token, user } = await register(server);
      assert.equal(await status(server, token), 200); // cached in the server's memory
      const outcome = await raceRevocation({
        revoker: server, // the CLI serves nothing; the server must reject within the window
        observer: server,
        tokens: [token],
        windowMs: WINDOW_MS + POLL_MARGIN_MS,
        revoke: async () => {
          process.stdout.write = (() => true) as typeof process.stdout.write;
          try {
            await tokensRevoke(config, { user: String(user.id) });
          } finally {
            process.stdout.write = quiet;
          }
          // The "revoker rejects at once" check runs on the server right after: give it the poll.
          await new Promise((r) => setTimeout(r, WINDOW_MS));
        },
      });
      if (outcome.lastAcceptMs !== null) lastAccepts.push(outcome.lastAcceptMs + WINDOW_MS);
      assert.deepEqual(outcome.violations, []);
    }
    console.log(`# memory cache, CLI revocation: last acceptance after the CLI returned: ${summarise(lastAccepts)}`);
  });
});
