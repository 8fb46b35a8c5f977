// The million stage of `npm run bench -- --tokens 1000000`: N tokens (seeded with COPY), each
// request's token drawn uniformly at random, so most validations miss the in-process tier
// (LATCHKEY_MEMORY_CACHE_ENTRIES, 100,000 by default). In order:
//   memory      in-process memory per entry (bench/memory-per-entry.ts, in a process of its own)
//   cold start  a fresh latchkey (empty caches) under full load at once: req/s per second, time to
//               steady throughput, database reads per credential, connections, non-2xx
//   warm pass   the same instance walks every token in order until a run of it reads the database
//               for under 1% of its validations (its Redis then holds them all, as the seed
//               design's does after its preload), or --steady-warmup-seconds have passed
//   steady      then alternated with the seed design (bare Fastify, one Redis GET per request,
//               every token preloaded in Redis) on the same data, tokens drawn at random again:
//               req/s, p99, SQL and Redis commands per request
import { execFileSync } from 'node:child_process';
import { countedRun, type CountedRun } from './lib/counted-run.js';
import { readCacheCounters, type CacheCounters } from './lib/latchkey-metrics.js';
import { ROOT, type Launcher, type Running } from './lib/launch.js';
import type { BenchDatabase } from './lib/postgres.js';
import { sleep } from './lib/processes.js';
import type { PrivateRedis } from './lib/redis-server.js';
import { median, pairedRatio } from './lib/side-by-side.js';
import { runWrk, type WrkResult } from './lib/wrk.js';

const MEMORY_ENTRIES = 100_000;
/** The warm pass runs wrk this long at a time, and stops after a run with this share of reads. */
const WARM_RUN_SECONDS = 20;
const WARM_DATABASE_SHARE = 0.01;
/** Steady throughput: the 3-second mean reaches this share of the last third's median. */
const STEADY_SHARE = 0.9;

export interface MillionOptions {
  launch: Launcher;
  database: BenchDatabase;
  redis: PrivateRedis;
  tokensFile: string;
  tokens: number;
  coldSeconds: number;
  steadyWarmupSeconds: number;
  alternations: number;
  windowSeconds: number;
  /** latchkey's CACHE_TTL (s); undefined: its default. */
  cacheTtl?: number;
  /** latchkey's LATCHKEY_MEMORY_CACHE_ENTRIES (its MB bound raised to fit); undefined: its default. */
  memoryCacheEntries?: number;
}

/** latchkey's settings for the run: the flags given, the rest at their defaults. */
function latchkeySettings(options: MillionOptions): NodeJS.ProcessEnv {
  const settings: NodeJS.ProcessEnv = {};
  if (options.cacheTtl !== undefined) settings.CACHE_TTL = String(options.cacheTtl);
  if (options.memoryCacheEntries !== undefined) {
    settings.LATCHKEY_MEMORY_CACHE_ENTRIES = String(options.memoryCacheEntries);
    // 2 KiB of the tier's byte estimate per entry, so that the entry count is the bound.
    settings.LATCHKEY_MEMORY_CACHE_MB = String(Math.ceil((options.memoryCacheEntries * 2048) / 2 ** 20));
  }
  return settings;
}

interface ColdSecond {
  validations: number;
  database: number;
  refreshes: number;
  open: number;
  active: number;
}

export interface MillionResult {
  tokens: number;
  memory: { entries: number; heapBytesPerEntry: number; rssBytesPerEntry: number };
  cold: { seconds: ColdSecond[]; wrk: WrkResult; totals: CacheCounters; expectedDistinct: number; distinctSigma: number; sql: number; timeToSteadyS: number | undefined; steadyRps: number };
  warm: { seconds: number; validations: number; database: number; lastShare: number; done: boolean };
  steady: { latchkey: CountedRun[]; seed: CountedRun[]; alternations: number; windowSeconds: number };
  /** latchkey's settings other than their defaults. */
  settings: NodeJS.ProcessEnv;
}

const load = (server: Running, options: MillionOptions, seconds: number) => ({ url: server.url('/api/auth/me'), tokensFile: options.tokensFile, connections: 64, threads: 2, seconds, random: true });

export async function runMillion(options: MillionOptions): Promise<MillionResult> {
  const memory = measureMemoryPerEntry(options);
  console.log(`million: in-process memory ${memory.heapBytesPerEntry.toFixed(0)} B heap / entry`);
  const latchkey = await options.launch.latchkey('million', latchkeySettings(options));
  const cold = await coldStart(latchkey, options);
  console.log(`million: cold start, steady after ${cold.timeToSteadyS ?? 'never'} s`);
  const warm = await warmPass(latchkey, options);
  console.log(`million: warm pass ${warm.done ? 'done' : 'stopped'} after ${warm.seconds} s, ${warm.database} database reads`);
  const seed = await options.launch.baseline('redis', { bare: true });
  const steady = { latchkey: [] as CountedRun[], seed: [] as CountedRun[], alternations: options.alternations, windowSeconds: options.windowSeconds };
  for (let i = 0; i < options.alternations; i++) {
    const pair = [['latchkey', latchkey], ['seed', seed]] as const;
    for (const [name, server] of i % 2 === 0 ? pair : [...pair].reverse()) {
      const run = await countedRun(load(server, options, options.windowSeconds), server.pid, options.database.statements, options.redis);
      steady[name].push(run);
      console.log(`million steady ${name}: ${run.result.rps.toFixed(0)} req/s, SQL/req ${run.sqlPerRequest.toFixed(4)}, Redis/req ${run.redisPerRequest.toFixed(3)}`);
    }
  }
  await options.launch.stopAll();
  return { tokens: options.tokens, memory, cold, warm, steady, settings: latchkeySettings(options) };
}

