// The fault schedule: in each cycle, Redis is killed and restarted from its append-only file,
// frozen (SIGSTOP … SIGCONT), PostgreSQL is stopped (`pg_ctl stop -m fast`) and started again,
// instance B is cut from Redis (its TCP proxy resets every connection and refuses new ones),
// and Redis is killed and restarted empty (its AOF removed: every tombstone and entry lost).
// Cycles fill the first 85% of the run; the rest is quiet, so the end state is settled.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SoakStack } from './stack.js';

export interface FaultEvent {
  name: string;
  /** performance.now() when the fault began and when the system was whole again. */
  from: number;
  until: number;
  error?: string;
}

/** When PostgreSQL was down: from before the stop to when it accepted connections again. */
export interface DownWindow {
  from: number;
  until: number;
}

export interface FaultLog {
  events: FaultEvent[];
  databaseDown: DownWindow[];
}

/** Cycles of faults per run: one per 5 minutes, at least one. */
const CYCLE_MS = 5 * 60_000;
const FAULTED_SHARE = 0.85;

interface Fault {
  name: string;
  /** Position in its cycle, 0..1. */
  at: number;
  run(stack: SoakStack, hold: Holds, log: FaultLog): Promise<void>;
}

interface Holds {
  /** How long Redis stays frozen and B stays cut. */
  redisMs: number;
  /** How long PostgreSQL stays down. */
  databaseMs: number;
}

const FAULTS: Fault[] = [
  {
    name: 'Redis killed, restarted from its AOF',
    at: 0.1,
    async run({ redis }) {
      await redis.stop('SIGKILL');
      await redis.start();
    },
  },
  {
    name: 'Redis frozen (SIGSTOP), then SIGCONT',
    at: 0.28,
    async run({ redis }, hold) {
      redis.pause();
      await sleep(hold.redisMs);
      redis.resume();
    },
  },
  {
    name: 'PostgreSQL stopped (-m fast), then started',
    at: 0.46,
    async run({ postgres }, hold, log) {
      const window: DownWindow = { from: performance.now(), until: Infinity };
      log.databaseDown.push(window);
      try {
        await postgres.stop();
        await sleep(hold.databaseMs);
      } finally {
        await postgres.start();
        window.until = performance.now();
      }
    },
  },
  {
    name: 'instance B cut from Redis (TCP proxy), then reconnected',
    at: 0.64,
    async run({ proxy }, hold) {
      await proxy.cut();
      await sleep(hold.redisMs);
      await proxy.restore();
    },
  },
  {
    name: 'Redis killed, restarted empty (AOF removed)',
    at: 0.82,
    async run({ redis }) {
      await redis.stop('SIGKILL');
      rmSync(join(redis.dir, 'appendonlydir'), { recursive: true, force: true });
      await redis.start();
    },
  },
];

/** The faults of a run of `durationMs`, in order, with their start offsets. */
export function faultPlan(durationMs: number): { name: string; offsetMs: number; fault: Fault }[] {
  const cycles = Math.max(1, Math.round(durationMs / CYCLE_MS));
  const cycleMs = (durationMs * FAULTED_SHARE) / cycles;
  return Array.from({ length: cycles }, (_, c) => FAULTS.map((fault) => ({ name: fault.name, offsetMs: (c + fault.at) * cycleMs, fault }))).flat();
}

export function holdsFor(durationMs: number): Holds {
  const clamp = (ms: number, low: number, high: number) => Math.min(high, Math.max(low, ms));
  return { redisMs: clamp(durationMs * 0.04, 3000, 20_000), databaseMs: clamp(durationMs * 0.01, 2000, 6000) };
}

/**
 * Runs the plan from `startedAt`; a fault that comes due while the previous one is still running
 * starts right after it. A fault that fails is logged and the schedule goes on, and the failure
 * fails the soak (see checks).
 */
export async function runFaults(stack: SoakStack, durationMs: number, startedAt: number, signal: AbortSignal, onEvent: (event: FaultEvent) => void): Promise<FaultLog> {
  const log: FaultLog = { events: [], databaseDown: [] };
  const hold = holdsFor(durationMs);
  for (const { name, offsetMs, fault } of faultPlan(durationMs)) {
    const wait = startedAt + offsetMs - performance.now();
    if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
    if (signal.aborted) break;
    const event: FaultEvent = { name, from: performance.now(), until: 0 };
    try {
      await fault.run(stack, hold, log);
    } catch (error) {
      event.error = String(error);
    }
    event.until = performance.now();
    log.events.push(event);
    onEvent(event);
  }
  return log;
}
