// docs/api.md §1: every variable's default, and a ConfigError naming the variable for each bad value.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig, parseConfig, redactUrl } from '../../src/config.js';

/** Asserts that parsing `env` fails with a ConfigError whose message starts with `variable:`. */
function rejects(env: Record<string, string>, variable: string, mentions?: RegExp) {
  assert.throws(
    () => parseConfig(env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
      assert.ok(error.message.startsWith(`${variable}: `), `"${error.message}" should name ${variable}`);
      assert.ok(!error.message.includes('\n'), 'one line');
      if (mentions) assert.match(error.message, mentions);
      return true;
    },
  );
}

describe('configuration defaults', () => {
  test('an empty environment gives every documented default', () => {
    const config = parseConfig({});
    assert.equal(config.port, 3000);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.databaseUrl, 'sqlite:./data/latchkey.db');
    assert.equal(config.databaseReplicaUrl, undefined);
    assert.equal(config.redis, undefined, 'no REDIS_URL or REDIS_HOST: in-process cache');
    assert.equal(config.cachePrefix, 'latchkey:');
    assert.equal(config.cacheTtlSeconds, 60);
    assert.equal(config.redisTimeoutMs, 250);
    assert.equal(config.tokenExpirationMinutes, 43200);
    assert.equal(config.tokenPrefix, 'lk_');
    assert.equal(config.loginRevokesOtherTokens, true);
    assert.equal(config.loginRateLimit, 5);
    assert.equal(config.trustProxy, false);
    assert.equal(config.metricsToken, undefined);
    assert.equal(config.metricsPublic, false);
    assert.equal(config.passwordMinLength, 8);
    assert.equal(config.passwordHasher, 'bcrypt');
    assert.equal(config.bcryptRounds, 12);
    assert.equal(config.sessionLifetimeMinutes, 120);
    assert.equal(config.sessionSecureCookie, false);
    assert.equal(config.pruneSchedule, '0 2 * * *');
    assert.equal(config.pruneHours, 24);
    assert.equal(config.logLevel, 'info');
  });

  test('blank values count as unset', () => {
    const config = parseConfig({ PORT: '', BCRYPT_ROUNDS: '  ', REDIS_URL: '', CACHE_PREFIX: '' });
    assert.equal(config.port, 3000);
    assert.equal(config.cachePrefix, 'latchkey:');
    assert.equal(config.bcryptRounds, 12);
    assert.equal(config.redis, undefined);
  });

  test('every variable is read', () => {
    const config = parseConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://u:p@db:5432/app',
      DATABASE_REPLICA_URL: 'postgres://u:p@replica:5432/app',
      CACHE_PREFIX: 'app:',
      CACHE_TTL: '30',
      REDIS_TIMEOUT: '100',
      TOKEN_EXPIRATION: '0',
      TOKEN_PREFIX: 'acme_',
      LOGIN_REVOKES_OTHER_TOKENS: 'false',
      LOGIN_RATE_LIMIT: '10',
      METRICS_TOKEN: 's3cret',
      METRICS_PUBLIC: 'true',
      PASSWORD_MIN_LENGTH: '12',
      PASSWORD_HASHER: 'argon2id',
      BCRYPT_ROUNDS: '10',
      SESSION_LIFETIME: '30',
      SESSION_SECURE_COOKIE: 'true',
      PRUNE_SCHEDULE: 'off',
      PRUNE_HOURS: '0',
      LOG_LEVEL: 'WARN',
    });
    assert.deepEqual(
      { ...config, epochPollMs: undefined, databaseTimeoutMs: undefined, lastUsedFlushSeconds: undefined, memoryCacheEntries: undefined, memoryCacheBytes: undefined, recovery: undefined },
      {
        port: 8080,
        host: '0.0.0.0',
        databaseUrl: 'postgres://u:p@db:5432/app',
        databaseReplicaUrl: 'postgres://u:p@replica:5432/app',
        redis: undefined,
        cachePrefix: 'app:',
        cacheTtlSeconds: 30,
        redisTimeoutMs: 100,
        tokenExpirationMinutes: 0,
        tokenPrefix: 'acme_',
        loginRevokesOtherTokens: false,
        loginRateLimit: 10,
        trustProxy: false,
        metricsToken: 's3cret',
        metricsPublic: true,
        passwordMinLength: 12,
        passwordHasher: 'argon2id',
        bcryptRounds: 10,
        sessionLifetimeMinutes: 30,
        sessionSecureCookie: true,
        pruneSchedule: null,
        pruneHours: 0,
        logLevel: 'warn',
        epochPollMs: undefined,
        databaseTimeoutMs: undefined,
        lastUsedFlushSeconds: undefined,
        memoryCacheEntries: undefined,
        memoryCacheBytes: undefined,
        recovery: undefined, // test/unit/recovery-config.test.ts
        registerRateLimit: 10,
        accountLoginRateLimit: 20,
        passwordHashQueue: 32,
      },
    );
  });

  test('the abuse limits are read and bounded', () => {
    const config = parseConfig({ REGISTER_RATE_LIMIT: '3', ACCOUNT_LOGIN_RATE_LIMIT: '50', PASSWORD_HASH_QUEUE: '0' });
    assert.deepEqual([config.registerRateLimit, config.accountLoginRateLimit, config.passwordHashQueue], [3, 50, 0]);
    rejects({ REGISTER_RATE_LIMIT: '0' }, 'REGISTER_RATE_LIMIT');
    rejects({ ACCOUNT_LOGIN_RATE_LIMIT: '0' }, 'ACCOUNT_LOGIN_RATE_LIMIT');
    rejects({ PASSWORD_HASH_QUEUE: '-1' }, 'PASSWORD_HASH_QUEUE');
  });

  test('an empty TOKEN_PREFIX is allowed (tokens without a prefix, as Sanctum by default)', () => {
    assert.equal(parseConfig({ TOKEN_PREFIX: '' }).tokenPrefix, '');
  });

  test('the internal knobs have defaults and bounds', () => {
    const config = parseConfig({});
    assert.equal(config.epochPollMs, 50);
    assert.equal(config.lastUsedFlushSeconds, 60);
    assert.ok(config.memoryCacheEntries > 0);
    assert.equal(config.memoryCacheBytes, 64 * 1024 * 1024);
    assert.equal(parseConfig({ LATCHKEY_MEMORY_CACHE_ENTRIES: '0' }).memoryCacheEntries, 0);
    // Node timers overflow past 2^31-1 ms and then fire at once: a huge poll interval would hammer the database.
    rejects({ LATCHKEY_EPOCH_POLL_MS: '9999999999' }, 'LATCHKEY_EPOCH_POLL_MS');
    rejects({ LATCHKEY_LAST_USED_FLUSH: '0' }, 'LATCHKEY_LAST_USED_FLUSH');
    assert.equal(config.databaseTimeoutMs, 5000);
    rejects({ LATCHKEY_DATABASE_TIMEOUT: '10' }, 'LATCHKEY_DATABASE_TIMEOUT');
  });
});

