// `npm run bench`: latchkey against the paths it replaces and against bare peers, in stages that
// can run alone (`npm run bench -- --stage peers`; several: `--stage peers,saturation`):
//
//   rounds      servers (a)–(f) below in turn, one at a time, with SQL and Redis per request
//   peers       latchkey side by side with bare peers and the Sanctum path, targets PASS/MISS
//               (bench/peers.ts)
//   embedded    an app route protected in-process (Fastify) beside the same route behind a
//               /verify hop and with no auth, and the per-token floor (bench/embedded.ts)
//   storm       the login storm on latchkey (bench/login-storm.ts)
//   saturation  latchkey at 100% CPU for --saturation-seconds (60): cache counters per second,
//               redis_down; --profile adds a CPU profile in µs per request (bench/saturation.ts)
//   memory      Redis memory per entry (bench/redis-memory.ts)
//   million     with --tokens N (N > 10,000, e.g. 1000000): N tokens seeded with COPY, chosen
//               uniformly at random: cold start, steady state against the seed design, in-process
//               memory per entry (bench/million.ts)
// Default: every stage but million; with --tokens above 10,000, million alone.
//
//   (a) plain     latchkey's Fastify setup, no authentication   (bench/servers/baseline.ts)
//   (b) jwt       stateless HS256 JWT with jose                 (bench/servers/baseline.ts)
//   (c) sanctum   SELECT token, SELECT user, UPDATE last_used_at (bench/servers/baseline.ts)
//   (d) latchkey  its real CLI, Redis tier only (LATCHKEY_MEMORY_CACHE_ENTRIES=0)
//   (e) latchkey  its real CLI, in-process tier in front of Redis (the default)
//   (f) bare      Fastify with no logger and no hooks, no authentication: a reference row only
//
// Each is a separate process on loopback, loaded by wrk over 10,000 rotating tokens on
// GET /api/auth/me and GET /api/auth/verify. PostgreSQL is a database created for the run and
// Redis a private redis-server, so their counters hold only what the servers under test did.
// Flags: --stage, --tokens, --alternations (peers, 10), --window-seconds (peers, 2), --cache-ttl
// (peers and million: latchkey's CACHE_TTL, its default when absent),
// --saturation-seconds (60), --profile, --cold-seconds (million, 60), --steady-warmup-seconds
// (million: the most the warm pass may take, 900), --memory-cache-entries (million: the in-process tier's size; 0 turns it off). Knobs (env) of the rounds: BENCH_ROUNDS (3), BENCH_SECONDS (5),
// BENCH_WARMUP_SECONDS (3), BENCH_CONNECTIONS (64), BENCH_THREADS (2), BENCH_MEMORY_ENTRIES
// (1000000), BENCH_PROFILE=1 (--cpu-prof for every server, written to bench/results/raw/profiles;
// summarise with bench/profile-summary.ts), BENCH_TARGETS (a,b,c,d,e,f: a subset),
// BENCH_STORM_PAIRS (3 idle/storm pairs).
import { embeddedStage } from './embedded.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { countedRun, type CountedRun } from './lib/counted-run.js';
import { signJwts } from './lib/jwts.js';
import { launcher, RAW, ROOT, type Launcher } from './lib/launch.js';
import { describeMachine, loadAverage } from './lib/machine.js';
import { seededBenchDatabase, type BenchDatabase } from './lib/postgres.js';
import { startPrivateRedis, type PrivateRedis } from './lib/redis-server.js';
import { assertAllOk, ensureWrk, warmUp } from './lib/wrk.js';
import { runLoginStorm, type StormPhase, type StormResult } from './login-storm.js';
import { runMillion, millionReport } from './million.js';
import { peersReport, runPeers } from './peers.js';
import { measureRedisMemory, memoryTable } from './redis-memory.js';
import { runSaturation, saturationReport } from './saturation.js';

