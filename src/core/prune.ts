// Deletes tokens expired for more than `hours` (as Sanctum's sanctum:prune-expired does) and
// sessions idle past their lifetime by as much, in short batches so validation never waits.
import type { Config } from '../config.js';
import type { Store } from './store.js';

export const PRUNE_BATCH_SIZE = 1000;

export interface PruneResult {
  tokens: number;
  sessions: number;
  ms: number;
}

export async function pruneExpired(store: Store, config: Config, hours: number, onProgress?: (tokensDeleted: number) => void): Promise<PruneResult> {
  const started = Date.now();
  const graceMs = hours * 3_600_000;
  const expiration = config.tokenExpirationMinutes;
  const tokens = await store.pruneTokens(
    {
      expiresBefore: started - graceMs,
      createdBefore: expiration > 0 ? started - expiration * 60_000 - graceMs : null,
    },
    PRUNE_BATCH_SIZE,
    (p) => onProgress?.(p.deleted),
  );
  const sessions = await store.pruneSessions(started - config.sessionLifetimeMinutes * 60_000 - graceMs, PRUNE_BATCH_SIZE);
  return { tokens, sessions, ms: Date.now() - started };
}
