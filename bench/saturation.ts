// The saturation stage of `npm run bench` (`--stage saturation`): wrk drives latchkey (real CLI,
// PostgreSQL + private Redis, default settings) at full CPU for a bounded time, and the stage
// reports, per window, what the cache did per second (lookups by tier, fallbacks to the database,
// background refreshes, coherence lease lapses when the build counts them), the SQL statements and
// Redis commands the servers saw, and whether `redis_down` was logged. An idle window first gives
// the levels to compare with. With `profile`, latchkey runs under --cpu-prof and the stage
// summarises the profile in µs per request.
import { mkdirSync, readdirSync } from 'node:fs';
import { countersDelta, readCacheCounters, type CacheCounters } from './lib/latchkey-metrics.js';
import type { Launcher } from './lib/launch.js';
import { cpuMs, sleep } from './lib/processes.js';
import { profileLines, summarizeProfile } from './lib/profile.js';
import { commandsProcessed, type PrivateRedis } from './lib/redis-server.js';
import { runWrk, warmUp, type WrkResult } from './lib/wrk.js';

const IDLE_SECONDS = 5;
const PROFILE_TOP = 15;

export interface SaturationOptions {
  launch: Launcher;
  tokensFile: string;
  tokens: number;
  seconds: number;
  /** Length of a reported window, s. */
  interval: number;
  endpoint: string;
  statements(): Promise<number>;
  redis: PrivateRedis;
  /** Where --cpu-prof writes latchkey's profile; no profile when undefined. */
  profileDir?: string;
}

export interface SaturationWindow {
  label: string;
  seconds: number;
  cpuPercent: number;
  /** Counter deltas over the window (per second: divide by seconds). */
  counters: CacheCounters;
  sql: number;
  redisCommands: number;
}

export interface SaturationResult {
  idle: SaturationWindow;
  windows: SaturationWindow[];
  wrk: WrkResult;
  redisDownLogged: number;
  profile?: string[];
}

export async function runSaturation(options: SaturationOptions): Promise<SaturationResult> {
  if (options.profileDir) mkdirSync(options.profileDir, { recursive: true });
  const latchkey = await options.launch.latchkey('saturation', {}, options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : []);
  let redisDownLogged = 0;
  for (const stream of [latchkey.server.child.stdout!, latchkey.server.child.stderr!]) {
    stream.on('data', (chunk: Buffer) => (redisDownLogged += chunk.toString().split('redis_down').length - 1));
  }
  const metricsUrl = latchkey.url('/metrics');
  const snapshot = async () => ({
    at: performance.now(),
    counters: await readCacheCounters(metricsUrl),
    sql: await options.statements(),
    redis: await commandsProcessed(options.redis.client),
    cpu: cpuMs(latchkey.pid),
  });
  const window = async (label: string, seconds: number): Promise<SaturationWindow> => {
    const before = await snapshot();
    await sleep(seconds * 1000);
    const after = await snapshot();
    const elapsed = (after.at - before.at) / 1000;
    // Each snapshot's INFO is one command of the private Redis.
    return { label, seconds: elapsed, cpuPercent: (after.cpu - before.cpu) / elapsed / 10, counters: countersDelta(before.counters, after.counters), sql: after.sql - before.sql, redisCommands: after.redis - before.redis - 1 };
  };

  const load = { url: latchkey.url(options.endpoint), tokensFile: options.tokensFile, connections: 64, threads: 2 };
  await warmUp(load, options.tokens, 'saturation');
  const idle = await window('idle', IDLE_SECONDS);
  const wrk = runWrk({ ...load, seconds: options.seconds });
  const windows: SaturationWindow[] = [];
  for (let from = 0; from + options.interval <= options.seconds; from += options.interval) {
    windows.push(await window(`${from}–${from + options.interval} s`, options.interval));
    console.log(`saturation ${windows.at(-1)!.label}: ${(windows.at(-1)!.counters.validations / options.interval).toFixed(0)} validations/s`);
  }
  const result = await wrk;
  const served = (await readCacheCounters(metricsUrl)).validations;
  await options.launch.stopAll();
  return { idle, windows, wrk: result, redisDownLogged, profile: options.profileDir ? summarise(options.profileDir, served) : undefined };
}

