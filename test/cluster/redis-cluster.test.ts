// Issue 7: latchkey on a real 3-master / 3-replica Redis Cluster, two instances on PostgreSQL.
// Every cache operation works across hash slots, revocation races hold, and latchkey follows
// a failover (CLUSTER FAILOVER, then a master killed with -9) by itself without accepting a
// revoked token or answering 5xx.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Cluster } from 'ioredis';
import { register } from '../helpers/app.js';
import { RedisClusterFixture } from '../helpers/redis-cluster.js';
import { assertBackOnRedis, cacheKey, loadWhile, REVOCATION_WINDOW_MS, runRaces, startScaleOut, type ScaleOutStack } from './scale-out.js';

describe('latchkey on Redis Cluster', () => {
  let cluster: RedisClusterFixture;
  let scale: ScaleOutStack;
  let observer: Cluster;

  before(async () => {
    cluster = await RedisClusterFixture.start();
    observer = new Cluster(cluster.seeds.split(',').map((a) => ({ host: a.split(':')[0], port: Number(a.split(':')[1]) })), { slotsRefreshInterval: 500 });
    scale = await startScaleOut({ REDIS_CLUSTER_NODES: cluster.seeds });
  });
  after(async () => {
    await scale?.stack.close();
    observer?.disconnect();
    await cluster?.stop();
  });

  test('uses the cluster: entries spread over masters, tombstones, rate limits and cache:clear on every master', async () => {
    const { a, b } = scale;
    assert.equal(a.config.redis?.kind, 'cluster');
    const tokens: string[] = [];
    for (let i = 0; i < 12; i++) {
      const { token } = await register(a);
      assert.equal((await b.request('GET', '/api/auth/me', { token })).status, 200);
      tokens.push(token);
    }
    // Fills are written after the answer; give them a moment, then find them on several masters.
    await new Promise((r) => setTimeout(r, 200));
    const holders = new Set<number>();
    for (const token of tokens) {
      const key = cacheKey(a, token);
      assert.ok(await observer.get(key), 'the entry is in the cluster');
      for (const master of observer.nodes('master')) {
        // A master that does not serve the key's slot answers MOVED.
        if ((await master.exists(key).catch(() => 0)) === 1) holders.add(master.options.port!);
      }
    }
    assert.ok(holders.size >= 2, `entries live on ${holders.size} master(s)`);

    // A revocation's tombstone lands in the key's slot and its message reaches B's in-process tier.
    const revoked = tokens.pop()!;
    assert.equal((await a.request('POST', '/api/auth/logout', { token: revoked })).status, 204);
    assert.equal(await observer.get(cacheKey(a, revoked)), '!');
    await new Promise((r) => setTimeout(r, REVOCATION_WINDOW_MS));
    assert.equal((await b.request('GET', '/api/auth/me', { token: revoked })).status, 401);

    // The rate limiter's counter is one key: the limit holds across instances.
    const { email } = await register(a);
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      const app = i % 2 === 0 ? a : b;
      statuses.push((await app.request('POST', '/api/auth/login', { body: { email, password: 'wrong password' } })).status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);

    const removed = await a.latchkey.cache.clear();
    assert.ok(removed >= tokens.length + 1, `cache:clear removed ${removed} keys`);
    for (const token of tokens) assert.equal(await observer.get(cacheKey(a, token)), null);
    assert.equal((await b.request('GET', '/api/auth/me', { token: tokens[0] })).status, 200);
    assert.equal((await b.request('GET', '/api/auth/me', { token: revoked })).status, 401);
  });

  test('revocation races across instances: logout, token delete, password change', async () => {
    await runRaces(scale, 5);
  });

  test('CLUSTER FAILOVER mid-load: no revoked token accepted, no 5xx, back on the new topology', async () => {
    const { replica } = await cluster.pair();
    const epochBefore = scale.b.latchkey.cache.currentEpoch;
    const report = await loadWhile(scale, new Promise((r) => setTimeout(r, 600)).then(() => cluster.failover(replica)).then(() => new Promise((r) => setTimeout(r, 1500))));
    assert.ok(report.revocations > 0 && report.requests > 20, JSON.stringify(report));
    assert.equal(report.serverErrors, 0, JSON.stringify(report));
    assert.equal(report.lateAccepts, 0, JSON.stringify(report));
    await assertBackOnRedis(scale, (key) => observer.get(key));
    assert.ok(scale.b.latchkey.cache.currentEpoch > epochBefore, 'the new set of masters started a new cache epoch');
  });

  test('a master killed with -9 mid-load: no revoked token accepted, no 5xx, back on the new topology', async () => {
    const { master, replica } = await cluster.pair();
    const report = await loadWhile(scale, new Promise((r) => setTimeout(r, 600)).then(() => cluster.killMaster(master, replica)).then(() => new Promise((r) => setTimeout(r, 1500))));
    assert.ok(report.revocations > 0 && report.requests > 20, JSON.stringify(report));
    assert.equal(report.serverErrors, 0, JSON.stringify(report));
    assert.equal(report.lateAccepts, 0, JSON.stringify(report));
    await assertBackOnRedis(scale, (key) => observer.get(key));
    await cluster.restart(master);
  });

  test('the node the invalidation subscribers listen on is killed: they move to another node', async () => {
    const host = await cluster.subscriberHost();
    assert.ok(host, 'the subscribers are connected to a running node');
    if (host.role === 'master') {
      const follower = (await cluster.topology()).find((t) => t.masterPort === host.node.port);
      assert.ok(follower, 'the master has a replica to take over');
      await cluster.killMaster(host.node, follower.node);
    } else {
      await host.node.kill();
    }
    await assertBackOnRedis(scale, (key) => observer.get(key));
    assert.ok(await cluster.subscriberHost(), 'the subscribers reconnected to another node');
    await runRaces(scale, 1);
  });
});