function measureMemoryPerEntry(options: MillionOptions): MillionResult['memory'] {
  const out = execFileSync('node', ['--expose-gc', '--import', 'tsx', `${ROOT}bench/memory-per-entry.ts`, options.tokensFile, String(Math.min(MEMORY_ENTRIES, options.tokens))], {
    env: { ...process.env, DATABASE_URL: options.database.url, REDIS_URL: options.redis.url },
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const line = out.trim().split('\n').reverse().find((l) => l.startsWith('{"entries"'));
  if (!line) throw new Error(`bench/memory-per-entry.ts printed no result:\n${out}`);
  return JSON.parse(line) as MillionResult['memory'];
}

/** Full load from the first second on an instance with empty caches, sampled once a second. */
async function coldStart(latchkey: Running, options: MillionOptions): Promise<MillionResult['cold']> {
  const metricsUrl = latchkey.url('/metrics');
  const first = await readCacheCounters(metricsUrl);
  const sqlBefore = await options.database.statements();
  const wrk = runWrk(load(latchkey, options, options.coldSeconds));
  const seconds: ColdSecond[] = [];
  let previous = first;
  for (let t = 0; t < options.coldSeconds; t++) {
    await sleep(1000);
    const now = await readCacheCounters(metricsUrl);
    const { open, active } = await options.database.connections();
    seconds.push({ validations: now.validations - previous.validations, database: now.database - previous.database, refreshes: now.refreshes - previous.refreshes, open, active });
    previous = now;
  }
  const result = await wrk;
  await sleep(1500); // pg_stat_database's flush
  const last = await readCacheCounters(metricsUrl);
  const sql = (await options.database.statements()) - sqlBefore;
  const totals = Object.fromEntries(Object.entries(last).map(([k, v]) => [k, v === undefined ? undefined : v - (first[k as keyof CacheCounters] ?? 0)])) as unknown as CacheCounters;
  // Uniform draws: after n requests over T tokens, T(1 − e^(−n/T)) distinct tokens are expected,
  // give or take σ = √(T e^(−2n/T) (e^(n/T) − 1 − n/T)) (the occupancy problem's variance).
  const drawn = totals.validations / options.tokens;
  const expectedDistinct = options.tokens * (1 - Math.exp(-drawn));
  const distinctSigma = Math.sqrt(options.tokens * Math.exp(-2 * drawn) * (Math.exp(drawn) - 1 - drawn));
  const rps = seconds.map((s) => s.validations);
  const steadyRps = median(rps.slice(Math.floor((rps.length * 2) / 3)));
  const mean3 = (i: number) => (rps[i]! + rps[i + 1]! + rps[i + 2]!) / 3;
  const steadyAt = rps.findIndex((_, i) => i + 2 < rps.length && mean3(i) >= STEADY_SHARE * steadyRps);
  return { seconds, wrk: result, totals, expectedDistinct, distinctSigma, sql, timeToSteadyS: steadyAt === -1 ? undefined : steadyAt + 1, steadyRps };
}

/**
 * Walks every token in order (each wrk thread its share, continuing where the last run stopped),
 * WARM_RUN_SECONDS at a time, until a run finds nearly everything cached, or the time is up.
 */
async function warmPass(latchkey: Running, options: MillionOptions): Promise<MillionResult['warm']> {
  const metricsUrl = latchkey.url('/metrics');
  const warm = { seconds: 0, validations: 0, database: 0, lastShare: 1, done: false };
  let offset = 0;
  while (warm.seconds < options.steadyWarmupSeconds && !warm.done) {
    const before = await readCacheCounters(metricsUrl);
    const run = load(latchkey, options, WARM_RUN_SECONDS);
    const result = await runWrk({ ...run, random: false, offset });
    const after = await readCacheCounters(metricsUrl);
    offset += Math.round(result.requests / run.threads);
    const validations = after.validations - before.validations;
    const database = after.database - before.database;
    warm.seconds += WARM_RUN_SECONDS;
    warm.validations += validations;
    warm.database += database;
    warm.lastShare = database / Math.max(1, validations);
    warm.done = warm.lastShare < WARM_DATABASE_SHARE;
  }
  return warm;
}

export function millionReport(result: MillionResult): string {
  const { cold, warm, steady, memory } = result;
  const n = result.tokens.toLocaleString('en-US');
  const medianOf = (runs: CountedRun[], pick: (r: CountedRun) => number) => median(runs.map(pick));
  const row = (name: string, runs: CountedRun[]) =>
    `| ${name} | ${medianOf(runs, (r) => r.result.rps).toFixed(0)} | ${medianOf(runs, (r) => r.result.p99Ms).toFixed(2)} | ${medianOf(runs, (r) => r.sqlPerRequest).toFixed(4)} | ` +
    `${medianOf(runs, (r) => r.redisPerRequest).toFixed(3)} | ${medianOf(runs, (r) => r.cpuUsPerRequest).toFixed(1)} |`;
  const ratio = pairedRatio(
    steady.latchkey.map((r) => r.result.rps),
    steady.seed.map((r) => r.result.rps),
  );
  const peakActive = Math.max(...cold.seconds.map((s) => s.active));
  const peakOpen = Math.max(...cold.seconds.map((s) => s.open));
  const non2xx = cold.wrk.non2xx + cold.wrk.socketErrors;
  return [
    `**${n} tokens**, each request's token drawn uniformly at random (wrk 2 threads, 64 connections, \`/api/auth/me\`); ` +
      `latchkey at ${settingsText(result.settings)} (by default CACHE_TTL=60 and an in-process tier of 100,000 entries).`,
    '',
    `In-process memory per entry (${memory.entries.toLocaleString('en-US')} tokens validated in one latchkey process, after a full GC): ` +
      `${memory.heapBytesPerEntry.toFixed(0)} B of heap, ${memory.rssBytesPerEntry.toFixed(0)} B of RSS.`,
    '',
    `**Cold start**: a fresh instance (empty in-process tier and Redis prefix) under full load for ${cold.seconds.length} s. ` +
      `Time to steady throughput (3-second mean ≥ ${STEADY_SHARE} × the median of the last third, ${cold.steadyRps.toFixed(0)} req/s): ${cold.timeToSteadyS === undefined ? '**not reached**' : `${cold.timeToSteadyS} s`}. ` +
      `${cold.totals.validations} validations, ${cold.expectedDistinct.toFixed(0)} ± ${cold.distinctSigma.toFixed(0)} distinct tokens expected; database lookups ${cold.totals.database} ` +
      `(${(cold.totals.database / cold.expectedDistinct).toFixed(3)} per credential, target ≤ 1 within 3σ of the expected count ` +
      `${cold.totals.database <= cold.expectedDistinct + 3 * cold.distinctSigma ? 'PASS' : '**MISS**'}), ` +
      `refreshes ${cold.totals.refreshes}, fallbacks ${cold.totals.fallbacks}, SQL statements ${cold.sql} (${(cold.sql / cold.expectedDistinct).toFixed(3)} per credential). ` +
      `Connections to the database: at most ${peakOpen} open, ${peakActive} running a statement at a sampled instant (pool of 10). ` +
      `Non-2xx or socket errors: ${non2xx} ${non2xx === 0 ? 'PASS' : '**MISS**'}. p99 ${cold.wrk.p99Ms.toFixed(2)} ms.`,
    '',
    `Per second (validations / database lookups / refreshes): ${cold.seconds.map((s) => `${s.validations}/${s.database}/${s.refreshes}`).join(' ')}`,
    '',
    `**Warm pass**: every token in order, ${WARM_RUN_SECONDS} s at a time, until a run reads the database for under ${WARM_DATABASE_SHARE * 100}% of its validations: ` +
      `${warm.done ? `done after ${warm.seconds} s` : `**not done** after ${warm.seconds} s (the last run read the database for ${(warm.lastShare * 100).toFixed(1)}% of its validations)`}; ` +
      `${warm.validations} validations, ${warm.database} database reads.`,
    '',
    `**Steady state**, tokens drawn at random again: latchkey and the seed design alternate, ${steady.alternations} windows of ${steady.windowSeconds} s each; medians.`,
    '',
    '| server | req/s | p99 ms | SQL / req | Redis cmds / req | CPU µs / req |',
    '|---|---:|---:|---:|---:|---:|',
    row('latchkey', steady.latchkey),
    row('seed design (bare, one Redis GET)', steady.seed),
    '',
    `latchkey ÷ seed design = ${ratio.toFixed(3)} (target ≥ 1.2) ${ratio >= 1.2 ? 'PASS' : '**MISS**'}; SQL per request at steady state ${medianOf(steady.latchkey, (r) => r.sqlPerRequest).toFixed(4)} (target 0).`,
  ].join('\n');
}

function settingsText(settings: NodeJS.ProcessEnv): string {
  const given = Object.entries(settings).map(([name, value]) => `${name}=${value}`);
  return given.length === 0 ? 'its default settings' : `${given.join(', ')}, other settings at their defaults`;
}
