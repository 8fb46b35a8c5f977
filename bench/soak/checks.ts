// The soak's verdict: each check is a count that must be zero (or, for memory and event-loop
// delay, a comparison of the end of the run with its start), computed from what the clients
// saw, the fault log, the instances' logs and, at the end, the database itself.
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { DownWindow, FaultLog } from './faults.js';
import { REVOCATION_WINDOW_MS, type LateAcceptance, type Ledger } from './ledger.js';
import type { Sample } from './samples.js';
import type { RunningInstance } from './stack.js';

/** After PostgreSQL accepts connections again, 503s are still allowed this long (pools reconnect). */
export const DATABASE_GRACE_MS = 5000;
/** The first share of the run is warm-up (JIT, caches filling) and left out of the flatness checks. */
export const WARM_UP_SHARE = 0.1;
/** RSS is flat when its mean over the last third is at most this factor of the first third's. */
export const RSS_TOLERANCE = 1.25;
/** Event-loop delay (p99 per interval) is flat when the last third's mean is within 2× or +10 ms of the first third's. */
export const LOOP_FACTOR = 2;
export const LOOP_SLACK_MS = 10;

export interface Check {
  name: string;
  value: number;
  /** Shown next to the value: what it is made of, or the series it compares. */
  detail: string;
  ok: boolean;
  /** Zero counts are asserted by the 60-second test too; timings (flatness) only by `npm run soak`. */
  kind: 'count' | 'timing';
}

export interface DatabaseState {
  usersMissing: number;
  tokensMissing: number;
  sessionsMissing: number;
  revokedPresent: number;
  /** Acknowledged credentials whose revocation failed (503 or no answer): either state is correct. */
  unknown: number;
  live: number;
  revoked: number;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Reads the database directly (not through latchkey) for every credential the clients were given. */
export async function databaseState(url: string, ledger: Ledger): Promise<DatabaseState> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const userIds = ledger.users.map((u) => u.id);
    const users = new Set((await client.query('select id from users where id = any($1::bigint[])', [userIds])).rows.map((r) => Number(r.id)));
    const tokens = ledger.credentials.filter((c) => c.kind === 'token');
    const tokenIds = tokens.map((t) => t.value.slice(0, t.value.indexOf('|')));
    const tokenRows = new Map<string, string>((await client.query('select id, token from personal_access_tokens where id = any($1::bigint[])', [tokenIds])).rows.map((r) => [String(r.id), r.token as string]));
    const sessions = ledger.credentials.filter((c) => c.kind === 'session');
    const sessionHashes = new Set(
      (await client.query('select secret_hash from latchkey_sessions where secret_hash = any($1::text[])', [sessions.map((s) => sha256(s.value))])).rows.map((r) => r.secret_hash as string),
    );
    const stored = (kind: 'token' | 'session', value: string): boolean => {
      if (kind === 'session') return sessionHashes.has(sha256(value));
      const bar = value.indexOf('|');
      return tokenRows.get(value.slice(0, bar)) === sha256(value.slice(bar + 1));
    };
    const state: DatabaseState = {
      usersMissing: userIds.filter((id) => !users.has(id)).length,
      tokensMissing: 0,
      sessionsMissing: 0,
      revokedPresent: 0,
      unknown: 0,
      live: 0,
      revoked: 0,
    };
    for (const credential of ledger.credentials) {
      const present = stored(credential.kind, credential.value);
      if (credential.state === 'unknown') state.unknown++;
      else if (credential.state === 'revoked') {
        state.revoked++;
        if (present) state.revokedPresent++;
      } else {
        state.live++;
        if (!present) state[credential.kind === 'token' ? 'tokensMissing' : 'sessionsMissing']++;
      }
    }
    return state;
  } finally {
    await client.end();
  }
}

export interface Evidence {
  ledger: Ledger;
  faults: FaultLog;
  database: DatabaseState;
  instances: RunningInstance[];
  samples: Sample[];
  startedAt: number;
  endedAt: number;
}