const env = (name: string, fallback: number) => (process.env[name] === undefined ? fallback : Number(process.env[name]));
const SECONDS = env('BENCH_SECONDS', 5);
const ROUNDS = env('BENCH_ROUNDS', 3);
const STORM_SECONDS = 10;
const WARMUP_SECONDS = env('BENCH_WARMUP_SECONDS', 3);
const CONNECTIONS = env('BENCH_CONNECTIONS', 64);
const THREADS = env('BENCH_THREADS', 2);
const MEMORY_ENTRIES = env('BENCH_MEMORY_ENTRIES', 1_000_000);
const PROFILE = process.env.BENCH_PROFILE === '1';
const STORM_PAIRS = env('BENCH_STORM_PAIRS', 3);
/** Concurrent logins; past the hashing threads plus PASSWORD_HASH_QUEUE (32) the extra ones are answered 503. */
const STORM_CLIENTS = env('BENCH_STORM_CLIENTS', 8);
const ONLY = (process.env.BENCH_TARGETS ?? 'a,b,c,d,e,f').split(',');
const STORM_USERS = 32;
const BCRYPT_ROUNDS = 12;
const ENDPOINTS = ['/api/auth/me', '/api/auth/verify'] as const;
const STAGES = ['rounds', 'peers', 'embedded', 'storm', 'saturation', 'memory', 'million'] as const;
type Stage = (typeof STAGES)[number];
/** Above this, the run is the million-token stage (tokens drawn at random, seeded with COPY). */
const ROTATING_TOKENS = 10_000;

function parseFlags() {
  const { values } = parseArgs({
    options: {
      stage: { type: 'string', multiple: true },
      tokens: { type: 'string' },
      alternations: { type: 'string', default: '10' },
      'window-seconds': { type: 'string', default: '2' },
      'cache-ttl': { type: 'string' },
      'saturation-seconds': { type: 'string', default: '60' },
      profile: { type: 'boolean', default: false },
      'cold-seconds': { type: 'string', default: '60' },
      'steady-warmup-seconds': { type: 'string', default: '900' },
      'memory-cache-entries': { type: 'string' },
    },
  });
  const number = (name: string, text: string, least = 1) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < least) throw new Error(`--${name} must be an integer of at least ${least}, not "${text}"`);
    return n;
  };
  const tokens = number('tokens', values.tokens ?? String(ROTATING_TOKENS));
  const stages = (values.stage ?? []).flatMap((s) => s.split(','));
  for (const stage of stages) if (!STAGES.includes(stage as Stage)) throw new Error(`--stage: "${stage}" is not one of ${STAGES.join(', ')}`);
  const chosen = stages.length > 0 ? (stages as Stage[]) : tokens > ROTATING_TOKENS ? ['million' as const] : STAGES.filter((s) => s !== 'million');
  if (chosen.includes('million') && tokens <= ROTATING_TOKENS) throw new Error('--stage million needs --tokens above 10000 (e.g. --tokens 1000000)');
  if (chosen.some((s) => s !== 'million') && tokens > ROTATING_TOKENS) throw new Error(`--tokens above ${ROTATING_TOKENS} runs the million stage only`);
  if (values['memory-cache-entries'] !== undefined && !chosen.includes('million')) throw new Error('--memory-cache-entries belongs to the million stage (--tokens above 10000)');
  return {
    stages: new Set(chosen),
    tokens,
    alternations: number('alternations', values.alternations!),
    windowSeconds: number('window-seconds', values['window-seconds']!),
    cacheTtl: values['cache-ttl'] === undefined ? undefined : number('cache-ttl', values['cache-ttl']),
    saturationSeconds: number('saturation-seconds', values['saturation-seconds']!),
    profile: values.profile!,
    coldSeconds: number('cold-seconds', values['cold-seconds']!),
    steadyWarmupSeconds: number('steady-warmup-seconds', values['steady-warmup-seconds']!),
    memoryCacheEntries: values['memory-cache-entries'] === undefined ? undefined : number('memory-cache-entries', values['memory-cache-entries'], 0),
  };
}
type Flags = ReturnType<typeof parseFlags>;