/** The main thread's profile in `dir`, in µs per validation served over the process's life. */
function summarise(dir: string, requests: number): string[] {
  // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: the hashing worker threads write theirs too.
  const newest = readdirSync(dir).find((f) => f.split('.')[4] === '0' && f.endsWith('.cpuprofile'));
  if (!newest) return ['(no profile of the main thread was written)'];
  const summary = summarizeProfile(`${dir}/${newest}`);
  return [
    `${dir}/${newest}: ${(summary.totalMs / 1000).toFixed(1)} s sampled, ${requests} validations (warm-up included)`,
    '',
    'self time by package / file:',
    ...profileLines(summary, summary.places, 10, requests),
    '',
    'self time by function:',
    ...profileLines(summary, summary.functions, PROFILE_TOP, requests),
  ];
}

export function saturationReport(result: SaturationResult, options: Pick<SaturationOptions, 'seconds' | 'endpoint'>): string {
  const rate = (n: number | undefined, seconds: number) => (n === undefined ? 'n/a' : (n / seconds).toFixed(n / seconds >= 10 ? 0 : 2));
  const row = (w: SaturationWindow) =>
    `| ${w.label} | ${rate(w.counters.validations, w.seconds)} | ${w.cpuPercent.toFixed(0)} | ${rate(w.counters.memory, w.seconds)} | ${rate(w.counters.redis, w.seconds)} | ` +
    `${rate(w.counters.database, w.seconds)} | ${rate(w.counters.fallbacks, w.seconds)} | ${rate(w.counters.refreshes, w.seconds)} | ${rate(w.counters.leaseLapses, w.seconds)} | ` +
    `${rate(w.sql, w.seconds)} | ${rate(w.redisCommands, w.seconds)} |`;
  const loaded = result.windows;
  const sum = (pick: (w: SaturationWindow) => number | undefined) => (loaded.some((w) => pick(w) === undefined) ? undefined : loaded.reduce((total, w) => total + pick(w)!, 0));
  const validations = sum((w) => w.counters.validations) ?? 0;
  const perRequest = (n: number | undefined) => (n === undefined ? 'n/a' : (n / validations).toFixed(4));
  const lines = [
    `**Saturation**: wrk (2 threads, 64 connections) drives latchkey's \`${options.endpoint}\` for ${options.seconds} s; an idle window first. ` +
      'Rates per second over each window (validations and cache counters from latchkey\'s /metrics; SQL from pg_stat_database, which PostgreSQL flushes about once a second; Redis commands from INFO).',
    '',
    '| window | validations/s | server CPU % | memory lookups/s | Redis lookups/s | database lookups/s | fallbacks/s | refreshes/s | lease lapses/s | SQL/s | Redis cmds/s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    row(result.idle),
    ...loaded.map(row),
    '',
    `Under load, per validation: Redis lookups ${perRequest(sum((w) => w.counters.redis))}, database lookups ${perRequest(sum((w) => w.counters.database))}, ` +
      `fallbacks ${perRequest(sum((w) => w.counters.fallbacks))}, refreshes ${perRequest(sum((w) => w.counters.refreshes))}, lease lapses ${perRequest(sum((w) => w.counters.leaseLapses))}, ` +
      `SQL ${perRequest(sum((w) => w.sql))}, Redis commands ${perRequest(sum((w) => w.redisCommands))}. ` +
      `wrk: ${result.wrk.rps.toFixed(0)} req/s, p99 ${result.wrk.p99Ms.toFixed(2)} ms, ${result.wrk.non2xx} non-2xx, ${result.wrk.socketErrors} socket errors.`,
    '',
    `\`redis_down\` logged: ${result.redisDownLogged === 0 ? 'no' : `**yes, ${result.redisDownLogged} times**`}.`,
  ];
  if (result.profile) lines.push('', 'CPU profile of latchkey (µs per request = self time ÷ validations served):', '', '```', ...result.profile, '```');
  return lines.join('\n');
}
