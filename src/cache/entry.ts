// What the caches hold for one token or session: the records needed to answer /me and
// /verify without the database, stamped with when they were read from it and under which
// cache epoch (see docs/revocation.md).
import type { SessionRecord, TokenRecord, User } from '../core/types.js';

export type CredentialKind = 't' | 's';

export interface Credential {
  user: User;
  token?: TokenRecord;
  session?: SessionRecord;
}

export interface CacheEntry extends Credential {
  /** ms when the database read that produced this entry began */
  verifiedAt: number;
  epoch: number;
}

/** Written over a revoked credential's Redis key; fills never overwrite it. */
export const TOMBSTONE = '!';

export function encodeEntry(entry: CacheEntry): string {
  return JSON.stringify(entry);
}

export function decodeEntry(raw: string): CacheEntry | undefined {
  try {
    const entry = JSON.parse(raw) as CacheEntry;
    return typeof entry.verifiedAt === 'number' && typeof entry.epoch === 'number' && entry.user ? entry : undefined;
  } catch {
    return undefined;
  }
}

/** Rough bytes an entry takes in memory, for the in-process tier's byte bound. */
export function entrySize(entry: CacheEntry): number {
  return 200 + 2 * ((entry.user.email?.length ?? 0) + (entry.user.name?.length ?? 0) + (entry.token?.name.length ?? 0) + (entry.session?.userAgent?.length ?? 0)) + 16 * (entry.token?.abilities.length ?? 0);
}
