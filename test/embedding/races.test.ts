// Revoked means rejected, for apps that embed latchkey: a latchkey server, an Express app and a
// Fastify app on one PostgreSQL database and one Redis (a redis-server of the test's own).
// Revocations of every kind are raced against validations on another member: on the server
// (token delete, logout, password change), by the CLI's tokens:revoke, and through an embedded
// app's own core (logout). Then the same with Redis stopped, where only the database epoch can
// carry them. No member may accept a token in a validation that starts later than the window
// after the revocation returned.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { tokensRevoke } from '../../src/cli/commands.js';
import { parseConfig } from '../../src/config.js';
import { register, startStack, testEnv, type TestApp, type TestStack } from '../helpers/app.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { inLanes, mintTokens, raceRevocation, status, summarise, waitUntil, WINDOW_MS, type RaceApp } from '../revocation/support.js';
import { startExpressApp, startFastifyApp, type EmbeddedApp } from './apps.js';

const LANES = 8;
/** Tokens a revocation of many kills besides the user's current one. */
const EXTRA = 4;

interface Lane {
  userId: number;
  email: string;
  password: string;
  /** The user's `*` token, which manages the others. */
  master: string;
}

interface Kind {
  name: string;
  /** How many minted tokens the race needs besides the master (which the kind kills when `killsMaster`). */
  count: number;
  killsMaster: boolean;
  revoker(): RaceApp;
  observers(): RaceApp[];
  revoke(lane: Lane, tokens: string[]): Promise<void>;
}

describe('revocation races with embedded apps: server, Express, Fastify, CLI; PostgreSQL, Redis', () => {
  let redis: RedisServer;
  let stack: TestStack;
  let server: TestApp;
  let express: EmbeddedApp;
  let fastify: EmbeddedApp;
  const lanes: Lane[] = [];
  const lastAccepts = new Map<string, number[]>();
  let passwordCount = 0;

  before(async () => {
    redis = await startRedisServer();
    stack = await startStack({ db: 'postgres', cache: 'redis' }, { REDIS_URL: redis.url });
    server = stack.instance;
    express = await startExpressApp(stack.env, 5);
    fastify = await startFastifyApp(stack.env);
    for (const app of [express, fastify]) await waitUntil(`${app.name} uses Redis`, () => app.core.cache.status() === 'up');
    for (let i = 0; i < LANES; i++) {
      const { token, user, email, password } = await register(server);
      lanes.push({ userId: user.id, email, password, master: token });
    }
  });
  after(async () => {
    for (const [what, values] of lastAccepts) console.log(`# ${what}: last acceptance on the observer relative to the revocation's return: ${summarise(values)}`);
    await express?.close();
    await fastify?.close();
    await stack?.close();
    await redis?.close();
  });

  const kinds = (): Kind[] => {
    const apps = [express, fastify];
    const cliConfig = parseConfig(testEnv(stack.env));
    /** An app logging a user out through its own core, as its logout route would. */
    const appLogout = (app: EmbeddedApp) => async (_lane: Lane, tokens: string[]) => {
      const ctx = await app.core.credentials.validateToken(tokens[0]!);
      assert.ok(ctx, 'the token is valid before the revocation');
      await app.core.accounts.logout(ctx);
    };
    return [
      {
        name: 'server DELETE /api/auth/tokens/{id}',
        count: 1,
        killsMaster: false,
        revoker: () => server,
        observers: () => apps,
        async revoke(lane, tokens) {
          const id = tokens[0]!.slice(0, tokens[0]!.indexOf('|'));
          assert.equal((await server.request('DELETE', `/api/auth/tokens/${id}`, { token: lane.master })).status, 204);
        },
      },
      {
        name: 'server logout',
        count: 1,
        killsMaster: false,
        revoker: () => server,
        observers: () => apps,
        async revoke(_lane, tokens) {
          assert.equal((await server.request('POST', '/api/auth/logout', { token: tokens[0] })).status, 204);
        },
      },
      {
        name: 'server password change',
        count: EXTRA,
        killsMaster: true,
        revoker: () => server,
        observers: () => apps,
        async revoke(lane) {
          const password = `new password ${++passwordCount}`;
          const reply = await server.request('PUT', '/api/auth/password', { token: lane.master, body: { current_password: lane.password, password } });
          assert.equal(reply.status, 200, JSON.stringify(reply.body));
          lane.password = password;
          lane.master = reply.body.token;
        },
      },
      {
        name: 'CLI tokens:revoke',
        count: EXTRA,
        killsMaster: true,
        // The CLI serves nothing: the server is the instance checked right after it returns.
        revoker: () => server,
        observers: () => apps,
        async revoke(lane) {
          await tokensRevoke(cliConfig, { user: String(lane.userId) });
        },
      },
      { name: 'Express app logout through its core', count: 1, killsMaster: false, revoker: () => express, observers: () => [fastify, server], revoke: appLogout(express) },
      { name: 'Fastify app logout through its core', count: 1, killsMaster: false, revoker: () => fastify, observers: () => [express, server], revoke: appLogout(fastify) },
    ];
  };

  async function runRounds(rounds: number, phase: string, only?: (kind: Kind) => boolean): Promise<void> {
    const all = kinds().filter((k) => !only || only(k));
    const failures: string[] = [];
    await inLanes([...Array(rounds).keys()], LANES, async (round, laneIndex) => {
      const lane = lanes[laneIndex]!;
      const kind = all[round % all.length]!;
      const observers = kind.observers();
      const observer = observers[Math.floor(round / all.length) % observers.length]!;
      const revoker = kind.revoker();
      const minted = await mintTokens(server, lane.userId, kind.count);
      const tokens = kind.killsMaster ? [lane.master, ...minted] : minted;
      // Cold, cached by the revoker, or cached by both.
      for (const token of tokens) {
        if (round % 3 >= 1) assert.equal(await status(revoker, token), 200);
        if (round % 3 === 2) assert.equal(await status(observer, token), 200);
      }
      const outcome = await raceRevocation({ revoker, observer, tokens, windowMs: WINDOW_MS, revoke: () => kind.revoke(lane, tokens) });
      const what = `${phase}, ${kind.name}`;
      if (outcome.lastAcceptMs !== null) lastAccepts.set(what, [...(lastAccepts.get(what) ?? []), outcome.lastAcceptMs]);
      failures.push(...outcome.violations.map((v) => `${what}, observed by ${(observer as { name?: string }).name ?? 'the server'}: ${v}`));
      if (kind.name === 'CLI tokens:revoke') {
        const login = await server.request('POST', '/api/auth/login', { body: { email: lane.email, password: lane.password } });
        assert.equal(login.status, 200, JSON.stringify(login.body));
        lane.master = login.body.token;
      }
    });
    assert.deepEqual(failures, []);
  }

  test('with Redis: 216 rounds, 36 of each kind', async () => {
    await runRounds(216, 'Redis up');
  });

  test('with Redis stopped (the database epoch): 96 rounds, 16 of each kind', async () => {
    await redis.stop('SIGKILL');
    const members = [server.latchkey.cache, express.core.cache, fastify.core.cache];
    await waitUntil('every member sees Redis down', () => members.every((cache) => cache.status() === 'down'));
    await runRounds(96, 'Redis down');
  });
});
