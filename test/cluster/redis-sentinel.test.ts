// Issue 7: latchkey on Redis Sentinel (a master, a replica, three sentinels), two instances on
// PostgreSQL: revocation races, then SENTINEL FAILOVER mid-load without a revoked token
// accepted or a 5xx; latchkey follows by itself. A kill -9 of the master is not tested here:
// under concurrent load it did not come back reliably (docs/scale-out.md, "Known limits").
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisSentinelFixture, SENTINEL_NAME } from '../helpers/redis-sentinel.js';
import { assertBackOnRedis, loadWhile, runRaces, startScaleOut, type ScaleOutStack } from './scale-out.js';

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('latchkey on Redis Sentinel', () => {
  let sentinel: RedisSentinelFixture;
  let scale: ScaleOutStack;
  let observer: Redis;

  before(async () => {
    sentinel = await RedisSentinelFixture.start();
    observer = new Redis({ sentinels: sentinel.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })), name: SENTINEL_NAME, failoverDetector: true });
    observer.on('error', () => undefined);
    scale = await startScaleOut({ REDIS_SENTINELS: sentinel.addresses, REDIS_SENTINEL_NAME: SENTINEL_NAME });
  });
  after(async () => {
    await scale?.stack.close();
    observer?.disconnect();
    await sentinel?.stop();
  });

  test('revocation races across instances: logout, token delete, password change', async () => {
    assert.equal(scale.a.config.redis?.kind, 'sentinel');
    await runRaces(scale, 3);
  });

  test('SENTINEL FAILOVER mid-load: no revoked token accepted, no 5xx, back on the new master', async () => {
    const epochBefore = scale.b.latchkey.cache.currentEpoch;
    const report = await loadWhile(scale, settle(600).then(() => sentinel.failover()).then(() => settle(1000)) as Promise<void>);
    assert.ok(report.revocations > 0 && report.requests > 20, JSON.stringify(report));
    assert.equal(report.serverErrors, 0, JSON.stringify(report));
    assert.equal(report.lateAccepts, 0, JSON.stringify(report));
    await assertBackOnRedis(scale, (key) => observer.get(key));
    assert.ok(scale.b.latchkey.cache.currentEpoch > epochBefore, 'the new master started a new cache epoch');
  });
});
