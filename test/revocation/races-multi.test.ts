// Revoked means rejected, raced for revocations that kill many credentials at once: password
// change, a login that revokes the others, tokens:revoke (through the core on a third instance,
// and the real CLI command), ~1,500 tokens; expiry to the millisecond; and the CLI reaching a
// server without Redis through the epoch.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { tokensRevoke } from '../../src/cli/commands.js';
import { parseConfig } from '../../src/config.js';
import { toSqlTime } from '../../src/store/time.js';
import { register, testEnv, useStack } from '../helpers/app.js';
import { LANES, useRaceStack } from './race-stack.js';
import { inLanes, mintTokens, POLL_MARGIN_MS, raceRevocation, status, summarise, tokenId, WINDOW_MS } from './support.js';

/** Tokens each revocation kills besides the user's current one. */
const EXTRA = 9;

describe('revocation races, many tokens each: postgres, redis, three instances', () => {
  const r = useRaceStack();

  test('password change revokes every token: 60 rounds of 10 tokens', async () => {
    const users = await Promise.all(Array.from({ length: LANES }, () => register(r.A, undefined, 'password-0')));
    const masters = users.map((u) => u.token);
    const passwords = users.map(() => 0);
    await inLanes([...Array(60).keys()], LANES, async (round, lane) => {
      const tokens = [masters[lane]!, ...(await mintTokens(r.A, users[lane]!.user.id, EXTRA))];
      for (const t of tokens) await r.warm(t, round);
      await r.race('password change', tokens, async () => {
        const next = passwords[lane]! + 1;
        const reply = await r.A.request('PUT', '/api/auth/password', { token: masters[lane], body: { current_password: `password-${next - 1}`, password: `password-${next}` } });
        assert.equal(reply.status, 200, JSON.stringify(reply.body));
        passwords[lane] = next;
        masters[lane] = reply.body.token;
      });
    });
  });

  test('login revokes the earlier tokens: 60 rounds of 10 tokens', async () => {
    const users = await Promise.all(Array.from({ length: LANES }, () => register(r.A)));
    const masters = users.map((u) => u.token);
    await inLanes([...Array(60).keys()], LANES, async (round, lane) => {
      const tokens = [masters[lane]!, ...(await mintTokens(r.A, users[lane]!.user.id, EXTRA))];
      for (const t of tokens) await r.warm(t, round);
      const { email, password } = users[lane]!;
      await r.race('login', tokens, async () => {
        const reply = await r.A.request('POST', '/api/auth/login', { body: { email, password }, headers: { 'x-forwarded-for': `10.0.0.${lane}` } });
        assert.equal(reply.status, 200, JSON.stringify(reply.body));
        masters[lane] = reply.body.token;
      });
    });
  });

  test('tokens:revoke from a third instance (30 rounds) and from the CLI command (3 rounds), 10 tokens each', async () => {
    const users = await Promise.all(Array.from({ length: LANES }, () => register(r.A)));
    const masters = users.map((u) => u.token);
    const cliConfig = parseConfig(testEnv(r.stack.env));
    await inLanes([...Array(33).keys()], LANES, async (round, lane) => {
      const tokens = [masters[lane]!, ...(await mintTokens(r.A, users[lane]!.user.id, EXTRA))];
      for (const t of tokens) await r.warm(t, round);
      const userId = users[lane]!.user.id;
      const viaCli = round >= 30;
      // C revokes through the same core call tokens:revoke makes; the CLI process is a fourth instance.
      await r.race(
        viaCli ? 'CLI tokens:revoke' : 'tokens:revoke core calls',
        tokens,
        async () => {
          if (viaCli) await tokensRevoke(cliConfig, { user: String(userId) });
          else await r.C.latchkey.credentials.revoke({ user: userId });
        },
        viaCli ? r.A : r.C,
      );
      // A fresh token for the next round (the revocation took all of them).
      masters[lane] = (await r.A.request('POST', '/api/auth/login', { body: { email: users[lane]!.email, password: users[lane]!.password }, headers: { 'x-forwarded-for': `10.1.0.${lane}` } })).body.token;
    });
  });

  test('expiry: no instance accepts a token at or after its expires_at, cached or not', async () => {
    const { token: master } = await register(r.A);
    const tokens = await mintTokens(r.A, (await r.A.request('GET', '/api/auth/me', { token: master })).body.user.id, 60);
    // As another program would: expire them at the next whole second but one.
    const expiresAt = (Math.floor(Date.now() / 1000) + 2) * 1000;
    await r.A.latchkey.store.db.updateTable('personal_access_tokens').set({ expires_at: toSqlTime(expiresAt) }).where('id', 'in', tokens.map(tokenId)).execute();
    const late: string[] = [];
    let acceptedBefore = 0;
    let rejectedAfter = 0;
    await inLanes(tokens, LANES, async (token, lane) => {
      const app = [r.A, r.B, r.C][lane % 3]!;
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
  const ctx = useStack({ db: 'postgres', cache: 'memory' });

  test('tokens:revoke from the command line: the server rejects within the poll window, 10 rounds', async () => {
    const server = ctx.app;
    const config = parseConfig(testEnv(ctx.stack.env));
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
          await tokensRevoke(config, { user: String(user.id) });
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