interface Target {
  key: string;
  label: string;
  tokensFile: string;
  start(launch: Launcher): ReturnType<Launcher['latchkey']>;
}

interface Row extends CountedRun {
  target: Target;
  endpoint: string;
}

async function main(): Promise<void> {
  const flags = parseFlags();
  ensureWrk();
  mkdirSync(RAW, { recursive: true });
  const machine = describeMachine();
  const loadBefore = loadAverage();
  console.log(`machine: ${machine.cpus} CPUs, ${machine.model}, Node ${machine.node}; load average ${loadBefore}; stages: ${[...flags.stages].join(', ')}`);

  const { database, tokens } = await seededBenchDatabase(flags.tokens, STORM_USERS, BCRYPT_ROUNDS);
  let redis: PrivateRedis | undefined;
  let launch: Launcher | undefined;
  try {
    const tokensFile = `${RAW}/tokens.txt`;
    writeFileSync(tokensFile, tokens.map((t) => t.plainText).join('\n') + '\n');
    redis = await startPrivateRedis();
    console.log(`seeded ${flags.tokens} users and tokens in ${database.name}; private Redis on port ${redis.port}`);
    launch = launcher({ databaseUrl: database.url, redisUrl: redis.url, bcryptRounds: BCRYPT_ROUNDS, nodeOptions: PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${RAW}/profiles`] : [], healthyTimeoutMs: 600_000 });
    const sections: string[] = [];
    const stage = async (name: Stage, run: () => Promise<string>) => {
      if (flags.stages.has(name)) sections.push(await run());
    };
    const jwtFile = async () => {
      const file = `${RAW}/jwts.txt`;
      writeFileSync(file, (await signJwts(tokens)).join('\n') + '\n');
      return file;
    };
    await stage('rounds', async () => roundsReport(await runRounds(launch!, database, redis!, tokensFile, await jwtFile())));
    await stage('peers', async () => {
      const options = { launch: launch!, tokensFile, jwtFile: await jwtFile(), tokens: flags.tokens, alternations: flags.alternations, seconds: flags.windowSeconds, cacheTtl: flags.cacheTtl };
      return peersReport(await runPeers(options), options);
    });
    await stage('storm', async () => stormReport(await runStorm(launch!, tokensFile)));
    await stage('saturation', async () => {
      const options = {
        launch: launch!,
        tokensFile,
        tokens: flags.tokens,
        seconds: flags.saturationSeconds,
        interval: Math.max(1, Math.round(flags.saturationSeconds / 12)),
        endpoint: '/api/auth/me',
        statements: database.statements,
        redis: redis!,
        profileDir: flags.profile ? `${RAW}/profiles/saturation-${Date.now()}` : undefined,
      };
      return saturationReport(await runSaturation(options), options);
    });
    await stage('embedded', async () => (await embeddedStage()).markdown);
    await stage('million', async () => millionReport(await runMillion(millionOptions(flags, launch!, database, redis!, tokensFile))));
    const loadAfter = loadAverage();
    await stage('memory', async () => `**Redis memory**\n\n${memoryTable(await measureRedisMemory(MEMORY_ENTRIES))}`);

    const report = [
      `# latchkey benchmark — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      '',
      `Machine: ${machine.cpus} CPUs (${machine.model}), Node ${machine.node}, commit ${machine.commit}. ` +
        `Load average (1/5/15 min) ${loadBefore} at the start, ${loadAfter} at the end (other work shares the machine). ` +
        `Stages: ${[...flags.stages].join(', ')}; ${flags.tokens.toLocaleString('en-US')} tokens.`,
      ...sections.flatMap((section) => ['', section]),
      '',
      `Reproduce: \`npm run bench -- ${process.argv.slice(2).join(' ')}\` (method: docs/benchmarks.md).`,
      '',
    ].join('\n');
    console.log(`\n${report}`);
    const settings = (flags.cacheTtl === undefined ? '' : `-cache-ttl-${flags.cacheTtl}`) + (flags.memoryCacheEntries === undefined ? '' : `-memory-${flags.memoryCacheEntries}`);
    const name = flags.stages.size === STAGES.length - 1 && !settings ? 'latest.md' : `latest-${[...flags.stages].join('-')}${settings}.md`;
    writeFileSync(`${ROOT}bench/results/${name}`, report);
    console.log(`saved bench/results/${name}`);
  } finally {
    await launch?.stopAll();
    await redis?.stop();
    await database.drop();
  }
}

function millionOptions(flags: Flags, launch: Launcher, database: BenchDatabase, redis: PrivateRedis, tokensFile: string) {
  return { launch, database, redis, tokensFile, tokens: flags.tokens, coldSeconds: flags.coldSeconds, steadyWarmupSeconds: flags.steadyWarmupSeconds, alternations: 3, windowSeconds: 10, cacheTtl: flags.cacheTtl, memoryCacheEntries: flags.memoryCacheEntries };
}

/**
 * Rounds over (a)–(f), one server at a time (so the SQL and Redis counters hold only its work):
 * other work on a shared machine only ever slows a run down, in bursts that last seconds to
 * minutes, so the best of interleaved rounds is what makes rows comparable.
 */
async function runRounds(launch: Launcher, database: BenchDatabase, redis: PrivateRedis, tokensFile: string, jwtFile: string): Promise<Row[]> {
  const targets: Target[] = [
    { key: 'a', label: '(a) same Fastify setup, no auth', tokensFile, start: (l) => l.baseline('plain') },
    { key: 'b', label: '(b) stateless JWT (jose HS256)', tokensFile: jwtFile, start: (l) => l.baseline('jwt') },
    { key: 'c', label: '(c) Sanctum-equivalent SQL', tokensFile, start: (l) => l.baseline('sanctum') },
    { key: 'd', label: '(d) latchkey, Redis tier only', tokensFile, start: (l) => l.latchkey('d', { LATCHKEY_MEMORY_CACHE_ENTRIES: '0' }) },
    { key: 'e', label: '(e) latchkey, both tiers', tokensFile, start: (l) => l.latchkey('e') },
    { key: 'f', label: '(f) bare Fastify, no auth (reference)', tokensFile, start: (l) => l.baseline('bare') },
  ];
  const runs: Row[] = [];
  const selected = targets.filter((t) => ONLY.includes(t.key));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const target of selected) {
      const server = await target.start(launch);
      for (const endpoint of ENDPOINTS) {
        const load = { url: server.url(endpoint), tokensFile: target.tokensFile, connections: CONNECTIONS, threads: THREADS };
        await warmUp(load, ROTATING_TOKENS, `${target.label} ${endpoint}`, WARMUP_SECONDS);
        const counted = await countedRun({ ...load, seconds: SECONDS }, server.pid, database.statements, redis);
        assertAllOk(`${target.label} ${endpoint}`, counted.result);
        const row = { target, endpoint, ...counted };
        runs.push(row);
        console.log(`round ${round}/${ROUNDS} ${target.label} ${endpoint}: ${row.result.rps.toFixed(0)} req/s, p99 ${row.result.p99Ms.toFixed(2)} ms, ${row.cpuUsPerRequest.toFixed(1)} µs CPU/req`);
      }
      await launch.stopAll();
    }
  }
  return selected.flatMap((target) => ENDPOINTS.map((endpoint) => bestRun(runs.filter((r) => r.target === target && r.endpoint === endpoint))));
}

