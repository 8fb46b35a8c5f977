// One soak run: start the stack, run the load, the fault schedule and the sampler side by side
// for the given duration, stop the load, read the database, judge and report.
import { setTimeout as sleep } from 'node:timers/promises';
import { databaseState, judge, type Check } from './checks.js';
import { runFaults } from './faults.js';
import { Ledger } from './ledger.js';
import { runLoad } from './load.js';
import { report } from './report.js';
import { sampleUntil, type Sample } from './samples.js';
import { startStack } from './stack.js';

export interface SoakOptions {
  durationMs: number;
  /** Concurrent clients; each does one request at a time. */
  workers?: number;
  /** Progress lines (stderr in the CLI). */
  progress?: (line: string) => void;
}

export interface SoakResult {
  checks: Check[];
  ok: boolean;
  /** The Markdown report. */
  text: string;
  /** The instances' logs, kept when a check failed. */
  logs?: string;
}

const DEFAULT_WORKERS = 8;
const PAUSE_MS = 20;

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const progress = options.progress ?? (() => undefined);
  progress('starting PostgreSQL, Redis and two latchkey instances');
  const stack = await startStack();
  let ok = false;
  try {
    const ledger = new Ledger();
    const samples: Sample[] = [];
    const stop = new AbortController();
    const startedAt = performance.now();
    const sampleEvery = Math.min(15_000, Math.max(2000, options.durationMs / 40));
    progress(`load and faults for ${Math.round(options.durationMs / 1000)} s`);
    const load = runLoad({ instances: stack.instances, ledger, workers: options.workers ?? DEFAULT_WORKERS, pauseMs: PAUSE_MS, signal: stop.signal });
    const sampling = sampleUntil(stack.instances, sampleEvery, stop.signal, samples);
    const faults = runFaults(stack, options.durationMs, startedAt, stop.signal, (e) =>
      progress(`${((e.from - startedAt) / 1000).toFixed(0)} s: ${e.name}${e.error ? ` FAILED: ${e.error}` : ''}`),
    );
    await sleep(options.durationMs);
    stop.abort();
    const [faultLog] = await Promise.all([faults, load, sampling]);
    const endedAt = performance.now();
    progress('checking the database');
    const database = await databaseState(stack.databaseUrl, ledger);
    const checks = judge({ ledger, faults: faultLog, database, instances: stack.instances, samples, startedAt, endedAt });
    ok = checks.every((c) => c.ok);
    const text = report({ checks, ledger, faults: faultLog, samples, instances: stack.instances.map((i) => i.name), startedAt, endedAt });
    return { checks, ok, text, logs: ok ? undefined : stack.dir };
  } finally {
    await stack.close({ keepLogs: !ok });
  }
}
