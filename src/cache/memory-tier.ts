// The in-process tier: an LRU bounded by entry count and bytes. Whether it may be trusted is
// decided by CredentialCache, which empties it whenever coherence is in doubt.
import { LRUCache } from 'lru-cache';
import type { CredentialKind } from '../core/ports.js';
import { Doorkeeper } from './doorkeeper.js';
import { entrySize, type CacheEntry } from './entry.js';

/**
 * Keyed by the credential's hash alone rather than its `t:`/`s:` cache key, which a lookup would
 * have to build (a concatenation and a copy) on every validation. A hash names one credential
 * either way (SHA-256 of distinct random secrets), and get() checks the kind, so a session's
 * hash never authenticates as a token.
 */
export class MemoryTier {
  private readonly lru: LRUCache<string, CacheEntry> | undefined;
  /** The credentials offered once while the tier was full and not kept (see admit()). */
  private readonly doorkeeper: Doorkeeper | undefined;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {
    this.lru =
      maxEntries > 0 && maxBytes > 0
        ? new LRUCache<string, CacheEntry>({ max: maxEntries, maxSize: maxBytes, sizeCalculation: entrySize })
        : undefined;
    this.doorkeeper = this.lru ? new Doorkeeper(maxEntries) : undefined;
  }

  get(kind: CredentialKind, hash: string): CacheEntry | undefined {
    const entry = this.lru?.get(hash);
    if (entry === undefined || (kind === 't' ? entry.token : entry.session) === null) return undefined;
    return entry;
  }

  /**
   * Keeps a credential just read from Redis or the database, unless the tier is full and this is
   * the first time it is offered. A full tier keeps one only by evicting another; with far more
   * busy credentials than it holds (a million tokens used at random), each would be evicted before
   * its next use, costing every request an insertion, an eviction and their garbage and serving
   * nothing. So, as TinyLFU's doorkeeper does, a full tier keeps a credential on its second offer
   * among the last `maxEntries` refused ones: a working set that fits still moves in (one more
   * Redis read each), a stream of one-off uses leaves the tier alone. `key`: `t:` or `s:` + hash.
   * Returns whether the entry was kept.
   */
  admit(key: string, entry: CacheEntry): boolean {
    if (!this.lru) return false;
    const hash = hashOf(key);
    if (this.full() && !this.doorkeeper!.offeredBefore(hash)) return false;
    this.lru.set(hash, entry);
    return true;
  }

  private full(): boolean {
    // Within a typical entry of the byte bound counts as full: the next one would evict.
    return this.lru!.size >= this.maxEntries || this.lru!.calculatedSize + 1024 >= this.maxBytes;
  }

  delete(key: string): void {
    this.lru?.delete(hashOf(key));
  }

  clear(): void {
    this.lru?.clear();
    this.doorkeeper?.clear();
  }

  get size(): number {
    return this.lru?.size ?? 0;
  }
}

function hashOf(key: string): string {
  return key.slice(2);
}