/** The login storm on a fresh latchkey (e), warmed up first. */
async function runStorm(launch: Launcher, tokensFile: string): Promise<StormResult> {
  const server = await launch.latchkey('storm');
  await warmUp({ url: server.url('/api/auth/verify'), tokensFile, connections: CONNECTIONS, threads: THREADS }, ROTATING_TOKENS, 'storm warm-up');
  const storm = await runLoginStorm({
    verifyUrl: server.url('/api/auth/verify'),
    loginUrl: server.url('/api/auth/login'),
    tokensFile,
    emails: Array.from({ length: STORM_USERS }, (_, i) => `user${ROTATING_TOKENS + 1 + i}@bench.test`),
    password: 'password',
    seconds: STORM_SECONDS,
    pairs: STORM_PAIRS,
    loginConcurrency: STORM_CLIENTS,
    metricsUrl: server.url('/metrics'),
  });
  await launch.stopAll();
  return storm;
}

/** The round with the most req/s (its own latencies and counters come with it). */
function bestRun(rounds: Row[]): Row {
  return rounds.reduce((best, row) => (row.result.rps > best.result.rps ? row : best));
}

function roundsReport(rows: Row[]): string {
  const find = (key: string, endpoint: string) => rows.find((r) => r.target.key === key && r.endpoint === endpoint);
  const fmt = (n: number, digits = 2) => n.toFixed(digits);
  const perRequest = (n: number) => (n === 0 ? '0' : n < 0.01 ? n.toFixed(4) : n.toFixed(2));
  const lines = [
    `**Rounds**: wrk ${THREADS} threads, ${CONNECTIONS} connections, warm-up (${WARMUP_SECONDS} s runs until every token was presented) then ${SECONDS} s measured, in ${ROUNDS} rounds over all servers, one at a time; each row is the round with the most req/s, ` +
      `${ROTATING_TOKENS.toLocaleString('en-US')} tokens rotated (one per request); every response a 2xx. The targets are judged side by side in the peers stage; ` +
      'these rows give the SQL and Redis work per request of each server alone.',
    '',
    '| server | endpoint | req/s | p50 ms | p99 ms | SQL / req | Redis cmds / req | server CPU µs / req | × (f) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const bare = find('f', row.endpoint)?.result.rps ?? NaN;
    lines.push(
      `| ${row.target.label} | \`${row.endpoint}\` | ${fmt(row.result.rps, 0)} | ${fmt(row.result.p50Ms)} | ${fmt(row.result.p99Ms)} | ` +
        `${perRequest(row.sqlPerRequest)} | ${perRequest(row.redisPerRequest)} | ${fmt(row.cpuUsPerRequest, 1)} | ${fmt(row.result.rps / bare)} |`,
    );
  }
  return lines.join('\n');
}