describe('bad configuration names the variable', () => {
  const cases: [Record<string, string>, string, RegExp?][] = [
    [{ PORT: 'abc' }, 'PORT', /whole number/],
    [{ PORT: '70000' }, 'PORT'],
    [{ PORT: '-1' }, 'PORT', /negative/],
    [{ PORT: '3000.5' }, 'PORT'],
    [{ DATABASE_URL: 'foo://x' }, 'DATABASE_URL', /scheme/],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'sqlite:' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'postgres://' }, 'DATABASE_URL'],
    [{ DATABASE_REPLICA_URL: 'http://replica' }, 'DATABASE_REPLICA_URL'],
    [{ REDIS_URL: 'http://127.0.0.1:6379' }, 'REDIS_URL', /scheme/],
    [{ REDIS_URL: '::nope' }, 'REDIS_URL'],
    [{ REDIS_HOST: 'cache', REDIS_PORT: 'x' }, 'REDIS_PORT'],
    [{ REDIS_PORT: '99999' }, 'REDIS_PORT'],
    [{ REDIS_CLUSTER_NODES: 'a:1,b' }, 'REDIS_CLUSTER_NODES'],
    [{ REDIS_SENTINELS: 'a:26379' }, 'REDIS_SENTINEL_NAME'],
    [{ REDIS_SENTINELS: 'a', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS'],
    [{ CACHE_TTL: '0' }, 'CACHE_TTL'],
    [{ REDIS_TIMEOUT: '-5' }, 'REDIS_TIMEOUT', /negative/],
    [{ TOKEN_EXPIRATION: '-1' }, 'TOKEN_EXPIRATION', /negative/],
    [{ TOKEN_EXPIRATION: '99999999999' }, 'TOKEN_EXPIRATION'],
    [{ SANCTUM_TOKEN_EXPIRATION: 'soon' }, 'SANCTUM_TOKEN_EXPIRATION'],
    [{ TOKEN_PREFIX: 'no spaces' }, 'TOKEN_PREFIX'],
    [{ LOGIN_REVOKES_OTHER_TOKENS: 'maybe' }, 'LOGIN_REVOKES_OTHER_TOKENS'],
    [{ LOGIN_RATE_LIMIT: '0' }, 'LOGIN_RATE_LIMIT'],
    [{ TRUST_PROXY: 'sometimes' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: 'abc' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '10.0.0.0/33' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '10.0.0.300' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '::1/129' }, 'TRUST_PROXY'],
    [{ PASSWORD_MIN_LENGTH: '0' }, 'PASSWORD_MIN_LENGTH'],
    [{ PASSWORD_HASHER: 'md5' }, 'PASSWORD_HASHER', /md5/],
    [{ BCRYPT_ROUNDS: '-1' }, 'BCRYPT_ROUNDS', /negative/],
    [{ BCRYPT_ROUNDS: '3' }, 'BCRYPT_ROUNDS'],
    [{ BCRYPT_ROUNDS: '32' }, 'BCRYPT_ROUNDS'],
    [{ SESSION_LIFETIME: '0' }, 'SESSION_LIFETIME'],
    [{ SESSION_SECURE_COOKIE: 'yes please' }, 'SESSION_SECURE_COOKIE'],
    [{ METRICS_PUBLIC: 'anyone' }, 'METRICS_PUBLIC'],
    [{ PRUNE_HOURS: '-2' }, 'PRUNE_HOURS', /negative/],
    [{ PRUNE_HOURS: '9007199254740991' }, 'PRUNE_HOURS'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
  ];
  for (const [env, variable, mentions] of cases) {
    test(`${JSON.stringify(env)} -> ${variable}`, () => rejects(env, variable, mentions));
  }

  test('a password in a bad URL is not repeated in the message', () => {
    assert.throws(() => parseConfig({ DATABASE_URL: 'ftp://user:hunter2@db/x' }), (e: Error) => !e.message.includes('hunter2'));
    assert.equal(redactUrl('postgres://user:hunter2@db:5432/x'), 'postgres://user:***@db:5432/x');
  });
});

describe('database URLs', () => {
  for (const url of ['sqlite:./data/x.db', 'sqlite::memory:', 'postgres://u@h/db', 'postgresql://u@h:5433/db', 'mysql://root@127.0.0.1:3306/test', 'mariadb://root@h/db']) {
    test(url, () => assert.equal(parseConfig({ DATABASE_URL: url }).databaseUrl, url));
  }
});

describe('Redis', () => {
  test('REDIS_URL', () => {
    assert.deepEqual(parseConfig({ REDIS_URL: 'redis://:pw@cache:6380/2' }).redis, { kind: 'url', url: 'redis://:pw@cache:6380/2' });
    assert.deepEqual(parseConfig({ REDIS_URL: 'rediss://cache' }).redis, { kind: 'url', url: 'rediss://cache' });
  });

  test("REDIS_HOST, REDIS_PORT and REDIS_PASSWORD, Laravel's spelling", () => {
    assert.deepEqual(parseConfig({ REDIS_HOST: 'cache' }).redis, { kind: 'host', host: 'cache', port: 6379, password: undefined });
    assert.deepEqual(parseConfig({ REDIS_HOST: 'cache', REDIS_PORT: '6380', REDIS_PASSWORD: 'pw' }).redis, {
      kind: 'host',
      host: 'cache',
      port: 6380,
      password: 'pw',
    });
  });

  test('REDIS_PASSWORD=null means no password, as in a Laravel .env', () => {
    const redis = parseConfig({ REDIS_HOST: '127.0.0.1', REDIS_PASSWORD: 'null' }).redis;
    assert.equal(redis?.kind, 'host');
    assert.equal((redis as { password?: string }).password, undefined);
  });

  test('cluster and sentinel', () => {
    assert.deepEqual(parseConfig({ REDIS_CLUSTER_NODES: 'a:7000, b:7001,[::1]:7002' }).redis, {
      kind: 'cluster',
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      password: undefined,
    });
    assert.deepEqual(parseConfig({ REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_NAME: 'mymaster', REDIS_PASSWORD: 'pw' }).redis, {
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
      name: 'mymaster',
      password: 'pw',
    });
  });
});

describe('token expiration', () => {
  test('SANCTUM_TOKEN_EXPIRATION is read as an alias', () => {
    assert.equal(parseConfig({ SANCTUM_TOKEN_EXPIRATION: '60' }).tokenExpirationMinutes, 60);
  });

  test('TOKEN_EXPIRATION wins over the alias', () => {
    assert.equal(parseConfig({ TOKEN_EXPIRATION: '10', SANCTUM_TOKEN_EXPIRATION: '60' }).tokenExpirationMinutes, 10);
  });

  test("SANCTUM_TOKEN_EXPIRATION=null keeps Laravel's meaning: never", () => {
    assert.equal(parseConfig({ SANCTUM_TOKEN_EXPIRATION: 'null' }).tokenExpirationMinutes, 0);
  });

  test('0 means never', () => {
    assert.equal(parseConfig({ TOKEN_EXPIRATION: '0' }).tokenExpirationMinutes, 0);
  });
});

describe('TRUST_PROXY forms', () => {
  const cases: [string, unknown][] = [
    ['false', false],
    ['FALSE', false],
    ['true', true],
    ['True', true],
    ['1', 1],
    ['2', 2],
    ['127.0.0.1', ['127.0.0.1']],
    ['10.0.0.0/8, 192.168.1.1', ['10.0.0.0/8', '192.168.1.1']],
    ['::1,fd00::/8', ['::1', 'fd00::/8']],
    ['loopback,uniquelocal', ['loopback', 'uniquelocal']],
  ];
  for (const [raw, expected] of cases) {
    test(raw, () => assert.deepEqual(parseConfig({ TRUST_PROXY: raw }).trustProxy, expected));
  }
});

describe('booleans and other forms', () => {
  test('booleans accept true/false, 1/0, yes/no, on/off', () => {
    for (const yes of ['true', '1', 'yes', 'on', 'TRUE']) assert.equal(parseConfig({ SESSION_SECURE_COOKIE: yes }).sessionSecureCookie, true);
    for (const no of ['false', '0', 'no', 'off', 'Off']) assert.equal(parseConfig({ LOGIN_REVOKES_OTHER_TOKENS: no }).loginRevokesOtherTokens, false);
  });

  test('PRUNE_SCHEDULE=off disables the built-in prune; an expression is kept', () => {
    assert.equal(parseConfig({ PRUNE_SCHEDULE: 'OFF' }).pruneSchedule, null);
    assert.equal(parseConfig({ PRUNE_SCHEDULE: '*/5 * * * *' }).pruneSchedule, '*/5 * * * *');
  });
});

describe('.env file', () => {
  test('loadConfig reads .env from the working directory without overriding real variables', () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-env-'));
    const saved = { PORT: process.env.PORT, HOST: process.env.HOST };
    try {
      writeFileSync(join(dir, '.env'), 'PORT=4567\nHOST=0.0.0.0\n');
      process.env.HOST = '127.0.0.2';
      delete process.env.PORT;
      const config = loadConfig(process.env, dir);
      assert.equal(config.port, 4567);
      assert.equal(config.host, '127.0.0.2');
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
