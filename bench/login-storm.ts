// The login storm of `npm run bench`: token validation latency at idle, then while logins at
// the real bcrypt cost run back to back. Hashing runs on libuv's thread pool, so the event
// loop keeps answering validations; were it hashed on the loop, p99 would jump to a hash's time.
import { runWrk, type WrkResult } from './lib/wrk.js';

export interface StormOptions {
  verifyUrl: string;
  loginUrl: string;
  tokensFile: string;
  /** Users to log in as; none of them owns a token of the rotation (a login revokes the user's others). */
  emails: string[];
  password: string;
  seconds: number;
  /** latchkey's /metrics: its event-loop delay (prom-client, reset at every scrape) per phase. */
  metricsUrl: string;
}

export interface LoopDelay {
  p99Ms: number;
  maxMs: number;
}

export interface StormResult {
  connections: number;
  seconds: number;
  loginConcurrency: number;
  idle: WrkResult;
  storm: WrkResult;
  idleLoop: LoopDelay;
  stormLoop: LoopDelay;
  idleP99Ms: number;
  stormP99Ms: number;
  loginsPerSecond: number;
  loginP50Ms: number;
}

/** Few connections: latency is then service time, not the queue of a saturated server. */
const CONNECTIONS = 4;
/** Twice libuv's default pool of 4 threads, so hashing never pauses during the window. */
const LOGIN_CONCURRENCY = 8;

export async function runLoginStorm(options: StormOptions): Promise<StormResult> {
  const load = { url: options.verifyUrl, tokensFile: options.tokensFile, connections: CONNECTIONS, threads: 1, seconds: options.seconds };
  await loopDelay(options.metricsUrl); // resets the histogram
  const idle = await runWrk(load);
  const idleLoop = await loopDelay(options.metricsUrl);

  let stopping = false;
  const durations: number[] = [];
  const failures: string[] = [];
  const loop = async (worker: number) => {
    for (let i = worker; !stopping; i += LOGIN_CONCURRENCY) {
      const started = performance.now();
      const response = await fetch(options.loginUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: options.emails[i % options.emails.length], password: options.password }),
      });
      await response.arrayBuffer();
      if (response.status !== 200) failures.push(`login answered ${response.status}`);
      durations.push(performance.now() - started);
    }
  };
  const loops = Array.from({ length: LOGIN_CONCURRENCY }, (_, worker) => loop(worker));
  await new Promise((resolve) => setTimeout(resolve, 1000)); // every hashing thread busy first
  await loopDelay(options.metricsUrl);
  const countBefore = durations.length;
  const windowStart = performance.now();
  const storm = await runWrk(load);
  const windowSeconds = (performance.now() - windowStart) / 1000;
  const stormLoop = await loopDelay(options.metricsUrl);
  const logins = durations.length - countBefore;
  stopping = true;
  await Promise.all(loops);
  if (failures.length > 0) throw new Error(`login storm: ${failures.length} logins failed (${failures[0]})`);
  if (idle.non2xx + storm.non2xx > 0) throw new Error('login storm: a validation failed');

  const sorted = durations.slice(countBefore, countBefore + logins).sort((a, b) => a - b);
  return {
    connections: CONNECTIONS,
    seconds: options.seconds,
    loginConcurrency: LOGIN_CONCURRENCY,
    idle,
    storm,
    idleLoop,
    stormLoop,
    idleP99Ms: idle.p99Ms,
    stormP99Ms: storm.p99Ms,
    loginsPerSecond: logins / windowSeconds,
    loginP50Ms: sorted[Math.floor(sorted.length / 2)] ?? NaN,
  };
}

/** Event-loop delay since the previous scrape: a hash on the loop would show as its duration. */
async function loopDelay(metricsUrl: string): Promise<LoopDelay> {
  const text = await (await fetch(metricsUrl)).text();
  const read = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)`, 'm').exec(text)?.[1] ?? NaN) * 1000;
  return { p99Ms: read('nodejs_eventloop_lag_p99_seconds'), maxMs: read('nodejs_eventloop_lag_max_seconds') };
}
