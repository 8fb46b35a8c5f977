// Domain records shared by the core, the store and the caches.

export interface User {
  id: number;
  name: string | null;
  email: string;
  /** ms since epoch, null when a Laravel row has none */
  createdAt: number | null;
  /** ms since epoch when the user followed a verification link; null until then */
  emailVerifiedAt: number | null;
}

export interface UserWithPassword extends User {
  passwordHash: string;
}

export interface TokenRecord {
  id: number;
  userId: number;
  name: string;
  abilities: string[];
  createdAt: number | null;
  lastUsedAt: number | null;
  expiresAt: number | null;
}

export interface SessionRecord {
  id: number;
  userId: number;
  ip: string | null;
  userAgent: string | null;
  createdAt: number;
  lastActiveAt: number;
}

/**
 * Who is calling: the user and the credential that authenticated the request. The warm
 * validation returns the cached entry itself (it has these fields), so nothing may modify one.
 */
export interface AuthContext {
  readonly user: User;
  /** The bearer token, or null for a cookie session. */
  readonly token: TokenRecord | null;
  readonly session: SessionRecord | null;
  /** The token's abilities; `*` for a session. */
  readonly abilities: readonly string[];
}

/** A session may do everything its user may. */
export const ALL_ABILITIES: readonly string[] = Object.freeze(['*']);

/** SHA-256 hashes of the credentials a write removed, for the caches to forget. */
export interface Revoked {
  tokens: string[];
  sessions: string[];
}

export const NOTHING_REVOKED: Revoked = Object.freeze({ tokens: [], sessions: [] }) as Revoked;

export function mergeRevoked(a: Revoked, b: Revoked): Revoked {
  return { tokens: [...a.tokens, ...b.tokens], sessions: [...a.sessions, ...b.sessions] };
}
