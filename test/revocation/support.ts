// Shared pieces of the revocation tests: the race probe (validate on one instance while another
// revokes, and judge every validation by when it started), log capture and small waits.
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { newSecret, sha256Hex } from '../../src/core/token-format.js';
import { createLogger } from '../../src/observability/logger.js';
import { USER_MODEL } from '../../src/store/schema.js';
import { toSqlTime } from '../../src/store/time.js';
import type { TestApp } from '../helpers/app.js';

/** docs/api.md §3: every other instance rejects a revoked credential within this. */
export const WINDOW_MS = 100;
/**
 * Added to WINDOW_MS only where the documented window contains a database poll
 * (LATCHKEY_EPOCH_POLL_MS + one query), which a loaded, shared test machine can delay.
 */
export const POLL_MARGIN_MS = 150;

/** The Redis key (without prefix) of a bearer token: `t:` + SHA-256 of the part after `|`. */
export function tokenKey(token: string): string {
  return `t:${sha256Hex(token.slice(token.indexOf('|') + 1))}`;
}

export function tokenId(token: string): number {
  return Number(token.slice(0, token.indexOf('|')));
}

/**
 * Fixtures: `count` live bearer tokens of a user, written in one INSERT as another program
 * (or Laravel) would, so the races spend their time racing rather than issuing.
 */
export async function mintTokens(app: TestApp, userId: number, count: number): Promise<string[]> {
  const now = Math.floor(Date.now() / 1000) * 1000;
  const secrets = Array.from({ length: count }, () => newSecret(app.config.tokenPrefix));
  const rows = secrets.map((secret) => ({
    tokenable_type: USER_MODEL,
    tokenable_id: userId,
    name: 'race',
    token: sha256Hex(secret),
    abilities: '["*"]',
    last_used_at: null,
    expires_at: toSqlTime(now + 3_600_000),
    created_at: toSqlTime(now),
    updated_at: toSqlTime(now),
  }));
  const inserted = await app.latchkey.store.db.insertInto('personal_access_tokens').values(rows).returning(['id', 'token']).execute();
  const idByHash = new Map(inserted.map((r) => [r.token, Number(r.id)]));
  return secrets.map((secret) => `${idByHash.get(sha256Hex(secret))}|${secret}`);
}

/** What a race validates on: a latchkey server, or an app embedding latchkey (`paths`: its protected routes). */
export type RaceApp = Pick<TestApp, 'request'> & { paths?: readonly [string, string] };

const SERVER_PATHS = ['/api/auth/me', '/api/auth/verify'] as const;

export async function status(app: RaceApp, token: string, path = (app.paths ?? SERVER_PATHS)[0]): Promise<number> {
  return (await app.request('GET', path, { token })).status;
}

export async function waitUntil(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LogCapture {
  logger: Logger;
  lines: Record<string, any>[];
  count(event: string): number;
}

/** A pino logger at info whose JSON lines are kept in memory. */
export function captureLogs(): LogCapture {
  const lines: Record<string, any>[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines, count: (event) => lines.filter((l) => l.event === event).length };
}

export function rawRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: false });
}

/** One validation, stamped with when it started (performance.now()). */
interface Sample {
  start: number;
  accepted: boolean;
  status: number;
}

export interface RaceOutcome {
  /** Human-readable descriptions of every acceptance past the window (the test wants none). */
  violations: string[];
  /** Start of the last accepted validation on the observer minus the revocation's return (ms); negative if it stopped before. */
  lastAcceptMs: number | null;
}

export interface RaceSpec {
  revoker: RaceApp;
  observer: RaceApp;
  /** Tokens the revocation must kill; the observer validates them in turn. */
  tokens: string[];
  revoke: () => Promise<void>;
  /** Acceptances by the observer of validations starting this long after the return are violations. */
  windowMs: number;
}

/**
 * Runs the observer's validations concurrently with the revocation, then checks that the revoker
 * rejects every token at once and that the observer accepts none past the window. Each
 * validation counts by its start time: one that started before the revocation returned may
 * still be accepted (it is concurrent with it).
 */
export async function raceRevocation(spec: RaceSpec): Promise<RaceOutcome> {
  const { revoker, observer, tokens } = spec;
  const samples: Sample[] = [];
  const violations: string[] = [];
  let stop = false;
  let returned = Infinity;
  const paths = observer.paths ?? SERVER_PATHS;
  const hammer = (async () => {
    for (let i = 0; !stop; i++) {
      const token = tokens[i % tokens.length]!;
      const start = performance.now();
      const code = await status(observer, token, paths[i % 2]);
      if (code !== 200 && code !== 401) violations.push(`observer answered ${code}`);
      samples.push({ start, accepted: code === 200, status: code });
      // A memory hit completes in microtasks only: yield so sockets (Redis, the database) are read.
      await new Promise((r) => setImmediate(r));
    }
  })();
  // Vary where the revocation lands relative to the observer's reads and fills.
  const jitter = Math.random();
  if (jitter < 0.3) await new Promise((r) => setImmediate(r));
  else if (jitter < 0.7) await sleep(Math.floor(Math.random() * 3));
  await spec.revoke();
  returned = performance.now();
  for (const token of tokens) {
    const code = await status(revoker, token);
    if (code !== 401) violations.push(`the revoking instance answered ${code} right after the revocation returned`);
  }
  const rejectedAfter = () => samples.filter((s) => s.start >= returned && !s.accepted).length;
  const deadline = returned + spec.windowMs + 50;
  while (rejectedAfter() < 3 * tokens.length && performance.now() < deadline) await new Promise((r) => setImmediate(r));
  stop = true;
  await hammer;
  for (const s of samples) {
    if (s.accepted && s.start >= returned + spec.windowMs) violations.push(`observer accepted a validation that started ${(s.start - returned).toFixed(1)} ms after the revocation returned`);
  }
  const accepted = samples.filter((s) => s.accepted);
  const lastAcceptMs = accepted.length === 0 ? null : Math.max(...accepted.map((s) => s.start)) - returned;
  return { violations, lastAcceptMs };
}

/** Runs `work` over items with at most `lanes` in flight; the first failure stops every lane. */
export async function inLanes<T>(items: T[], lanes: number, work: (item: T, lane: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const results = await Promise.allSettled(
    Array.from({ length: lanes }, async (_, lane) => {
      while (!failed && next < items.length) {
        try {
          await work(items[next++]!, lane);
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    }),
  );
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
}

export function summarise(values: number[]): string {
  if (values.length === 0) return 'n=0';
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);
  return `n=${sorted.length} p50=${at(0.5)} p99=${at(0.99)} max=${sorted[sorted.length - 1]!.toFixed(1)} ms`;
}
