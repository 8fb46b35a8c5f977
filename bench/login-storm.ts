// The login storm of `npm run bench`: token validation latency at idle and while logins at the
// real bcrypt cost run back to back. Hashing runs on latchkey's hashing threads, so the event
// loop keeps answering validations; were it hashed on the loop, p99 would jump to a hash's time.
//
// Idle and storm phases alternate, `pairs` times, and the judged figure is the median of the
// pairs' p99 ratios: a p99 is the tail of one run, and a burst of other work on this shared
// machine during one phase would otherwise decide the whole comparison.
//
// Logins past the bound on waiting hashes (PASSWORD_HASH_QUEUE) are answered 503 at once and
// counted, not failed; their clients go on at once, as a flood would. With more clients than
// hashing threads plus that bound (BENCH_STORM_CLIENTS), the storm measures validation under a
// flood the bound turns away.
import { median } from './lib/side-by-side.js';
import { runWrk, type WrkResult } from './lib/wrk.js';

export interface StormOptions {
  verifyUrl: string;
  loginUrl: string;
  tokensFile: string;
  /** Users to log in as; none of them owns a token of the rotation (a login revokes the user's others). */
  emails: string[];
  password: string;
  seconds: number;
  pairs: number;
  /** latchkey's /metrics: its event-loop delay (prom-client, reset at every scrape) per phase. */
  metricsUrl: string;
  /** Concurrent login clients; default LOGIN_CONCURRENCY. */
  loginConcurrency?: number;
}

export interface LoopDelay {
  p99Ms: number;
  maxMs: number;
}

export interface StormPhase {
  validations: WrkResult;
  loop: LoopDelay;
}

export interface StormPair {
  idle: StormPhase;
  storm: StormPhase;
  loginsPerSecond: number;
  loginP50Ms: number;
  /** Logins in the storm window answered 503 because the hashing queue was full. */
  loginsRefused: number;
  /** storm p99 / idle p99 */
  ratio: number;
}

export interface StormResult {
  connections: number;
  seconds: number;
  loginConcurrency: number;
  pairs: StormPair[];
  /** Median of the pairs' ratios: the judged figure. */
  ratio: number;
}

/** Few connections: latency is then service time, not the queue of a saturated server. */
const CONNECTIONS = 4;
/** More clients than hashing threads (at most cores − 1), so hashing never pauses during the window. */
const LOGIN_CONCURRENCY = 8;

export async function runLoginStorm(options: StormOptions): Promise<StormResult> {
  const pairs: StormPair[] = [];
  const loginConcurrency = options.loginConcurrency ?? LOGIN_CONCURRENCY;
  for (let pair = 0; pair < options.pairs; pair++) {
    const idle = await measureValidations(options);
    const { storm, loginsPerSecond, loginP50Ms, loginsRefused } = await duringLogins(options, loginConcurrency, () => measureValidations(options));
    pairs.push({ idle, storm, loginsPerSecond, loginP50Ms, loginsRefused, ratio: storm.validations.p99Ms / idle.validations.p99Ms });
  }
  return { connections: CONNECTIONS, seconds: options.seconds, loginConcurrency, pairs, ratio: median(pairs.map((p) => p.ratio)) };
}

/** One wrk run on /verify, with the event-loop delay of its window. */
async function measureValidations(options: StormOptions): Promise<StormPhase> {
  await loopDelay(options.metricsUrl); // resets the histogram
  const validations = await runWrk({ url: options.verifyUrl, tokensFile: options.tokensFile, connections: CONNECTIONS, threads: 1, seconds: options.seconds });
  const loop = await loopDelay(options.metricsUrl);
  if (validations.non2xx > 0) throw new Error('login storm: a validation failed');
  return { validations, loop };
}

/** Runs `measure` while `concurrency` clients log in back to back; the logins' rate, p50 and refusals in its window. */
async function duringLogins(options: StormOptions, concurrency: number, measure: () => Promise<StormPhase>) {
  let stopping = false;
  const durations: number[] = [];
  /** performance.now() of each 503 (hashing queue full). */
  const refusals: number[] = [];
  const failures: string[] = [];
  const client = async (worker: number) => {
    for (let i = worker; !stopping; i += concurrency) {
      const started = performance.now();
      const response = await fetch(options.loginUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: options.emails[i % options.emails.length], password: options.password }),
      });
      await response.arrayBuffer();
      if (response.status === 503) refusals.push(performance.now());
      else if (response.status !== 200) failures.push(`login answered ${response.status}`);
      else durations.push(performance.now() - started);
    }
  };
  const clients = Array.from({ length: concurrency }, (_, worker) => client(worker).catch((error: unknown) => void failures.push(String(error))));
  let window: { storm: StormPhase; seconds: number; logins: number[]; refused: number };
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000)); // every hashing thread busy first
    const countBefore = durations.length;
    const start = performance.now();
    const storm = await measure();
    const end = performance.now();
    const refused = refusals.filter((at) => at >= start && at <= end).length;
    window = { storm, seconds: (end - start) / 1000, logins: durations.slice(countBefore).sort((a, b) => a - b), refused };
  } finally {
    // Also when the measurement failed: no client may go on logging in behind the error.
    stopping = true;
    await Promise.all(clients);
  }
  if (failures.length > 0) throw new Error(`login storm: ${failures.length} logins failed (${failures[0]})`);
  const { storm, seconds, logins, refused } = window;
  return { storm, loginsPerSecond: logins.length / seconds, loginP50Ms: logins[Math.floor(logins.length / 2)] ?? NaN, loginsRefused: refused };
}

/** Event-loop delay since the previous scrape: a hash on the loop would show as its duration. */
async function loopDelay(metricsUrl: string): Promise<LoopDelay> {
  const text = await (await fetch(metricsUrl)).text();
  const read = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)`, 'm').exec(text)?.[1] ?? NaN) * 1000;
  return { p99Ms: read('nodejs_eventloop_lag_p99_seconds'), maxMs: read('nodejs_eventloop_lag_max_seconds') };
}