export function judge(evidence: Evidence): Check[] {
  const { ledger, faults, database, instances } = evidence;
  const count = (name: string, value: number, detail: string): Check => ({ name, value, detail, ok: value === 0, kind: 'count' });
  const answered5xx = ledger.failures.filter((f) => f.status >= 500);
  const other5xx = answered5xx.filter((f) => f.status !== 503);
  const all503 = answered5xx.filter((f) => f.status === 503);
  const stray503 = all503.filter((f) => !faults.databaseDown.some((w) => overlaps(f, w)));
  const noAnswer = ledger.failures.filter((f) => f.status === 0);
  const missing = database.usersMissing + database.tokensMissing + database.sessionsMissing;
  const unhandled = instances.flatMap((i) => i.unhandled);
  const exited = instances.filter((i) => i.process.child.exitCode !== null || i.process.child.signalCode !== null);
  const failedFaults = faults.events.filter((e) => e.error);
  return [
    count(
      `revoked credentials accepted by the other instance > ${REVOCATION_WINDOW_MS} ms after the revocation returned`,
      ledger.lateAcceptances.length,
      `${ledger.revokedProbes} probes of ${database.revoked} revoked credentials; ${ledger.acceptedWithinWindow} accepted within the window${ledger.lateAcceptances.length ? `; ${describe(ledger.lateAcceptances)}` : ''}`,
    ),
    count(
      'revoked credentials accepted by the instance that revoked them, after it answered',
      ledger.acceptedByRevoker.length,
      describe(ledger.acceptedByRevoker),
    ),
    count('5xx other than 503', other5xx.length, summarise(other5xx)),
    count(`503 outside PostgreSQL's down windows (+${DATABASE_GRACE_MS / 1000} s grace)`, stray503.length, `${all503.length} 503s in all${stray503.length ? `; stray: ${summarise(stray503)}` : ''}`),
    count('requests without an answer (15 s timeout)', noAnswer.length, summarise(noAnswer)),
    count(
      'acknowledged writes missing from the database',
      missing,
      `users ${database.usersMissing}/${ledger.users.length}, tokens and sessions ${database.tokensMissing + database.sessionsMissing}/${database.live} live (${database.unknown} left unchecked: their revocation failed)`,
    ),
    count('revoked credentials still in the database', database.revokedPresent, `of ${database.revoked}`),
    count('live credentials refused (401)', ledger.liveRefused.length, ledger.liveRefused.slice(0, 3).map((r) => `${r.answer.op} on ${r.answer.instance}`).join('; ')),
    count("unhandled errors and rejections in the instances' logs", unhandled.length, unhandled.slice(0, 2).join(' | ').slice(0, 300)),
    count('instances that exited during the run', exited.length, exited.map((i) => `${i.name}: ${i.process.child.exitCode ?? i.process.child.signalCode}`).join(', ')),
    count('faults that could not be applied', failedFaults.length, failedFaults.map((e) => `${e.name}: ${e.error}`).join('; ')),
    ...flatness(evidence),
  ];
}

function overlaps(answer: { sentAt: number; doneAt: number }, window: DownWindow): boolean {
  return answer.sentAt <= window.until + DATABASE_GRACE_MS && answer.doneAt >= window.from;
}

/** "token on B 140 ms after, …" — the first few, for the detail column. */
function describe(acceptances: LateAcceptance[]): string {
  return acceptances.slice(0, 3).map((l) => `${l.credential.kind} on ${l.instance} ${Math.round(l.afterMs)} ms after`).join(', ');
}

/** "503 login ×3 (A), …" — a few of the failures, grouped. */
function summarise(answers: { op: string; instance: string; status: number; code?: string }[]): string {
  const groups = new Map<string, number>();
  for (const a of answers) {
    const key = `${a.status} ${a.op} on ${a.instance}${a.code ? ` (${a.code.slice(0, 80)})` : ''}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  return [...groups].slice(0, 4).map(([key, n]) => `${key} ×${n}`).join('; ');
}

/** Mean of the first and last thirds of an instance's samples taken after the warm-up. */
export function thirds(samples: Sample[], instance: string, startedAt: number, endedAt: number, field: 'rssMb' | 'loopP99Ms'): { first: number; last: number } | undefined {
  const warm = startedAt + (endedAt - startedAt) * WARM_UP_SHARE;
  const series = samples.filter((s) => s.instance === instance && s.at >= warm).map((s) => s[field]);
  const third = Math.floor(series.length / 3);
  if (third === 0) return undefined;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return { first: mean(series.slice(0, third)), last: mean(series.slice(-third)) };
}

function flatness({ samples, instances, startedAt, endedAt }: Evidence): Check[] {
  return instances.flatMap((instance): Check[] => {
    const rss = thirds(samples, instance.name, startedAt, endedAt, 'rssMb');
    const loop = thirds(samples, instance.name, startedAt, endedAt, 'loopP99Ms');
    if (!rss || !loop) return [{ name: `RSS and event-loop delay of ${instance.name}`, value: NaN, detail: 'too few samples', ok: false, kind: 'timing' }];
    return [
      {
        name: `RSS of ${instance.name} flat (last third ≤ ${RSS_TOLERANCE}× first third)`,
        value: rss.last / rss.first,
        detail: `${rss.first.toFixed(0)} → ${rss.last.toFixed(0)} MB`,
        ok: rss.last <= rss.first * RSS_TOLERANCE,
        kind: 'timing',
      },
      {
        name: `event-loop delay p99 of ${instance.name} flat (last third ≤ ${LOOP_FACTOR}× or +${LOOP_SLACK_MS} ms of first)`,
        value: loop.last / loop.first,
        detail: `${loop.first.toFixed(1)} → ${loop.last.toFixed(1)} ms`,
        ok: loop.last <= Math.max(loop.first * LOOP_FACTOR, loop.first + LOOP_SLACK_MS),
        kind: 'timing',
      },
    ];
  });
}
