// `npm run bench`: latchkey against the paths it replaces, side by side in one run.
//
//   (a) plain     latchkey's Fastify setup, no authentication   (bench/servers/baseline.ts)
//   (b) jwt       stateless HS256 JWT with jose                 (bench/servers/baseline.ts)
//   (c) sanctum   SELECT token, SELECT user, UPDATE last_used_at (bench/servers/baseline.ts)
//   (d) latchkey  its real CLI, Redis tier only (LATCHKEY_MEMORY_CACHE_ENTRIES=0)
//   (e) latchkey  its real CLI, in-process tier in front of Redis (the default)
//   (f) bare      Fastify with no logger and no hooks, no authentication: a reference row only
//
// Each is a separate process on loopback, loaded by wrk over 10,000 rotating tokens on
// GET /api/auth/me and GET /api/auth/verify (warm-up, then a measured run). PostgreSQL is a
// database created for the run and Redis a private redis-server, so their counters hold only
// what the server under test did. Then a login storm on (e), then Redis memory per entry.
// Knobs (env): BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_WARMUP_SECONDS (3), BENCH_CONNECTIONS (64),
// BENCH_THREADS (2), BENCH_MEMORY_ENTRIES (1000000, 0 = skip), BENCH_PROFILE=1 (--cpu-prof for every
// server, written to bench/results/raw/profiles; summarise with bench/profile-summary.ts), BENCH_TARGETS (a,b,c,d,e,f: a subset while optimising),
// BENCH_STORM=0 (skip the login storm), BENCH_STORM_PAIRS (3 idle/storm pairs), BENCH_STORM_CLIENTS (8 concurrent logins; past the
// hashing threads plus PASSWORD_HASH_QUEUE (32) the extra logins are answered 503), BENCH_SIDE_BY_SIDE (10 alternations; 0 = skip the side-by-side
// comparison of (a), the lookup floor and (e): bench/lib/side-by-side.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { describeMachine, loadAverage } from './lib/machine.js';
import { seededBenchDatabase, type SeededToken } from './lib/postgres.js';
import { cpuMs, freePort, sleep, startProcess, waitUntilHealthy, type Started } from './lib/processes.js';
import { commandsProcessed, startPrivateRedis, type PrivateRedis } from './lib/redis-server.js';
import { sideBySide, sideBySideTable, type Contestant, type SideBySideResult } from './lib/side-by-side.js';
import { assertAllOk, ensureWrk, runWrk, warmUp, type WrkResult } from './lib/wrk.js';
import { measureRedisMemory, memoryTable } from './redis-memory.js';
import { runLoginStorm, type StormPhase, type StormResult } from './login-storm.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RAW = `${ROOT}bench/results/raw`;
const env = (name: string, fallback: number) => (process.env[name] === undefined ? fallback : Number(process.env[name]));
const SECONDS = env('BENCH_SECONDS', 5);
const ROUNDS = env('BENCH_ROUNDS', 3);
const STORM_SECONDS = 10;
const WARMUP_SECONDS = env('BENCH_WARMUP_SECONDS', 3);
const CONNECTIONS = env('BENCH_CONNECTIONS', 64);
const THREADS = env('BENCH_THREADS', 2);
const MEMORY_ENTRIES = env('BENCH_MEMORY_ENTRIES', 1_000_000);
const PROFILE = process.env.BENCH_PROFILE === '1';
const STORM = process.env.BENCH_STORM !== '0';
const STORM_PAIRS = env('BENCH_STORM_PAIRS', 3);
const STORM_CLIENTS = env('BENCH_STORM_CLIENTS', 8);
const SIDE_BY_SIDE = env('BENCH_SIDE_BY_SIDE', 10);
const SIDE_BY_SIDE_SECONDS = 2;
const ONLY = (process.env.BENCH_TARGETS ?? 'a,b,c,d,e,f').split(',');
const TOKENS = 10_000;
const STORM_USERS = 32;
const BCRYPT_ROUNDS = 12;
const JWT_SECRET = 'bench-only-secret-0123456789abcdef0123456789abcdef';
/** Longer than PostgreSQL's once-a-second statistics flush, so the counters are complete. */
const SETTLE_MS = 1500;
const ENDPOINTS = ['/api/auth/me', '/api/auth/verify'] as const;

