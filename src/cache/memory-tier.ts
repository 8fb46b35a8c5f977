// The in-process tier: an LRU bounded by entry count and bytes. Whether it may be trusted is
// decided by CredentialCache, which empties it whenever coherence is in doubt.
import { LRUCache } from 'lru-cache';
import type { CredentialKind } from '../core/ports.js';
import { entrySize, type CacheEntry } from './entry.js';

/**
 * Keyed by the credential's hash alone rather than its `t:`/`s:` cache key, which a lookup would
 * have to build (a concatenation and a copy) on every validation. A hash names one credential
 * either way (SHA-256 of distinct random secrets), and get() checks the kind, so a session's
 * hash never authenticates as a token.
 */
export class MemoryTier {
  private readonly lru: LRUCache<string, CacheEntry> | undefined;

  constructor(maxEntries: number, maxBytes: number) {
    this.lru =
      maxEntries > 0 && maxBytes > 0
        ? new LRUCache<string, CacheEntry>({ max: maxEntries, maxSize: maxBytes, sizeCalculation: entrySize })
        : undefined;
  }

  get(kind: CredentialKind, hash: string): CacheEntry | undefined {
    const entry = this.lru?.get(hash);
    if (entry === undefined || (kind === 't' ? entry.token : entry.session) === null) return undefined;
    return entry;
  }

  /** `key` is the cache key, `t:` or `s:` + hash. */
  set(key: string, entry: CacheEntry): void {
    this.lru?.set(hashOf(key), entry);
  }

  delete(key: string): void {
    this.lru?.delete(hashOf(key));
  }

  clear(): void {
    this.lru?.clear();
  }

  get size(): number {
    return this.lru?.size ?? 0;
  }
}

function hashOf(key: string): string {
  return key.slice(2);
}