function stormReport(storm: StormResult): string {
  const fmt = (n: number, digits = 2) => n.toFixed(digits);
  const lines = [
    `**Login storm** on latchkey, BCRYPT_ROUNDS=${BCRYPT_ROUNDS}: \`/api/auth/verify\` with wrk 1 thread, ${storm.connections} connections, ${storm.seconds} s a phase; ` +
      `idle and ${storm.loginConcurrency} concurrent logins alternate, ${storm.pairs.length === 1 ? 'once' : `${storm.pairs.length} times`}.`,
    '',
    '| pair | phase | verify req/s | verify p50 ms | verify p99 ms | event-loop delay p99 / max ms | logins/s (p50 ms) | logins 503 (hashing queue full) | storm p99 / idle p99 |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const phase = (p: StormPhase) => `${fmt(p.validations.rps, 0)} | ${fmt(p.validations.p50Ms)} | ${fmt(p.validations.p99Ms)} | ${fmt(p.loop.p99Ms, 1)} / ${fmt(p.loop.maxMs, 1)}`;
  storm.pairs.forEach((pair, i) => {
    lines.push(`| ${i + 1} | idle | ${phase(pair.idle)} | — | — | |`);
    lines.push(`| ${i + 1} | logins | ${phase(pair.storm)} | ${fmt(pair.loginsPerSecond, 1)} (${fmt(pair.loginP50Ms, 0)}) | ${pair.loginsRefused} | ${fmt(pair.ratio, 3)} |`);
  });
  lines.push('', `p99 during the storm / idle p99, median of the pairs = ${fmt(storm.ratio, 3)} (target ≤ 2) ${storm.ratio <= 2 ? 'PASS' : '**MISS**'}.`);
  return lines.join('\n');
}

await main();