interface Target {
  key: string;
  label: string;
  tokensFile: string;
  start(port: number): Started;
}

interface Row {
  target: Target;
  endpoint: string;
  result: WrkResult;
  sqlPerRequest: number;
  redisPerRequest: number;
  /** Server CPU (user + system) per request: robust to other load on the machine. */
  cpuUsPerRequest: number;
}

const tsx = (script: string, args: string[], nodeOptions: string[] = []) => ['node', [...nodeOptions, '--import', 'tsx', `${ROOT}${script}`, ...args]] as const;

async function main(): Promise<void> {
  ensureWrk();
  mkdirSync(RAW, { recursive: true });
  const machine = describeMachine();
  const loadBefore = loadAverage();
  console.log(`machine: ${machine.cpus} CPUs, ${machine.model}, Node ${machine.node}; load average ${loadBefore}`);

  const { database, tokens } = await seededBenchDatabase(TOKENS, STORM_USERS, BCRYPT_ROUNDS);
  let redis: PrivateRedis | undefined;
  const running: Started[] = [];
  try {
    const sanctumFile = `${RAW}/tokens.txt`;
    writeFileSync(sanctumFile, tokens.map((t) => t.plainText).join('\n') + '\n');
    const jwtFile = `${RAW}/jwts.txt`;
    writeFileSync(jwtFile, (await signJwts(tokens)).join('\n') + '\n');
    redis = await startPrivateRedis();
    console.log(`seeded ${TOKENS} users and tokens in ${database.name}; private Redis on port ${redis.port}`);

    const latchkeyEnv = (port: number, tier: string, extra: NodeJS.ProcessEnv = {}) => ({
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: database.url,
      REDIS_URL: redis!.url,
      CACHE_PREFIX: `bench_${tier}:`,
      LOG_LEVEL: 'warn',
      BCRYPT_ROUNDS: String(BCRYPT_ROUNDS),
      PRUNE_SCHEDULE: 'off',
      ...extra,
    });
    const profile = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${RAW}/profiles`] : [];
    const baseline = (mode: string) => (port: number) => {
      const [c, a] = tsx('bench/servers/baseline.ts', [mode], profile);
      return startProcess(c, [...a], { PORT: String(port), DATABASE_URL: database.url, JWT_SECRET, LOG_LEVEL: 'warn' });
    };
    const latchkey = (tier: string, extra: NodeJS.ProcessEnv) => (port: number) => {
      const [c, a] = tsx('src/cli/main.ts', ['serve', '--no-migrate'], profile);
      return startProcess(c, [...a], latchkeyEnv(port, tier, extra));
    };
    const targets: Target[] = [
      { key: 'a', label: '(a) same Fastify setup, no auth', tokensFile: sanctumFile, start: baseline('plain') },
      { key: 'b', label: '(b) stateless JWT (jose HS256)', tokensFile: jwtFile, start: baseline('jwt') },
      { key: 'c', label: '(c) Sanctum-equivalent SQL', tokensFile: sanctumFile, start: baseline('sanctum') },
      { key: 'd', label: '(d) latchkey, Redis tier only', tokensFile: sanctumFile, start: latchkey('d', { LATCHKEY_MEMORY_CACHE_ENTRIES: '0' }) },
      { key: 'e', label: '(e) latchkey, both tiers', tokensFile: sanctumFile, start: latchkey('e', {}) },
      { key: 'f', label: '(f) bare Fastify, no auth (reference)', tokensFile: sanctumFile, start: baseline('bare') },
    ];

    // Rounds over all servers, one server at a time (so the SQL and Redis counters hold only its
    // work): other work on a shared machine only ever slows a run down, in bursts that last
    // seconds to minutes, so the best of interleaved rounds is what makes rows comparable.
    const runs: Row[] = [];
    let storm: StormResult | undefined;
    const selected = targets.filter((t) => ONLY.includes(t.key));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const target of selected) {
        const port = await freePort();
        const server = target.start(port);
        running.push(server);
        await waitUntilHealthy(server, `http://127.0.0.1:${port}/healthz`);
        for (const endpoint of ENDPOINTS) {
          const row = await measure(target, server.child.pid!, `http://127.0.0.1:${port}${endpoint}`, endpoint, database.statements, redis);
          runs.push(row);
          console.log(`round ${round}/${ROUNDS} ${target.label} ${endpoint}: ${row.result.rps.toFixed(0)} req/s, p99 ${row.result.p99Ms.toFixed(2)} ms, ${row.cpuUsPerRequest.toFixed(1)} µs CPU/req`);
          if (process.env.BENCH_DEBUG) console.log((await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).split('\n').filter((l) => l.startsWith('latchkey_')).join('\n'));
        }
        if (target.key === 'e' && STORM && round === ROUNDS) {
          storm = await runLoginStorm({
            verifyUrl: `http://127.0.0.1:${port}/api/auth/verify`,
            loginUrl: `http://127.0.0.1:${port}/api/auth/login`,
            tokensFile: sanctumFile,
            emails: Array.from({ length: STORM_USERS }, (_, i) => `user${TOKENS + 1 + i}@bench.test`),
            password: 'password',
            seconds: STORM_SECONDS,
            pairs: STORM_PAIRS,
            loginConcurrency: STORM_CLIENTS,
            metricsUrl: `http://127.0.0.1:${port}/metrics`,
          });
        }
        await server.stop();
      }
    }
    const rows = selected.flatMap((target) => ENDPOINTS.map((endpoint) => bestRun(runs.filter((r) => r.target === target && r.endpoint === endpoint))));

    // The targets against (a) once more, with (a), the lookup floor and (e) up at once and loaded
    // in turn: rounds minutes apart see a machine whose speed drifts, neighbours in time do not.
    const paired = new Map<string, SideBySideResult[]>();
    if (SIDE_BY_SIDE > 0 && ONLY.includes('a') && ONLY.includes('e')) {
      const contestants: Contestant[] = [];
      for (const [name, start] of [['(a)', baseline('plain')], ['lookup', baseline('lookup')], ['(e)', latchkey('e', {})]] as const) {
        const port = await freePort();
        const server = start(port);
        running.push(server);
        await waitUntilHealthy(server, `http://127.0.0.1:${port}/healthz`);
        contestants.push({ name, port, pid: server.child.pid! });
      }
      for (const endpoint of ENDPOINTS) {
        const results = await sideBySide(contestants, { endpoint, tokensFile: sanctumFile, tokens: TOKENS, alternations: SIDE_BY_SIDE, seconds: SIDE_BY_SIDE_SECONDS });
        paired.set(endpoint, results);
        console.log(`side by side ${endpoint}: ${results.map((r) => `${r.name} ${r.rpsRatio.toFixed(3)}`).join(', ')}`);
      }
      for (const server of running) await server.stop();
    }
    const loadAfter = loadAverage();

    const memory = MEMORY_ENTRIES > 0 ? await measureRedisMemory(MEMORY_ENTRIES) : undefined;
    const report = renderReport({ rows, paired, storm, memory: memory && memoryTable(memory), machine, loadBefore, loadAfter });
    console.log(`\n${report}`);
    mkdirSync(`${ROOT}bench/results`, { recursive: true });
    writeFileSync(`${ROOT}bench/results/latest.md`, report);
    console.log('saved bench/results/latest.md');
  } finally {
    for (const server of running) await server.stop();
    await redis?.stop();
    await database.drop();
  }
}

