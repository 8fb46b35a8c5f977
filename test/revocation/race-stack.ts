// The stage for the race tests: a fresh PostgreSQL database and Redis prefix with three
// instances (A revokes, B observes, C revokes through the core like the CLI does), and the
// bookkeeping every race shares. Call useRaceStack() inside a describe().
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { register, useStack, type TestApp, type TestStack } from '../helpers/app.js';
import { mintTokens, raceRevocation, status, summarise, WINDOW_MS, type RaceOutcome } from './support.js';

export const LANES = 16;

export interface RaceStack {
  stack: TestStack;
  A: TestApp;
  B: TestApp;
  C: TestApp;
  /** Fails the test on any violation and records the observer's last acceptance. */
  judge(outcome: RaceOutcome, what: string): void;
  /** Races `revoke` (done by `revoker`, A by default) against B validating `tokens`, then judges it. */
  race(what: string, tokens: string[], revoke: () => Promise<void>, revoker?: TestApp): Promise<void>;
  /** round % 3: 0 cold (nobody cached it), 1 cached by A (Redis and A's memory), 2 by B too. */
  warm(token: string, round: number): Promise<void>;
  /** `count` tokens spread over LANES users, each with its user's first token (its "master"). */
  tokenPool(count: number): Promise<{ token: string; master: string; round: number }[]>;
}

export function useRaceStack(): RaceStack {
  const lastAccepts: number[] = [];
  let races = 0;
  const s = {} as RaceStack;
  // Registered before useStack() so that it runs before the stack is closed.
  after(async () => {
    if (!s.stack) return;
    const count = async (app: TestApp, metric: 'fallbacks' | 'epochBumps') => (await app.latchkey.metrics[metric].get()).values[0]?.value ?? 0;
    console.log(`# ${races} races; last acceptance on the observer relative to the revocation's return: ${summarise(lastAccepts)}`);
    console.log(`# epoch changes seen by B: ${await count(s.B, 'epochBumps')}; Redis fallbacks on A: ${await count(s.A, 'fallbacks')}`);
  });
  const ctx = useStack({ db: 'postgres', cache: 'redis' });
  before(async () => {
    s.stack = ctx.stack;
    s.A = ctx.app;
    s.B = await ctx.stack.another();
    s.C = await ctx.stack.another();
  });
  s.judge = (outcome, what) => {
    races++;
    if (outcome.lastAcceptMs !== null) lastAccepts.push(outcome.lastAcceptMs);
    assert.deepEqual(outcome.violations, [], `${what}: revoked token accepted`);
  };
  s.race = async (what, tokens, revoke, revoker = s.A) => {
    s.judge(await raceRevocation({ revoker, observer: s.B, tokens, windowMs: WINDOW_MS, revoke }), what);
  };
  s.warm = async (token, round) => {
    const mode = round % 3;
    if (mode >= 1) assert.equal(await status(s.A, token), 200);
    if (mode === 2) assert.equal(await status(s.B, token), 200);
  };
  s.tokenPool = async (count) => {
    const users = await Promise.all(Array.from({ length: LANES }, () => register(s.A)));
    const minted = await Promise.all(users.map(async (u) => (await mintTokens(s.A, u.user.id, Math.ceil(count / LANES))).map((token) => ({ token, master: u.token }))));
    return minted.flat().slice(0, count).map((item, round) => ({ ...item, round }));
  };
  return s;
}
