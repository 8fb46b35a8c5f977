// The servers `npm run bench` measures latchkey against (bench/servers/baseline.ts) must answer
// what latchkey answers: a peer that fails every request (as every one did once /me gained a
// field they lacked) makes the benchmark stop, and a peer that answers less would flatter it.
// Each peer, with and without latchkey's Fastify setup, answers /me and /verify with 200 and
// the same fields as latchkey's own server on the same data.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { signJwts } from '../../bench/lib/jwts.js';
import { launcher, type Launcher, type Running } from '../../bench/lib/launch.js';
import { seededBenchDatabase, type BenchDatabase, type SeededToken } from '../../bench/lib/postgres.js';
import { startPrivateRedis, type PrivateRedis } from '../../bench/lib/redis-server.js';

const PEERS = [
  ['plain', false],
  ['bare', true],
  ['lookup', true],
  ['lookup', false],
  ['kept', false],
  ['byid', false],
  ['redis', true],
  ['sanctum', false],
  ['jwt', true],
] as const;

type Json = Record<string, unknown>;

/** The shape of a body: its keys, recursively (the values differ: ids, instants, nulls). */
function shape(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'value';
  return Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, shape(v)]));
}

describe('the benchmark peers answer what latchkey answers', () => {
  let database: BenchDatabase;
  let tokens: SeededToken[];
  let redis: PrivateRedis;
  let launch: Launcher;
  let latchkey: Running;

  before(async () => {
    ({ database, tokens } = await seededBenchDatabase(5, 0, 4));
    redis = await startPrivateRedis();
    launch = launcher({ databaseUrl: database.url, redisUrl: redis.url, bcryptRounds: 4, nodeOptions: [] });
    latchkey = await launch.latchkey('peers-test');
  });
  after(async () => {
    await launch?.stopAll();
    await redis?.stop();
    await database?.drop();
  });

  async function get(server: Running, path: string, credential: string): Promise<Json> {
    const reply = await fetch(server.url(path), { headers: { authorization: `Bearer ${credential}` } });
    const text = await reply.text();
    assert.equal(reply.status, 200, `${path}: ${text}`);
    return JSON.parse(text) as Json;
  }

  for (const [mode, bare] of PEERS) {
    test(`${mode}${bare ? ' (bare Fastify)' : " (latchkey's setup)"}`, async () => {
      const peer = await launch.baseline(mode, { bare });
      const credential = mode === 'jwt' ? (await signJwts(tokens))[0]! : tokens[0]!.plainText;
      for (const path of ['/api/auth/me', '/api/auth/verify']) {
        const expected = await get(latchkey, path, tokens[0]!.plainText);
        const answered = await get(peer, path, credential);
        assert.deepEqual(shape(answered), shape(expected), path);
      }
    });
  }
});