/** Warm-up, then the measured run, with the SQL and Redis counters read around it. */
async function measure(target: Target, pid: number, url: string, endpoint: string, statements: () => Promise<number>, redis: PrivateRedis): Promise<Row> {
  const load = { url, tokensFile: target.tokensFile, connections: CONNECTIONS, threads: THREADS };
  await warmUp(load, TOKENS, `${target.label} ${endpoint}`, WARMUP_SECONDS);
  await sleep(SETTLE_MS);
  const sqlBefore = await statements();
  const redisBefore = await commandsProcessed(redis.client);
  const cpuBefore = cpuMs(pid);
  const result = await runWrk({ ...load, seconds: SECONDS });
  const cpuUsPerRequest = ((cpuMs(pid) - cpuBefore) * 1000) / result.requests;
  assertAllOk(`${target.label} ${endpoint}`, result);
  await sleep(SETTLE_MS);
  const sqlAfter = await statements();
  // The INFO that read redisBefore is counted in redisAfter.
  const redisAfter = (await commandsProcessed(redis.client)) - 1;
  return { target, endpoint, result, sqlPerRequest: (sqlAfter - sqlBefore) / result.requests, redisPerRequest: (redisAfter - redisBefore) / result.requests, cpuUsPerRequest };
}

/** The round with the most req/s (its own latencies and counters come with it). */
function bestRun(rounds: Row[]): Row {
  return rounds.reduce((best, row) => (row.result.rps > best.result.rps ? row : best));
}

