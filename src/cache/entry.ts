// What the caches hold for one token or session: the records needed to answer /me and
// /verify without the database, stamped with when they were read from it and under which
// cache epoch (see docs/revocation.md).
import type { Credential } from '../core/ports.js';
import { ALL_ABILITIES, type AuthContext, type SessionRecord, type TokenRecord, type User } from '../core/types.js';

/** What a valid credential authenticates (an AuthContext), and where the copy comes from. */
export interface CacheEntry extends AuthContext {
  /** ms when the database read that produced this entry began */
  verifiedAt: number;
  epoch: number;
  /** ms after which a use re-reads it in the background (set by the cache when it adopts it) */
  refreshAt: number;
  /**
   * Admitted to the in-process tier: what is derived from this entry (the rendered bodies) is
   * worth keeping with it. An entry that only serves the request it was read for is not.
   */
  kept: boolean;
}

/** Written over a revoked credential's Redis key; fills never overwrite it. */
export const TOMBSTONE = '!';

/**
 * Every entry is built here, with its properties always in the same order, whether it comes
 * from the database or from Redis: the validation path then sees one object shape.
 */
export function cacheEntry(credential: Credential, verifiedAt: number, epoch: number): CacheEntry {
  const { user, token = null, session = null } = credential;
  return { user, token, session, abilities: token ? token.abilities : ALL_ABILITIES, verifiedAt, epoch, refreshAt: 0, kept: false };
}

/**
 * When `fresh` (a re-read) holds what `held` does, renews `held` in place with fresh's stamps
 * and activity (last_used_at / last_active_at, which change without changing what the
 * credential is) and returns true; false when the credential changed.
 */
export function renew(held: CacheEntry, fresh: CacheEntry): boolean {
  if (!sameUser(held.user, fresh.user)) return false;
  if (held.token && fresh.token) {
    if (!sameToken(held.token, fresh.token)) return false;
    held.token.lastUsedAt = fresh.token.lastUsedAt;
  } else if (held.session && fresh.session) {
    if (!sameSession(held.session, fresh.session)) return false;
    held.session.lastActiveAt = fresh.session.lastActiveAt;
  } else {
    return false;
  }
  held.verifiedAt = fresh.verifiedAt;
  held.epoch = fresh.epoch;
  held.refreshAt = fresh.refreshAt;
  return true;
}

function sameUser(a: User, b: User): boolean {
  return a.id === b.id && a.name === b.name && a.email === b.email && a.createdAt === b.createdAt && a.emailVerifiedAt === b.emailVerifiedAt;
}

function sameToken(a: TokenRecord, b: TokenRecord): boolean {
  return (
    a.id === b.id &&
    a.name === b.name &&
    a.createdAt === b.createdAt &&
    a.expiresAt === b.expiresAt &&
    a.abilities.length === b.abilities.length &&
    a.abilities.every((ability, i) => ability === b.abilities[i])
  );
}

function sameSession(a: SessionRecord, b: SessionRecord): boolean {
  return a.id === b.id && a.ip === b.ip && a.userAgent === b.userAgent && a.createdAt === b.createdAt;
}

// Redis holds entries as compact JSON arrays (positions, not key names): about half the bytes of
// the objects, so less memory per cached credential and less to parse on a Redis hit.
//   token:   ["t2", epoch, verifiedAt, userId, userName, email, userCreatedAt, emailVerifiedAt,
//             tokenId, tokenName, abilities, createdAt, lastUsedAt, expiresAt]
//   session: ["s2", epoch, verifiedAt, userId, userName, email, userCreatedAt, emailVerifiedAt,
//             sessionId, ip, userAgent, createdAt, lastActiveAt]
// The tag names the layout: a value in any other form is a miss, and is overwritten by the fill.
// t1/s1 (before email_verified_at) values left in Redis by an older version are misses.
const TOKEN_TAG = 't2';
const SESSION_TAG = 's2';

export function encodeEntry(entry: CacheEntry): string {
  const { user, token, session } = entry;
  const head = [entry.epoch, entry.verifiedAt, user.id, user.name, user.email, user.createdAt, user.emailVerifiedAt];
  if (token) return JSON.stringify([TOKEN_TAG, ...head, token.id, token.name, token.abilities, token.createdAt, token.lastUsedAt, token.expiresAt]);
  if (session) return JSON.stringify([SESSION_TAG, ...head, session.id, session.ip, session.userAgent, session.createdAt, session.lastActiveAt]);
  throw new Error('a cache entry holds a token or a session');
}

export function decodeEntry(raw: string): CacheEntry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || typeof v[1] !== 'number' || typeof v[2] !== 'number' || typeof v[3] !== 'number') return undefined;
  const user: User = { id: v[3], name: v[4], email: v[5], createdAt: v[6], emailVerifiedAt: v[7] };
  if (v[0] === TOKEN_TAG && v.length === 14 && Array.isArray(v[10])) {
    const token: TokenRecord = { id: v[8], userId: user.id, name: v[9], abilities: v[10], createdAt: v[11], lastUsedAt: v[12], expiresAt: v[13] };
    return cacheEntry({ user, token }, v[2], v[1]);
  }
  if (v[0] === SESSION_TAG && v.length === 13) {
    const session: SessionRecord = { id: v[8], userId: user.id, ip: v[9], userAgent: v[10], createdAt: v[11], lastActiveAt: v[12] };
    return cacheEntry({ user, session }, v[2], v[1]);
  }
  return undefined;
}

/**
 * Rough bytes an entry takes in memory, for the in-process tier's byte bound: the records, and
 * the /me and /verify bodies rendered from them (http/rendered-bodies.ts), which live as long.
 */
export function entrySize(entry: CacheEntry): number {
  const { user, token, session } = entry;
  const text = (user.email?.length ?? 0) + (user.name?.length ?? 0) + (token?.name.length ?? 0) + (session?.userAgent?.length ?? 0);
  const abilities = token ? token.abilities.reduce((sum, ability) => sum + ability.length + 20, 0) : 0;
  return 700 + 3 * text + 2 * abilities;
}