async function signJwts(tokens: SeededToken[]): Promise<string[]> {
  const key = new TextEncoder().encode(JWT_SECRET);
  return Promise.all(
    tokens.map((t) =>
      new SignJWT({ name: `Bench User ${t.userId}`, email: `user${t.userId}@bench.test`, abilities: ['*'] })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(String(t.userId))
        .setJti(String(t.userId))
        .setIssuedAt()
        .setExpirationTime('1d')
        .sign(key),
    ),
  );
}

function renderReport(input: {
  rows: Row[];
  paired: Map<string, SideBySideResult[]>;
  storm: StormResult | undefined;
  memory: string | undefined;
  machine: ReturnType<typeof describeMachine>;
  loadBefore: string;
  loadAfter: string;
}): string {
  const { rows, paired, storm, memory, machine } = input;
  const find = (key: string, endpoint: string) => rows.find((r) => r.target.key === key && r.endpoint === endpoint);
  const fmt = (n: number, digits = 2) => n.toFixed(digits);
  const perRequest = (n: number) => (n === 0 ? '0' : n < 0.01 ? n.toFixed(4) : n.toFixed(2));
  const lines = [
    `# latchkey benchmark — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${machine.cpus} CPUs (${machine.model}), Node ${machine.node}, commit ${machine.commit}. ` +
      `Load average (1/5/15 min) ${input.loadBefore} at the start, ${input.loadAfter} at the end (other work shares the machine).`,
    `wrk ${THREADS} threads, ${CONNECTIONS} connections, warm-up (${WARMUP_SECONDS} s runs until every token was presented) then ${SECONDS} s measured, in ${ROUNDS} rounds over all servers; each row is the round with the most req/s, ` +
      `${TOKENS.toLocaleString('en-US')} tokens rotated (one per request); every response a 2xx.`,
    '',
    '| server | endpoint | req/s | p50 ms | p99 ms | SQL / req | Redis cmds / req | server CPU µs / req | × (a) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const plain = find('a', row.endpoint)?.result.rps ?? NaN;
    lines.push(
      `| ${row.target.label} | \`${row.endpoint}\` | ${fmt(row.result.rps, 0)} | ${fmt(row.result.p50Ms)} | ${fmt(row.result.p99Ms)} | ` +
        `${perRequest(row.sqlPerRequest)} | ${perRequest(row.redisPerRequest)} | ${fmt(row.cpuUsPerRequest, 1)} | ${fmt(row.result.rps / plain)} |`,
    );
  }
  lines.push('', '**Targets for (e)** (ratios of req/s from this run):', '');
  const goals: [string, string, number][] = [
    ['a', '/api/auth/me', 0.85],
    ['a', '/api/auth/verify', 0.9],
    ['b', '/api/auth/me', 2],
    ['b', '/api/auth/verify', 2],
    ['c', '/api/auth/me', 10],
    ['c', '/api/auth/verify', 10],
  ];
  for (const [key, endpoint, goal] of goals) {
    const [mine, theirs] = [find('e', endpoint), find(key, endpoint)];
    if (!mine || !theirs) continue;
    const ratio = mine.result.rps / theirs.result.rps;
    lines.push(`- \`${endpoint}\` (e) / (${key}) = ${fmt(ratio)} (target ≥ ${goal}) ${ratio >= goal ? 'met' : '**not met**'}`);
  }
  for (const endpoint of ENDPOINTS) {
    const [mine, setup, bare] = [find('e', endpoint), find('a', endpoint), find('f', endpoint)];
    if (!bare) continue;
    const parts = [mine && `(e) / (f) = ${fmt(mine.result.rps / bare.result.rps)}`, setup && `(a) / (f) = ${fmt(setup.result.rps / bare.result.rps)}`].filter(Boolean);
    lines.push(`- \`${endpoint}\` against bare Fastify (no target): ${parts.join(', ')}`);
  }
  if (paired.size > 0) {
    lines.push(
      '',
      `**Side by side**: (a), the \`lookup\` floor (SHA-256, one \`Map\` lookup and a kept body per token, nothing else: see docs/benchmarks.md) and (e) up at once, ` +
        `loaded in turn by ${SIDE_BY_SIDE} alternations of ${SIDE_BY_SIDE_SECONDS} s per endpoint; medians, and medians of the per-alternation ratios to (a).`,
    );
    for (const [endpoint, results] of paired) lines.push('', `\`${endpoint}\`:`, '', sideBySideTable(results));
    lines.push('', '**Targets for (e) against (a), side by side:**', '');
    for (const [endpoint, goal] of [['/api/auth/me', 0.85], ['/api/auth/verify', 0.9]] as const) {
      const ratio = paired.get(endpoint)?.find((r) => r.name === '(e)')?.rpsRatio;
      if (ratio !== undefined) lines.push(`- \`${endpoint}\` (e) / (a) = ${fmt(ratio)} (target ≥ ${goal}) ${ratio >= goal ? 'met' : '**not met**'}`);
    }
  }
  if (storm) {
    lines.push(
      '',
      `**Login storm** on (e), BCRYPT_ROUNDS=${BCRYPT_ROUNDS}: \`/api/auth/verify\` with wrk 1 thread, ${storm.connections} connections, ${storm.seconds} s a phase; ` +
        `idle and ${storm.loginConcurrency} concurrent logins alternate, ${storm.pairs.length === 1 ? 'once' : `${storm.pairs.length} times`}.`,
      '',
      '| pair | phase | verify req/s | verify p50 ms | verify p99 ms | event-loop delay p99 / max ms | logins/s (p50 ms) | logins 503 (hashing queue full) | storm p99 / idle p99 |',
      '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    );
    const phase = (p: StormPhase) => `${fmt(p.validations.rps, 0)} | ${fmt(p.validations.p50Ms)} | ${fmt(p.validations.p99Ms)} | ${fmt(p.loop.p99Ms, 1)} / ${fmt(p.loop.maxMs, 1)}`;
    storm.pairs.forEach((pair, i) => {
      lines.push(`| ${i + 1} | idle | ${phase(pair.idle)} | — | — | |`);
      lines.push(`| ${i + 1} | logins | ${phase(pair.storm)} | ${fmt(pair.loginsPerSecond, 1)} (${fmt(pair.loginP50Ms, 0)}) | ${pair.loginsRefused} | ${fmt(pair.ratio, 3)} |`);
    });
    lines.push('', `p99 during the storm / idle p99, median of the pairs = ${fmt(storm.ratio, 3)} (target ≤ 2) ${storm.ratio <= 2 ? 'met' : '**not met**'}.`);
  }
  if (memory) lines.push('', '**Redis memory**', '', memory);
  lines.push('', 'Reproduce: `npm run bench` (method: docs/benchmarks.md).', '');
  return lines.join('\n');
}

await main();
